"""`import areas` on real files: the chain of levels, parents, CRSs, repairs, and every refusal leaving
the record untouched."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from gis.store.generations import active_id
from gis.store.db import session_scope
from gis.importers import ImportRefused, import_addresses, import_areas
from gis.locate.engine import build_engine

D = shapely.box(117.0, 36.6, 117.02, 36.62)
W, E = shapely.box(117.0, 36.6, 117.01, 36.62), shapely.box(117.01, 36.6, 117.02, 36.62)


def write(tmp_path, name, rows, crs=4326, driver=None):
    gdf = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                           geometry=[r["geometry"] for r in rows], crs=crs)
    path = tmp_path / name
    gdf.to_file(path, driver=driver) if driver else gdf.to_file(path)
    return path


def counts(engine):
    with engine.connect() as c:
        return (c.execute(text("SELECT count(*) FROM area")).scalar(),
                c.execute(text("SELECT count(*) FROM generation")).scalar(),
                c.execute(text("SELECT generation_id FROM active_generation")).scalar())


@pytest.fixture
def base(clean_db, tmp_path):
    """district → two streets (by containment) imported from GeoJSON and GeoPackage."""
    import_areas(clean_db, write(tmp_path, "d.geojson", [{"code": "370102", "name": "历下区", "geometry": D}]),
                 "district")
    import_areas(clean_db, write(tmp_path, "s.gpkg", [
        {"code": "370102001", "name": "西街道", "geometry": W}, {"code": "370102002", "name": "东街道", "geometry": E}]),
        "street")
    return clean_db


def test_chain_parents_and_generations(base, tmp_path):
    engine = base
    # communities in a projected CRS, parent by field; the shapefile keeps its .prj
    comm = gpd.GeoDataFrame({"CODE": ["370102001001", "370102002001"], "NAME": ["西社区", "东社区"],
                             "street": ["370102001", "370102002"]}, geometry=[W, E], crs=4326).to_crs(32650)
    path = tmp_path / "c.shp"
    comm.to_file(path)
    report = import_areas(engine, path, "community", parent_field="street")
    assert report["imported"] == 2 and report["replaced"] == 0
    with session_scope(engine) as s:
        gen = active_id(s)
        parents = dict(s.execute(text("SELECT code, parent_code FROM generation_area WHERE generation_id=:g "
                                      "AND level='community'"), {"g": gen}).all())
        gens = s.execute(text("SELECT count(*) FROM generation")).scalar()
    assert gen == report["generation"] == gens == 3
    assert parents == {"370102001001": "370102001", "370102002001": "370102002"}
    loc = build_engine(engine, gen)
    assert loc.locate_codes([117.015], [36.61])["community"] == ["370102002001"]
    # the earlier generation keeps what it had
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM generation_area WHERE generation_id = 2")).scalar() == 3


def test_cgcs2000_and_households_from_registry(base, tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("address,lon,lat,households\n甲,117.005,36.61,30\n乙,117.015,36.61,12\n", encoding="utf-8")
    import_addresses(base, csv)
    path = write(tmp_path, "c.geojson", [{"code": "370102001001", "name": "西社区", "geometry": W}], crs=4490)
    import_areas(base, path, "community")
    with base.connect() as c:
        hh = c.execute(text("SELECT households FROM area WHERE code = '370102001001'")).scalar()
    assert hh == 30


def test_reimport_reparents_children(base, tmp_path):
    import_areas(base, write(tmp_path, "c.geojson", [
        {"code": "370102001001", "name": "西社区", "geometry": W}, {"code": "370102002001", "name": "东社区", "geometry": E}]),
        "community")
    # streets re-coded: the communities follow by containment
    r = import_areas(base, write(tmp_path, "s2.geojson", [
        {"code": "370102003", "name": "新西街道", "geometry": W}, {"code": "370102004", "name": "新东街道", "geometry": E}]),
        "street")
    assert sorted((x["code"], x["to"]) for x in r["reparented"]) == [("370102001001", "370102003"),
                                                                      ("370102002001", "370102004")]
    assert r["replaced"] == 2


def refused(engine, path, level, **kw):
    before = counts(engine)
    with pytest.raises(ImportRefused) as err:
        import_areas(engine, path, level, **kw)
    assert counts(engine) == before, "a refused import wrote something"
    return err.value


def test_no_crs_and_wrong_crs(base, tmp_path):
    p = tmp_path / "nocrs.geojson"
    p.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"x","name":"y"},'
                 '"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}')
    gpd.GeoDataFrame({"code": ["x"], "name": ["y"]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(
        tmp_path / "nocrs.shp")
    err = refused(base, tmp_path / "nocrs.shp", "community")
    assert "coordinate reference system" in str(err)
    metres = write(tmp_path, "m.geojson", [{"code": "1", "name": "n", "geometry": shapely.box(500000, 4050000,
                                                                                          500100, 4050100)}])
    err = refused(base, metres, "community")
    assert "wrong CRS" in str(err)


def test_every_bad_feature_is_named(base, tmp_path):
    bowtie = shapely.Polygon([(117.001, 36.601), (117.004, 36.604), (117.004, 36.601), (117.001, 36.604)])
    rows = [
        {"code": "370102001001", "name": "好", "geometry": shapely.box(117.0, 36.6, 117.005, 36.61)},
        {"code": "370102001001", "name": "重复", "geometry": shapely.box(117.0, 36.61, 117.005, 36.62)},
        {"code": "370102001003", "name": "蝴蝶", "geometry": bowtie},
        {"code": "370102001004", "name": "界外", "geometry": shapely.box(117.03, 36.6, 117.04, 36.61)},
        {"code": "370102001005", "name": "跨界", "geometry": shapely.box(117.005, 36.6, 117.015, 36.605)},
        {"code": "", "name": "无码", "geometry": shapely.box(117.006, 36.606, 117.007, 36.607)},
    ]
    err = refused(base, write(tmp_path, "bad.geojson", rows), "community")
    problems = " | ".join(f"{p['feature']}:{p['problem']}" for p in err.problems)
    assert any(p["feature"] == 1 and "duplicate" in p["problem"] for p in err.problems), problems
    assert any(p["feature"] == 2 and "invalid" in p["problem"] for p in err.problems), problems
    assert any(p["feature"] == 3 and "outside every street" in p["problem"] for p in err.problems), problems
    assert any(p["feature"] == 4 and "outside its parent" in p["problem"] for p in err.problems), problems
    assert any(p["feature"] == 5 and "no code" in p["problem"] for p in err.problems), problems
    assert not any(p["feature"] == 0 for p in err.problems)


def test_small_invalidity_is_repaired_and_reported(base, tmp_path):
    # a ring that touches itself at one point (a pinched hole): invalid, and make_valid keeps its area
    ring = [(117.0, 36.6), (117.009, 36.6), (117.009, 36.619), (117.0, 36.619), (117.0, 36.61),
            (117.004, 36.612), (117.004, 36.608), (117.0, 36.61), (117.0, 36.6)]
    pinched = shapely.Polygon(ring)
    assert not pinched.is_valid
    r = import_areas(base, write(tmp_path, "p.geojson", [{"code": "370102001001", "name": "捏", "geometry": pinched}]),
                     "community")
    assert r["repaired"] == ["370102001001"]


def test_unknown_parent_code_and_level(base, tmp_path):
    p = write(tmp_path, "c.geojson", [{"code": "370102009001", "name": "孤", "street": "370102009", "geometry": W}])
    err = refused(base, p, "community", parent_field="street")
    assert "370102009" in str(err) and "is not a street" in str(err)
    with pytest.raises(ImportRefused, match="unknown level"):
        import_areas(base, p, "province")
    with pytest.raises(ImportRefused, match="no field 'nope'"):
        import_areas(base, p, "community", code_field="nope")
