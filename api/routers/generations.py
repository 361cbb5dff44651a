"""Generations: list them; make an earlier one active again (rollback)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis import keys
from gis.store import audit, generations, identity
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["generations"])


@router.get("/generations")
def list_generations(role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """Every generation with its counts; drafts (uncommitted redraws) only for planners and admins."""
    with session_scope(engine) as session:
        rows = generations.listing(session)
    if not keys.allows(role, "redraw"):
        rows = [g for g in rows if g["state"] != "draft"]
    with session_scope(engine) as session:
        return {"active": generations.active_id(session), "generations": rows}


@router.post("/generations/{generation}/activate")
def activate(generation: int, request: Request, role: str = Depends(require("redraw")),
             engine: Engine = Depends(get_db)):
    """Make an earlier committed generation active again (rollback); 404 when it does not exist, 409
    when it is a draft. People and open requests on areas the earlier map does not hold go to the areas
    that took their ground there (not written to the crosswalk: a rollback is no new map)."""
    with session_scope(engine) as session:
        previous = generations.active_id(session)
        generations.activate(session, generation)
        moved = identity.succeed(session, previous, generation, record=False)
        audit.write(session, f"api:{role}", "activate", {"generation": generation, "previous": previous,
                                                          "assignments_moved": len(moved["assignments"]),
                                                          "requests_moved": moved["requests"]})
    request.app.state.engine_cache.invalidate()
    return {"generation": generation, "previous": previous}
