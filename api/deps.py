"""Shared FastAPI dependencies: the database engine, the locate engine, and API-key roles."""
from __future__ import annotations

import threading
from typing import Callable

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine

from api.errors import forbidden
from gis import keys
from gis.locate.cache import EngineCache
from gis.locate.engine import LocateEngine
from gis.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    """The app's settings (one object per app, so tests can run apps with different settings)."""
    return request.app.state.settings


async def get_db(request: Request) -> Engine:
    """The database engine built in the app's lifespan."""
    return request.app.state.engine


async def get_locator(request: Request) -> LocateEngine:
    """The locate engine of the active generation (rebuilt when another one is activated)."""
    cache: EngineCache = request.app.state.engine_cache
    return cache.get()


async def get_rules(request: Request):
    """The request rules (categories, departments, colours) loaded at start-up."""
    return request.app.state.rules


_GEOCODER_BUILD = threading.Lock()
GEOCODERS_KEPT = 2  # the active map's geocoder and one asked for history (generation=/at=)


def get_geocoder(request: Request, loc: LocateEngine = Depends(get_locator)):
    """One geocoder per locate engine, the last GEOCODERS_KEPT kept per process (the active map and the
    history ones asked with generation=/at=); the registry is re-read when an engine is rebuilt. Also
    called directly with a chosen engine (locate by address, requests by address)."""
    from gis.address.geocode import load_geocoder

    state = request.app.state
    if getattr(state, "geocoders", None) is None:
        state.geocoders = []
    kept: list = state.geocoders
    for i, (engine_, gc) in enumerate(kept):
        if engine_ is loc:
            kept.append(kept.pop(i))  # most recent last
            return gc
    # one build at a time: on a cold worker every concurrent request built its own geocoder (the city's
    # takes ~10 s and ~330 MB each), which exhausted the pool and memory under load (bench/load.py)
    with _GEOCODER_BUILD:
        for engine_, gc in kept:
            if engine_ is loc:
                return gc
        gc = load_geocoder(request.app.state.engine, loc, folds=request.app.state.settings.pinyin_folds)
        kept.append((loc, gc))
        del kept[:-GEOCODERS_KEPT]
    return gc


def api_key_from(request: Request) -> str | None:
    """The request's API key: the X-API-Key header, or `?api_key=` where a browser must follow a link
    (map pages, tiles, app pages; see api/middleware/keygate.py)."""
    from api.middleware.keygate import query_key, url_key_allowed

    key = request.headers.get("x-api-key")
    if key or not url_key_allowed(request.url.path):
        return key
    return query_key(request.scope.get("query_string", b""))


def require(capability: str) -> Callable[[Request], str]:
    """A dependency that admits a request whose API key's role has `capability`; returns the role.
    Missing or unknown key: 401 (normally already answered by the key gate, before the body is read,
    which leaves the role in the request state); a role that may not do this: 403."""

    async def check(request: Request) -> str:
        from api.middleware.roles import role_for

        role = getattr(request.state, "role", None)
        if role is None:  # a route outside the key gate's paths
            key = api_key_from(request)
            if not key:
                raise HTTPException(401, "an API key is needed in the X-API-Key header",
                                    headers={"WWW-Authenticate": "X-API-Key"})
            role = await role_for(request.app, key)
            if role is None:
                raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "X-API-Key"})
            request.state.role, request.state.key_prefix = role, key[:10]
        if not keys.allows(role, capability):
            raise HTTPException(403, forbidden(role, capability))
        return role

    return check
