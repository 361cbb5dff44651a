"""Address registry and station imports: conversions, replacements, and refusals naming every bad row."""
from __future__ import annotations


import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from gis.coords import from_wgs84
from gis.importers import ImportRefused, import_addresses, import_stations


def test_addresses_with_crs_conversion_and_replacement(clean_db, tmp_path):
    gx, gy = from_wgs84(117.005, 36.61, "gcj02")
    bx, by = from_wgs84(117.006, 36.611, "bd09")
    csv = tmp_path / "a.csv"
    csv.write_text("\ufeffaddress,lon,lat,crs,households,building_code\n"
                   f"历下区解放路1号,{gx},{gy},gcj02,20,B1\n历下区解放路3号,{bx},{by},bd09,8,\n"
                   "历下区解放路5号,117.007,36.612,,0,\n", encoding="utf-8")
    r = import_addresses(clean_db, csv)
    assert r == {"inserted": 3, "replaced": 0, "rows": 3, "file": str(csv),
                 "encoding": {"encoding": "UTF-8", "how": "guessed"}}
    with clean_db.connect() as c:
        rows = {a: (x, y, h, b) for a, x, y, h, b in c.execute(text(
            "SELECT address, ST_X(geom), ST_Y(geom), households, building_code FROM address"))}
    x, y, h, b = rows["历下区解放路1号"]
    assert abs(x - 117.005) < 1e-7 and abs(y - 36.61) < 1e-7 and h == 20 and b == "B1"
    x, y, *_ = rows["历下区解放路3号"]
    assert abs(x - 117.006) < 1e-7 and abs(y - 36.611) < 1e-7
    csv.write_text("address,lon,lat\n历下区解放路5号,117.008,36.613\n", encoding="utf-8")
    assert import_addresses(clean_db, csv)["replaced"] == 1
    with clean_db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM address")).scalar() == 3


def test_bad_address_rows_are_listed_and_nothing_written(clean_db, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("address,lon,lat,crs,households\n好,117,36.6,,1\n,117,36.6,,1\n坏经度,abc,36.6,,1\n"
                   "越界,117,95,,1\n火星,117,36.6,mars,1\n负户,117,36.6,,-3\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as err:
        import_addresses(clean_db, csv)
    lines = sorted({p["line"] for p in err.value.problems})
    assert lines == [3, 4, 5, 6, 7]
    text_ = str(err.value)
    for needle in ("blank address", "not a number", "out of range", "mars", "whole number"):
        assert needle in text_
    with clean_db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM address")).scalar() == 0
    missing = tmp_path / "m.csv"
    missing.write_text("addr,lon\nx,1\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match="missing column"):
        import_addresses(clean_db, missing)


def test_stations_geojson_csv_and_chinese_kinds(clean_db, tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["明湖党群服务中心", "曲水亭便民服务站"], "kind": ["党群服务中心", "convenience_station"]},
                           geometry=[shapely.Point(117.0, 36.6), shapely.Point(117.01, 36.61)], crs=4326)
    path = tmp_path / "s.geojson"
    gdf.to_file(path)
    assert import_stations(clean_db, path)["inserted"] == 2
    csv = tmp_path / "s.csv"
    csv.write_text("name,kind,lon,lat\n明湖党群服务中心,党群服务中心,117.001,36.601\n芙蓉红色驿站,红色驿站,117.02,36.62\n",
                   encoding="utf-8")
    r = import_stations(clean_db, csv)
    assert r["inserted"] == 1 and r["replaced"] == 1
    with clean_db.connect() as c:
        kinds = dict(c.execute(text("SELECT name, kind FROM station")).all())
    assert kinds == {"明湖党群服务中心": "party_service_center", "曲水亭便民服务站": "convenience_station",
                     "芙蓉红色驿站": "red_post"}


def test_bad_stations_refused(clean_db, tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["甲", "", "丙", "丁"], "kind": ["党群服务中心", "red_post", "  ", "馆" * 65]},
                           geometry=[shapely.box(117, 36.6, 117.001, 36.601), shapely.Point(117, 36.6),
                                     shapely.Point(117, 36.6), shapely.Point(117, 36.6)], crs=4326)
    path = tmp_path / "bad.geojson"
    gdf.to_file(path)
    with pytest.raises(ImportRefused) as err:
        import_stations(clean_db, path)
    got = {(p["feature"], p["problem"].split(" ")[0]) for p in err.value.problems}
    assert (0, "Polygon") in got and (1, "no") in got
    problems = {p["feature"]: p["problem"] for p in err.value.problems}
    assert problems[2] == "no kind" and problems[3] == "kind is 65 characters long, over the limit of 64"
    with clean_db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM station")).scalar() == 0


def test_long_open_kind_is_stored_whole(clean_db, tmp_path):
    """Kinds are free text up to 64 characters (the column was widened from 32 by migration 0007)."""
    kind = "社区卫生服务站" * 9 + "a"  # 64 characters
    csv = tmp_path / "k.csv"
    csv.write_text(f"name,kind,lon,lat\n某站,{kind},117.0,36.6\n", encoding="utf-8")
    assert import_stations(clean_db, csv)["inserted"] == 1
    with clean_db.connect() as c:
        assert c.execute(text("SELECT kind FROM station")).scalar() == kind
