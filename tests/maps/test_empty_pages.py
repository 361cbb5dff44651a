"""Map pages of a city that has areas but no requests yet (a fresh import) answer a page, not a 500."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import hierarchy


@pytest.fixture
def client(clean_db, pg_url):
    write_generation(clean_db, hierarchy())
    with session_scope(clean_db) as s:
        key = keys.create(s, "admin")
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.headers["X-API-Key"] = key
        yield c


@pytest.mark.parametrize("page", ["grids", "overdue", "heatmap", "hotspots", "ranking"])
def test_pages_of_a_city_without_requests(client, page):
    r = client.get(f"/maps/{page}")
    assert r.status_code == 200, r.text[:300]
    assert "<html" in r.text.lower()
