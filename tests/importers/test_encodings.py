"""Files as agencies deliver them: GBK attribute tables with no .cpg, Chinese field names, CGCS2000
Gauss–Krüger zones (with and without zone prefix, .prj as WKT only), `--encoding`, and Xi'an 80 /
Beijing 54 refused unless the city has set its own transformation."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from sqlalchemy import text

from gis.importers import ImportRefused, import_addresses, import_areas, import_stations
from gis.importers.common import gk_zone_crs
from gis.importers.encoding import shapefile_encoding
from gis.settings import get_settings

D = shapely.box(117.0, 36.6, 117.02, 36.62)
W, E = shapely.box(117.0, 36.6, 117.01, 36.62), shapely.box(117.01, 36.6, 117.02, 36.62)
WANGGE = str(Path(sys.executable).parent / "wangge")


def shapefile(tmp_path, name, data: dict, geoms, crs, encoding="GBK", keep_cpg=False, src_crs=4326) -> Path:
    """A Shapefile whose .dbf is in `encoding`; its .cpg deleted unless asked to keep it."""
    frame = gpd.GeoDataFrame(data, geometry=list(geoms), crs=src_crs).to_crs(crs)
    path = tmp_path / f"{name}.shp"
    frame.to_file(path, encoding=encoding, engine="pyogrio")
    if not keep_cpg:
        path.with_suffix(".cpg").unlink()
    return path


def stored(engine, level):
    """code -> (name, households, geometry) of the active generation's areas at `level`."""
    with engine.connect() as c:
        rows = c.execute(text("""
            SELECT ga.code, a.name, a.households, ST_AsBinary(a.geom) FROM generation_area ga
            JOIN area a ON a.id = ga.area_id JOIN active_generation ag ON ag.generation_id = ga.generation_id
            WHERE ga.level = :l"""), {"l": level}).all()
    return {r[0]: (r[1], r[2], shapely.from_wkb(bytes(r[3]))) for r in rows}


def same_ground(a, b, tol=1e-7) -> bool:
    """Two polygons equal within `tol` degrees (a round trip through a projection moves ~1e-9)."""
    return a.symmetric_difference(b).area < tol * a.area and shapely.hausdorff_distance(a, b) < tol


@pytest.fixture
def city_settings(monkeypatch):
    """Set WANGGE_* variables for one test; the settings are read again."""
    def set_(**values):
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
    yield set_
    for k in ("WANGGE_XIAN80_TOWGS84", "WANGGE_XIAN80_FOUR_PARAMS", "WANGGE_BEIJING54_TOWGS84"):
        monkeypatch.delenv(k, raising=False)
    get_settings.cache_clear()


def test_gbk_without_cpg_in_a_gauss_kruger_zone(clean_db, tmp_path):
    # CGCS2000 3-degree Gauss–Krüger CM 117E, the .prj as GDAL writes it (ESRI WKT: a name, no EPSG code)
    path = shapefile(tmp_path, "districts", {"编码": ["370102"], "名称": ["历下区"], "户数": [1234]}, [D], 4548)
    assert not path.with_suffix(".cpg").exists()
    prj = path.with_suffix(".prj").read_text()
    assert "Gauss" in prj and "EPSG" not in prj and "4548" not in prj
    assert shapefile_encoding(path).report() == {"encoding": "GB18030", "how": "guessed"}
    report = import_areas(clean_db, path, "district")
    assert report["encoding"] == {"encoding": "GB18030", "how": "guessed"}
    (name, households, geom), = stored(clean_db, "district").values()
    assert stored(clean_db, "district").keys() == {"370102"}
    assert name == "历下区" and households == 1234
    assert same_ground(geom, D)


def test_zone_prefix_crs_with_chinese_parent_field(clean_db, tmp_path):
    # 3-degree zone 39 with the prefix (EPSG:4527), eastings 39 5xx xxx m
    import_areas(clean_db, shapefile(tmp_path, "d", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4527), "district")
    path = shapefile(tmp_path, "s", {"编码": ["370102001", "370102002"], "名称": ["西街道", "东街道"],
                                     "上级编码": ["370102", "370102"]}, [W, E], 4527)
    xs = gpd.read_file(path).geometry.total_bounds[[0, 2]]
    assert (xs > 39_000_000).all() and gk_zone_crs(xs[0]) == 4527
    report = import_areas(clean_db, path, "street")
    assert report["imported"] == 2 and report["encoding"]["encoding"] == "GB18030"
    got = stored(clean_db, "street")
    assert {c: v[0] for c, v in got.items()} == {"370102001": "西街道", "370102002": "东街道"}
    assert same_ground(got["370102001"][2], W) and same_ground(got["370102002"][2], E)
    # 6-degree zones with and without the prefix land on the same ground
    for crs in (4500, 4511):  # zone 20 (prefix 20), CM 117E
        import_areas(clean_db, shapefile(tmp_path, f"d{crs}", {"编码": ["370102"], "名称": ["历下区"]}, [D], crs),
                     "district")
        assert same_ground(stored(clean_db, "district")["370102"][2], D)


