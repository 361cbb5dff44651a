"""`wangge import areas --level grid --parent-field F` with one file holding every grid tier: tiers by
following parents, units under the finest grid, each refusal named with nothing written; `wangge tiers`
and GET /v1/tiers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.importers import ImportRefused, import_areas
from gis.locate.engine import build_engine
from gis.settings import Settings
from gis.store.db import session_scope
from gis.store.generations import active_id
from gis.store.tiers import set_tiers, tiers
from tests.conftest import wipe
from tests.importers.test_import_areas import counts, write

WANGGE = str(Path(sys.executable).parent / "wangge")
C = shapely.box(117.0, 36.6, 117.02, 36.62)            # the community
BIG_W, BIG_E = shapely.box(117.0, 36.6, 117.01, 36.62), shapely.box(117.01, 36.6, 117.02, 36.62)
SMALL = {  # the west big grid in two, the east big grid in two
    "37010200100100101": shapely.box(117.0, 36.6, 117.01, 36.61),
    "37010200100100102": shapely.box(117.0, 36.61, 117.01, 36.62),
    "37010200100100201": shapely.box(117.01, 36.6, 117.02, 36.61),
    "37010200100100202": shapely.box(117.01, 36.61, 117.02, 36.62),
}
COMM = "370102001001"


@pytest.fixture(autouse=True)
def one_tier_after(engine):
    """The schema's one-tier scheme again after each test (wipe leaves grid_tier alone)."""
    yield
    wipe(engine)
    with session_scope(engine) as s:
        set_tiers(s, [("网格", 3, False)])


@pytest.fixture
def city(clean_db, tmp_path):
    """district → street → community, a one-tier unit-less city, and a two-tier scheme that nests."""
    import_areas(clean_db, write(tmp_path, "d.geojson", [{"code": "370102", "name": "历下区", "geometry": C}]),
                 "district")
    import_areas(clean_db, write(tmp_path, "s.geojson", [{"code": "370102001", "name": "甲街道", "geometry": C}]),
                 "street")
    import_areas(clean_db, write(tmp_path, "c.geojson", [{"code": COMM, "name": "明湖社区", "geometry": C}]),
                 "community")
    with session_scope(clean_db) as s:
        set_tiers(s, [("大网格", 3, False), ("小网格", 2, True)])
    return clean_db


def grid_rows(small=SMALL, big=(("370102001001001", BIG_W), ("370102001001002", BIG_E))):
    # children before their parents in the file: tiers come from following parents, not file order
    rows = [{"code": c, "name": f"小网格{c[-4:]}", "parent": c[:15], "geometry": g} for c, g in small.items()]
    rows += [{"code": c, "name": f"大网格{c[-3:]}", "parent": COMM, "geometry": g} for c, g in big]
    return rows


def members(engine):
    with engine.connect() as c:
        g = c.execute(text("SELECT generation_id FROM active_generation")).scalar()
        return {r.code: (r.level, r.tier, r.parent_level, r.parent_code) for r in c.execute(text(
            "SELECT code, level, tier, parent_level, parent_code FROM generation_area WHERE generation_id = :g"),
            {"g": g})}


def test_one_file_of_two_tiers(city, tmp_path):
    report = import_areas(city, write(tmp_path, "g.geojson", grid_rows()), "grid", parent_field="parent")
    assert report["tiers"] == {"1": 2, "2": 4}
    m = members(city)
    assert m["370102001001001"] == ("grid", 1, "community", COMM)
    assert m["37010200100100202"] == ("grid", 2, "grid", "370102001001002")
    loc = build_engine(city, report["generation"])
    assert loc.grid_paths([117.015], [36.615]) == [["370102001001002", "37010200100100202"]]
    assert loc.locate_codes([117.015], [36.615])["grid"] == ["37010200100100202"]
    # units hang under the finest grid that covers them (by containment: the small grid, not the big)
    units = [{"code": "37010200100100101001", "name": "第1联户", "geometry": shapely.box(117.001, 36.601, 117.002, 36.602)},
             {"code": "37010200100100202001", "name": "第2联户", "geometry": shapely.box(117.011, 36.611, 117.012, 36.612)}]
    import_areas(city, write(tmp_path, "u.geojson", units), "unit")
    m = members(city)
    assert m["37010200100100101001"][3] == "37010200100100101"
    assert m["37010200100100202001"][3] == "37010200100100202"


