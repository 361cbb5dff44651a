"""Resident requests (居民点单): raise one by address or point, follow it through the nine steps,
summon departments, escalate overdue work, and read a grid's result board (晒单)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from api.deps import get_db, get_geocoder, get_locator, get_rules, require
from api.http import CRS_HELP, MonthParams, mask_phone, status_filter, wgs84_point
from gis import keys
from gis.command import loop
from gis.store.db import session_scope
from gis.locate.engine import LocateEngine
from gis.command.rules import Rules

router = APIRouter(prefix="/v1", tags=["requests"])


class NewRequest(BaseModel):
    """POST /v1/requests' body: what and where (a point or an address), how important and urgent."""

    category: str = Field(..., description="one of the menu's categories, e.g. 环境卫生")
    text: str | None = Field(None, max_length=2000)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    crs: str = Field("wgs84", max_length=100, description=CRS_HELP)
    address: str | None = Field(None, max_length=200, description="where, as the resident says it")
    matter_class: str | None = Field(None, description="public/公家事, shared/大家事, private/自家事; "
                                                       "default: the category's")
    important: bool = False
    urgent: bool = False
    importance: bool | int | str | None = Field(None, description="the same as `important`, as a level: "
                                                                 "high/normal, 重要/一般, or 0–3 (≥ 2 is high)")
    urgency: bool | int | str | None = Field(None, description="the same as `urgent`: high/normal, 紧急/一般, 0–3")
    by: str | None = Field(None, max_length=100, description="the person acting (kept in the log)")

    def flags(self) -> tuple[bool, bool]:
        """(important, urgent) from the booleans or from importance/urgency levels."""
        return (self.important or _level("importance", self.importance),
                self.urgent or _level("urgency", self.urgency))


HIGH = {"high", "h", "important", "urgent", "重要", "紧急", "高", "是", "yes", "true"}
NORMAL = {"normal", "low", "n", "l", "一般", "普通", "低", "否", "no", "false", ""}


