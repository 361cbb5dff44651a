"""The role matrix: every route of the app × {no key, unknown key, revoked key, each role} on the small
demo. Without a valid key: 401 everywhere but the public routes; with a role: 403 exactly where the
route's capability (gis/keys.py CAPABILITIES) is missing, and never 401/403 where it is not."""
from __future__ import annotations

import inspect
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.routing import Mount

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.conftest import fresh_demo

PUBLIC = {"/health", "/health/live", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
          "/docs/assets/{name}"}
ROLES = ("consumer", "command", "planner", "admin")


def all_routes(app) -> list[tuple[str, str, object]]:
    """(method, path, route) for every HTTP route, routers included (flattened however FastAPI keeps them)."""
    try:
        from fastapi.routing import iter_route_contexts
        contexts = [(c.path, c.methods, c.route) for c in iter_route_contexts(app.routes)]
    except ImportError:  # older FastAPI: included routes are plain entries of app.routes
        contexts = [(r.path, getattr(r, "methods", None), r) for r in app.routes]
    out = []
    for path, methods, route in contexts:
        for m in sorted(methods or ()):
            if m != "HEAD":
                out.append((m, path, route))
    return out


def capability(route) -> str | None:
    """The capability a route's `require(...)` dependency asks for (None: the route has none)."""
    found = []

    def walk(dependant):
        for sub in dependant.dependencies:
            if sub.call is not None and getattr(sub.call, "__qualname__", "") == "require.<locals>.check":
                found.append(inspect.getclosurevars(sub.call).nonlocals["capability"])
            walk(sub)

    if isinstance(route, APIRoute):
        walk(route.dependant)
    assert len(set(found)) <= 1, f"{route.path}: more than one capability {found}"
    return found[0] if found else None


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        ks = {r: keys.create(s, r) for r in ROLES}
        revoked = keys.create(s, "admin")
        keys.revoke(s, revoked)
        grid = s.execute(text("SELECT code FROM generation_area WHERE level = 'grid' ORDER BY code LIMIT 1")).scalar()
        station = s.execute(text("SELECT min(id) FROM station")).scalar()
        rid = s.execute(text("SELECT min(id) FROM request")).scalar()
    params = {"generation": str(report["generation"]), "redraw_id": "999999", "rid": str(rid),
              "station_id": str(station), "code": grid, "level": "grid", "z": "0", "x": "0", "y": "0",
              "name": "swagger-ui.css", "id": "999999", "aid": "999999", "pledge_id": "999999", "cid": "grids", "tms": "WebMercatorQuad"}
    app = create_app(Settings(database_url=pg_url, key_failures_max=100_000, escalation_interval_s=0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, ks, revoked, params


def fill(path: str, params: dict) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: params[m.group(1)], path)


def call(c, method: str, url: str, key: str | None):
    headers = {"X-API-Key": key} if key else {}
    if method == "GET":
        return c.get(url, headers=headers)
    return c.request(method, url, headers=headers, json={})


def test_every_route_needs_a_valid_key(demo):
    c, _ks, revoked, params = demo
    routes = all_routes(c.app)
    assert len(routes) > 30
    wrong = []
    for method, path, route in routes:
        if isinstance(route, Mount):
            continue
        if path.startswith("/open311/"):  # GeoReport v2's own key rules (403, form-body key): tests/api/test_open311.py
            continue
        url = fill(path, params)
        for label, key in (("no key", None), ("unknown key", "wg_not_a_key_at_all_0000000000"),
                           ("revoked key", revoked)):
            status = call(c, method, url, key).status_code
            if path in PUBLIC:
                if status in (401, 403):
                    wrong.append(f"{method} {path} ({label}): {status}, but it is public")
            elif status != 401:
                wrong.append(f"{method} {path} ({label}): {status}, not 401")
        if path not in PUBLIC and capability(route) is None:
            wrong.append(f"{method} {path}: no require(capability) dependency")
    assert c.get("/static/maps/leaflet/leaflet.js").status_code == 200  # assets need no key
    assert not wrong, "\n".join(wrong)


def test_each_role_gets_403_exactly_where_its_capability_is_missing(demo):
    c, ks, _revoked, params = demo
    wrong, checked = [], 0
    for method, path, route in all_routes(c.app):
        cap = capability(route)
        if cap is None:
            continue
        url = fill(path, params)
        for role in ROLES:
            status = call(c, method, url, ks[role]).status_code
            allowed = keys.allows(role, cap)
            checked += 1
            if allowed and status in (401, 403):
                wrong.append(f"{method} {path} as {role} (may {cap}): {status}")
            if not allowed and status != 403:
                wrong.append(f"{method} {path} as {role} (may not {cap}): {status}, not 403")
    assert checked > 100
    assert not wrong, "\n".join(wrong)
