"""GET/POST /v1/locate: which district, street, community, grid (of every tier) and unit answer for a
point; GET /v1/tiers: the city's grid tiers."""
from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import get_db, get_geocoder, get_locator, get_settings_dep, require
from api.http import CRS_HELP, GenerationParams, OptionalPointParams, json_response, mask_phone, pick_locator
from gis import keys
from gis.command.periods import IsoTime
from gis.coords import normalize_crs, to_wgs84
from gis.errors import Invalid, TooLarge
from gis.locate.engine import LocateEngine
from gis.store.models import LEVELS
from gis.settings import Settings

router = APIRouter(prefix="/v1", tags=["locate"])


@router.get("/locate")
async def locate_one(
    request: Request,
    role: str = Depends(require("read")),  # first: the key is checked before the parameters
    point: OptionalPointParams = Depends(),
    address: Annotated[str | None, Query(max_length=200, description="an address instead of lon/lat")] = None,
    sel: GenerationParams = Depends(),
    active: LocateEngine = Depends(get_locator),
    settings: Settings = Depends(get_settings_dep),
):
    """Which areas, staff and stations answer for a point, or for an address (geocoded first; the
    candidate used is in the answer under `geocode`). `generation=N` or `at=TIME` asks an earlier map
    ("which grid answered for this place last March?")."""
    locator = active if not sel.chosen() else \
        await run_in_threadpool(pick_locator, request, role, active, sel.generation, sel.at)
    used = None
    if address is not None:
        gc = get_geocoder(request, locator)
        result = gc.geocode(address, 1)
        if not result["candidates"]:
            return json_response({"found": False, "point": None, "generation": locator.generation,
                                  **{lvl: None for lvl in LEVELS}, "grid_path": [], "staff": [], "stations": [],
                                  "geocode": {"confident": False, "candidate": None}})
        used = {"confident": result["confident"], "candidate": result["candidates"][0]}
        x0, y0 = used["candidate"]["lon"], used["candidate"]["lat"]
    elif point.xy is None:
        raise Invalid(point.missing(), "give lon and lat, or address")
    else:
        x0, y0 = point.xy
    answer = locator.answer_one(x0, y0, settings.nearest_stations)
    if used is not None:
        answer["geocode"] = used
    if not keys.allows(role, "phones"):
        answer["staff"] = [{**p, "phone": mask_phone(p["phone"])} for p in answer["staff"]]
    return json_response(answer)


@router.get("/tiers")
def grid_tiers(role: str = Depends(require("read")), db=Depends(get_db)):
    """The city's grid tiers, coarsest first: name, digits each adds to its parent's code, and whether
    its grids must cover their parent grid without gaps (any role)."""
    from dataclasses import asdict

    from gis.store.tiers import tiers

    with db.connect() as conn:
        return json_response({"tiers": [asdict(t) for t in tiers(conn)]})


class BatchLocate(BaseModel):
    """POST /v1/locate's body: points as [lon, lat] pairs in one CRS, optionally for an earlier generation."""

    crs: str = Field("wgs84", max_length=100, description=CRS_HELP)
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
    """Many points at once (up to WANGGE_LOCATE_BATCH_LIMIT): each point's area codes, in input order,
    with `grid_path`: the codes of the covering grid of every tier, coarsest first."""
    n = len(body.points)
    if n > settings.locate_batch_limit:
        raise TooLarge("points", f"{n} points is over the limit of {settings.locate_batch_limit} per request")
    crs = normalize_crs(body.crs)
    locator = pick_locator(request, role, active, body.generation, body.at)
    arr = np.asarray(body.points, dtype=np.float64).reshape(n, 2)
    bad_lon = ~(np.isfinite(arr[:, 0]) & (np.abs(arr[:, 0]) <= 180))
    bad_lat = ~(np.isfinite(arr[:, 1]) & (np.abs(arr[:, 1]) <= 90))
    if bad_lon.any() or bad_lat.any():
        i = int(np.flatnonzero(bad_lon | bad_lat)[0])
        j, name = (0, "lon, -180..180") if bad_lon[i] else (1, "lat, -90..90")
        raise Invalid(f"points[{i}][{j}]", f"({name}) is out of range: {list(body.points[i])}")
    x, y = to_wgs84(arr[:, 0], arr[:, 1], crs)
    codes = locator.locate_codes(x, y)
    levels = [lvl for lvl in LEVELS]
    cols = [codes.get(lvl, [None] * n) for lvl in levels]
    paths = locator.grid_paths(x, y)
    results = [{**dict(zip(levels, row)), "grid_path": path} for row, path in zip(zip(*cols), paths)] if n else []
    return json_response({"generation": locator.generation, "results": results})
