"""Planner redraws through the API: every finding named, a good redraw commits and locate moves at once,
rollback restores, and a commit over another commit is refused."""
from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.store.db import session_scope
from gis.settings import Settings
from tests.areas_factory import write_generation
from tests.conftest import assign
from tests.locate.test_api_locate import hierarchy

COMM = "370102001001"
XS = (117.003, 117.007, 117.013, 117.017)


def fc(*feats):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": shapely.geometry.mapping(g)}
        for c, n, g in feats]}


@pytest.fixture
def client(clean_db, pg_url):
    gen = write_generation(clean_db, hierarchy())
    with session_scope(clean_db) as s:
        for x in XS:
            for y in (36.605, 36.615):
                s.execute(text("INSERT INTO address (address, households, geom) VALUES (:a, 100, "
                               "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"a": f"楼{x}-{y}", "x": x, "y": y})
        assign(s, "李强", "13900000000", "grid_worker", "grid", "370102001001002")
        ks = {r: keys.create(s, r) for r in ("consumer", "planner")}
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.keys, c.gen = ks, gen
        yield c


def post(c, body, role="planner"):
    return c.post("/v1/redraws", json=body, headers={"X-API-Key": c.keys[role]})


def test_bad_redraw_names_every_finding_and_cannot_commit(client):
    a = shapely.box(117.0, 36.6, 117.01, 36.62)                         # 400 households: fine
    b = shapely.box(117.0095, 36.6, 117.02, 36.61)                      # overlaps a; 200 households
    c = shapely.MultiPolygon([shapely.box(117.01, 36.611, 117.014, 36.614),
                              shapely.box(117.016, 36.615, 117.02, 36.62)])  # two pieces, 100 households
    r = post(client, {"level": "grid", "parent": COMM,
                      "features": fc((COMM + "011", "甲", a), (COMM + "012", "乙", b), ("999", "丙", c))})
    assert r.status_code == 200
    body = r.json()
    kinds = {f["kind"] for f in body["findings"]}
    assert {"gap", "overlap", "households", "disconnected", "code"} <= kinds and body["valid"] is False
    overlap = next(f for f in body["findings"] if f["kind"] == "overlap")
    assert sorted(overlap["codes"]) == [COMM + "011", COMM + "012"] and overlap["geometry"]["type"] == "Polygon"
    assert all(f["geometry"] for f in body["findings"] if f["kind"] in ("gap", "overlap", "disconnected"))
    hh = {f["codes"][0] for f in body["findings"] if f["kind"] == "households"}
    assert hh == {COMM + "012", "999"}
    commit = client.post(f"/v1/redraws/{body['id']}/commit", headers={"X-API-Key": client.keys["planner"]})
    assert commit.status_code == 409 and "not valid" in commit.json()["detail"]


def test_good_redraw_commits_moves_locate_and_rolls_back(client):
    south, north = shapely.box(117.0, 36.6, 117.02, 36.61), shapely.box(117.0, 36.61, 117.02, 36.62)
    assert (e422 := post(client, {"level": "grid", "parent": COMM, "features": fc()})).status_code == 422 and e422.json()["errors"][0]["field"] == "features"
    assert post(client, {"level": "grid", "parent": COMM, "features": fc((COMM + "003", "南", south))},
                role="consumer").status_code == 403
    body = post(client, {"level": "grid", "parent": COMM,
                         "features": fc((COMM + "003", "南网格", south), (COMM + "004", "北网格", north))}).json()
    assert body["valid"] is True, body["findings"]
    imp = body["impact"]
    assert imp["buildings_moved"] == 8 and imp["households_moved"] == 800
    assert imp["removed_codes"] == [COMM + "001", COMM + "002"]
    assert imp["staff_to_reassign"] == [{"name": "李强", "role": "grid_worker", "area_code": COMM + "002"}]
    assert imp["children_reparented"] == [{"code": COMM + "001001", "from": COMM + "001", "to": COMM + "003"}]
    # the draft is visible to planners only
    draft = body["draft_generation"]
    assert (e422 := client.get(f"/v1/areas?level=grid&generation={draft}", headers={"X-API-Key": client.keys["consumer"]})
            ).status_code == 422 and e422.json()["errors"][0]["field"] == "generation"
    assert len(client.get(f"/v1/areas?level=grid&generation={draft}",
                          headers={"X-API-Key": client.keys["planner"]}).json()["features"]) == 2
    loc = lambda: client.get("/v1/locate?lon=117.015&lat=36.615", headers={"X-API-Key": client.keys["consumer"]}).json()
    assert loc()["grid"]["code"] == COMM + "002"
    r = client.post(f"/v1/redraws/{body['id']}/commit", headers={"X-API-Key": client.keys["planner"]})
    assert r.status_code == 200 and r.json()["generation"] == draft
    after = loc()
    assert after["generation"] == draft and after["grid"]["code"] == COMM + "004"
    assert after["unit"] is None and loc()["community"]["code"] == COMM
    # rollback: the previous generation answers again, nothing lost
    assert client.post(f"/v1/generations/{client.gen}/activate",
                       headers={"X-API-Key": client.keys["planner"]}).status_code == 200
    assert loc()["grid"]["code"] == COMM + "002"
    assert client.post(f"/v1/redraws/{body['id']}/commit",
                       headers={"X-API-Key": client.keys["planner"]}).status_code == 409


def test_second_commit_on_the_same_base_is_refused(client):
    south, north = shapely.box(117.0, 36.6, 117.02, 36.61), shapely.box(117.0, 36.61, 117.02, 36.62)
    one = post(client, {"level": "grid", "parent": COMM,
                        "features": fc((COMM + "003", "南", south), (COMM + "004", "北", north))}).json()
    two = post(client, {"level": "grid", "parent": COMM,
                        "features": fc((COMM + "005", "南", south), (COMM + "006", "北", north))}).json()
    assert one["valid"] and two["valid"]
    assert client.post(f"/v1/redraws/{one['id']}/commit", headers={"X-API-Key": client.keys["planner"]}).status_code == 200
    r = client.post(f"/v1/redraws/{two['id']}/commit", headers={"X-API-Key": client.keys["planner"]})
    assert r.status_code == 409 and "another commit came first" in r.json()["detail"]


def _south_north_frame(crs):
    import geopandas as gpd
    south, north = shapely.box(117.0, 36.6, 117.02, 36.61), shapely.box(117.0, 36.61, 117.02, 36.62)
    frame = gpd.GeoDataFrame({"编码": [COMM + "003", COMM + "004"], "名称": ["南网格", "北网格"]},
                             geometry=[south, north], crs=4326)
    return frame.to_crs(crs)


def test_redraw_uploaded_as_a_file_in_any_crs(client, tmp_path):
    """A GeoPackage in UTM and a zipped Shapefile in CGCS2000 Gauss–Krüger give the same proposal as
    the GeoJSON body; a file that is not spatial, or has no code field, is refused by name."""
    import zipfile

    gpkg = tmp_path / "grids.gpkg"
    _south_north_frame(32650).to_file(gpkg, driver="GPKG")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    _south_north_frame(4547).to_file(shp_dir / "grids.shp", encoding="utf-8")
    zipped = tmp_path / "grids.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)
    planner = {"X-API-Key": client.keys["planner"]}
    for f in (gpkg, zipped):
        r = client.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
                        files={"file": (f.name, f.read_bytes())}, headers=planner)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["valid"], body["findings"]
        assert body["impact"]["buildings_moved"] == 8 and body["impact"]["new_codes"] == [COMM + "003", COMM + "004"]
    bad = client.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
                      files={"file": ("grids.geojson", b"not json")}, headers=planner)
    assert bad.status_code == 422 and "cannot be read" in bad.json()["detail"] and "/tmp" not in bad.text
    bad = client.post("/v1/redraws/file", data={"level": "grid", "parent": COMM, "code_field": "nope"},
                      files={"file": (gpkg.name, gpkg.read_bytes())}, headers=planner)
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]
    bad = client.post("/v1/redraws/file", data={"level": "district", "parent": COMM},
                      files={"file": (gpkg.name, gpkg.read_bytes())}, headers=planner)
    assert bad.status_code == 422 and "level" in bad.json()["detail"]
    assert client.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
                       files={"file": (gpkg.name, gpkg.read_bytes())},
                       headers={"X-API-Key": client.keys["consumer"]}).status_code == 403


def test_redraw_from_the_command_line(client, tmp_path, pg_url):
    import json

    from tests.api.test_cli import run
    gpkg = tmp_path / "grids.gpkg"
    _south_north_frame(32650).to_file(gpkg, driver="GPKG")
    out = json.loads(run("redraw", "propose", str(gpkg), "--parent", COMM, "--json", env_url=pg_url).stdout)
    assert out["valid"] and out["draft_generation"]
    done = json.loads(run("redraw", "commit", str(out["id"]), "--json", env_url=pg_url).stdout)
    assert done["generation"] == out["draft_generation"]
    again = run("redraw", "commit", str(out["id"]), env_url=pg_url, check=False)
    assert again.returncode != 0 and "already committed" in again.stderr
