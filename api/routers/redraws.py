"""Planner redraws: propose (validation + impact, kept as a draft), read, commit."""
from __future__ import annotations

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import get_db, get_settings_dep, require
from gis import redraw
from gis.db import session_scope
from gis.settings import Settings

router = APIRouter(prefix="/v1", tags=["redraws"])


@router.post("/redraws")
def propose(body: dict = Body(..., examples=[{"level": "grid", "parent": "370102001001",
                                              "features": {"type": "FeatureCollection", "features": []}}]),
            role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
            settings: Settings = Depends(get_settings_dep)):
    """Check new children for one parent; the answer lists every finding and what the redraw moves."""
    ranges = {"grid": (settings.grid_households_min, settings.grid_households_max),
              "unit": (settings.unit_households_min, settings.unit_households_max)}
    try:
        p = redraw.parse(str(body.get("level", "")), str(body.get("parent", "")), body.get("features"))
        with session_scope(engine) as session:
            return redraw.propose(session, p, f"api:{role}", ranges)
    except redraw.RedrawError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/redraws/{redraw_id}")
def show(redraw_id: int, _role: str = Depends(require("redraw")), engine: Engine = Depends(get_db)):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM redraw WHERE id = :i"), {"i": redraw_id}).mappings().first()
    if row is None:
        raise HTTPException(404, f"redraw {redraw_id} does not exist")
    out = dict(row)
    for k in ("created_at", "committed_at"):
        out[k] = out[k].isoformat() if out[k] else None
    return out


@router.post("/redraws/{redraw_id}/commit")
def commit(redraw_id: int, request: Request, role: str = Depends(require("redraw")),
           engine: Engine = Depends(get_db)):
    """Switch the active generation to the proposal's draft in one transaction; 409 when not valid or
    when another commit came first."""
    try:
        with session_scope(engine) as session:
            gen = redraw.commit(session, redraw_id, f"api:{role}")
    except redraw.RedrawNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except redraw.RedrawConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    request.app.state.engine_cache.invalidate()
    return {"generation": gen}
