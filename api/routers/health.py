"""GET /health: 200 when the database answers, 503 when it does not; never queues behind the pool.

It does not use the request pool: at most once a second per worker it opens its own short connection
(connect timeout 2 s, statement timeout 1 s) and asks `SELECT 1`; every other call answers the cached
result at once, so a burst of probes costs one query and a dead database answers 503 within ~2 s.
"""
from __future__ import annotations

import asyncio
import time

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.unavailable import RETRY_AFTER_S
from gis.store.db import libpq_url

router = APIRouter(tags=["health"])
FRESH_S = 1.0
CONNECT_TIMEOUT_S = 2
PROBE_TIMEOUT_S = 2.5


class HealthProbe:
    """One worker's latest answer to "does the database answer?", refreshed by one caller at a time."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.ok: bool | None = None
        self.at = 0.0
        self.lock: asyncio.Lock | None = None
        self._loop = None

    async def check(self) -> bool:
        """The cached answer when younger than FRESH_S, else a new probe (concurrent callers share it)."""
        if self.ok is not None and time.monotonic() - self.at < FRESH_S:
            return self.ok
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a lock belongs to one event loop (test clients each bring theirs)
            self.lock, self._loop = asyncio.Lock(), loop
        async with self.lock:
            if self.ok is None or time.monotonic() - self.at >= FRESH_S:
                self.ok = await self._probe()
                self.at = time.monotonic()
            return self.ok

    async def _probe(self) -> bool:
        try:
            return await asyncio.wait_for(self._select_one(), PROBE_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, psycopg.Error):
            return False

    async def _select_one(self) -> bool:
        conn = await psycopg.AsyncConnection.connect(self.conninfo, connect_timeout=CONNECT_TIMEOUT_S,
                                                     autocommit=True, options="-c statement_timeout=1000")
        try:
            cur = await conn.execute("SELECT 1")
            return (await cur.fetchone())[0] == 1
        finally:
            await conn.close()


def _probe_for(request: Request) -> HealthProbe:
    probe = getattr(request.app.state, "health_probe", None)
    if probe is None:
        probe = request.app.state.health_probe = HealthProbe(libpq_url(request.app.state.engine))
    return probe


@router.get("/health")
async def health(request: Request):
    """200 {"status": "ok"} when the database answered within the last second, else 503 (Retry-After)."""
    if await _probe_for(request).check():
        return {"status": "ok", "database": "ok"}
    return JSONResponse({"status": "error", "database": "unavailable",
                         "detail": "the database is unavailable; try again shortly"},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
