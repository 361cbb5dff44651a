"""Exports: `wangge export` and GET /v1/exports as GeoPackage, GeoJSON and zipped Shapefile; the files
read back by GDAL, and a round trip through `wangge import areas` into an empty record."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.conftest import wipe
from tests.locate.test_api_locate import hierarchy

WANGGE = str(Path(sys.executable).parent / "wangge")


def run(pg_url, *args, check=True):
    p = subprocess.run([WANGGE, *args], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, WANGGE_DATABASE_URL=pg_url))
    if check:
        assert p.returncode == 0, p.stderr
    return p


def record(engine, level):
    """code -> (name, parent, households, geometry) of the active generation at `level`."""
    with engine.connect() as c:
        rows = c.execute(text("""
            SELECT ga.code, a.name, ga.parent_code, a.households, ST_AsBinary(a.geom) FROM generation_area ga
            JOIN area a ON a.id = ga.area_id JOIN active_generation ag ON ag.generation_id = ga.generation_id
            WHERE ga.level = :l"""), {"l": level}).all()
    return {r[0]: (r[1], r[2], r[3], shapely.from_wkb(bytes(r[4]))) for r in rows}


@pytest.fixture
def city(clean_db):
    gen = write_generation(clean_db, hierarchy())
    with clean_db.begin() as c:
        c.execute(text("UPDATE area SET households = 120 WHERE name = '西网格'"))
    return gen


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp.zip"])
def test_cli_export_reads_back_equal(city, clean_db, pg_url, tmp_path, suffix):
    out = tmp_path / f"grids{suffix}"
    report = json.loads(run(pg_url, "export", "grid", "-o", str(out), "--json").stdout)
    assert report == {"file": str(out), "format": {".gpkg": "gpkg", ".geojson": "geojson", ".shp.zip": "shp"}[suffix],
                      "level": "grid", "generation": city, "features": 2, "crs": "EPSG:4326"}
    if suffix == ".shp.zip":
        names = zipfile.ZipFile(out).namelist()
        assert sorted(names) == ["grid.cpg", "grid.dbf", "grid.prj", "grid.shp", "grid.shx"]
        assert zipfile.ZipFile(out).read("grid.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
    got = gpd.read_file(out)
    assert pyproj.CRS(got.crs).equals(pyproj.CRS(4326), ignore_axis_order=True)
    assert {"code", "name", "parent", "households", "tier"} <= set(got.columns)
    want = record(clean_db, "grid")
    assert set(got["code"]) == set(want)
    for _, row in got.iterrows():
        name, parent, households, geom = want[row["code"]]
        assert (row["name"], row["parent"], int(row["households"]), int(row["tier"])) == (name, parent, households, 1)
        assert row.geometry.symmetric_difference(geom).area < 1e-12


def test_round_trip_through_import_into_an_empty_record(city, clean_db, pg_url, tmp_path):
    files = {}
    for level, suffix in (("district", ".shp.zip"), ("street", ".gpkg"), ("community", ".geojson")):
        files[level] = tmp_path / f"{level}{suffix}"
        run(pg_url, "export", level, "-o", str(files[level]), "--crs", "EPSG:4527")  # CGCS2000 GK zone 39
    before = {level: record(clean_db, level) for level in files}
    wipe(clean_db)
    assert record(clean_db, "district") == {}
    for level, path in files.items():
        args = ["import", "areas", str(path), "--level", level, "--json"]
        out = json.loads(run(pg_url, *args, *(["--parent-field", "parent"] if level != "district" else [])).stdout)
        assert out["imported"] == 1
    for level, want in before.items():
        got = record(clean_db, level)
        assert got.keys() == want.keys()
        for code, (name, parent, households, geom) in want.items():
            g = got[code]
            assert (g[0], g[1]) == (name, parent)
            assert shapely.hausdorff_distance(g[3], geom) < 1e-8  # through Gauss–Krüger and back: < 1 mm


def test_export_refusals(city, pg_url, tmp_path):
    for args, words in ((["grid", "-o", str(tmp_path / "g.txt")], "-o: 'g.txt' has no known suffix"),
                        (["grid", "-o", str(tmp_path / "g.gpkg"), "--crs", "gcj02"], "--crs: gcj02"),
                        (["grid", "-o", str(tmp_path / "g.gpkg"), "--crs", "EPSG:99999"], "--crs: EPSG:99999"),
                        (["town", "-o", str(tmp_path / "g.gpkg")], "level: unknown level 'town'"),
                        (["grid", "-o", str(tmp_path / "g.gpkg"), "--generation", "999"], "generation: "),
                        (["grid", "-o", str(tmp_path / "g.gpkg"), "--parent", "nowhere"], "no grid areas under nowhere")):
        p = run(pg_url, "export", *args, check=False)
        assert p.returncode == 1 and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)


@pytest.fixture
def client(city, clean_db, pg_url):
    with session_scope(clean_db) as s:
        ks = {r: keys.create(s, r) for r in ("consumer", "planner")}
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.keys = ks
        yield c


def test_http_download(client, clean_db, tmp_path):
    h = {"X-API-Key": client.keys["planner"]}
    r = client.get("/v1/exports/grids", params={"format": "shp", "crs": "cgcs2000", "parent": "370102001001"},
                   headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="grid-g' in r.headers["content-disposition"] and r.headers["x-features"] == "2"
    path = tmp_path / "g.shp.zip"
    path.write_bytes(r.content)
    got = gpd.read_file(path)
    assert pyproj.CRS(got.crs).to_epsg() == 4490 and sorted(got["code"]) == sorted(record(clean_db, "grid"))
    r = client.get("/v1/exports/unit", params={"format": "geojson", "crs": "EPSG:3857"}, headers=h)
    assert r.status_code == 200
    fc = json.loads(r.content)
    assert [f["properties"]["code"] for f in fc["features"]] == ["370102001001001001"]
    x, y = shapely.get_coordinates(shapely.geometry.shape(fc["features"][0]["geometry"]))[0]
    assert 1.2e7 < x < 1.4e7 and 4e6 < y < 4.6e6  # metres, Web Mercator
    r = client.get("/v1/exports/grid", headers=h)
    assert r.status_code == 200 and r.content[:16] == b"SQLite format 3\x00"
    bad = client.get("/v1/exports/grid", params={"crs": "bd09"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "crs"
    bad = client.get("/v1/exports/towns", headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "level"
    assert client.get("/v1/exports/grid").status_code == 401