def test_a_finer_tier_alone_keeps_the_coarser_and_moves_units_down(city, tmp_path):
    # tier 1 alone first (no parent field: parents by containment), with a unit under it
    import_areas(city, write(tmp_path, "big.geojson", [r for r in grid_rows() if r["parent"] == COMM]), "grid")
    import_areas(city, write(tmp_path, "u.geojson", [
        {"code": "370102001001002001", "name": "联户", "geometry": shapely.box(117.011, 36.611, 117.012, 36.612)}]),
        "unit")
    assert members(city)["370102001001002001"][3] == "370102001001002"
    # then the small grids alone: their parents are grids of the active generation, which are kept
    report = import_areas(city, write(tmp_path, "small.geojson", [r for r in grid_rows() if r["parent"] != COMM]),
                          "grid", parent_field="parent")
    assert report["tiers"] == {"2": 4} and report["kept"] == 2
    m = members(city)
    assert m["370102001001002"] == ("grid", 1, "community", COMM)
    assert m["37010200100100201"] == ("grid", 2, "grid", "370102001001002")
    assert {"code": "370102001001002001", "from": "370102001001002", "to": "37010200100100202"} in report["reparented"]
    # and, its parent's code having changed, the unit's code follows it (the old code is in the crosswalk)
    assert "370102001001002001" not in m
    assert [c for c, v in m.items() if v[0] == "unit"] == ["37010200100100202001"]
    assert m["37010200100100202001"][3] == "37010200100100202" and report["recoded"] == 1


def refused(engine, path, **kw):
    before = counts(engine)
    with pytest.raises(ImportRefused) as e:
        import_areas(engine, path, "grid", parent_field="parent", **kw)
    assert counts(engine) == before, "nothing was written"
    return {(p["code"], p["problem"]) for p in e.value.problems}, str(e.value)


def test_refusals_each_named(city, tmp_path):
    rows = grid_rows()
    rows[0] = {**rows[0], "parent": "370102001001009"}                       # unknown parent
    rows[1] = {**rows[1], "parent": "37010200100100201"}                     # a cycle with rows[2]
    rows[2] = {**rows[2], "parent": "37010200100100102"}
    rows[3] = {**rows[3], "geometry": shapely.box(117.005, 36.61, 117.015, 36.62)}  # half outside its parent
    problems, message = refused(city, write(tmp_path, "bad.geojson", rows))
    by_code = {}
    for code, p in problems:
        by_code.setdefault(code, []).append(p)
    assert "parent code '370102001001009' is neither a grid in the file" in by_code["37010200100100101"][0]
    assert any("cycle" in p for p in by_code["37010200100100102"])
    assert any("cycle" in p for p in by_code["37010200100100201"])
    assert any("50.0% of it lies outside its parent 370102001001002" in p for p in by_code["37010200100100202"])
    # tier 2 nests: the west big grid and the east one are left with gaps by the refused children
    assert any("m² of parent grid 370102001001001 uncovered" in p for p in by_code["370102001001001"])
    assert "nothing was written" in message and "feature" in message


