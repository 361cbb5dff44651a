"""/docs (Swagger UI) and /redoc as a person sees them on an intranet: served by the real app, loaded in
headless Chromium with every outside host unreachable; the operations are drawn, nothing left the
loopback, nothing was logged."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.docs import ASSET_DIR, ASSETS
from gis.settings import Settings
from tests.browser import CHROMIUM, live_server, load_page


@pytest.fixture(scope="module")
def app(engine, pg_url):
    from tests.conftest import wipe
    wipe(engine)  # the docs need no data; the app still starts against the real database
    return create_app(Settings(database_url=pg_url))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def server(app):
    with live_server(app) as base:
        yield base


def _links(html: str) -> list[str]:
    """Every src/href and quoted URL-ish string a page names."""
    return re.findall(r"""(?:src|href)=["']([^"']+)["']|["'](https?://[^"']+)["']|url: *["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_name_only_local_assets(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    found = [next(x for x in group if x) for group in _links(r.text)]
    assert found, "the page names no assets"
    remote = [u for u in found if re.match(r"(https?:)?//", u)]
    assert remote == [], remote
    for url in found:
        if url.startswith("/docs/assets/"):
            got = client.get(url)
            assert got.status_code == 200 and len(got.content) > 0, url
    assert "/openapi.json" in r.text


def test_assets_are_the_vendored_files_and_nothing_else(client):
    for name, media in ASSETS.items():
        r = client.get(f"/docs/assets/{name}")
        assert r.status_code == 200 and r.headers["content-type"] == media
        assert r.content == (ASSET_DIR / name).read_bytes()
    # only the listed files: the README, a licence, a path outside the folder are not served
    for name in ("README.md", "LICENSE.redoc", "..%2Fdocs.py", "swagger-ui.js"):
        r = client.get(f"/docs/assets/{name}")
        assert r.status_code == 404, name
        assert "/work" not in r.text and str(ASSET_DIR) not in r.text
    # the licences travel with the files
    assert (ASSET_DIR / "LICENSE.swagger-ui").exists() and (ASSET_DIR / "LICENSE.redoc").exists()


def test_docs_routes_are_not_in_the_spec(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/locate" in paths
    assert not any(p.startswith(("/docs", "/redoc")) for p in paths)


@pytest.mark.skipif(CHROMIUM is None, reason="WANGGE_SKIP_BROWSER=1 and no Chromium")
def test_swagger_ui_renders_the_operations_offline(server):
    page = load_page(f"{server}/docs", budget_ms=15000)
    assert "swagger-ui" in page.dom and 'class="opblock-tag' in page.dom, "Swagger UI did not start"
    # an operation block per route, with its method and path drawn
    blocks = re.findall(r'class="opblock opblock-(get|post|put|patch|delete)', page.dom)
    assert len(blocks) >= 20, len(blocks)
    for path in ("/v1/locate", "/v1/geocode", "/v1/stations/nearest", "/v1/requests"):
        assert f'data-path="{path}"' in page.dom, path
    assert "网格 Wangge" in page.dom  # the spec's title: /openapi.json was loaded and read
    assert page.console_errors == [], page.console_errors
    assert page.failed_requests == [], page.failed_requests
    assert page.remote_requests() == [], page.remote_requests()
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in page.requests), page.requests
    assert any(u.endswith("/openapi.json") for u in page.requests), page.requests


@pytest.mark.skipif(CHROMIUM is None, reason="WANGGE_SKIP_BROWSER=1 and no Chromium")
def test_redoc_renders_the_operations_offline(server):
    page = load_page(f"{server}/redoc", budget_ms=15000)
    assert "redoc-wrap" in page.dom or "api-content" in page.dom, "ReDoc did not start"
    assert "/v1/locate" in page.dom and "/v1/stations/nearest" in page.dom
    assert "网格 Wangge" in page.dom
    assert page.console_errors == [], page.console_errors
    assert page.failed_requests == [], page.failed_requests
    assert page.remote_requests() == [], page.remote_requests()
    assert any(u.endswith("/docs/assets/redoc.standalone.js") for u in page.requests), page.requests
