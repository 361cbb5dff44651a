"""Stations by walking through the API, on the small demo city."""
from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from gis.settings import Settings
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    app = create_app(Settings(database_url=pg_url))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = report["keys"]["consumer"]
        yield c, engine


def test_nearest_by_walking(demo):
    c, engine = demo
    body = c.get("/v1/stations/nearest?lon=116.876&lat=36.618&k=3").json()
    assert body["speed_m_s"] == 1.0 and body["method"] == "walking" and len(body["stations"]) == 3
    walks = [s["walk_m"] for s in body["stations"]]
    assert walks == sorted(walks)
    for s in body["stations"]:
        straight = shapely.Point(116.876, 36.618).distance(shapely.Point(s["lon"], s["lat"])) * 111_320 * 0.8
        assert s["walk_m"] >= straight  # a walk is never shorter than (roughly) the crow's line
        assert abs(s["walk_min"] - s["walk_m"] / 60) < 0.06
    located = c.get("/v1/locate?lon=116.876&lat=36.618").json()
    assert [s["id"] for s in located["stations"]] == [s["id"] for s in body["stations"]]
    assert (e422 := c.get("/v1/stations/nearest?lon=116.876&lat=36.618&k=0")).status_code == 422 and e422.json()["errors"][0]["field"] == "k"


def test_circle_is_stored_and_reused(demo):
    c, engine = demo
    first = c.get("/v1/stations/1/circle?minutes=5").json()
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon") and first["properties"]["stored"] is False
    again = c.get("/v1/stations/1/circle?minutes=5").json()
    assert again["properties"]["stored"] is True
    a, b = shapely.geometry.shape(first["geometry"]), shapely.geometry.shape(again["geometry"])
    assert abs(a.area - b.area) / a.area < 1e-4  # stored answers are rounded to 1e-7 degrees (~1 cm)
    big = shapely.geometry.shape(c.get("/v1/stations/1/circle?minutes=15").json()["geometry"])
    assert big.area > a.area
    assert c.get("/v1/stations/99999/circle").status_code == 404


def test_coverage_adds_up(demo):
    c, engine = demo
    body = c.get("/v1/coverage?level=community").json()
    assert body["households"] == 10_000 and len(body["areas"]) == 6
    for r in body["areas"]:
        assert r["within_5_min"] <= r["within_10_min"] <= r["within_15_min"] <= r["households"]
    assert 0 < body["share_5_min"] <= body["share_15_min"] <= 1
    assert (e422 := c.get("/v1/coverage?level=planet")).status_code == 422 and e422.json()["errors"][0]["field"] == "level"
    assert c.get("/v1/coverage?level=grid&uncovered=5").json()["uncovered"] == []  # small city: all covered
    # at a crawl (0.1 m/s, 90 m in 15 min) most buildings are out of reach: listed farthest first
    from gis.reach.service_area import coverage_report
    loc = c.app.state.engine_cache.get()
    slow = coverage_report(loc, engine, "grid", 0.1, uncovered_limit=5)
    walks = [u["walk_m"] for u in slow["uncovered"]]
    assert len(walks) == 5 and walks == sorted(walks, reverse=True) and min(walks) > 90
    assert slow["share_15_min"] < 0.5


def test_siting_needs_a_map_role_and_answers(demo):
    c, engine = demo
    assert c.get("/v1/stations/siting?k=2").status_code == 403  # consumer key
    from gis import keys
    from gis.store.db import session_scope
    with session_scope(engine) as s:
        k = keys.create(s, "planner")
    body = c.get("/v1/stations/siting?k=2&minutes=3", headers={"X-API-Key": k}).json()
    assert body["method"] == "greedy maximal covering"
    gains = [s["added_households"] for s in body["sites"]]
    assert gains == sorted(gains, reverse=True) and all(g > 0 for g in gains)
    assert all(s["address"].startswith("山东省") for s in body["sites"])


def test_far_point_gets_no_station_and_a_reason(demo):
    """13 km outside the network no station is within the 3000 m reach limit: none is listed, and the
    answer says why; the locate answer lists none either."""
    c, engine = demo
    body = c.get("/v1/stations/nearest?lon=116.876&lat=36.735&k=3").json()
    assert body["stations"] == [] and body["limit_m"] == 3000
    assert body["reason"].startswith("no station within 3000 m of walking; the nearest walkable path is ")
    far_m = float(body["reason"].rsplit(" is ", 1)[1].removesuffix(" m away").replace(",", ""))
    assert far_m > 3000
    assert c.get("/v1/locate?lon=116.876&lat=36.735").json()["stations"] == []
    # every station listed anywhere is within the limit
    for lat in (36.60, 36.62, 36.64, 36.66, 36.70):
        walks = [s["walk_m"] for s in c.get(f"/v1/stations/nearest?lon=116.876&lat={lat}&k=5").json()["stations"]]
        assert all(w <= 3000 for w in walks)
    near = c.get("/v1/stations/nearest?lon=116.876&lat=36.618&k=3").json()
    assert len(near["stations"]) == 3 and "reason" not in near
