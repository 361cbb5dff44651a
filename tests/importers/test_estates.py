"""`import estates`: polygons with code, name and optional households, in any declared CRS; every bad
feature refuses the whole file with all problems listed; a code already stored is replaced; households
default to the address registry's count. Through the command line too."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from gis.importers import ImportRefused
from gis.importers.estates import import_estates
from gis.store.db import session_scope

A = shapely.box(117.0, 36.6, 117.004, 36.603)
B = shapely.box(117.005, 36.6, 117.009, 36.603)
BOWTIE = shapely.Polygon([(117.0, 36.61), (117.004, 36.614), (117.004, 36.61), (117.0, 36.614), (117.0, 36.61)])


def write(tmp_path, name, rows, crs=4326):
    gdf = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                           geometry=[r["geometry"] for r in rows], crs=4326).to_crs(crs)
    path = tmp_path / name
    gdf.to_file(path)
    return path


def stored(engine) -> dict:
    with engine.connect() as c:
        rows = c.execute(text("SELECT code, name, households, ST_AsBinary(geom) FROM estate ORDER BY code")).all()
    return {r[0]: (r[1], r[2], shapely.from_wkb(bytes(r[3]))) for r in rows}


@pytest.fixture
def db(clean_db):
    with session_scope(clean_db) as s:  # two buildings in A (30 + 12 households), one in B (7)
        for x, y, hh in ((117.001, 36.601, 30), (117.003, 36.602, 12), (117.006, 36.601, 7)):
            s.execute(text("INSERT INTO address (address, households, geom) VALUES (:a, :h, "
                           "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"a": f"楼{x}", "h": hh, "x": x, "y": y})
    return clean_db


def test_import_in_a_projected_crs_with_and_without_households(db, tmp_path):
    path = write(tmp_path, "estates.gpkg", [{"编码": "E001", "名称": "锦绣花园", "户数": 500, "geometry": A},
                                            {"编码": "E002", "名称": "阳光小区", "户数": None, "geometry": B}], crs=32650)
    report = import_estates(db, path)
    assert report["imported"] == 2 and report["new"] == 2 and report["households_from_registry"] == 1
    got = stored(db)
    assert got["E001"][:2] == ("锦绣花园", 500) and got["E002"][:2] == ("阳光小区", 7)
    assert got["E001"][2].geom_type == "MultiPolygon"
    assert abs(got["E001"][2].area - A.area) / A.area < 1e-6        # reprojected back to WGS84
    # a second file replaces E002 by code and keeps E001
    report = import_estates(db, write(tmp_path, "again.geojson", [
        {"code": "E002", "name": "阳光新城", "households": 80, "geometry": B}]))
    assert report["replaced"] == 1 and report["new"] == 0
    got = stored(db)
    assert sorted(got) == ["E001", "E002"] and got["E002"][:2] == ("阳光新城", 80)


def test_every_bad_feature_is_named_and_nothing_is_written(db, tmp_path):
    path = write(tmp_path, "bad.geojson", [
        {"code": "E1", "name": "甲", "households": 10, "geometry": A},
        {"code": "E1", "name": "乙", "households": 10, "geometry": B},                  # duplicate code
        {"code": None, "name": "丙", "households": 10, "geometry": B},                  # no code
        {"code": "E4", "name": "丁", "households": -3, "geometry": B},                  # not a count
        {"code": "E5", "name": "戊", "households": 1, "geometry": BOWTIE},             # cannot be repaired
        {"code": "E6", "name": "己", "households": 1, "geometry": shapely.Point(117.0, 36.6).buffer(0.001).boundary},
    ])
    with pytest.raises(ImportRefused) as err:
        import_estates(db, path)
    problems = {(p["feature"], p["problem"].split(" ")[0]) for p in err.value.problems}
    assert {(1, "duplicate"), (2, "no"), (3, "households"), (4, "invalid"), (5, "LineString")} <= problems
    assert stored(db) == {}
    with pytest.raises(ImportRefused, match="code"):
        import_estates(db, write(tmp_path, "nocode.geojson", [{"label": "x", "name": "甲", "geometry": A}]))


def test_command_line_import_and_the_redraw_flag(db, tmp_path, env):
    path = write(tmp_path, "e.geojson", [{"code": "E9", "name": "和平小区", "geometry": A}])
    run = [sys.executable, "-m", "api.cli"]
    p = subprocess.run([*run, "import", "estates", str(path), "--json"], capture_output=True, text=True,
                       env=os.environ | {"PYTHONPATH": os.getcwd()}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["imported"] == 1 and stored(db)["E9"][:2] == ("和平小区", 42)
    bad = write(tmp_path, "bad.geojson", [{"code": "E9", "name": "甲", "geometry": BOWTIE}])
    p = subprocess.run([*run, "import", "estates", str(bad)], capture_output=True, text=True,
                       env=os.environ | {"PYTHONPATH": os.getcwd()}, timeout=120)
    assert p.returncode == 1 and "invalid geometry" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([*run, "redraw", "auto", "--help"], capture_output=True, text=True,
                       env=os.environ | {"PYTHONPATH": os.getcwd()}, timeout=120)
    assert p.returncode == 0 and "--split-estates" in p.stdout