def test_utf8_without_cpg_and_a_cpg_and_encoding_said(clean_db, tmp_path):
    utf8 = shapefile(tmp_path, "u", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4490, encoding="UTF-8")
    report = import_areas(clean_db, utf8, "district")
    assert report["encoding"] == {"encoding": "UTF-8", "how": "guessed"}
    assert stored(clean_db, "district")["370102"][0] == "历下区"
    cpg = shapefile(tmp_path, "c", {"编码": ["370102"], "名称": ["历城区"]}, [D], 4490, keep_cpg=True)
    assert cpg.with_suffix(".cpg").read_text().strip() == "GBK"
    assert import_areas(clean_db, cpg, "district")["encoding"] == {"encoding": "GBK", "how": "cpg"}
    assert stored(clean_db, "district")["370102"][0] == "历城区"
    gbk = shapefile(tmp_path, "g", {"编码": ["370102"], "名称": ["槐荫区"]}, [D], 4490)
    assert import_areas(clean_db, gbk, "district", encoding="gbk")["encoding"] == {"encoding": "GBK", "how": "asked"}
    assert stored(clean_db, "district")["370102"][0] == "槐荫区"


def test_wrong_or_unknown_encoding_is_refused(clean_db, tmp_path):
    gbk = shapefile(tmp_path, "g", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4490)
    with pytest.raises(ImportRefused) as e:
        import_areas(clean_db, gbk, "district", encoding="UTF-8")
    assert "not UTF-8" in str(e.value) and "--encoding" in str(e.value) and str(tmp_path) not in str(e.value).split(":")[1]
    with pytest.raises(ImportRefused, match="--encoding: unknown encoding 'klingon'"):
        import_areas(clean_db, gbk, "district", encoding="klingon")
    with clean_db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM area")).scalar() == 0


def test_zone_prefix_under_the_wrong_crs_names_the_right_one(clean_db, tmp_path):
    path = shapefile(tmp_path, "d", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4527)
    frame = gpd.read_file(path, encoding="GBK").set_crs(4548, allow_override=True)  # prefix lost from the .prj
    wrong = tmp_path / "wrong.gpkg"
    frame.to_file(wrong)
    with pytest.raises(ImportRefused) as e:
        import_areas(clean_db, wrong, "district")
    assert "wrong CRS" in str(e.value) and "EPSG:4527" in str(e.value)


XIAN80_GK_117 = 2384  # Xian 1980 / 3-degree Gauss-Kruger CM 117E
SEVEN = "24.5,-123.1,-94.3,0.02,-0.26,-0.13,2.42"


def test_xian80_and_beijing54_are_refused_without_a_transformation(clean_db, tmp_path, city_settings):
    city_settings()
    for crs, label, setting in ((XIAN80_GK_117, "Xi'an 80", "WANGGE_XIAN80_TOWGS84"),
                                (4214, "Beijing 54", "WANGGE_BEIJING54_TOWGS84")):
        path = shapefile(tmp_path, f"x{crs}", {"编码": ["370102"], "名称": ["历下区"]}, [D], crs)
        with pytest.raises(ImportRefused) as e:
            import_areas(clean_db, path, "district")
        msg = str(e.value)
        assert label in msg and "no official transformation" in msg and setting in msg and "ballpark" in msg
    with clean_db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM area")).scalar() == 0


