"""GET/POST /v1/geocode and GET /v1/reverse: addresses as residents type them → registry places."""
from __future__ import annotations

import threading
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from api.deps import get_locator, require
from api.routers.locate import check_crs, json_response
from gis.coords import to_wgs84
from gis.locate.engine import LocateEngine

router = APIRouter(prefix="/v1", tags=["geocode"])


def get_geocoder(request: Request, loc: LocateEngine = Depends(get_locator)):
    """One geocoder per locate engine, the last GEOCODERS_KEPT kept per process (the active map and the
    history ones asked with generation=/at=); the registry is re-read when an engine is rebuilt."""
    from gis.address.geocode import load_geocoder

    state = request.app.state
    if getattr(state, "geocoders", None) is None:
        state.geocoders = []
    kept: list = state.geocoders
    for i, (engine_, gc) in enumerate(kept):
        if engine_ is loc:
            kept.append(kept.pop(i))  # most recent last
            return gc
    # one build at a time: on a cold worker every concurrent request built its own geocoder (the city's
    # takes ~10 s and ~330 MB each), which exhausted the pool and memory under load (bench/load.py)
    with _BUILD:
        for engine_, gc in kept:
            if engine_ is loc:
                return gc
        gc = load_geocoder(request.app.state.engine, loc)
        kept.append((loc, gc))
        del kept[:-GEOCODERS_KEPT]
    return gc


GEOCODERS_KEPT = 2
_BUILD = threading.Lock()


@router.get("/geocode")
def geocode(q: Annotated[str, Query(min_length=1, max_length=200)], limit: Annotated[int, Query(ge=1, le=20)] = 5,
            _role: str = Depends(require("read")), gc=Depends(get_geocoder)):
    return json_response(gc.geocode(q, limit))


@router.post("/geocode")
def geocode_batch(body: dict = Body(..., examples=[{"addresses": ["解放路123号锦绣花园5栋2单元"], "limit": 1}]),
                  _role: str = Depends(require("read")), gc=Depends(get_geocoder)):
    items = body.get("addresses")
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise HTTPException(422, "addresses: a list of strings is needed")
    if len(items) > 10_000:
        raise HTTPException(413, f"addresses: {len(items)} is over the limit of 10000 per request")
    limit = int(body.get("limit", 1))
    return json_response({"results": [gc.geocode(a, limit) for a in items]})


@router.get("/reverse")
def reverse(lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
            lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)], crs: str = "wgs84",
            _role: str = Depends(require("read")), gc=Depends(get_geocoder)):
    """The nearest registry address to a point, with its straight-line distance."""
    x, y = to_wgs84(np.array([lon]), np.array([lat]), check_crs(crs))
    hit = gc.nearest(float(x[0]), float(y[0]))
    if hit is None:
        raise HTTPException(404, "the address registry is empty")
    return json_response(hit)
