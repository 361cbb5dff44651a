"""Memory that comes back: after a request that left the worker `WANGGE_TRIM_AFTER_MB` larger than
after the last trim, glibc's `malloc_trim(0)` hands the freed heap back to the OS.

glibc keeps memory freed by a big request (a huge body parsed, a million-vertex proposal) in its
arenas; the worker's RSS would stay at its peak. Reading /proc/self/statm costs microseconds, so every
request is checked; the trim itself runs in a thread after the answer was sent."""
from __future__ import annotations

import ctypes
import ctypes.util
import os

from starlette.concurrency import run_in_threadpool

from api.middleware.answer import settings_of

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _libc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim with
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


_TRIM = _libc_trim()


def rss_mb() -> float:
    """This process's resident set size in MB (from /proc/self/statm; 0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE / (1024 * 1024)
    except OSError:
        return 0.0


def trim() -> float:
    """Give freed heap back to the OS; the RSS after, in MB."""
    if _TRIM is not None:
        _TRIM(0)
    return rss_mb()


class TrimHeap:
    """After each HTTP request, trim the heap when the worker grew past the threshold since the last trim."""

    def __init__(self, app):
        self.app = app
        self.floor: float | None = None
        self.busy = False  # one trim at a time; requests finishing meanwhile do not queue more

    async def __call__(self, scope, receive, send):
        """Run the request, then compare RSS with the floor and trim when it grew too much."""
        if scope["type"] != "http" or _TRIM is None:
            return await self.app(scope, receive, send)
        await self.app(scope, receive, send)
        limit = settings_of(scope["app"]).trim_after_mb
        now = rss_mb()
        self.floor = now if self.floor is None else min(self.floor, now)
        if limit > 0 and now > self.floor + limit and not self.busy:
            self.busy = True
            try:
                self.floor = await run_in_threadpool(trim)
            finally:
                self.busy = False
