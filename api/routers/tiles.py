"""GET /tiles/{level}/{z}/{x}/{y}.pbf: a level's areas as Mapbox vector tiles (for Leaflet.VectorGrid)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis import keys
from gis import tiles as gt

router = APIRouter(prefix="/tiles", tags=["maps"])

MVT = "application/vnd.mapbox-vector-tile"
# A generation's areas never change, so its tiles never do; an hour keeps the active-generation
# default (no `generation=`) from staying stale long after a commit or rollback.
CACHE = {"Cache-Control": "max-age=3600"}


@router.get("/{level}/{z}/{x}/{y}.pbf", response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "the tile"},
                       204: {"description": "no area of this level meets the tile"}})
def tile(level: str, z: int, x: int, y: int, generation: int | None = None,
         role: str = Depends(require("maps")), engine: Engine = Depends(get_db)):
    """A level's areas meeting tile z/x/y (web mercator, XYZ) in the active generation or `generation=N`,
    one layer named after the level with code, name, households and parent_code per feature.
    An empty tile is answered 204 No Content. Drafts only for roles that may redraw."""
    with engine.connect() as conn:
        _gen, body = gt.tile(conn, level, z, x, y, generation, drafts=keys.allows(role, "redraw"))
    if not body:
        return Response(status_code=204, headers=CACHE)
    return Response(body, media_type=MVT, headers=CACHE)
