"""GDAL's own OGC API – Features client (`ogr2ogr OAPIF:`) copies every level of the demo city into a
GeoPackage equal to the record, and GDAL's MVT driver reads one of our tiles; both against a real
`wangge serve` on loopback, the key sent with GDAL_HTTP_HEADERS."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from tests.serve import serve
from tests.conftest import fresh_demo
from gis import keys
from gis.store.db import session_scope

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="gdal-bin is not installed "
                                "(scripts/setup.sh installs it)")

LEVELS = {"districts": "district", "streets": "street", "communities": "community", "grids": "grid", "units": "unit"}


@pytest.fixture(scope="module")
def live(engine, pg_url, tmp_path_factory):
    """(base URL, consumer key, generation, engine) of a served demo city."""
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        key = keys.create(s, "consumer")
    tmp = tmp_path_factory.mktemp("gdal")
    with serve(pg_url, tmp / "home", tmp / "serve.log") as base:
        yield base, key, report["generation"], engine, tmp


def gdal(args: list[str], key: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a GDAL command line with the key header; fail the test with its stderr when it fails."""
    cmd = [args[0], "--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {key}", "--config", "GDAL_HTTP_TIMEOUT", "60",
           *args[1:]]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def record(engine, generation: int, level: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT ga.code, a.name, ga.parent_code, a.households, ga.tier, ST_AsBinary(a.geom)
            FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = :l"""), {"g": generation, "l": level}).all()
    return {r[0]: (r[1], r[2], r[3], r[4], shapely.from_wkb(bytes(r[5]))) for r in rows}


def test_ogrinfo_lists_every_collection(live):
    base, key, _gen, _engine, _tmp = live
    out = gdal(["ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc"], key).stdout
    for name in (*LEVELS, "stations"):
        assert f": {name} " in out or f": {name}\n" in out or name in out.split(), out


def test_ogr2ogr_copies_every_level_equal_to_the_record(live):
    base, key, gen, engine, tmp = live
    gpkg = tmp / "city.gpkg"
    for collection, level in LEVELS.items():
        gdal(["ogr2ogr", "-f", "GPKG", *(["-update"] if gpkg.exists() else []), str(gpkg),
              f"OAPIF:{base}/ogc", collection, "-nln", collection], key)
        got = pyogrio.read_dataframe(gpkg, layer=collection)
        want = record(engine, gen, level)
        assert len(got) == len(want) > 0
        assert sorted(got["code"]) == sorted(want)
        by_code = got.set_index("code")
        names = [want[c][0] for c in by_code.index]
        assert list(by_code["name"]) == names
        assert [None if p is None or (isinstance(p, float) and np.isnan(p)) else p for p in by_code["parent"]] == \
               [want[c][1] for c in by_code.index]
        assert list(by_code["households"].astype(int)) == [want[c][2] for c in by_code.index]
        if level == "grid":
            assert list(by_code["tier"].astype(int)) == [want[c][3] for c in by_code.index]
        geoms = shapely.from_wkb(shapely.to_wkb(np.asarray(by_code.geometry.values)))
        expected = np.array([want[c][4] for c in by_code.index], dtype=object)
        assert shapely.equals_exact(geoms, expected, tolerance=1e-7).all()


def test_ogr2ogr_copies_the_stations(live):
    base, key, _gen, engine, tmp = live
    gpkg = tmp / "stations.gpkg"
    gdal(["ogr2ogr", "-f", "GPKG", str(gpkg), f"OAPIF:{base}/ogc", "stations"], key)
    got = pyogrio.read_dataframe(gpkg, layer="stations")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id::text, name, kind, ST_X(geom), ST_Y(geom) FROM station")).all()
    want = {r[0]: r for r in rows}
    assert sorted(got["code"]) == sorted(want)
    for code, name, kind, geom in zip(got["code"], got["name"], got["kind"], got.geometry):
        assert (name, kind) == want[code][1:3]
        assert abs(geom.x - want[code][3]) < 1e-7 and abs(geom.y - want[code][4]) < 1e-7


def test_the_mvt_driver_reads_a_tile(live):
    base, key, gen, engine, tmp = live
    with engine.connect() as conn:
        lon, lat = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(a.geom) AS p FROM generation_area ga
            JOIN area a ON a.id = ga.area_id WHERE ga.generation_id = :g AND ga.level = 'grid'
            ORDER BY ga.code LIMIT 1) s"""), {"g": gen}).one()
    z = 14
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    tile = tmp / "tile.mvt"
    import httpx
    r = httpx.get(f"{base}/ogc/collections/grids/tiles/WebMercatorQuad/{z}/{y}/{x}", headers={"X-API-Key": key},
                  timeout=60)
    assert r.status_code == 200, r.text
    tile.write_bytes(r.content)
    out = gdal(["ogrinfo", "-ro", "-al", "-oo", f"X={x}", "-oo", f"Y={y}", "-oo", f"Z={z}",
                "-oo", "CLIP=NO", f"MVT:{tile}"], key).stdout
    with engine.connect() as conn:
        want = set(conn.execute(text("""
            SELECT ga.code FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = 'grid'
              AND ST_Intersects(a.geom, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"""),
            {"g": gen, "z": z, "x": x, "y": y}).scalars())
    got = {line.split("=", 1)[1].strip() for line in out.splitlines() if line.strip().startswith("code (String)")}
    assert want and got == want