def test_xian80_with_the_citys_seven_parameters(clean_db, tmp_path, city_settings):
    city_settings(WANGGE_XIAN80_TOWGS84=SEVEN)
    ground = gpd.GeoSeries([D], crs=4326).to_crs(XIAN80_GK_117)  # coordinates as drawn in the Xi'an 80 plane
    path = tmp_path / "x.shp"
    gpd.GeoDataFrame({"编码": ["370102"], "名称": ["历下区"]}, geometry=ground, crs=XIAN80_GK_117).to_file(
        path, encoding="GBK")
    report = import_areas(clean_db, path, "district")
    assert report["datum"]["from"] == "Xi'an 80" and report["datum"]["transformation"] == "WANGGE_XIAN80_TOWGS84"
    got = stored(clean_db, "district")["370102"][2]
    # independently: inverse Gauss–Krüger on the IAU76 ellipsoid, Helmert (position vector), to WGS84
    pipe = pyproj.Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=500000 +y_0=0 +ellps=IAU76 "
        "+step +proj=cart +ellps=IAU76 +step +proj=helmert +x=24.5 +y=-123.1 +z=-94.3 +rx=0.02 +ry=-0.26 "
        "+rz=-0.13 +s=2.42 +convention=position_vector +step +inv +proj=cart +ellps=WGS84 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    xy = shapely.get_coordinates(ground.iloc[0])
    lon, lat = pipe.transform(xy[:, 0], xy[:, 1])
    assert same_ground(got, shapely.Polygon(np.column_stack([lon, lat])), 1e-8)
    # and the shift is real: tens of metres from the ballpark answer
    geod = pyproj.Geod(ellps="WGS84")
    _, _, dist = geod.inv(lon, lat, xy[:, 0] * 0 + shapely.get_coordinates(D)[:, 0],
                          shapely.get_coordinates(D)[:, 1])
    assert (dist > 10).all()


def test_xian80_with_four_parameters(clean_db, tmp_path, city_settings):
    city_settings(WANGGE_XIAN80_FOUR_PARAMS="100,-50,0,0")
    ground = gpd.GeoSeries([D], crs=4326).to_crs(XIAN80_GK_117)
    path = tmp_path / "x4.shp"
    gpd.GeoDataFrame({"编码": ["370102"], "名称": ["历下区"]}, geometry=ground, crs=XIAN80_GK_117).to_file(
        path, encoding="GBK")
    report = import_areas(clean_db, path, "district")
    assert report["datum"]["transformation"] == "WANGGE_XIAN80_FOUR_PARAMS"
    got = stored(clean_db, "district")["370102"][2]
    xy = shapely.get_coordinates(ground.iloc[0]) + [100, -50]
    lon, lat = pyproj.Transformer.from_crs(4548, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    assert same_ground(got, shapely.Polygon(np.column_stack([lon, lat])), 1e-8)
    # geographic Xi'an 80 cannot take a plane transformation
    geo = shapefile(tmp_path, "x4610", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4610)
    with pytest.raises(ImportRefused, match="WANGGE_XIAN80_TOWGS84"):
        import_areas(clean_db, geo, "district")


def test_bad_transformation_setting_names_it(monkeypatch):
    from gis.settings import Settings
    monkeypatch.setenv("WANGGE_XIAN80_TOWGS84", "1,2")
    with pytest.raises(ValueError, match="WANGGE_XIAN80_TOWGS84: give 3 or 7"):
        Settings()


def test_gbk_csvs_with_chinese_columns(clean_db, tmp_path):
    stations = tmp_path / "stations.csv"
    stations.write_bytes("名称,类型,lon,lat\n历下区党群服务中心,party,117.01,36.61\n".encode("gbk"))
    report = import_stations(clean_db, stations)
    assert report["inserted"] == 1 and report["encoding"] == {"encoding": "GB18030", "how": "guessed"}
    addresses = tmp_path / "addresses.csv"
    addresses.write_bytes("地址,经度,纬度,户数\n济南市历下区泉城路1号,117.01,36.61,12\n".encode("gbk"))
    report = import_addresses(clean_db, addresses)
    assert report["inserted"] == 1 and report["encoding"]["encoding"] == "GB18030"
    with clean_db.connect() as c:
        assert c.execute(text("SELECT name FROM station")).scalar() == "历下区党群服务中心"
        assert c.execute(text("SELECT address, households FROM address")).one() == ("济南市历下区泉城路1号", 12)
    with pytest.raises(ImportRefused, match="not UTF-8 text"):
        import_addresses(clean_db, addresses, encoding="utf-8")


def test_cli_encoding_flag(clean_db, pg_url, tmp_path):
    path = shapefile(tmp_path, "d", {"编码": ["370102"], "名称": ["历下区"]}, [D], 4548)
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url)
    p = subprocess.run([WANGGE, "import", "areas", str(path), "--level", "district", "--encoding", "GBK", "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["encoding"] == {"encoding": "GBK", "how": "asked"}
    assert stored(clean_db, "district")["370102"][0] == "历下区"
    bad = subprocess.run([WANGGE, "import", "stations", str(path), "--encoding", "nope"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "--encoding: unknown encoding 'nope'" in bad.stderr and "Traceback" not in bad.stderr
