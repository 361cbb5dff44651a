"""GET /v1/areas: a level's areas in a generation as GeoJSON."""
from __future__ import annotations

from gis.command.periods import IsoTime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis.store.areas import AreaQueryError, feature_collection
from gis import keys
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["areas"])


@router.get("/areas")
def areas(level: str = "grid", parent: str | None = None, generation: int | None = None,
          at: Annotated[IsoTime | None, Query(description="the generation active at this time (ISO)")] = None,
          role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """A level's areas as GeoJSON, in the active generation, `generation=N`, or the one active `at`."""
    try:
        with session_scope(engine) as session:
            return feature_collection(session, level, parent, generation, drafts=keys.allows(role, "redraw"),
                                      at=at)
    except AreaQueryError as exc:
        raise HTTPException(422, str(exc)) from exc
