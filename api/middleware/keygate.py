"""The key gate: every keyed route's API key is checked before its body is read.

- Keyed paths: `/v1`, `/maps`, `/tiles`, `/app`, `/ogc` (the routes themselves still check the role),
  and the Open311 request routes, whose POSTs may carry the key as the form field `api_key` (the body
  capped before it is read, api/middleware/open311key.py); their refusals are Open311 error arrays.
- `?api_key=` only where a browser must follow a link (`/maps/`, `/tiles/`, `/app/`, `/ogc/collections/*/tiles`);
  elsewhere 401
  naming the X-API-Key header.
- A client (IP) that sends `WANGGE_KEY_FAILURES_MAX` wrong keys within a minute gets 429 with
  Retry-After for `WANGGE_KEY_BLOCK_S`, whatever key it sends meanwhile (a correct key answered
  differently would tell a guesser it guessed right). Counted per worker, in process.
"""
from __future__ import annotations

import time
from collections import deque
from urllib.parse import parse_qsl

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers

from api.middleware.answer import send_json, settings_of
from api.middleware.open311key import BodyRefused, form_key, open311_keyed, send_open311
from api.middleware.roles import role_for
from api.unavailable import RETRY_AFTER_S

KEYED = ("/v1", "/maps", "/tiles", "/app", "/ogc")
URL_KEY_OK = ("/maps/", "/tiles/", "/app/")
WINDOW_S = 60.0
AUTH = {"WWW-Authenticate": "X-API-Key"}


def keyed(path: str) -> bool:
    """Whether `path` needs an API key."""
    return any(path == p or path.startswith(p + "/") for p in KEYED)


def url_key_allowed(path: str) -> bool:
    """Whether a key may come as `?api_key=` on `path` (pages and tiles a browser opens from a link,
    the OGC tiles and their TileJSON included: a map follows their URL templates)."""
    if path.startswith(URL_KEY_OK):
        return True
    parts = path.split("/")  # /ogc/collections/{id}/tiles/...
    return len(parts) >= 5 and parts[1] == "ogc" and parts[2] == "collections" and parts[4] == "tiles"


def query_key(query_string: bytes) -> str | None:
    """The `api_key` query parameter, if any."""
    if b"api_key" not in query_string:
        return None
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if k == "api_key":
            return v
    return None


class FailureGuard:
    """Wrong keys per client within a sliding minute; a client over the limit waits (per worker)."""

    def __init__(self, max_failures: int, block_s: float, window_s: float = WINDOW_S):
        self.max_failures, self.block_s, self.window_s = max_failures, block_s, window_s
        self._fails: dict[str, deque] = {}
        self._until: dict[str, float] = {}

    def wait_s(self, client: str, now: float | None = None) -> float:
        """Seconds `client` must still wait (0 = not blocked)."""
        now = time.monotonic() if now is None else now
        until = self._until.get(client)
        if until is None:
            return 0.0
        if until <= now:
            del self._until[client]
            return 0.0
        return until - now

    def fail(self, client: str, now: float | None = None) -> None:
        """Count one wrong key from `client`; block it once it reaches the limit."""
        now = time.monotonic() if now is None else now
        q = self._fails.setdefault(client, deque())
        q.append(now)
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if len(q) >= self.max_failures:
            self._until[client] = now + self.block_s
            del self._fails[client]
        if len(self._fails) > 10_000:  # many clients: forget those with no failure in the window
            self._fails = {c: d for c, d in self._fails.items() if d and d[-1] > now - self.window_s}


class KeyGate:
    """401 / 429 before the body is read; the role found is left in the request state for `require`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        """Admit a request on a keyed path only with a valid key, from a client not blocked."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        open311 = open311_keyed(scope["path"])
        if not open311 and not keyed(scope["path"]):
            return await self.app(scope, receive, send)
        app = scope["app"]
        if open311:
            return await self._open311(scope, receive, send, app)
        guard = _guard(app)
        client = (scope.get("client") or ("?", 0))[0]
        wait = guard.wait_s(client)
        if wait > 0:
            return await send_json(send, 429, f"too many wrong API keys from this client; try again in "
                                              f"{int(wait) + 1} s", {"Retry-After": str(int(wait) + 1)},
                                   field="X-API-Key")
        in_url = query_key(scope.get("query_string", b""))
        if in_url is not None and not url_key_allowed(scope["path"]):
            return await send_json(send, 401, "api_key: a key in the URL is accepted only on map pages, tiles "
                                              "and app pages; send it in the X-API-Key header", AUTH)
        key = Headers(scope=scope).get("x-api-key") or in_url
        if not key:
            return await send_json(send, 401, "an API key is needed in the X-API-Key header", AUTH, field="X-API-Key")
        try:
            role = await role_for(app, key)
        except SQLAlchemyError:  # the database is down: a key not in the cache cannot be checked now
            return await send_json(send, 503, "the database is unreachable, so the API key cannot be checked; "
                                              "try again shortly", {"Retry-After": str(RETRY_AFTER_S)}, field="database")
        if role is None:
            guard.fail(client)
            return await send_json(send, 401, "unknown or revoked API key", AUTH, field="X-API-Key")
        state = scope.setdefault("state", {})
        state["role"], state["key_prefix"] = role, key[:10]
        await self.app(scope, receive, send)


    async def _open311(self, scope, receive, send, app):
        """The Open311 request routes: the key in X-API-Key or, on POST, the form field `api_key`; 403
        (as the spec says) for a missing or wrong key, 429 for a blocked client, in Open311's error shape."""
        path = scope["path"]
        guard, client = _guard(app), (scope.get("client") or ("?", 0))[0]
        wait = guard.wait_s(client)
        if wait > 0:
            return await send_open311(send, 429, f"api_key: too many wrong API keys from this client; try again "
                                                 f"in {int(wait) + 1} s", path, {"Retry-After": str(int(wait) + 1)})
        if query_key(scope.get("query_string", b"")) is not None:
            return await send_open311(send, 403, "api_key: a key in the URL is not accepted; send it in the "
                                                 "X-API-Key header (or, on POST, in the form body)", path)
        key = Headers(scope=scope).get("x-api-key")
        if scope.get("method") == "POST":  # every Open311 body is capped and read here, whoever holds the key
            try:
                in_body, receive = await form_key(scope, receive, settings_of(app).open311_max_body_kb)
            except BodyRefused as exc:
                return await send_open311(send, exc.status, exc.message, path)
            key = key or in_body
        if not key:
            return await send_open311(send, 403, "api_key: a key is needed (the api_key form field on POST, or "
                                                 "the X-API-Key header)", path)
        try:
            role = await role_for(app, key)
        except SQLAlchemyError:
            return await send_open311(send, 503, "database: unreachable, so the API key cannot be checked; try "
                                                 "again shortly", path, {"Retry-After": str(RETRY_AFTER_S)})
        if role is None:
            guard.fail(client)
            return await send_open311(send, 403, "api_key: unknown or revoked API key", path)
        state = scope.setdefault("state", {})
        state["role"], state["key_prefix"] = role, key[:10]
        await self.app(scope, receive, send)


def _guard(app) -> FailureGuard:
    guard = getattr(app.state, "key_guard", None)
    if guard is None:
        s = settings_of(app)
        guard = app.state.key_guard = FailureGuard(s.key_failures_max, s.key_block_s)
    return guard
