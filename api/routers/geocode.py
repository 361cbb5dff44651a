"""GET/POST /v1/geocode and GET /v1/reverse: addresses as residents type them → registry places."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from api.deps import get_geocoder, get_settings_dep, require
from api.http import PointParams, json_response
from gis.errors import Invalid, NotFound, TooLarge
from gis.settings import Settings

router = APIRouter(prefix="/v1", tags=["geocode"])
ADDRESS_MAX = 200  # characters in one address, on GET and in a batch


@router.get("/geocode")
def geocode(q: Annotated[str, Query(min_length=1, max_length=ADDRESS_MAX)], limit: Annotated[int, Query(ge=1, le=20)] = 5,
            _role: str = Depends(require("read")), gc=Depends(get_geocoder)):
    """Registry places for an address as a resident types it, best first, with `confident`."""
    return json_response(gc.geocode(q, limit))


@router.post("/geocode")
def geocode_batch(body: dict = Body(..., examples=[{"addresses": ["解放路123号锦绣花园5栋2单元"], "limit": 1}]),
                  _role: str = Depends(require("read")), gc=Depends(get_geocoder)):
    """Many addresses at once (up to 10,000), each answered as GET /v1/geocode would."""
    items = body.get("addresses")
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise Invalid("addresses", "a list of strings is needed")
    if len(items) > 10_000:
        raise TooLarge("addresses", f"{len(items)} is over the limit of 10000 per request")
    too_long = next((i for i, a in enumerate(items) if len(a) > ADDRESS_MAX), None)
    if too_long is not None:  # as on GET: an address is at most ADDRESS_MAX characters
        raise Invalid(f"addresses[{too_long}]", f"{len(items[too_long]):,} characters is over the limit of "
                                                f"{ADDRESS_MAX}")
    limit = body.get("limit", 1)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 20:
        raise Invalid("limit", f"{str(limit)[:20]!r} is not a whole number 1..20")
    return json_response({"results": [gc.geocode(a, limit) for a in items]})


@router.get("/reverse")
def reverse(_role: str = Depends(require("read")), point: PointParams = Depends(), gc=Depends(get_geocoder),
            settings: Settings = Depends(get_settings_dep)):
    """The nearest registry address to a point, with its straight-line distance; 404 beyond WANGGE_REVERSE_MAX_M."""
    hit = gc.nearest(point.x, point.y, settings.reverse_max_m)
    if hit is None:
        raise NotFound("the address registry is empty")
    return json_response(hit)
