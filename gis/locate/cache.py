"""Keeps one LocateEngine per process current: rebuilt when the active generation or the data changes.

Each process LISTENs on the generation channel (a trigger NOTIFYs on every activation, importers on
station/staff changes), so all workers move to a new generation as soon as it commits. A slow poll
guards against a dropped listener connection.
"""
from __future__ import annotations

import logging
import threading
import time

import psycopg
from sqlalchemy.engine import Engine

from gis.store.generations import CHANNEL
from gis.store.queries import active_generation
from gis.locate.engine import LocateEngine, build_engine
from gis.settings import Settings, get_settings

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0
OTHERS_KEPT = 2  # engines of non-active generations (history, drafts) kept per process


class EngineCache:
    """One LocateEngine per process for the active generation (and a few others), kept current."""
    def __init__(self, engine: Engine, settings: Settings | None = None, listen: bool = True):
        self._engine = engine
        self._settings = settings or get_settings()
        self._lock = threading.Lock()
        self._current: LocateEngine | None = None
        self._others: dict[int, LocateEngine] = {}
        self._stale = True
        self._checked = 0.0
        self._rebuild = True
        self._stop = threading.Event()
        self._thread = None
        if listen:
            self._thread = threading.Thread(target=self._listen, name="wangge-listen", daemon=True)
            self._thread.start()

    def invalidate(self) -> None:
        """Mark the engine stale: the next `get` checks the active generation again."""
        self._stale = True

    def close(self) -> None:
        """Stop listening for notifications (the thread ends within a second)."""
        self._stop.set()

    def _active(self) -> int | None:
        with self._engine.connect() as conn:
            return active_generation(conn)

    def get(self) -> LocateEngine:
        """The current engine; rebuilt under a lock when stale (others wait rather than answer old)."""
        now = time.monotonic()
        cur = self._current
        if cur is not None and not self._stale and now - self._checked < POLL_SECONDS:
            return cur
        with self._lock:
            cur = self._current
            if cur is not None and not self._stale and time.monotonic() - self._checked < POLL_SECONDS:
                return cur
            self._stale = False
            try:
                active = self._active()
            except Exception as exc:
                from gis.store.db import is_unavailable

                if cur is None or not is_unavailable(exc):
                    raise
                self._checked = time.monotonic()  # the database is away: answer from memory, look again
                return cur                         # after POLL_SECONDS
            self._checked = time.monotonic()
            if cur is None or cur.generation != active or self._rebuild:
                # a new generation alone (a redraw, a rollback) reuses what did not change; data
                # notifications (stations, staff, network) rebuild everything
                previous = None if (cur is None or self._rebuild) else cur
                self._rebuild = False
                t = time.perf_counter()
                self._current = build_engine(self._engine, active, self._settings.walk_speed_m_s,
                                             self._settings.reach_limit_m, previous=previous)
                log.info("locate engine for generation %s built in %.2f s (%s)", active, time.perf_counter() - t,
                         "incremental" if previous else "full")
            return self._current

    def get_for(self, generation: int | None) -> LocateEngine:
        """The engine for any generation: the active one shared, others (history, drafts) built on
        first use and kept for the last OTHERS_KEPT generations asked."""
        current = self.get()
        if generation is None or generation == current.generation:
            return current
        with self._lock:
            locator = self._others.pop(generation, None)
            if locator is None:
                locator = build_engine(self._engine, generation, self._settings.walk_speed_m_s,
                                   self._settings.reach_limit_m, previous=current)
            self._others[generation] = locator  # most recent last
            while len(self._others) > OTHERS_KEPT:
                self._others.pop(next(iter(self._others)))
            return locator

    def _listen(self) -> None:
        url = self._engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        reconnect = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if reconnect:  # anything may have happened while we were not listening
                        self._rebuild = self._stale = True
                    reconnect = True
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=1.0):
                            if n.payload == "data":  # stations, staff or network: rebuild all
                                self._rebuild = True
                            self._stale = True
            except Exception as exc:  # the database went away: retry, the poll keeps answers honest
                log.warning("generation listener: %s; retrying", exc)
                self._stop.wait(1.0)
