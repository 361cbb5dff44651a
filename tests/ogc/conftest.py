"""The small demo city behind the OGC routes, a consumer key, and the app with its tile cache in a
temporary home."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url, tmp_path_factory):
    """(client with a consumer key, engine, the loader's report, the settings)."""
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        report["keys"]["consumer"] = keys.create(s, "consumer")
        report["keys"]["planner"] = keys.create(s, "planner")
    settings = Settings(database_url=pg_url, home=tmp_path_factory.mktemp("ogc_home"), escalation_interval_s=0)
    with TestClient(create_app(settings)) as c:
        c.headers["X-API-Key"] = report["keys"]["consumer"]
        yield c, engine, report, settings