def _level(name: str, value) -> bool:
    """A level as residents' apps send it: booleans, 0–3 (≥ 2 is high) or words."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if not 0 <= value <= 3:
            raise loop.LoopError(f"{name}: {value} is not a level 0–3", field=name)
        return value >= 2
    word = value.strip().lower()
    if word in HIGH:
        return True
    if word in NORMAL:
        return False
    raise loop.LoopError(f"{name}: {value!r}; use high/normal (重要/一般, 紧急/一般) or 0–3", field=name)


class Move(BaseModel):
    """One step of a request through the loop, with what that step needs (result, satisfaction, ...)."""

    to: str = Field(..., description="the next status, e.g. dispatched")
    version: int | None = Field(None, description="the version you read (optimistic locking)")
    note: str | None = Field(None, max_length=2000)
    result: str | None = Field(None, max_length=2000, description="what was done (to fed_back)")
    satisfaction: int | None = Field(None, description="1–5 (to evaluated)")
    feedback: str | None = Field(None, max_length=2000)
    departments: list[str] | None = Field(None, description="departments summoned (to coordinating, 吹哨)")
    assignees: list[dict] | None = Field(None, description="who handles it (to dispatched); default: routing")
    by: str | None = Field(None, max_length=100)


class Acknowledgement(BaseModel):
    """A summoned department reporting in (部门报到)."""

    department: str
    note: str | None = Field(None, max_length=2000)
    by: str | None = Field(None, max_length=100)


def _actor(request: Request, by: str | None) -> loop.Actor:
    return loop.Actor(request.state.role, request.state.key_prefix, by)


def _shown(out: dict, role: str) -> dict:
    if not keys.allows(role, "phones"):
        out["assignees"] = [{**p, "phone": mask_phone(p.get("phone"))} for p in out.get("assignees", [])]
    return out


def _run(engine: Engine, fn, *args, **kw):
    """One transaction; a LoopError becomes its status with the message and details (api.errors)."""
    with session_scope(engine) as session:
        return fn(session, *args, **kw)


@router.post("/requests", status_code=201)
def create(body: NewRequest, request: Request, role: str = Depends(require("report")),
           engine: Engine = Depends(get_db), locator: LocateEngine = Depends(get_locator),
           rules: Rules = Depends(get_rules)):
    """Record a request at a point or an address; it is located to its grid and unit, routed by
    matter class, coloured and given a deadline. An address that is not found precisely is refused
    with the candidates, so the caller can ask the resident again."""
    important, urgent = body.flags()
    if body.lon is not None and body.lat is not None:
        lon, lat = wgs84_point(body.lon, body.lat, body.crs)
    elif body.address:
        found = get_geocoder(request, locator).geocode(body.address, 3)
        if not found["confident"]:
            raise loop.LoopError(f"address: {body.address!r} is not found precisely; give coordinates or a "
                                 f"fuller address", field="address", candidates=found["candidates"])
        lon, lat = found["candidates"][0]["lon"], found["candidates"][0]["lat"]
    else:
        raise loop.LoopError("lon: give lon and lat, or address", field="lon")
    out = _run(engine, loop.create, rules, locator, lon=lon, lat=lat, category=body.category,
               matter_class=body.matter_class, important=important, urgent=urgent, text_=body.text,
               address=body.address, actor=_actor(request, body.by))
    return _shown(out, role)


@router.get("/requests")
def listing(role: str = Depends(require("requests")), engine: Engine = Depends(get_db),
            status: str | None = Depends(status_filter),
            grid: str | None = None, overdue: bool = False, colour: str | None = None,
            limit: Annotated[int, Query(ge=1, le=5000)] = 200):
    """Requests for the command center, the nearest deadline first."""
    with session_scope(engine) as session:
        rows = loop.listing(session, status, grid, colour, overdue, limit)
    return {"requests": [_shown(r, role) for r in rows]}


@router.get("/requests/{rid:int}")
def show(rid: int, role: str = Depends(require("report")), engine: Engine = Depends(get_db)):
    """One request with its steps (the append-only log) and the departments summoned."""
    return _shown(_run(engine, loop.get, rid), role)


@router.post("/requests/{rid:int}/moves")
def move(rid: int, body: Move, request: Request, role: str = Depends(require("requests")),
         engine: Engine = Depends(get_db), rules: Rules = Depends(get_rules)):
    """One step. 409 when the move is not allowed now (the allowed ones are named) or when `version`
    is stale (someone else moved it first)."""
    out = _run(engine, loop.move, rules, rid, body.to, body.version, _actor(request, body.by), note=body.note,
               result=body.result, satisfaction=body.satisfaction, feedback=body.feedback,
               departments=body.departments, assignees=body.assignees)
    return _shown(out, role)


@router.post("/requests/{rid:int}/acknowledgements")
def acknowledge(rid: int, body: Acknowledgement, request: Request, role: str = Depends(require("requests")),
                engine: Engine = Depends(get_db)):
    """A department summoned by the whistle reports (部门报到)."""
    return _shown(_run(engine, loop.acknowledge, rid, body.department, _actor(request, body.by), body.note), role)


@router.post("/requests/escalations")
def escalate(_role: str = Depends(require("requests")), engine: Engine = Depends(get_db)):
    """Run the deadline sweep now (each worker also runs it every WANGGE_ESCALATION_INTERVAL_S)."""
    with session_scope(engine) as session:
        return {"escalated": loop.escalate_overdue(session)}


@router.get("/grids/{code}/board")
def board(code: str, _role: str = Depends(require("read")), engine: Engine = Depends(get_db),
          month: MonthParams = Depends()):
    """The grid's public result board (晒单) for one month (default: this month)."""
    start, end = month.window()
    with session_scope(engine) as session:
        return loop.board(session, code, start, end)
