"""A key's role, through an in-process cache keyed by the key's SHA-256 hash (never the key itself)."""
from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool

from api.middleware.answer import settings_of
from gis import keys
from gis.store.db import session_scope


def _lookup(engine, digest: str) -> str | None:
    with session_scope(engine) as session:
        return keys.role_of_hash(session, digest)


async def role_for(app, key: str) -> str | None:
    """The role of a valid, unrevoked key, else None; a cache miss costs one short query (off the loop)."""
    digest = keys.hash_key(key)
    cache: dict = app.state.key_cache
    hit = cache.get(digest)
    if hit is not None and time.monotonic() - hit[1] < settings_of(app).key_cache_s:
        return hit[0]
    role = await run_in_threadpool(_lookup, app.state.engine, digest)
    if role is None:
        cache.pop(digest, None)
        return None
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (role, time.monotonic())
    return role
