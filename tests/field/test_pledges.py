"""Pledges (承诺践诺) over HTTP: made by a person who reports to a grid, settled once, listed per community
(staff only, every list logged); bad input named."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.field.conftest import new_person


@pytest.fixture(scope="module")
def api(city, pg_url):
    engine = city[0]
    with session_scope(engine) as s:
        ks = {r: keys.create(s, r) for r in ("consumer", "command")}
        community = s.execute(text("""SELECT code FROM generation_area JOIN active_generation USING (generation_id)
                                      WHERE level = 'community' ORDER BY code LIMIT 1""")).scalar()
    person = new_person(engine, "王党员", "reporting_official", "community", community)
    with TestClient(create_app(Settings(database_url=pg_url, escalation_interval_s=0))) as c:
        c.headers["X-API-Key"] = ks["command"]
        yield c, ks, engine, person, community


def test_a_pledge_is_made_settled_once_and_listed(api):
    c, ks, engine, person, community = api
    made = c.post("/v1/pledges", json={"person_id": person, "text": "每月为独居老人代购一次",
                                       "due_at": "2099-12-31T00:00:00"})
    assert made.status_code == 201 and made.json()["state"] == "made" and made.json()["person"] == "王党员"
    pid = made.json()["id"]
    kept = c.post(f"/v1/pledges/{pid}/settle", json={"state": "kept"})
    assert kept.status_code == 200 and kept.json()["state"] == "kept" and kept.json()["settled_at"]
    again = c.post(f"/v1/pledges/{pid}/settle", json={"state": "broken"})
    assert again.status_code == 409 and "already settled as kept" in again.json()["detail"]
    with session_scope(engine) as s:
        logged = s.execute(text("SELECT count(*) FROM pii_access_log WHERE what LIKE 'pledges%'")).scalar()
    listed = c.get("/v1/pledges", params={"community": community, "state": "kept"}).json()["pledges"]
    assert [p["id"] for p in listed] == [pid]
    assert c.get("/v1/pledges", params={"community": community, "state": "made"}).json()["pledges"] == []
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM pii_access_log WHERE what LIKE 'pledges%'")).scalar() == logged + 2


def test_bad_pledges_are_named(api):
    c, ks, engine, person, community = api
    cases = [({"person_id": 999_999, "text": "x"}, "person_id"),
             ({"person_id": person, "text": "   "}, "text"),
             ({"person_id": person, "text": "x", "due_at": "2001-01-01T00:00:00"}, "due_at")]
    for body, field in cases:
        r = c.post("/v1/pledges", json=body)
        assert r.status_code == 422 and field in r.text, (body, r.text)
    assert c.post("/v1/pledges/999999/settle", json={"state": "kept"}).status_code == 404
    assert c.post("/v1/pledges/1/settle", json={"state": "maybe"}).status_code == 422
    assert c.get("/v1/pledges", params={"community": "nope"}).status_code == 422
    # a phone's key may not record or read pledges
    assert c.get("/v1/pledges", headers={"X-API-Key": ks["consumer"]}).status_code == 403
