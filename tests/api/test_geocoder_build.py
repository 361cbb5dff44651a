"""A cold worker builds its geocoder once however many requests arrive together (bench/load.py found
every concurrent first request building its own: ~10 s and ~330 MB each on the city demo, until the
pool and the memory ran out)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_geocoder
from gis.address import geocode as geocode_mod
from gis.settings import Settings
from tests.conftest import fresh_demo


def test_concurrent_first_requests_build_one_geocoder(engine, pg_url, monkeypatch):
    fresh_demo(engine)
    real, built = geocode_mod.load_geocoder, []

    def counting(*args, **kw):
        built.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(geocode_mod, "load_geocoder", counting)
    app = create_app(Settings(database_url=pg_url))
    with TestClient(app) as c:
        loc = app.state.engine_cache.get()
        request = SimpleNamespace(app=app)
        got, start = [], threading.Barrier(8)

        def ask():
            start.wait()
            got.append(get_geocoder(request, loc))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(got) == 8 and len({id(g) for g in got}) == 1
        assert len(built) == 1
        # and the route answers from it
        key = fresh_key(engine)
        r = c.get("/v1/geocode", params={"q": "路", "limit": 1}, headers={"X-API-Key": key})
        assert r.status_code == 200 and len(built) == 1


def fresh_key(engine) -> str:
    """A consumer key in the test database."""
    from gis import keys
    from gis.store.db import session_scope
    with session_scope(engine) as s:
        return keys.create(s, "consumer")
