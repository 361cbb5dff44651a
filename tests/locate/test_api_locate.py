"""The HTTP contract for locate, areas, generations, keys and health, on a real PostGIS."""
from __future__ import annotations

import time

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.store import generations
from gis.store.db import session_scope
from gis.locate.sql import locate_codes_sql
from gis.settings import Settings
from tests.areas_factory import write_generation
from tests.conftest import assign

D = shapely.box(117.0, 36.6, 117.02, 36.62)
S = D
C = D
G1 = shapely.box(117.0, 36.6, 117.01, 36.62)    # west grid
G2 = shapely.box(117.01, 36.6, 117.02, 36.62)   # east grid, shares the edge x = 117.01
U1 = shapely.box(117.0, 36.6, 117.005, 36.61)


def hierarchy(grid_names=("西网格", "东网格")):
    return [("district", "370102", "历下区", None, D), ("street", "370102001", "甲街道", "370102", S),
            ("community", "370102001001", "明湖社区", "370102001", C),
            ("grid", "370102001001001", grid_names[0], "370102001001", G1),
            ("grid", "370102001001002", grid_names[1], "370102001001", G2),
            ("unit", "370102001001001001", "第1联户", "370102001001001", U1)]


@pytest.fixture
def client(clean_db, pg_url):
    gen = write_generation(clean_db, hierarchy())
    with session_scope(clean_db) as s:
        assign(s, "张伟", "13812345678", "grid_worker", "grid", "370102001001001")
        s.execute(text("INSERT INTO station (name, kind, geom) VALUES ('明湖党群服务中心', 'party_service_center', "
                       "ST_SetSRID(ST_MakePoint(117.004, 36.605), 4326))"))
        ks = {r: keys.create(s, r) for r in ("consumer", "command", "planner", "admin")}
    app = create_app(Settings(database_url=pg_url, locate_batch_limit=5))
    with TestClient(app) as c:
        c.keys = ks
        c.gen = gen
        yield c


def get(c, url, role="consumer", **kw):
    return c.get(url, headers={"X-API-Key": c.keys[role]} if role else {}, **kw)


def test_keys_are_required_and_roles_checked(client):
    assert client.get("/v1/locate?lon=117.001&lat=36.601").status_code == 401
    assert client.get("/v1/locate?lon=117.001&lat=36.601", headers={"X-API-Key": "wg_nope"}).status_code == 401
    assert client.post(f"/v1/generations/{client.gen}/activate",
                       headers={"X-API-Key": client.keys["consumer"]}).status_code == 403
    assert client.post(f"/v1/generations/{client.gen}/activate",
                       headers={"X-API-Key": client.keys["planner"]}).status_code == 200
    # a key in the URL is for map links only (tests/api/test_keys.py); on /v1 it must be a header
    r = client.get(f"/v1/locate?lon=117.001&lat=36.601&api_key={client.keys['consumer']}")
    assert r.status_code == 401 and "X-API-Key header" in r.json()["detail"]


def test_locate_full_chain_staff_masked_and_stations(client):
    r = get(client, "/v1/locate?lon=117.002&lat=36.602")
    assert r.status_code == 200
    body = r.json()
    assert body["found"] is True and body["generation"] == client.gen
    assert body["district"] == {"code": "370102", "name": "历下区"}
    assert body["grid"]["code"] == "370102001001001" and body["unit"]["code"] == "370102001001001001"
    assert body["staff"][0]["name"] == "张伟" and body["staff"][0]["phone"] == "138****5678"
    assert body["stations"][0]["name"] == "明湖党群服务中心" and 0 < body["stations"][0]["distance_m"] < 500
    full = get(client, "/v1/locate?lon=117.002&lat=36.602", role="command").json()
    assert full["staff"][0]["phone"] == "13812345678"


def test_locate_point_with_no_unit_and_outside(client):
    body = get(client, "/v1/locate?lon=117.015&lat=36.615").json()
    assert body["found"] and body["grid"]["code"] == "370102001001002" and body["unit"] is None
    assert body["staff"], "someone always answers (属地兜底)"
    out = get(client, "/v1/locate?lon=116.0&lat=36.0")
    assert out.status_code == 200 and out.json()["found"] is False and out.json()["grid"] is None


