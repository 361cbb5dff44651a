"""GET /v1/areas: a level's areas in a generation as GeoJSON."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from api.http import GenerationParams
from gis.store.areas import feature_collection
from gis import keys
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["areas"])


@router.get("/areas")
def areas(level: str = "grid", parent: str | None = None, sel: GenerationParams = Depends(),
          role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """A level's areas as GeoJSON, in the active generation, `generation=N`, or the one active `at`."""
    with session_scope(engine) as session:
        return feature_collection(session, level, parent, sel.generation, drafts=keys.allows(role, "redraw"),
                                  at=sel.at)
