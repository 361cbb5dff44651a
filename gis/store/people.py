"""People, the roles a city extends, and their assignments to areas by id (the area's identity, so a
re-coding moves no one): the queries and writes that the API, the command line and the importer share.

Every write is on the caller's session (one transaction) and tells the workers that staff changed
(gis.store.generations.notify_data_changed), so locate names the new people at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store.generations import active_id, notify_data_changed
from gis.vocab import LEVELS

ROLE_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")  # as the role table's CHECK (role_code)
NAME_MAX = 200
MOBILE = re.compile(r"1[3-9]\d{9}")  # 中国大陆手机号: 11 digits, 13x–19x
LANDLINE = re.compile(r"0(10|2\d|[3-9]\d{2})(\d{7,8})")  # area code (010, 02X, 0XXX), number
EXTENSION = re.compile(r"(.+?)(?:-|转|ext\.?|x|#)(\d{1,6})", re.IGNORECASE)  # 0531-86001234-808, …转808
PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")


class PeopleError(ValueError):
    """A value about people or roles that cannot be used (422); the message is `field: what is wrong`."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class PeopleConflict(PeopleError):
    """A write that the record refuses as it stands (a duplicate role, a builtin or held role): 409."""


class PeopleNotFound(PeopleError):
    """A person, assignment, role or area asked for that does not exist: 404."""


@dataclass(frozen=True)
class Wanted:
    """One assignment asked for: a role at a level for the area bearing `area` (a code) there."""

    role: str
    level: str
    area: str


def role_code(value, field: str = "code") -> str:
    """A role code as the city writes it: lowercase letters, digits and underscore, a letter first,
    at most 32; PeopleError naming `field` otherwise."""
    if not isinstance(value, str) or not ROLE_CODE.fullmatch(value):
        shown = repr(value[:40]) if isinstance(value, str) else ("missing" if value is None else "not text")
        raise PeopleError(field, f"{shown} is not a role code: use lowercase letters, digits and underscore, "
                             f"a letter first, at most 32 characters")
    return value


