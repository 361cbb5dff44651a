"""Record a visit, patrol or check (入户问需, 走访, 巡查, 摸排): the point is checked against the visitor's own
areas by area id (outside them: flagged, not refused; a role that roams is never flagged), the units
visited are kept by area id, a problem found becomes a request in the loop in the same transaction, and a
visit resent with the same client-made idempotency key is stored once."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.command import loop
from gis.command.periods import TZ
from gis.command.rules import Rules
from gis.errors import Invalid
from gis.locate.engine import LocateEngine
from gis.vocab import LEVELS

KINDS = ("visit", "patrol", "check")
KEY_RE = re.compile(r"[A-Za-z0-9._:\-]{8,64}")
UNITS_MAX = 200
FOUND_MAX = 2000


@dataclass
class VisitIn:
    """One visit as a phone or a CSV line sends it (a WGS84 point; `at` naive = China Standard Time)."""

    person_id: int
    lon: float
    lat: float
    at: datetime | None = None
    kind: str = "visit"
    units: list[str] | None = None
    households: int | None = None
    found: str | None = None
    category: str | None = None
    important: bool = False
    urgent: bool = False
    idempotency_key: str | None = None
    source: str = "api"


def check(v: VisitIn, now: datetime, skew_s: float) -> datetime:
    """The visit's time (aware), after checking every field that needs no database; Invalid names the field."""
    if v.kind not in KINDS:
        raise Invalid("kind", f"unknown {str(v.kind)[:40]!r}; use one of {', '.join(KINDS)}")
    at = v.at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=TZ)
    if at > now + timedelta(seconds=skew_s):
        raise Invalid("at", f"{at.isoformat()} is in the future (more than {skew_s:g} s ahead of the server's "
                            f"clock); send the time the visit happened")
    if v.idempotency_key is not None and not KEY_RE.fullmatch(v.idempotency_key):
        raise Invalid("idempotency_key", "8–64 characters of letters, digits and . _ : -")
    if v.households is not None and not 0 <= v.households <= 100_000:
        raise Invalid("households", "a count between 0 and 100000")
    if v.found is not None and len(v.found) > FOUND_MAX:
        raise Invalid("found", f"at most {FOUND_MAX} characters")
    if v.category and not (v.found and v.found.strip()):
        raise Invalid("found", "say what was found: a category alone does not make a request")
    if v.units is not None and len(v.units) > UNITS_MAX:
        raise Invalid("units", f"at most {UNITS_MAX} units per visit")
    return at


def areas_here(locator: LocateEngine, lon: float, lat: float) -> tuple[dict, set[int]]:
    """The areas at a point ({level: {code, name}}) and the ids of every area that covers it, the grids of
    every tier included (a person of a tier-1 grid is at home in its tier-2 grids)."""
    areas = locator.areas_at(lon, lat)
    ids = {locator.area_id(lvl, a["code"]) for lvl, a in areas.items() if lvl in LEVELS and a}
    ids |= {locator.area_id("grid", g["code"]) for g in areas.get("grid_path") or [] if g}
    return areas, ids - {None}


def home(session: Session, person_id: int) -> tuple[set[int], bool]:
    """The area ids a person is assigned to, and whether any of their roles roams; Invalid when no such person."""
    if not session.execute(text("SELECT 1 FROM person WHERE id = :p"), {"p": person_id}).first():
        raise Invalid("person_id", f"no person {person_id}")
    rows = session.execute(text("""
        SELECT a.area_id, coalesce(r.roams, false) AS roams FROM assignment a LEFT JOIN role r ON r.code = a.role
        WHERE a.person_id = :p"""), {"p": person_id}).all()
    return {int(r.area_id) for r in rows}, any(r.roams for r in rows)


def unit_ids(locator: LocateEngine, codes: list[str] | None, areas: dict) -> list[int]:
    """The units visited by area id: the codes given (each must be a unit of the active map), else the
    unit at the point (none when no unit covers it)."""
    if codes:
        ids = [locator.area_id("unit", str(c)) for c in codes]
        unknown = [str(c)[:40] for c, i in zip(codes, ids) if i is None]
        if unknown:
            raise Invalid("units", f"not units of generation {locator.generation}: {', '.join(unknown[:10])}")
        return sorted(set(ids))
    here = locator.area_id("unit", (areas.get("unit") or {}).get("code"))
    return [] if here is None else [here]


