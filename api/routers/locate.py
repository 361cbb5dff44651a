"""GET/POST /v1/locate: which district, street, community, grid and unit answer for a point."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import get_locator, get_settings_dep, require
from gis import keys
from gis.store import generations
from gis.store.db import session_scope
from gis.command.periods import TZ, IsoTime
from gis.coords import CRS_NAMES, to_wgs84
from gis.locate.engine import LocateEngine
from gis.store.models import LEVELS
from gis.settings import Settings

router = APIRouter(prefix="/v1", tags=["locate"])


def json_response(payload: dict) -> Response:
    """Plain-dict answers serialised directly (no per-field encoder pass on the hot path)."""
    return Response(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise, not enough to call."""
    if not phone:
        return phone
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


def check_crs(crs: str) -> str:
    c = crs.strip().lower()
    if c not in CRS_NAMES:
        raise HTTPException(422, f"crs: unknown coordinate system {crs!r}; use one of {', '.join(CRS_NAMES)}")
    return c


def pick_locator(request: Request, role: str, active: LocateEngine, generation: int | None,
                 at: datetime | None) -> LocateEngine:
    """The engine for `generation=N` or for the generation active `at` a time; the active one otherwise.
    Drafts (uncommitted redraws) only for planners. 422 naming the parameter when it cannot be honoured."""
    if generation is None and at is None:
        return active
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=TZ)
    try:
        with session_scope(request.app.state.engine) as session:
            gen = generations.choose(session, generation, at, drafts=keys.allows(role, "redraw"))
    except generations.GenerationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return request.app.state.engine_cache.get_for(gen)


@router.get("/locate")
async def locate_one(
    request: Request,
    lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")] = None,
    crs: str = "wgs84",
    address: Annotated[str | None, Query(max_length=200, description="an address instead of lon/lat")] = None,
    generation: Annotated[int | None, Query(description="answer with this generation (history, drafts)")] = None,
    at: Annotated[IsoTime | None, Query(description="answer with the generation active at this time")] = None,
    role: str = Depends(require("read")),
    active: LocateEngine = Depends(get_locator),
    settings: Settings = Depends(get_settings_dep),
):
    """Which areas, staff and stations answer for a point, or for an address (geocoded first; the
    candidate used is in the answer under `geocode`). `generation=N` or `at=TIME` asks an earlier map
    ("which grid answered for this place last March?")."""
    locator = active if generation is None and at is None else \
        await run_in_threadpool(pick_locator, request, role, active, generation, at)
    used = None
    if address is not None:
        from api.routers.geocode import get_geocoder
        gc = get_geocoder(request, locator)
        result = gc.geocode(address, 1)
        if not result["candidates"]:
            return json_response({"found": False, "point": None, "generation": locator.generation,
                                  **{lvl: None for lvl in LEVELS}, "staff": [], "stations": [],
                                  "geocode": {"confident": False, "candidate": None}})
        used = {"confident": result["confident"], "candidate": result["candidates"][0]}
        x0, y0 = used["candidate"]["lon"], used["candidate"]["lat"]
    elif lon is None or lat is None:
        raise HTTPException(422, f"{'lon' if lon is None else 'lat'}: give lon and lat, or address")
    else:
        x, y = to_wgs84(np.array([lon]), np.array([lat]), check_crs(crs))
        x0, y0 = float(x[0]), float(y[0])
    answer = locator.answer_one(x0, y0, settings.nearest_stations)
    if used is not None:
        answer["geocode"] = used
    if not keys.allows(role, "phones"):
        answer["staff"] = [{**p, "phone": mask_phone(p["phone"])} for p in answer["staff"]]
    return json_response(answer)


class BatchLocate(BaseModel):
    crs: str = "wgs84"
    points: list[tuple[float, float]] = Field(..., description="[[lon, lat], ...] in input order")
    generation: int | None = Field(None, description="answer with this generation")
    at: IsoTime | None = Field(None, description="answer with the generation active at this time")


@router.post("/locate")
def locate_batch(
    body: BatchLocate,
    request: Request,
    role: str = Depends(require("read")),
    active: LocateEngine = Depends(get_locator),
    settings: Settings = Depends(get_settings_dep),
):
    n = len(body.points)
    if n > settings.locate_batch_limit:
        raise HTTPException(413, f"points: {n} points is over the limit of {settings.locate_batch_limit} per request")
    crs = check_crs(body.crs)
    locator = pick_locator(request, role, active, body.generation, body.at)
    arr = np.asarray(body.points, dtype=np.float64).reshape(n, 2)
    bad_lon = ~(np.isfinite(arr[:, 0]) & (np.abs(arr[:, 0]) <= 180))
    bad_lat = ~(np.isfinite(arr[:, 1]) & (np.abs(arr[:, 1]) <= 90))
    if bad_lon.any() or bad_lat.any():
        i = int(np.flatnonzero(bad_lon | bad_lat)[0])
        which = "0] (lon, -180..180)" if bad_lon[i] else "1] (lat, -90..90)"
        raise HTTPException(422, f"points[{i}][{which} is out of range: {body.points[i]}")
    x, y = to_wgs84(arr[:, 0], arr[:, 1], crs)
    codes = locator.locate_codes(x, y)
    levels = [lvl for lvl in LEVELS]
    cols = [codes.get(lvl, [None] * n) for lvl in levels]
    results = [dict(zip(levels, row)) for row in zip(*cols)] if n else []
    return json_response({"generation": locator.generation, "results": results})
