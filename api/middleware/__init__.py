"""Pure ASGI middleware (bodies stream through untouched): the key gate, body caps, heap trimming.

Order, outermost first: `TrimHeap` (measures after the answer), `KeyGate` (401/429 before any body byte
is read), `BodyLimit` (413 from Content-Length, or as soon as a streamed body passes its cap)."""
from __future__ import annotations

from api.middleware.body import BodyLimit
from api.middleware.keygate import KeyGate
from api.middleware.trim import TrimHeap


def install(app) -> None:
    """Register the middleware on `app` (the last added runs first)."""
    app.add_middleware(BodyLimit)
    app.add_middleware(KeyGate)
    app.add_middleware(TrimHeap)