def test_shared_edge_goes_to_first_code_like_postgis(client, clean_db):
    body = get(client, "/v1/locate?lon=117.01&lat=36.61").json()
    assert body["grid"]["code"] == "370102001001001"
    assert locate_codes_sql(clean_db, client.gen, "grid", [117.01], [36.61]) == ["370102001001001"]


@pytest.mark.parametrize("query,field", [
    ("lon=abc&lat=36.6", "lon"), ("lon=200&lat=36.6", "lon"), ("lon=117&lat=-91", "lat"),
    ("lon=117&lat=nan", "lat"), ("lat=36.6", "lon"), ("lon=117&lat=36.6&crs=mars", "crs"),
])
def test_bad_coordinates_are_422_naming_the_field(client, query, field):
    r = get(client, f"/v1/locate?{query}")
    assert r.status_code == 422
    assert field in r.json()["detail"] and r.json()["errors"][0]["field"] == field


def test_gcj02_input_is_converted(client):
    from gis.coords import from_wgs84
    x, y = from_wgs84(117.002, 36.602, "gcj02")
    body = get(client, f"/v1/locate?lon={float(x)}&lat={float(y)}&crs=gcj02").json()
    assert body["grid"]["code"] == "370102001001001"
    assert abs(body["point"]["lon"] - 117.002) < 1e-6 and abs(body["point"]["lat"] - 36.602) < 1e-6


def test_batch_keeps_order_limits_and_validates(client):
    pts = [[117.015, 36.615], [116.0, 36.0], [117.002, 36.602]]
    r = client.post("/v1/locate", json={"crs": "wgs84", "points": pts}, headers={"X-API-Key": client.keys["consumer"]})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["grid"] for x in res] == ["370102001001002", None, "370102001001001"]
    assert res[2]["unit"] == "370102001001001001" and res[0]["unit"] is None
    too_many = client.post("/v1/locate", json={"points": [[117.0, 36.6]] * 6},
                           headers={"X-API-Key": client.keys["consumer"]})
    assert too_many.status_code == 413
    bad = client.post("/v1/locate", json={"points": [[117.0, 36.6], [117.0, 95.0]]},
                      headers={"X-API-Key": client.keys["consumer"]})
    assert bad.status_code == 422 and "points[1][1]" in bad.json()["detail"]
    notnum = client.post("/v1/locate", json={"points": [[117.0, "x"]]}, headers={"X-API-Key": client.keys["consumer"]})
    assert notnum.status_code == 422 and "points[0][1]" in notnum.json()["detail"]


def test_new_generation_answers_at_once_and_rollback(client, clean_db):
    assert get(client, "/v1/locate?lon=117.015&lat=36.615").json()["grid"]["name"] == "东网格"
    # another process commits a new generation: the listener hears it
    new = write_generation(clean_db, hierarchy(("西网格二", "东网格二")))
    deadline = time.time() + 5
    while time.time() < deadline:
        body = get(client, "/v1/locate?lon=117.015&lat=36.615").json()
        if body["generation"] == new:
            break
        time.sleep(0.05)
    assert body["generation"] == new and body["grid"]["name"] == "东网格二"
    r = client.post(f"/v1/generations/{client.gen}/activate", headers={"X-API-Key": client.keys["planner"]})
    assert r.status_code == 200
    body = get(client, "/v1/locate?lon=117.015&lat=36.615").json()
    assert body["generation"] == client.gen and body["grid"]["name"] == "东网格"
    listing = get(client, "/v1/generations").json()
    assert listing["active"] == client.gen and {g["id"] for g in listing["generations"]} >= {client.gen, new}
    assert client.post("/v1/generations/999/activate", headers={"X-API-Key": client.keys["planner"]}).status_code == 404


def test_areas_geojson(client):
    fc = get(client, "/v1/areas?level=grid&parent=370102001001").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 2
    props = fc["features"][0]["properties"]
    assert set(props) >= {"code", "name", "level", "parent", "households"}
    assert props["parent"] == "370102001001" and fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert (e422 := get(client, "/v1/areas?level=planet")).status_code == 422 and e422.json()["errors"][0]["field"] == "level"
    assert (e422 := get(client, "/v1/areas?level=grid&generation=999")).status_code == 422 and e422.json()["errors"][0]["field"] == "generation"


def test_health(client):
    assert client.get("/health").status_code == 200
