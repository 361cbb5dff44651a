"""Old maps stay queryable: locate and areas by `generation=N` and by `at=TIME` (the generation active
then), drafts only for planners, and clear errors for what cannot be answered."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import shapely
from sqlalchemy import text

from gis.store import generations
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import C, D, S, client, get  # noqa: F401  (client: the fixture)

WEST = {"lon": 117.004, "lat": 36.61}


def moved_east_boundary():
    """The same community redrawn: the west grid now ends at x = 117.003."""
    g1, g2 = shapely.box(117.0, 36.6, 117.003, 36.62), shapely.box(117.003, 36.6, 117.02, 36.62)
    return [("district", "370102", "历下区", None, D), ("street", "370102001", "甲街道", "370102", S),
            ("community", "370102001001", "明湖社区", "370102001", C),
            ("grid", "370102001001001", "西网格", "370102001001", g1),
            ("grid", "370102001001002", "东网格", "370102001001", g2)]


def test_locate_and_areas_by_generation_and_time(client):
    first = client.gen
    before = get(client, "/v1/locate", params=WEST).json()
    assert before["grid"]["code"] == "370102001001001" and before["generation"] == first
    time.sleep(0.05)
    between = datetime.now(timezone.utc)
    time.sleep(0.05)
    second = write_generation(client.app.state.engine, moved_east_boundary())
    # the active map answers at once with the redraw …
    deadline = time.time() + 10
    while get(client, "/v1/locate", params=WEST).json()["generation"] != second and time.time() < deadline:
        time.sleep(0.1)
    now = get(client, "/v1/locate", params=WEST).json()
    assert now["grid"]["code"] == "370102001001002" and now["unit"] is None
    # … and the old one is still there, by number and by time
    old = get(client, "/v1/locate", params={**WEST, "generation": first}).json()
    assert old["generation"] == first and old["grid"]["code"] == "370102001001001"
    assert old["unit"]["code"] == "370102001001001001"
    then = get(client, "/v1/locate", params={**WEST, "at": between.isoformat()}).json()
    assert then["generation"] == first and then["grid"] == old["grid"]
    batch = client.post("/v1/locate", json={"points": [[WEST["lon"], WEST["lat"]]], "at": between.isoformat()},
                        headers={"X-API-Key": client.keys["consumer"]}).json()
    assert batch["generation"] == first and batch["results"][0]["grid"] == "370102001001001"
    areas = get(client, "/v1/areas", params={"level": "grid", "at": between.isoformat()}).json()
    assert areas["generation"] == first
    west = next(f for f in areas["features"] if f["properties"]["code"] == "370102001001001")
    assert abs(shapely.geometry.shape(west["geometry"]).bounds[2] - 117.01) < 1e-9
    # a rollback is history too: activating the first again answers `at` with it from then on
    with session_scope(client.app.state.engine) as s:
        generations.activate(s, first)
        assert generations.active_at(s, datetime.now(timezone.utc) + timedelta(seconds=1)) == first
        assert generations.active_at(s, between) == first


def test_history_errors_name_the_parameter(client):
    long_ago = (datetime.now(timezone.utc) - timedelta(days=3650)).isoformat()
    r = get(client, "/v1/locate", params={**WEST, "at": long_ago})
    assert r.status_code == 422 and "at" in r.json()["detail"]
    r = get(client, "/v1/locate", params={**WEST, "generation": 999})
    assert r.status_code == 422 and "generation" in r.json()["detail"]
    r = get(client, "/v1/locate", params={**WEST, "generation": client.gen, "at": long_ago})
    assert r.status_code == 422 and "not both" in r.json()["detail"]
    r = get(client, "/v1/areas", params={"at": long_ago})
    assert r.status_code == 422 and "at" in r.json()["detail"]


def test_drafts_only_for_planners(client):
    with session_scope(client.app.state.engine) as s:
        draft = generations.create(s, source="draft test", state="draft")
        s.execute(text("SELECT 1"))
    assert (e422 := get(client, "/v1/locate", params={**WEST, "generation": draft})).status_code == 422 and e422.json()["errors"][0]["field"] == "generation"
    planner = get(client, "/v1/locate", params={**WEST, "generation": draft}, role="planner").json()
    assert planner["generation"] == draft and planner["grid"]["code"] == "370102001001001"
