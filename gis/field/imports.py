"""Visits in bulk from a UTF-8 CSV (a city that already keeps them elsewhere): every line is checked and
recorded in one transaction; any bad line refuses the whole file with every bad line listed."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from gis.command import loop
from gis.command.periods import iso_time
from gis.command.rules import Rules
from gis.coords import normalize_crs, to_wgs84
from gis.errors import FieldError
from gis.field.visits import VisitIn, record
from gis.importers.common import ImportRefused
from gis.locate.engine import LocateEngine

COLUMNS = ("person_id", "lon", "lat", "at")
OPTIONAL = ("kind", "crs", "units", "households", "found", "category", "idempotency_key")
LINES_MAX = 200_000


def _line(row: dict) -> VisitIn:
    """One CSV row as a visit; FieldError naming the column that is wrong."""
    def num(name, kind):
        try:
            return kind(row[name])
        except (TypeError, ValueError):
            raise FieldError(name, f"{str(row.get(name))[:40]!r} is not a number") from None
    lon, lat = num("lon", float), num("lat", float)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise FieldError("lon", "longitude -180..180 and latitude -90..90")
    x, y = to_wgs84(np.array([lon]), np.array([lat]), normalize_crs((row.get("crs") or "wgs84").strip(), "crs"))
    try:
        at = iso_time(row.get("at") or "")
    except ValueError as e:
        raise FieldError("at", str(e)) from None
    hh = (row.get("households") or "").strip()
    units = [u.strip() for u in (row.get("units") or "").replace(";", "|").split("|") if u.strip()]
    return VisitIn(person_id=num("person_id", int), lon=float(x[0]), lat=float(y[0]), at=at,
                   kind=(row.get("kind") or "visit").strip(), units=units or None,
                   households=int(hh) if hh.isdigit() else (None if not hh else num("households", int)),
                   found=(row.get("found") or "").strip() or None, category=(row.get("category") or "").strip() or None,
                   idempotency_key=(row.get("idempotency_key") or "").strip() or None, source="import")


def import_visits(session: Session, rules: Rules, locator: LocateEngine, data: bytes, actor: loop.Actor,
                  now: datetime, skew_s: float) -> dict:
    """Record every line of a visits CSV (columns person_id, lon, lat, at; optional kind, crs, units as
    codes separated by | or ;, households, found, category, idempotency_key); ImportRefused lists every
    bad line (the caller's transaction is then rolled back: nothing is written)."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    except UnicodeDecodeError:
        raise ImportRefused("file: not UTF-8 text") from None
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportRefused(f"file: the columns {', '.join(missing)} are missing (need {', '.join(COLUMNS)})")
    problems, created, repeated = [], 0, 0
    for n, row in enumerate(reader, start=2):
        if n > LINES_MAX + 1:
            raise ImportRefused(f"file: more than {LINES_MAX} lines; split it")
        try:
            with session.begin_nested():
                _visit, new = record(session, rules, locator, _line(row), actor=actor, now=now, skew_s=skew_s)
            created, repeated = created + new, repeated + (not new)
        except (FieldError, loop.LoopError, ValueError) as e:
            problems.append({"line": n, "problem": str(e)[:300]})
    if problems:
        raise ImportRefused(f"file: {len(problems)} bad lines; nothing was imported", problems)
    return {"visits": created, "already_on_record": repeated}
