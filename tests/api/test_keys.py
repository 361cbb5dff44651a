"""Keys: in the URL only where a browser follows a link, masked in every log line (the access log of
`wangge serve` included), stored and cached by hash only, revocation honoured, and a client that keeps
sending wrong keys waits (429 with Retry-After)."""
from __future__ import annotations

import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.middleware.keygate import FailureGuard
from api.middleware.redact import RedactKeys, redact
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.api.test_limits import make_keys
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import hierarchy
from tests.serve import serve


@pytest.fixture
def client(clean_db, pg_url):
    gen = write_generation(clean_db, hierarchy())
    ks = make_keys(clean_db)
    app = create_app(Settings(database_url=pg_url, key_failures_max=3, key_block_s=120, key_cache_s=0))
    with TestClient(app) as c:
        c.keys, c.gen, c.engine = ks, gen, clean_db
        yield c


def test_key_in_the_url_only_for_pages_and_tiles(client):
    k = client.keys["command"]
    r = client.get(f"/v1/locate?lon=117.001&lat=36.601&api_key={k}")
    assert r.status_code == 401 and "X-API-Key header" in r.json()["detail"] and "api_key" in r.json()["detail"]
    assert client.post(f"/v1/geocode?api_key={k}", json={"addresses": ["x"]}).status_code == 401
    assert client.get(f"/maps/grids?api_key={k}").status_code == 200
    assert client.get(f"/tiles/grid/14/13515/6305.pbf?api_key={k}").status_code in (200, 204)
    # a header key with a stray api_key= in the query is still refused on /v1: the URL would be logged
    r = client.get(f"/v1/locate?lon=117.001&lat=36.601&api_key={k}", headers={"X-API-Key": k})
    assert r.status_code == 401
    assert client.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": k}).status_code == 200


def test_keys_are_stored_and_cached_by_hash_only(client):
    k = client.keys["consumer"]
    with client.engine.connect() as conn:
        rows = [" ".join(map(str, r)) for r in conn.execute(text("SELECT * FROM api_key"))]
    assert rows and not any(k in row or k[10:] in row for row in rows)
    assert any(keys.hash_key(k) in row for row in rows)
    assert client.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": k}).status_code == 200
    cache = client.app.state.key_cache
    assert keys.hash_key(k) in cache and k not in cache and not any(k in str(v) for v in cache.values())


def test_a_revoked_key_stops_working(client):
    k = client.keys["planner"]
    assert client.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": k}).status_code == 200
    with session_scope(client.engine) as s:
        assert keys.revoke(s, k) is True
        assert keys.revoke(s, "wg_never_issued") is False
    r = client.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": k})
    assert r.status_code == 401 and r.json()["detail"] == "unknown or revoked API key"


def test_repeated_wrong_keys_make_the_client_wait(client, pg_url):
    url = "/v1/locate?lon=117.001&lat=36.601"
    for _ in range(3):
        assert client.get(url, headers={"X-API-Key": "wg_guess"}).status_code == 401
    # blocked now, even with a correct key (else the answer would tell a guesser which guess was right)
    r = client.get(url, headers={"X-API-Key": client.keys["consumer"]})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 120
    assert "wrong API keys" in r.json()["detail"]
    # another client is not affected; pages and health neither need nor count keys
    other = TestClient(client.app, client=("10.0.0.9", 4000))
    assert other.get(url, headers={"X-API-Key": client.keys["consumer"]}).status_code == 200
    assert client.get("/health").status_code == 200
    # missing keys are not wrong keys
    for _ in range(5):
        assert other.get(url).status_code == 401
    assert other.get(url, headers={"X-API-Key": client.keys["consumer"]}).status_code == 200


def test_failure_guard_window_and_expiry():
    g = FailureGuard(max_failures=3, block_s=30, window_s=60)
    g.fail("a", now=0)
    g.fail("a", now=20)
    g.fail("a", now=75)  # the first one left the minute: two in the window
    assert g.wait_s("a", now=75) == 0
    g.fail("a", now=78)  # 20, 75, 78 in the minute: blocked for 30 s
    assert g.wait_s("a", now=78) == 30 and g.wait_s("b", now=78) == 0
    assert g.wait_s("a", now=107) == 1 and g.wait_s("a", now=108) == 0


def test_redaction_filter():
    line = '127.0.0.1:5 - "GET /maps/grids?x=1&api_key=wg_AbC-123_xyzxyzxyz&y=2 HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:5 - "GET /maps/grids?x=1&api_key=***&y=2 HTTP/1.1" 200'
    assert redact("key wg_AbCdEfGh12345 was used") == "key wg_*** was used"
    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                            ("1.2.3.4:1", "GET", "/tiles/a?api_key=secret", "1.1", 200), None)
    assert RedactKeys().filter(rec) and "secret" not in rec.getMessage() and "api_key=***" in rec.getMessage()


def test_serve_never_logs_a_key(clean_db, pg_url, tmp_path):
    """`wangge serve` with its access log: keys sent in URLs (allowed or refused) appear only masked."""
    write_generation(clean_db, hierarchy())
    ks = make_keys(clean_db, ("command",))
    log = tmp_path / "serve.log"
    with serve(pg_url, tmp_path / "home", log) as base:
        k = ks["command"]
        assert httpx.get(f"{base}/maps/grids?api_key={k}", timeout=60).status_code == 200
        assert httpx.get(f"{base}/v1/locate?lon=117.001&lat=36.601&api_key={k}", timeout=30).status_code == 401
        assert httpx.get(f"{base}/v1/locate?lon=117.001&lat=36.601&api_key=wg_wrongwrongwrong",
                         timeout=30).status_code == 401
    text_ = log.read_text(encoding="utf-8", errors="replace")
    assert "GET /maps/grids?api_key=*** HTTP/1.1" in text_ and "/v1/locate?lon=117.001&lat=36.601&api_key=***" in text_
    assert k not in text_ and k[3:] not in text_ and "wrongwrong" not in text_


def test_key_check_answers_503_while_the_database_is_unreachable(clean_db, pg_url):
    """A key not yet cached cannot be checked without the database: 503 with Retry-After, not 500."""
    from sqlalchemy.engine import make_url

    write_generation(clean_db, hierarchy())
    k = make_keys(clean_db, ("consumer",))["consumer"]
    nowhere = make_url(pg_url).set(database="wangge_no_such_database_here").render_as_string(hide_password=False)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        from gis.store.db import make_engine

        c.app.state.engine = make_engine(nowhere)  # as if the server had gone away
        r = c.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": k})
        assert r.status_code == 503 and "database" in r.json()["detail"] and r.headers["Retry-After"] == "5"
