"""GET /tiles/{level}/{z}/{x}/{y}.pbf: a level's areas as Mapbox vector tiles (for Leaflet.VectorGrid),
from the same on-disk cache as the OGC tiles; and the HTTP answer both share (ETag, Cache-Control, 304)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis import keys
from gis import tiles as gt

router = APIRouter(prefix="/tiles", tags=["maps"])

MVT = "application/vnd.mapbox-vector-tile"
YEAR_S = 365 * 24 * 3600


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def tile_response(request: Request, t: gt.Tile, explicit: bool) -> Response:
    """A tile over HTTP: a strong ETag and `public, immutable` for a generation named outright (it never
    changes), a shorter max-age for "the active one" (a commit or rollback moves it); 304 when the
    client's If-None-Match holds the tag; 204 when no area meets the tile. A draft's tile is not kept."""
    if t.draft:
        headers = {"Cache-Control": "no-store"}
    else:
        age = request.app.state.settings.tile_active_max_age_s
        headers = {"ETag": t.etag, "Cache-Control": f"public, max-age={YEAR_S}, immutable" if explicit
                   else f"public, max-age={age}"}
        if _matches(request.headers.get("if-none-match"), t.etag):
            return Response(status_code=304, headers=headers)
    if not t.body:
        return Response(status_code=204, headers=headers)
    return Response(t.body, media_type=MVT, headers=headers)


@router.get("/{level}/{z}/{x}/{y}.pbf", response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "the tile"},
                       204: {"description": "no area of this level meets the tile (304 when If-None-Match "
                                             "holds the tile's ETag)"}})
def tile(level: str, z: int, x: int, y: int, request: Request, generation: int | None = None,
         role: str = Depends(require("maps")), engine: Engine = Depends(get_db)):
    """A level's areas meeting tile z/x/y (web mercator, XYZ) in the active generation or `generation=N`,
    one layer named after the level with code, name, households and parent_code per feature.
    An empty tile is answered 204 No Content. Drafts only for roles that may redraw."""
    settings = request.app.state.settings
    t = gt.cached_tile(engine, gt.cache_for(settings.home_abs, settings.tile_cache_mb), level, z, x, y,
                       generation, drafts=keys.allows(role, "redraw"))
    return tile_response(request, t, explicit=generation is not None)
