"""GET /health/live: a constant answer with no database and no thread pool, the ceiling of the stack
(uvicorn + FastAPI + our middleware) that bench/load.py measures the real routes against; also a
liveness probe that never waits on the database."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict:
    """The process is up and its event loop answers: `{"ok": true}`, nothing else looked at."""
    return {"ok": True}
