"""The `wangge` command as a user runs it: JSON on stdout with --json, errors on stderr, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.areas_factory import write_generation
from tests.locate.test_api_locate import hierarchy

WANGGE = str(Path(sys.executable).parent / "wangge")


def run(*args, env_url, check=True):
    env = dict(os.environ, WANGGE_DATABASE_URL=env_url)
    p = subprocess.run([WANGGE, *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_keys_create_json(clean_db, pg_url):
    p = run("keys", "create", "--role", "planner", "--json", env_url=pg_url)
    out = json.loads(p.stdout)
    assert out["role"] == "planner" and out["key"].startswith("wg_")
    bad = run("keys", "create", "--role", "mayor", env_url=pg_url, check=False)
    assert bad.returncode != 0 and "mayor" in bad.stderr and bad.stdout == ""


def test_locate_point_and_file(clean_db, pg_url, tmp_path):
    gen = write_generation(clean_db, hierarchy())
    out = json.loads(run("locate", "117.002", "36.602", "--json", env_url=pg_url).stdout)
    assert out["found"] and out["generation"] == gen and out["unit"]["code"] == "370102001001001001"
    csv = tmp_path / "pts.csv"
    csv.write_text("id,lon,lat\na,117.015,36.615\nb,116,36\n", encoding="utf-8")
    res = json.loads(run("locate", "--file", str(csv), "--json", env_url=pg_url).stdout)["results"]
    assert res == [{"id": "a", "district": "370102", "street": "370102001", "community": "370102001001",
                    "grid": "370102001001002", "unit": None, "grid_path": ["370102001001002"]},
                   {"id": "b", "district": None, "street": None, "community": None, "grid": None, "unit": None,
                    "grid_path": []}]
    csv.write_text("id,lon,lat\na,east,36.6\n", encoding="utf-8")
    bad = run("locate", "--file", str(csv), env_url=pg_url, check=False)
    assert bad.returncode != 0 and ":2:" in bad.stderr and "not numbers" in bad.stderr


def test_locate_bad_input(clean_db, pg_url):
    p = run("locate", "117", "95", env_url=pg_url, check=False)
    assert p.returncode != 0 and "lat" in p.stderr
    p = run("locate", "117", "36", "--crs", "mars", env_url=pg_url, check=False)
    assert p.returncode != 0 and "crs" in p.stderr


def test_db_url_json(pg_url):
    out = json.loads(run("db", "url", "--json", env_url=pg_url).stdout)
    assert out["url"].startswith("postgresql+psycopg://")


def test_import_areas_via_cli(clean_db, pg_url, tmp_path):
    import geopandas as gpd
    import shapely
    path = tmp_path / "d.geojson"
    gpd.GeoDataFrame({"code": ["370102"], "name": ["历下区"]}, geometry=[shapely.box(117, 36.6, 117.02, 36.62)],
                     crs=4326).to_file(path)
    out = json.loads(run("import", "areas", str(path), "--level", "district", "--json", env_url=pg_url).stdout)
    assert out["imported"] == 1 and out["level"] == "district"
    located = json.loads(run("locate", "117.01", "36.61", "--json", env_url=pg_url).stdout)
    assert located["district"]["code"] == "370102" and located["generation"] == out["generation"]
    far = tmp_path / "far.geojson"
    gpd.GeoDataFrame({"code": ["370102001"], "name": ["远街道"]}, geometry=[shapely.box(118, 36.6, 118.02, 36.62)],
                     crs=4326).to_file(far)
    bad = run("import", "areas", str(far), "--level", "street", "--json", env_url=pg_url, check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    err = json.loads(bad.stderr)
    assert err["problems"] == [{"feature": 0, "code": "370102001", "problem": "outside every district"}]


def test_demo_prints_keys(clean_db, pg_url):
    out = json.loads(run("demo", "--scale", "small", "--json", env_url=pg_url).stdout)
    assert out["counts"]["grids"] >= 25 and out["keys"]["admin"].startswith("wg_")
    located = json.loads(run("locate", "116.88", "36.62", "--json", env_url=pg_url).stdout)
    assert located["found"] and located["staff"] and located["stations"]