def record(session: Session, rules: Rules, locator: LocateEngine, v: VisitIn, *, actor: loop.Actor = loop.SYSTEM,
           now: datetime | None = None, skew_s: float = 300.0) -> tuple[dict, bool]:
    """Store one visit (and the request for a problem found on it); returns (the visit, True) or, for an
    idempotency key already on record, (that first visit, False) with nothing written."""
    now = now or loop.utcnow()
    at = check(v, now, skew_s)
    if v.idempotency_key:
        first = session.execute(text("SELECT id FROM visit WHERE idempotency_key = :k"),
                                {"k": v.idempotency_key}).scalar()
        if first is not None:
            return show(session, first), False
    assigned, roams = home(session, v.person_id)
    areas, here = areas_here(locator, v.lon, v.lat)
    outside = not roams and not (assigned & here)
    grid = (areas.get("grid") or {}).get("code")
    units = unit_ids(locator, v.units, areas)
    vid = session.execute(text("""
        INSERT INTO visit (person_id, kind, at, received_at, geom, generation_id, area_id, grid_code, outside_grid,
                           unit_area_ids, households, found, idempotency_key, source)
        VALUES (:p, :kind, :at, :now, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :gen, :area, :grid, :out,
                CAST(:units AS bigint[]), :hh, :found, :key, :source)
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
    """), {"p": v.person_id, "kind": v.kind, "at": at, "now": now, "lon": v.lon, "lat": v.lat,
           "gen": locator.generation, "area": locator.area_id("grid", grid), "grid": grid, "out": outside,
           "units": units, "hh": v.households, "found": (v.found or "").strip() or None, "key": v.idempotency_key,
           "source": v.source}).scalar()
    if vid is None:  # the same key committed by a concurrent resend while this one was checked
        first = session.execute(text("SELECT id FROM visit WHERE idempotency_key = :k"),
                                {"k": v.idempotency_key}).scalar_one()
        return show(session, first), False
    if v.category:
        raise_request(session, rules, locator, vid, v, actor, now, areas)
    return show(session, vid), True


def raise_request(session: Session, rules: Rules, locator: LocateEngine, vid: int, v: VisitIn, actor: loop.Actor,
                  now: datetime, areas: dict) -> int:
    """The problem found on visit `vid` as a request in the loop (信息采集 then 问题发现, one step for the
    visitor), its source the visit: `request.source = 'visit'`, `visit.request_id` and a note in its log."""
    req = loop.create(session, rules, locator, lon=v.lon, lat=v.lat, category=v.category, important=v.important,
                      urgent=v.urgent, text_=v.found.strip(), actor=actor, now=now)
    session.execute(text("""
        UPDATE request SET source = 'visit', grid_area_id = coalesce(grid_area_id, :g),
               unit_area_id = coalesce(unit_area_id, :u) WHERE id = :id"""),
                    {"id": req["id"], "g": locator.area_id("grid", (areas.get("grid") or {}).get("code")),
                     "u": locator.area_id("unit", (areas.get("unit") or {}).get("code"))})
    loop.move(session, rules, req["id"], "discovered", req["version"], actor,
              note=f"found on visit {vid} (person {v.person_id})", now=now)
    session.execute(text("UPDATE visit SET request_id = :r WHERE id = :v"), {"r": req["id"], "v": vid})
    return req["id"]


VISIT_SQL = """
    SELECT v.id, v.person_id, p.name AS person, v.kind, v.at, v.received_at, ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat,
           v.grid_code, v.outside_grid, v.households, v.found, v.request_id, v.idempotency_key, v.source,
           coalesce((SELECT array_agg(ga.code ORDER BY ga.code) FROM generation_area ga
                      JOIN active_generation ag ON ag.generation_id = ga.generation_id
                     WHERE ga.level = 'unit' AND ga.area_id = ANY(v.unit_area_ids)), '{}') AS units
    FROM visit v JOIN person p ON p.id = v.person_id
"""


def _out(r) -> dict:
    return {"id": r.id, "person_id": r.person_id, "person": r.person, "kind": r.kind, "at": r.at,
            "received_at": r.received_at, "point": {"lon": r.lon, "lat": r.lat}, "grid": r.grid_code,
            "outside_grid": r.outside_grid, "units": list(r.units), "households": r.households, "found": r.found,
            "request_id": r.request_id, "idempotency_key": r.idempotency_key, "source": r.source}


def show(session: Session, vid: int) -> dict:
    """One visit as the API answers it (the units by their codes in the active generation)."""
    r = session.execute(text(VISIT_SQL + " WHERE v.id = :id"), {"id": vid}).first()
    return _out(r)


def listing(session: Session, grid_ids: list[int], unit_ids_: list[int], start: datetime, end: datetime,
            limit: int = 5000) -> list[dict]:
    """The visits of a window that lay in the given grids or visited the given units, oldest first."""
    rows = session.execute(text(VISIT_SQL + """
        WHERE v.at >= :s AND v.at < :e AND (v.area_id = ANY(:g) OR v.unit_area_ids && CAST(:u AS bigint[]))
        ORDER BY v.at, v.id LIMIT :limit"""), {"s": start, "e": end, "g": grid_ids, "u": unit_ids_,
                                               "limit": limit}).all()
    return [_out(r) for r in rows]

