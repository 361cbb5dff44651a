"""405 answers that tell the truth: `Allow` lists every method any route of the path supports.

Starlette answers 405 from the first route whose path matched and lists only that route's methods
(`GET /v1/requests` and `POST /v1/requests` are two routes), so a client told `Allow: POST` would
never learn that GET works too. This middleware rewrites the header from all matching routes."""
from __future__ import annotations

from typing import Any, Iterator

from fastapi import FastAPI
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def flat_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of `app` with its full path, through included routers (FastAPI ≥ 0.16x keeps them
    nested; older versions list them flat)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method the routes matching this request's path accept, in a stable order."""
    path, methods = get_route_path(scope), set()
    for route in flat_routes(app):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))


class AllowHeader:
    """ASGI middleware: on a 405 answer, replace `Allow` by allowed_methods (see the module docstring)."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI):
        self.app, self.fastapi_app = app, fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; on a 405, rewrite `Allow` from every route whose path matches."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(self.fastapi_app, scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    headers.append((b"allow", ", ".join(methods).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_allow)


def install(app: FastAPI) -> None:
    """Add the AllowHeader middleware to `app`."""
    app.add_middleware(AllowHeader, fastapi_app=app)
