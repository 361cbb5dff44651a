"""Visits and patrols from the field (入户问需, 走访, 巡查): record one from a phone (small JSON, resent safely
with an idempotency key), list a grid's week (staff only, every read logged), import many from CSV.

Roles: a field phone uses a `report` key (consumer: the phone app's key; the visitor is the body's
`person_id`); listing visits names people, so it needs `requests` (command, admin) and is logged."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_rules, get_settings_dep, require
from api.http import CRS_HELP, wgs84_point
from gis.command import loop
from gis.command.periods import IsoTime
from gis.command.rules import Rules
from gis.field import pii, visits
from gis.field.coverage import units_under, week_window
from gis.field.imports import import_visits
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from gis.store.db import session_scope

ERROR_JSON = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
router = APIRouter(prefix="/v1", tags=["field work"])


class NewVisit(BaseModel):
    """POST /v1/visits' body: who, when it happened, where, which units, what was found."""

    person_id: int = Field(..., ge=1, le=2_147_483_647, description="the visitor (person id)")
    lon: float = Field(..., ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(..., ge=-90, le=90, allow_inf_nan=False)
    crs: str = Field("wgs84", max_length=100, description=CRS_HELP)
    at: IsoTime | None = Field(None, description="when it happened (ISO; China Standard Time when naive); "
                                                 "default: now. A visit sent late keeps this time")
    kind: str = Field("visit", max_length=16, description="visit (走访), patrol (巡查) or check (摸排)")
    units: list[str] | None = Field(None, max_length=200, description="unit codes visited; default: the unit here")
    households: int | None = Field(None, ge=0, le=100_000, description="households visited, as counted")
    found: str | None = Field(None, max_length=2000, description="what was found")
    category: str | None = Field(None, max_length=100, description="give a category to make `found` a request")
    important: bool = False
    urgent: bool = False
    idempotency_key: str | None = Field(None, max_length=64, description="client-made; a resend is stored once")


@router.post("/visits", status_code=201, responses={200: {"description": "a resend: the first visit with that "
                                                                         "idempotency key (nothing new written)"}})
def create(body: NewVisit, request: Request, response: Response, role: str = Depends(require("report")),
           engine: Engine = Depends(get_db), locator: LocateEngine = Depends(get_locator),
           rules: Rules = Depends(get_rules), settings: Settings = Depends(get_settings_dep)):
    """Record a visit; 201 with the visit, or 200 with the first one when its idempotency key is on record."""
    lon, lat = wgs84_point(body.lon, body.lat, body.crs)
    v = visits.VisitIn(person_id=body.person_id, lon=lon, lat=lat, at=body.at, kind=body.kind, units=body.units,
                       households=body.households, found=body.found, category=body.category,
                       important=body.important, urgent=body.urgent, idempotency_key=body.idempotency_key)
    with session_scope(engine) as session:
        out, created = visits.record(session, rules, locator, v, actor=loop.Actor(role, request.state.key_prefix),
                                     skew_s=settings.visit_skew_s)
    if not created:
        response.status_code = 200
    return out | {"duplicate": not created}


@router.get("/visits", responses={404: {"description": "no such grid in the active generation", **ERROR_JSON}})
def listing(request: Request, grid: Annotated[str, Query(max_length=32, description="grid code")],
            week: Annotated[str | None, Query(max_length=10, description="ISO week YYYY-Www; default this week")] = None,
            purpose: Annotated[str | None, Query(max_length=200, description="why you read (logged, PIPL)")] = None,
            role: str = Depends(require("requests")), engine: Engine = Depends(get_db),
            locator: LocateEngine = Depends(get_locator)):
    """The visits of a grid's week, with the visitors' names; the read is logged with its purpose."""
    start, end, label = week_window(week)
    why = pii.purpose_of(purpose, "督办 supervising rounds")
    with session_scope(engine) as session:
        frame = units_under(session, locator.generation, "grid", grid)
        rows = visits.listing(session, frame.loc[frame["level"] == "grid", "area_id"].astype(int).tolist(),
                              frame.loc[frame["level"] == "unit", "area_id"].astype(int).tolist(), start, end)
        pii.log_read(session, f"{role}:{request.state.key_prefix}", f"visits of grid {grid} week {label}", why,
                     len({r["person_id"] for r in rows}))
    return {"grid": grid, "week": label, "start": start, "end": end, "visits": rows}


@router.post("/visits/import")
async def bulk(request: Request, file: UploadFile = File(..., description="UTF-8 CSV of visits"),
               role: str = Depends(require("requests")), engine: Engine = Depends(get_db),
               locator: LocateEngine = Depends(get_locator), rules: Rules = Depends(get_rules),
               settings: Settings = Depends(get_settings_dep)):
    """Many visits from a CSV in one transaction; a bad line refuses the file with every bad line listed."""
    from starlette.concurrency import run_in_threadpool

    data = await file.read()

    def run():
        with session_scope(engine) as session:
            now = session.execute(text("SELECT now()")).scalar()
            return import_visits(session, rules, locator, data, loop.Actor(role, request.state.key_prefix), now,
                                 settings.visit_skew_s)
    return await run_in_threadpool(run)
