"""GET /health: 200 when the database answers."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from api.deps import get_db
from gis.store.db import ping

router = APIRouter(tags=["health"])


@router.get("/health")
def health(engine: Engine = Depends(get_db)):
    """200 when the database answers, 503 with the reason otherwise."""
    try:
        ok = ping(engine)
    except Exception as exc:  # any database failure is "not healthy", with the reason
        return JSONResponse({"status": "error", "database": str(exc).splitlines()[0]}, status_code=503)
    return {"status": "ok" if ok else "error", "database": "ok"}
