"""`wangge import people FILE.csv`: people and their assignments from a UTF-8 CSV.

Columns: name, phone, organisation, role, level, area_code — one assignment a line; lines with the same
name and phone are one person (a person already on record with that name and phone is reused), and an
assignment already held is not repeated. Codes are resolved to area ids in the active generation. Any bad
line refuses the whole file, every bad line listed; nothing is written.
"""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.importers.common import ImportRefused
from gis.store import audit
from gis.store import people as store
from gis.store.db import session_scope
from gis.store.generations import active_id, notify_data_changed

COLUMNS = ("name", "phone", "organisation", "role", "level", "area_code")
REQUIRED = ("name", "role", "level", "area_code")
MAX_LINES = 200_000


def read_lines(path: Path, name: str) -> list[tuple[int, dict]]:
    """(line number, row) for every data line, the header being line 1; refused when unreadable or
    when a required column is missing."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportRefused(f"{name}: cannot be read") from exc
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [(h or "").strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ImportRefused(f"{name}: missing column(s) {', '.join(missing)}; the header is: "
                                    f"{', '.join(header) or '(empty)'}; expected {', '.join(COLUMNS)}")
            out = []
            for line, raw in enumerate(reader, start=2):
                if len(out) >= MAX_LINES:
                    raise ImportRefused(f"{name}: more than {MAX_LINES} lines; split the file")
                out.append((line, {k: (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items() if k}))
        except UnicodeDecodeError as exc:
            raise ImportRefused(f"{name}: not UTF-8 text") from exc
        except csv.Error as exc:
            raise ImportRefused(f"{name}: not a readable CSV file (line {reader.line_num})") from exc
    return out


def _check(line: int, row: dict) -> tuple[dict | None, list[dict]]:
    """One line's person and assignment, or the problems with it (each naming the column)."""
    problems, parsed = [], {}
    for column, check in (("name", lambda v: store.text_value(v, "name")),
                          ("phone", lambda v: store.phone_number(v, "phone")),
                          ("organisation", lambda v: store.text_value(v, "organisation", required=False))):
        try:
            parsed[column] = check(row.get(column))
        except store.PeopleError as exc:
            problems.append({"line": line, "code": row.get("area_code") or None, "problem": str(exc)})
    try:
        parsed["wanted"] = store.wanted([{"role": row.get("role"), "level": row.get("level"),
                                          "area": row.get("area_code")}], "assignment")[0]
    except store.PeopleError as exc:
        problems.append({"line": line, "code": row.get("area_code") or None,
                         "problem": str(exc).replace("assignment[0].", "").replace("area:", "area_code:")})
    return (None if problems else parsed), problems


def import_people(engine: Engine, path: Path | str, name: str | None = None, actor: str = "cli") -> dict:
    """Import the file in one transaction; a report of people and assignments added. ImportRefused
    with every bad line (an unknown role or area code included) when anything is wrong."""
    path = Path(path)
    name = name or path.name
    if not path.exists():
        raise ImportRefused(f"{name}: no such file")
    lines = read_lines(path, name)
    if not lines:
        raise ImportRefused(f"{name}: no data lines under the header")
    parsed, problems = [], []
    for line, row in lines:
        p, bad = _check(line, row)
        problems += bad
        if p is not None:
            parsed.append((line, p))
    with session_scope(engine) as session:
        gen = active_id(session)
        if gen is None:
            raise ImportRefused(f"{name}: there is no active generation to assign areas in; import areas first")
        known, ids = store.lookup(session, [p["wanted"] for _, p in parsed], gen) if parsed else (set(), {})
        for line, p in parsed:
            bad = store.problem(p["wanted"], known, ids, gen)
            if bad:
                problems.append({"line": line, "code": p["wanted"].area,
                                 "problem": f"{'area_code' if bad[0] == 'area' else bad[0]}: {bad[1]}"})
        if problems:
            problems.sort(key=lambda q: q["line"])
            raise ImportRefused(f"{name}: {len({q['line'] for q in problems})} bad line(s); nothing was imported",
                                problems)
        people: dict[tuple, int] = {}
        new_people = added = 0
        for _line, p in parsed:
            key = (p["name"], p["phone"])
            if key not in people:
                pid = session.execute(text("""
                    SELECT id FROM person WHERE name = :n AND phone IS NOT DISTINCT FROM :p ORDER BY id LIMIT 1"""),
                    {"n": p["name"], "p": p["phone"]}).scalar()
                if pid is None:
                    pid = session.execute(text("""
                        INSERT INTO person (name, phone, organisation) VALUES (:n, :p, :o) RETURNING id"""),
                        {"n": p["name"], "p": p["phone"], "o": p["organisation"]}).scalar_one()
                    new_people += 1
                people[key] = pid
            w = p["wanted"]
            added += store.assign(session, people[key], [(w, ids[(w.level, w.area)])])
        notify_data_changed(session)
        report = {"file": name, "lines": len(lines), "people": len(people), "new_people": new_people,
                  "assignments_added": added, "generation": gen}
        audit.write(session, actor, "import people", report)
    return report