def text_value(value, field: str, required: bool = True, limit: int = NAME_MAX) -> str | None:
    """A trimmed piece of text of at most `limit` characters; None when blank and not `required`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PeopleError(field, "is required and may not be blank")
        return None
    if not isinstance(value, str):
        raise PeopleError(field, "must be text")
    value = value.strip()
    if any(ord(ch) < 32 for ch in value):
        raise PeopleError(field, "may not hold control characters")
    if len(value) > limit:
        raise PeopleError(field, f"is {len(value)} characters long; at most {limit}")
    return value


def _digits(raw: str) -> str:
    """A phone number's digits: separators dropped, and the country code +86/86 before 11 digits."""
    digits = PHONE_SEPARATORS.sub("", raw)
    if digits.startswith("+86"):
        return digits[3:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def phone_number(value, field: str = "phone") -> str | None:
    """A mainland phone number in one stored form: a mobile as 11 digits (a +86/86 prefix dropped), a
    landline as `0AREA-NUMBER` (with `-EXT`); None when blank. Anything else: PeopleError naming `field`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise PeopleError(field, "must be text")
    raw = value.strip()
    if len(raw) > 32:
        raise PeopleError(field, f"is {len(raw)} characters long; at most 32")
    digits = _digits(raw)
    if MOBILE.fullmatch(digits):
        return digits
    ext = EXTENSION.fullmatch(raw)  # an extension only where it is written apart from the number
    for number, extension in (((ext.group(1), ext.group(2)),) if ext else ()) + ((raw, None),):
        m = LANDLINE.fullmatch(_digits(number))
        if m:
            return f"0{m.group(1)}-{m.group(2)}" + (f"-{extension}" if extension else "")
    raise PeopleError(field, f"{raw[:40]!r} is not a mainland mobile (13x–19x, 11 digits) or landline "
                         f"(area code and 7–8 digits, e.g. 0531-86001234) number")


# -- roles ----------------------------------------------------------------------------------------
def roles(conn) -> list[dict]:
    """Every role, builtins first, with how many assignments hold it."""
    rows = conn.execute(text("""
        SELECT r.code, r.name, r.roams, r.builtin, count(s.id) AS assignments
        FROM role r LEFT JOIN assignment s ON s.role = r.code
        GROUP BY r.code ORDER BY r.builtin DESC, r.code COLLATE "C"
    """)).mappings().all()
    return [dict(r) for r in rows]


def add_role(session: Session, code, name, roams: bool = False) -> dict:
    """A new role the city uses (志愿者 kinds, a department's own contacts, …); a malformed code is
    a PeopleError (422), a code already taken is a PeopleConflict naming it."""
    code = role_code(code)
    name = text_value(name, "name")
    if not isinstance(roams, bool):
        raise PeopleError("roams", "must be true or false")
    taken = session.execute(text("SELECT name FROM role WHERE code = :c"), {"c": code}).scalar()
    if taken is not None:
        raise PeopleConflict("code", f"the role {code!r} already exists ({taken})")
    session.execute(text("INSERT INTO role (code, name, roams, builtin) VALUES (:c, :n, :r, false)"),
                    {"c": code, "n": name, "r": roams})
    return {"code": code, "name": name, "roams": roams, "builtin": False, "assignments": 0}


def delete_role(session: Session, code) -> None:
    """Remove a role the city added; a builtin, or a role someone still holds, is refused."""
    code = role_code(code)
    row = session.execute(text("""
        SELECT r.builtin, (SELECT count(*) FROM assignment s WHERE s.role = r.code) AS used
        FROM role r WHERE r.code = :c FOR UPDATE"""), {"c": code}).first()
    if row is None:
        raise PeopleNotFound("code", f"there is no role {code!r}")
    if row.builtin:
        raise PeopleConflict("code", f"{code!r} is a builtin role and cannot be deleted")
    if row.used:
        raise PeopleConflict("code", f"the role {code!r} is held by {row.used} assignment(s); remove them first")
    session.execute(text("DELETE FROM role WHERE code = :c"), {"c": code})


# -- people ---------------------------------------------------------------------------------------
def wanted(items, field: str = "assignments") -> list[Wanted]:
    """The assignments of a request body, each checked by shape (role code, level); `field[i].x` named."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise PeopleError(field, "must be a list of {role, level, area}")
    out = []
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise PeopleError(f, "must be an object with role, level and area")
        role = role_code(item.get("role"), f"{f}.role")
        level = item.get("level")
        if level not in LEVELS:
            raise PeopleError(f"{f}.level", f"{str(level)[:40]!r} is not one of {', '.join(LEVELS)}")
        area = text_value(item.get("area"), f"{f}.area", limit=32)
        out.append(Wanted(role, level, area))
    return out


def lookup(session: Session, items: list[Wanted], generation: int | None) -> tuple[set, dict]:
    """The role codes of `items` that exist, and (level, code) → area id for their areas in `generation`
    (two queries, however many items)."""
    known = set(session.execute(text("SELECT code FROM role WHERE code = ANY(:c)"),
                                {"c": sorted({w.role for w in items})}).scalars())
    ids = {(r.level, r.code): r.area_id for r in session.execute(text("""
        SELECT level, code, area_id FROM generation_area
        WHERE generation_id = :g AND code = ANY(:c)"""), {"g": generation, "c": sorted({w.area for w in items})})}
    return known, ids


def problem(w: Wanted, known: set, ids: dict, generation: int | None) -> tuple[str, str] | None:
    """What is wrong with one assignment asked for, as (field, message), or None."""
    if w.role not in known:
        return "role", f"there is no role {w.role!r}; add it first (POST /v1/roles, wangge roles add)"
    if (w.level, w.area) not in ids:
        return "area", f"there is no {w.level} {w.area!r} in generation {generation}"
    return None


def resolve(session: Session, items: list[Wanted], generation: int | None, field: str = "assignments"
            ) -> list[tuple[Wanted, int]]:
    """Each assignment with the id of the area that bears its code at its level in `generation`; an
    unknown role or area is a PeopleError naming `field[i].role` / `field[i].area`."""
    if not items:
        return []
    known, ids = lookup(session, items, generation)
    for i, w in enumerate(items):
        bad = problem(w, known, ids, generation)
        if bad:
            raise PeopleError(f"{field}[{i}].{bad[0]}", bad[1])
    return [(w, ids[(w.level, w.area)]) for w in items]


def assign(session: Session, person_id: int, resolved: list[tuple[Wanted, int]]) -> int:
    """Assign a person to each resolved area in its role (an assignment already held is kept, not
    repeated); returns how many were added."""
    added = 0
    for w, area_id in resolved:
        added += session.execute(text("""
            INSERT INTO assignment (person_id, role, area_id, level, area_code)
            SELECT CAST(:p AS integer), CAST(:r AS varchar), CAST(:a AS bigint), CAST(:l AS varchar),
                   CAST(:c AS varchar) WHERE NOT EXISTS (
                SELECT 1 FROM assignment WHERE person_id = :p AND role = :r AND area_id = :a)"""),
            {"p": person_id, "r": w.role, "a": area_id, "l": w.level, "c": w.area}).rowcount
    return added


def add_person(session: Session, body: dict) -> dict:
    """A new person with their assignments (codes resolved in the active generation), in one
    transaction: either all of it is written or none. Returns the person as `person()` shows them."""
    if not isinstance(body, dict):
        raise PeopleError("body", "must be an object with name, phone, organisation and assignments")
    name = text_value(body.get("name"), "name")
    phone = phone_number(body.get("phone"))
    organisation = text_value(body.get("organisation"), "organisation", required=False)
    resolved = resolve(session, wanted(body.get("assignments")), active_id(session))
    pid = session.execute(text("""
        INSERT INTO person (name, phone, organisation) VALUES (:n, :p, :o) RETURNING id"""),
        {"n": name, "p": phone, "o": organisation}).scalar_one()
    assign(session, pid, resolved)
    notify_data_changed(session)
    return person(session, pid)


def unassign(session: Session, person_id: int, assignment_id: int) -> dict:
    """Remove one of a person's assignments (the person stays); 404 when it is not theirs."""
    n = session.execute(text("DELETE FROM assignment WHERE id = :a AND person_id = :p"),
                        {"a": assignment_id, "p": person_id}).rowcount
    if not n:
        raise PeopleNotFound("aid", f"person {person_id} has no assignment {assignment_id}")
    notify_data_changed(session)
    return person(session, person_id)


_PEOPLE = """
    SELECT p.id, p.name, p.phone, p.organisation, s.id AS aid, s.role, r.name AS role_name, r.roams, s.level,
           s.area_id, s.area_code, s.since, ga.code AS code, a.name AS area_name
    FROM person p
    LEFT JOIN assignment s ON s.person_id = p.id
    LEFT JOIN role r ON r.code = s.role
    LEFT JOIN generation_area ga ON ga.area_id = s.area_id AND ga.generation_id = :g
    LEFT JOIN area a ON a.id = s.area_id
"""


def _shape(rows) -> list[dict]:
    """Rows of _PEOPLE (one per assignment) as people, each with their assignments; an area that the
    generation no longer holds shows the code it was assigned with and `current: false`."""
    out: dict[int, dict] = {}
    for r in rows:
        p = out.setdefault(r.id, {"id": r.id, "name": r.name, "phone": r.phone, "organisation": r.organisation,
                                  "assignments": []})
        if r.aid is not None:
            p["assignments"].append({
                "id": r.aid, "role": r.role, "role_name": r.role_name, "roams": r.roams, "level": r.level,
                "area": {"id": r.area_id, "code": r.code or r.area_code, "name": r.area_name},
                "assigned_code": r.area_code, "current": r.code is not None, "since": r.since})
    return list(out.values())


def person(session: Session, person_id: int) -> dict:
    """One person with every assignment, codes as the active generation bears them."""
    rows = session.execute(text(_PEOPLE + " WHERE p.id = :id ORDER BY s.id"),
                           {"id": person_id, "g": active_id(session)}).all()
    if not rows:
        raise PeopleNotFound("id", f"there is no person {person_id}")
    return _shape(rows)[0]


def people(session: Session, area: str | None = None, level: str | None = None, role: str | None = None,
           limit: int = 1000) -> list[dict]:
    """People and their assignments, filtered: `area` = the area bearing that code in the active
    generation and every area under it; `level` = the level of the assignment; `role` = its role. With a
    filter, only the matching assignments are listed."""
    gen = active_id(session)
    where, params = [], {"g": gen, "limit": limit}
    if level is not None and level not in LEVELS:
        raise PeopleError("level", f"{level[:40]!r} is not one of {', '.join(LEVELS)}")
    if role is not None:
        role_code(role, "role")
        if session.execute(text("SELECT 1 FROM role WHERE code = :c"), {"c": role}).first() is None:
            raise PeopleError("role", f"there is no role {role!r}")
        where.append("s.role = :role")
        params["role"] = role
    if level is not None:
        where.append("s.level = :level")
        params["level"] = level
    if area is not None:
        text_value(area, "area", limit=32)
        roots = session.execute(text("SELECT area_id FROM generation_area WHERE generation_id = :g AND code = :c"),
                                {"g": gen, "c": area}).scalars().all()
        if not roots:
            raise PeopleNotFound("area", f"there is no area {area!r} in generation {gen}")
        where.append("""s.area_id IN (
            WITH RECURSIVE under AS (
                SELECT level, code, area_id FROM generation_area WHERE generation_id = :g AND code = :area
                UNION
                SELECT c.level, c.code, c.area_id FROM generation_area c JOIN under u
                  ON c.generation_id = :g AND c.parent_level = u.level AND c.parent_code = u.code)
            SELECT area_id FROM under)""")
        params["area"] = area
    sql = _PEOPLE + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.id, s.id"
    rows = session.execute(text(f"SELECT * FROM ({sql}) q WHERE q.id IN (SELECT DISTINCT id FROM ({sql}) q2 "
                                f"ORDER BY id LIMIT :limit) ORDER BY q.id, q.aid"), params).all()
    return _shape(rows)