def test_too_deep_and_gaps(city, tmp_path):
    rows = grid_rows()
    rows.append({"code": "3701020010010010101", "name": "第三层", "parent": "37010200100100101",
                 "geometry": shapely.box(117.0, 36.6, 117.005, 36.605)})
    problems, _ = refused(city, write(tmp_path, "deep.geojson", rows))
    assert ("3701020010010010101", "it would be a grid of tier 3, deeper than the city's 2 tier(s) "
            "(grid_tier; set more with `wangge tiers set`)") in problems
    # a gap: one small grid narrowed by 0.0001° (about 9,900 m² of its parent left uncovered)
    small = dict(SMALL)
    small["37010200100100102"] = shapely.box(117.0, 36.61, 117.0099, 36.62)
    problems, _ = refused(city, write(tmp_path, "gap.geojson", grid_rows(small)))
    (code, p), = problems
    assert code == "370102001001001" and "parent grid 370102001001001 uncovered" in p and "tier 2 nests" in p
    gap_m2 = float(p.split(" leave ")[1].split(" m²")[0].replace(",", ""))
    assert 9000 < gap_m2 < 11000  # 0.0001° of longitude (~8.9 m) by 0.01° of latitude (~1.1 km)
    # without nesting the same file is accepted
    with session_scope(city) as s:
        set_tiers(s, [("大网格", 3, False), ("小网格", 2, False)])
    assert import_areas(city, write(tmp_path, "gap2.geojson", grid_rows(small)), "grid",
                        parent_field="parent")["tiers"] == {"1": 2, "2": 4}
    # and then making tier 2 nest is refused: the grids in the record would break it
    env = dict(os.environ, WANGGE_DATABASE_URL=str(city.url.render_as_string(hide_password=False)))
    p = subprocess.run([WANGGE, "tiers", "set", "--name", "大网格", "--digits", "3", "--name", "小网格",
                        "--digits", "2", "--nests"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode != 0 and "of parent grid 370102001001001 uncovered" in p.stderr
    assert "370102001001002" not in p.stderr and "Traceback" not in p.stderr
    with city.connect() as c:
        assert [t.nests for t in tiers(c)] == [False, False]


def test_tiers_cli_and_api(city, pg_url, tmp_path):
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url)

    def run(*args):
        return subprocess.run([WANGGE, *args], capture_output=True, text=True, env=env, timeout=300)

    p = run("tiers", "set", "--name", "网格", "--digits", "3", "--name", "小区网格", "--digits", "2",
            "--name", "楼栋网格", "--digits", "2", "--nests", "--json")
    assert p.returncode == 0, p.stderr
    assert [(t["name"], t["digits"], t["nests"]) for t in json.loads(p.stdout)["tiers"]] == \
        [("网格", 3, False), ("小区网格", 2, True), ("楼栋网格", 2, True)]
    p = run("tiers", "--json")
    assert p.returncode == 0 and len(json.loads(p.stdout)["tiers"]) == 3
    p = run("tiers", "set", "--name", "网格", "--digits", "3", "--name", "小网格")
    assert p.returncode != 0 and "--digits: give one per --name" in p.stderr
    # grids of tier 2 exist: a one-tier scheme is refused, and the scheme stays
    import_areas(city, write(tmp_path, "g.geojson", grid_rows()), "grid", parent_field="parent")
    p = run("tiers", "set", "--name", "网格", "--digits", "3")
    assert p.returncode != 0 and "grids of tier 2 exist already" in p.stderr and "Traceback" not in p.stderr
    with city.connect() as c:
        assert len(tiers(c)) == 3
    with session_scope(city) as s:
        key = keys.create(s, "consumer")
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        assert c.get("/v1/tiers").status_code == 401
        body = c.get("/v1/tiers", headers={"X-API-Key": key}).json()
        assert [t["name"] for t in body["tiers"]] == ["网格", "小区网格", "楼栋网格"]
        one = c.get("/v1/locate?lon=117.015&lat=36.615", headers={"X-API-Key": key}).json()
        assert [g["code"] for g in one["grid_path"]] == ["370102001001002", "37010200100100202"]
        assert [g["tier_name"] for g in one["grid_path"]] == ["网格", "小区网格"]
    with session_scope(city) as s:
        assert active_id(s) is not None
