"""The resident-request loop on the record: create (locate, route, colour, deadline), move through the
nine steps with optimistic locking, summon departments (吹哨) and record their acknowledgements,
escalate overdue work, and publish results per grid (晒单).

Every change is one transaction on the caller's session; every step is appended to `request_event`
with the request's new version as its sequence number, so no step is ever lost or overwritten.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.locate.engine import LocateEngine
from gis.command.rules import MATTER_ALIASES, ROUTING, Rules, allowed, move_rules
from gis.store.queries import GENERATION_AREAS, OPEN_SQL
from gis.vocab import FINISHED_STATUSES, STEP_NAMES

REPEAT_DAYS = 30  # a request like an earlier one (same category, same unit or grid) within this many days


class LoopError(Exception):
    """A request the loop cannot take; `status` is the HTTP status to answer with."""

    status = 422

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


class RequestNotFound(LoopError):
    """No request with that id (404)."""
    status = 404


class IllegalMove(LoopError):
    """A move the state machine does not allow from the current status (or not yet: pending departments)."""

    status = 409


class StaleVersion(LoopError):
    """Someone else moved the request since the caller read it."""

    status = 409


@dataclass(frozen=True)
class Actor:
    """Who acts: the key's role and prefix, and the person's name when the caller gives one."""

    role: str
    key: str = ""
    name: str | None = None

    def __str__(self) -> str:
        who = f"{self.role}:{self.key}" if self.key else self.role
        return f"{who} ({self.name})" if self.name else who


SYSTEM = Actor("system")


@dataclass(frozen=True)
class Step:
    """One entry of a request's log: who acted, what they did, from which status to which (`to` None:
    the status stays), the note they gave and the details worth keeping."""

    actor: Actor | str
    action: str
    frm: str | None
    to: str | None
    note: str | None = None
    detail: dict | None = None


def utcnow() -> datetime:
    """The current time in UTC (timestamps on record are timezone-aware)."""
    return datetime.now(timezone.utc)


def route(rules: Rules, locator: LocateEngine, areas: dict, category: str, matter_class: str) -> list[dict]:
    """Who answers (三事分流): public matters → the department holding the category (and the grid's
    holding unit); shared → grid worker and community; private → unit leader. Nobody named there →
    the nearest level up that has someone (属地兜底)."""
    people = []
    if matter_class == "public":
        people.append({"role": "department", "name": rules.department(category), "level": "district",
                       "area_code": (areas.get("district") or {}).get("code"), "phone": None})
    wanted = ROUTING[matter_class]
    for lvl in ("unit", "grid", "community"):
        a = areas.get(lvl)
        if a:
            people += [p for p in locator.staff_of(lvl, a["code"]) if p["role"] in wanted]
    if not people:
        people = locator.responsible(areas)[:2]
    return people


def create(session: Session, rules: Rules, locator: LocateEngine, *, lon: float, lat: float, category: str,
           matter_class: str | None = None, important: bool = False, urgent: bool = False,
           text_: str | None = None, address: str | None = None, actor: Actor = SYSTEM,
           now: datetime | None = None) -> dict:
    """Record a new request (step 1, 信息采集) at a WGS84 point; refused when the point is in no grid."""
    now = now or utcnow()
    if category not in rules.categories:
        raise LoopError(f"category: unknown {category!r}; choose one of {', '.join(rules.categories)}",
                        field="category")
    if matter_class is None:
        mc = rules.matter_class(category)
    else:
        mc = MATTER_ALIASES.get(matter_class)
        if mc is None:
            raise LoopError(f"matter_class: unknown {matter_class!r}; use public/公家事, shared/大家事 or "
                            f"private/自家事", field="matter_class")
    areas = locator.areas_at(lon, lat)
    if areas["grid"] is None:
        raise LoopError(f"the point {lon:.6f}, {lat:.6f} is in no grid of generation {locator.generation}: "
                        f"no one answers for it there", field="point")
    colour = rules.colour(important, urgent)
    due = rules.due(now, colour)
    assignees = route(rules, locator, areas, category, mc)
    department = rules.department(category) if mc == "public" else None
    unit = areas["unit"]["code"] if areas["unit"] else None
    grid_id, unit_id = locator.area_id("grid", areas["grid"]["code"]), locator.area_id("unit", unit)
    rid = session.execute(text("""
        INSERT INTO request (created_at, category, matter_class, importance, urgency, text, status, generation_id,
                             grid_code, unit_code, grid_area_id, unit_area_id, geom, address, source, colour,
                             due_at, version, updated_at, department, assignees)
        VALUES (:now, :cat, :mc, :imp, :urg, :txt, 'collected', :gen, :grid, :unit, :grid_id, :unit_id,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :addr, 'api', :colour, :due, 1, :now, :dept,
                CAST(:assignees AS jsonb))
        RETURNING id
    """), {"now": now, "cat": category, "mc": mc, "imp": int(bool(important)), "urg": int(bool(urgent)),
           "txt": text_, "gen": locator.generation, "grid": areas["grid"]["code"], "unit": unit, "grid_id": grid_id,
           "unit_id": unit_id, "lon": lon, "lat": lat, "addr": address, "colour": colour.name, "due": due,
           "dept": department, "assignees": json.dumps(assignees, ensure_ascii=False)}).scalar_one()
    _log(session, rid, 1, Step(actor, "collect", None, "collected", None, {
        "colour": colour.name, "due_at": due.isoformat(), "assignees": [p["name"] for p in assignees]}), now)
    repeat = session.execute(text("""
        SELECT id FROM request WHERE grid_area_id = :grid AND category = :cat AND id <> :id
          AND unit_area_id IS NOT DISTINCT FROM :unit AND created_at >= :since AND created_at <= :now
        ORDER BY created_at DESC LIMIT 1
    """), {"grid": grid_id, "cat": category, "id": rid, "unit": unit_id,
           "since": now - timedelta(days=REPEAT_DAYS), "now": now}).scalar()
    out = get(session, rid)
    out["repeat_of"] = repeat
    return out


def _log(session, rid: int, seq: int, step: Step, now: datetime) -> None:
    session.execute(text("""
        INSERT INTO request_event (request_id, seq, at, actor, action, from_status, to_status, note, detail)
        VALUES (:r, :seq, :at, :actor, :action, :frm, :to, :note, CAST(:detail AS jsonb))
    """), {"r": rid, "seq": seq, "at": now, "actor": str(step.actor), "action": step.action, "frm": step.frm,
           "to": step.frm if step.to is None else step.to, "note": step.note,
           "detail": json.dumps(step.detail or {}, ensure_ascii=False, default=str)})


def record_step(session, rid: int, version: int, step: Step, now: datetime, sets: list[str] = (),
                params: dict | None = None) -> int:
    """One step on record: the request moves to `step.to` (its status stays when that is None), its
    version goes from `version` to version + 1 with the `sets` given, and the step is appended to the
    log with that new version as its sequence number. Returns the new version."""
    new = version + 1
    assign = ["version = :v", "updated_at = :now"] + (["status = :to"] if step.to is not None else []) + list(sets)
    session.execute(text(f"UPDATE request SET {', '.join(assign)} WHERE id = :id"),
                    {"v": new, "now": now, "id": rid, "to": step.to, **(params or {})})
    _log(session, rid, new, step, now)
    return new


def _lock(session: Session, rid: int):
    row = session.execute(text("SELECT id, status, version, due_at FROM request WHERE id = :id FOR UPDATE"),
                          {"id": rid}).first()
    if row is None:
        raise RequestNotFound(f"no request {rid}")
    return row


def _pending(session: Session, rid: int) -> list[str]:
    return list(session.execute(text(
        "SELECT department FROM request_whistle WHERE request_id = :id AND acknowledged_at IS NULL "
        "ORDER BY department"), {"id": rid}).scalars())


@dataclass
class _Move:
    """One move being made: where the request stands, and what the step will set and log."""

    session: Session
    rules: Rules
    rid: int
    row: object
    actor: Actor
    now: datetime
    sets: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    detail: dict = field(default_factory=dict)


def _note(m: _Move, note, why: str, **_) -> None:
    if not (note and note.strip()):
        raise LoopError(f"note: {why}", field="note")


def _assignees(m: _Move, assignees, **_) -> None:
    """Who the request is handed to, when the dispatcher names them (else the routing's choice stays)."""
    if assignees is None:
        return
    if not assignees or not all(isinstance(a, dict) and a.get("name") for a in assignees):
        raise LoopError("assignees: give at least one, each with a name", field="assignees")
    m.sets.append("assignees = CAST(:assignees AS jsonb)")
    m.params["assignees"] = json.dumps(assignees, ensure_ascii=False)
    m.detail["assignees"] = [a["name"] for a in assignees]


def _departments(m: _Move, departments, why: str, **_) -> None:
    """The street summons departments (吹哨): each gets a whistle row to acknowledge."""
    deps = list(dict.fromkeys(d.strip() for d in (departments or []) if d and d.strip()))
    if not deps:
        raise LoopError(f"departments: {why}", field="departments")
    unknown = [d for d in deps if d not in m.rules.departments]
    if unknown:
        raise LoopError(f"departments: unknown {', '.join(unknown)}; known: {', '.join(m.rules.departments)}",
                        field="departments")
    for d in deps:
        m.session.execute(text("""
            INSERT INTO request_whistle (request_id, department, raised_at, raised_by)
            VALUES (:r, :d, :now, :by)
            ON CONFLICT (request_id, department) DO UPDATE
              SET raised_at = EXCLUDED.raised_at, raised_by = EXCLUDED.raised_by,
                  acknowledged_at = NULL, acknowledged_by = NULL, note = NULL
        """), {"r": m.rid, "d": d, "now": m.now, "by": str(m.actor)})
    m.detail.update(departments=deps, raised_to="street")


def _result(m: _Move, result, why: str, **_) -> None:
    if not (result and result.strip()):
        raise LoopError(f"result: {why}", field="result")
    m.params["result"] = result.strip()
    m.detail["on_time"] = m.row.due_at is None or m.now <= m.row.due_at


def _satisfaction(m: _Move, satisfaction, feedback, why: str, **_) -> None:
    if satisfaction is None or not 1 <= int(satisfaction) <= 5:
        raise LoopError(f"satisfaction: {why}", field="satisfaction")
    m.params.update(sat=int(satisfaction), fb=feedback)
    m.detail["satisfaction"] = int(satisfaction)


# How the loop takes each argument a MoveRule names (checks it, and adds what it sets and logs).
ARGUMENTS = {"note": _note, "assignees": _assignees, "departments": _departments, "result": _result,
             "satisfaction": _satisfaction}


def move(session: Session, rules: Rules, rid: int, to: str, version: int | None, actor: Actor, *,
         note: str | None = None, result: str | None = None, satisfaction: int | None = None,
         feedback: str | None = None, departments: list[str] | None = None,
         assignees: list[dict] | None = None, now: datetime | None = None) -> dict:
    """One step of the loop. Refused with IllegalMove (409, the allowed moves named) when the state
    machine does not allow it, with StaleVersion (409) when `version` is not the current one, with
    LoopError naming the argument a move needs (gis.command.rules.MOVE_RULES) when it is missing."""
    now = now or utcnow()
    if version is None:
        raise LoopError("version: required (the version you read; it guards against lost updates)",
                        field="version")
    row = _lock(session, rid)
    if row.version != version:
        raise StaleVersion(f"request {rid} is at version {row.version}, not {version}: read it again",
                           version=row.version, status=row.status, allowed=list(allowed(row.status)))
    moves = allowed(row.status)
    if to not in moves:
        raise IllegalMove(f"request {rid} is {row.status} ({STEP_NAMES.get(row.status)}); "
                          f"{to!r} is not allowed from there; allowed: {', '.join(moves) or 'none (finished)'}",
                          status=row.status, allowed=list(moves), version=row.version)
    here = move_rules(row.status, to)
    m = _Move(session, rules, rid, row, actor, now)
    args = {"note": note, "result": result, "satisfaction": satisfaction, "feedback": feedback,
            "departments": departments, "assignees": assignees}
    if any(r.settled for r in here):
        pending = _pending(session, rid)
        if pending:
            raise IllegalMove(f"request {rid}: departments summoned by the whistle have not acknowledged: "
                              f"{', '.join(pending)}", status=row.status, pending=pending,
                              allowed=list(moves), version=row.version)
    for r in here:
        if r.needs or r.takes:
            ARGUMENTS[r.needs or r.takes](m, why=r.why, **args)
        m.sets += r.sets
    record_step(session, rid, row.version, Step(actor, "move", row.status, to, note, m.detail), now, m.sets, m.params)
    return get(session, rid)


def acknowledge(session: Session, rid: int, department: str, actor: Actor, note: str | None = None,
                now: datetime | None = None) -> dict:
    """A summoned department reports (部门报到); refused when it was not summoned or already reported."""
    now = now or utcnow()
    row = _lock(session, rid)
    w = session.execute(text("SELECT id, acknowledged_at FROM request_whistle WHERE request_id = :r AND department = :d"),
                        {"r": rid, "d": department}).first()
    if w is None:
        summoned = session.execute(text("SELECT department FROM request_whistle WHERE request_id = :r"),
                                   {"r": rid}).scalars().all()
        raise IllegalMove(f"department {department!r} was not summoned for request {rid}; summoned: "
                          f"{', '.join(summoned) or 'none'}", status=row.status, allowed=list(allowed(row.status)))
    if w.acknowledged_at is not None:
        raise IllegalMove(f"department {department!r} already acknowledged request {rid}",
                          status=row.status, allowed=list(allowed(row.status)))
    session.execute(text("UPDATE request_whistle SET acknowledged_at = :now, acknowledged_by = :by, note = :note "
                         "WHERE id = :id"), {"now": now, "by": str(actor), "note": note, "id": w.id})
    step = Step(actor, "acknowledge", row.status, None, note, {"department": department})
    record_step(session, rid, row.version, step, now)
    return get(session, rid)


def escalate_overdue(session: Session, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    """Deadline sweep: every open request past its deadline and not yet escalated is raised to the
    street for supervision (日常督办). Safe to run in several workers at once (SKIP LOCKED)."""
    now = now or utcnow()
    rows = session.execute(text(f"""
        SELECT id, status, version, due_at FROM request
        WHERE status IN ({OPEN_SQL}) AND due_at < :now AND escalated_at IS NULL
        ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED
    """), {"now": now, "limit": limit}).all()
    for r in rows:
        record_step(session, r.id, r.version, Step(
            SYSTEM, "escalate", r.status, "supervised", "deadline passed: raised to the street for supervision",
            {"due_at": r.due_at.isoformat(), "overdue_h": round((now - r.due_at).total_seconds() / 3600, 1),
             "raised_to": "street"}), now, ["escalated_at = :now"])
    return [r.id for r in rows]


def listing(session: Session, status: str | None = None, grid: str | None = None, colour: str | None = None,
            overdue: bool = False, limit: int = 200, now: datetime | None = None) -> list[dict]:
    """Requests for the command center in one query, the nearest deadline first; `status` may be 'open'."""
    where, params = ["TRUE"], {"limit": limit, "now": now or utcnow()}
    if status == "open":
        where.append(f"r.status IN ({OPEN_SQL})")
    elif status:
        where.append("r.status = :status")
        params["status"] = status
    if grid:
        where.append("""coalesce(r.grid_area_id = (
            SELECT ga.area_id FROM generation_area ga JOIN active_generation ag ON ag.generation_id = ga.generation_id
            WHERE ga.level = 'grid' AND ga.code = :grid), r.grid_code = :grid)""")  # by area id (re-codings)
        params["grid"] = grid
    if colour:
        where.append("r.colour = :colour")
        params["colour"] = colour
    if overdue:
        where.append(f"r.status IN ({OPEN_SQL}) AND r.due_at < :now")
    rows = session.execute(text(f"""
        SELECT r.*, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, NULL AS grid_name FROM request r
        WHERE {' AND '.join(where)} ORDER BY r.due_at NULLS LAST, r.id LIMIT :limit"""), params).mappings().all()
    return [_public(r) | {"assignees": r["assignees"]} for r in rows]


def get(session: Session, rid: int, events: bool = True) -> dict:
    """A request as the API shows it: where, who, colour and deadline, status, allowed moves, steps."""
    r = session.execute(text(f"""
        SELECT r.*, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
               (SELECT a.name FROM {GENERATION_AREAS}
                 WHERE ga.generation_id = r.generation_id AND ga.level = 'grid' AND ga.code = r.grid_code) AS grid_name
        FROM request r WHERE r.id = :id
    """), {"id": rid}).mappings().first()
    if r is None:
        raise RequestNotFound(f"no request {rid}")
    out = _public(r)
    out["assignees"] = r["assignees"]
    out["whistle"] = [dict(w) for w in session.execute(text("""
        SELECT department, raised_at, raised_by, acknowledged_at, acknowledged_by, note
        FROM request_whistle WHERE request_id = :id ORDER BY department"""), {"id": rid}).mappings()]
    if events:
        out["events"] = [dict(e) for e in session.execute(text("""
            SELECT seq, at, actor, action, from_status, to_status, note, detail
            FROM request_event WHERE request_id = :id ORDER BY seq"""), {"id": rid}).mappings()]
    return out


def _public(r, now: datetime | None = None) -> dict:
    now = now or utcnow()
    due, fin = r["due_at"], r["finished_at"]
    return {
        "id": r["id"], "status": r["status"], "step": STEP_NAMES.get(r["status"]), "version": r["version"],
        "allowed": list(allowed(r["status"])), "created_at": r["created_at"], "category": r["category"],
        "matter_class": r["matter_class"], "important": bool(r["importance"]), "urgent": bool(r["urgency"]),
        "colour": r["colour"], "due_at": due,
        "overdue": bool(due and ((fin or now) > due) and r["status"] != "rejected"),
        "text": r["text"], "address": r["address"], "point": {"lon": r["lon"], "lat": r["lat"]},
        "generation": r["generation_id"], "grid": {"code": r["grid_code"], "name": r.get("grid_name")},
        "unit": r["unit_code"], "department": r["department"], "escalated_at": r["escalated_at"],
        "finished_at": fin, "closed_at": r["closed_at"], "result": r["result"],
        "satisfaction": r["satisfaction"], "feedback": r["feedback"],
    }


def board(session: Session, grid_code: str, start: datetime, end: datetime, limit: int = 200) -> dict:
    """The grid's public result board (晒单): finished requests of the window, newest first, with the
    result, whether it was on time and the resident's rating; no names, no exact addresses. Requests
    count by the area they were located in (the grid bearing `grid_code` in the active generation), so a
    re-coded grid keeps its record; a code the active generation lacks is matched as it was shown."""
    aid = session.execute(text("""
        SELECT ga.area_id FROM generation_area ga JOIN active_generation ag ON ag.generation_id = ga.generation_id
        WHERE ga.level = 'grid' AND ga.code = :g"""), {"g": grid_code}).scalar()
    mine = "grid_area_id = :aid" if aid is not None else "grid_code = :g"
    rows = session.execute(text(f"""
        SELECT id, category, colour, created_at, due_at, finished_at, result, satisfaction, status
        FROM request
        WHERE {mine} AND created_at >= :start AND created_at < :end AND status = ANY(:fin)
        ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT :limit
    """), {"g": grid_code, "aid": aid, "start": start, "end": end, "fin": list(FINISHED_STATUSES), "limit": limit}).mappings().all()
    totals = session.execute(text(f"""
        SELECT count(*) AS received,
               count(*) FILTER (WHERE status = ANY(:fin)) AS finished,
               count(*) FILTER (WHERE status = ANY(:fin) AND finished_at <= due_at) AS on_time,
               avg(satisfaction) AS satisfaction
        FROM request WHERE {mine} AND created_at >= :start AND created_at < :end
    """), {"g": grid_code, "aid": aid, "start": start, "end": end, "fin": list(FINISHED_STATUSES)}).mappings().first()
    return {
        "grid": grid_code, "start": start, "end": end,
        "received": totals["received"], "finished": totals["finished"], "on_time": totals["on_time"],
        "satisfaction": round(float(totals["satisfaction"]), 2) if totals["satisfaction"] is not None else None,
        "items": [{"id": r["id"], "category": r["category"], "colour": r["colour"], "created_at": r["created_at"],
                   "finished_at": r["finished_at"], "on_time": bool(r["finished_at"] and r["finished_at"] <= r["due_at"]),
                   "result": r["result"], "satisfaction": r["satisfaction"], "status": r["status"]}
                  for r in rows],
    }
