"""OGC API – Tiles over the vector tiles: tileset metadata, the tile matrix set, TileJSON, tiles that
hold exactly the areas meeting them, kept on disk per generation (atomic, bounded, oldest evicted),
strong ETags, 304 on If-None-Match, immutable caching for a named generation, /tiles sharing the cache."""
from __future__ import annotations

import math

import mapbox_vector_tile
from sqlalchemy import text

from gis import tiles as gt

MVT = "application/vnd.mapbox-vector-tile"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180.0) / 360.0 * n), int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)


def a_grid_tile(engine, gen: int, z: int = 14) -> tuple[int, int, set[str]]:
    """x, y of the tile holding a grid's inner point, and the grids PostGIS says meet that tile."""
    with engine.connect() as conn:
        lon, lat = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(a.geom) AS p FROM generation_area ga
            JOIN area a ON a.id = ga.area_id WHERE ga.generation_id = :g AND ga.level = 'grid'
            ORDER BY ga.code DESC LIMIT 1) s"""), {"g": gen}).one()
        x, y = tile_of(lon, lat, z)
        want = set(conn.execute(text("""
            SELECT ga.code FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = 'grid'
              AND ST_Intersects(a.geom, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"""),
            {"g": gen, "z": z, "x": x, "y": y}).scalars())
    return x, y, want


def test_tileset_metadata_matrix_set_and_tilejson(demo):
    """/req/tileset/tileset-success, /req/tilesets-list/..., /req/json-tilematrixset: the documents
    point at each other and the URL template is the one that answers."""
    c, engine, report, _ = demo
    sets = c.get("/ogc/collections/grids/tiles").json()
    assert sets["tilesets"][0]["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    ts = c.get("/ogc/collections/grids/tiles/WebMercatorQuad").json()
    links = {link["rel"]: link for link in ts["links"]}
    assert ts["dataType"] == "vector" and links["item"]["templated"] is True
    tms = c.get(links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"].replace("http://testserver", ""))
    m = tms.json()["tileMatrices"]
    assert len(m) == gt.MAX_ZOOM + 1 and m[0]["matrixWidth"] == 1 and m[14]["matrixWidth"] == 2 ** 14
    assert math.isclose(m[0]["scaleDenominator"], 559082264.0287178, rel_tol=1e-9)  # the OGC-published value
    tj = c.get("/ogc/collections/grids/tiles/WebMercatorQuad/tilejson.json").json()
    x, y, want = a_grid_tile(engine, report["generation"])
    url = tj["tiles"][0].format(z=14, x=x, y=y).replace("http://testserver", "")
    r = c.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(r.content)
    assert list(layers) == ["grid"] and {f["properties"]["code"] for f in layers["grid"]["features"]} == want
    assert tj["vector_layers"][0]["id"] == "grid" and len(tj["bounds"]) == 4
    assert c.get(links["item"]["href"].format(tileMatrix=14, tileRow=y, tileCol=x).replace(
        "http://testserver", "")).content == r.content
    assert c.get("/ogc/collections/stations/tiles").status_code == 404
    assert c.get("/ogc/tileMatrixSets/WorldCRS84Quad").status_code == 404


def test_tiles_are_kept_on_disk_with_strong_etags_and_304(demo):
    c, engine, report, settings = demo
    gen = report["generation"]
    x, y, _want = a_grid_tile(engine, gen, 15)
    url = f"/ogc/collections/grids/tiles/WebMercatorQuad/15/{y}/{x}"
    first = c.get(url, params={"generation": gen})
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    files = list((settings.home_abs / "tiles").rglob(f"grid/15/{x}/{y}.mvt"))
    assert len(files) == 1 and files[0].read_bytes() == first.content
    assert not list((settings.home_abs / "tiles").rglob(".tmp-*"))
    active = c.get(url)
    assert active.headers["etag"] == etag and active.content == first.content
    assert active.headers["cache-control"] == f"public, max-age={settings.tile_active_max_age_s}"
    again = c.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert again.status_code == 304 and not again.content and again.headers["etag"] == etag
    assert c.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # the old route answers from the same cache: the same tile, the same tag
    old = c.get(f"/tiles/grid/15/{x}/{y}.pbf", headers={"X-API-Key": report["keys"]["admin"]})
    assert old.status_code == 200 and old.content == first.content and old.headers["etag"] == etag
    # a tile answered from disk is the file's bytes: overwrite it and see (the cache is really read)
    files[0].write_bytes(b"\x1a\x00")
    assert c.get(url).content == b"\x1a\x00"
    files[0].write_bytes(first.content)


def test_empty_and_bad_tile_addresses(demo):
    c, *_ = demo
    empty = c.get("/ogc/collections/units/tiles/WebMercatorQuad/14/0/0")
    assert empty.status_code == 204 and "etag" in empty.headers
    assert c.get("/ogc/collections/units/tiles/WebMercatorQuad/3/8/0").json()["description"].startswith("tileRow:")
    assert c.get("/ogc/collections/units/tiles/WebMercatorQuad/23/0/0").status_code == 404
    bad = c.get("/ogc/collections/units/tiles/WebMercatorQuad/a/0/0")
    assert bad.status_code == 400 and bad.json()["description"].startswith("tileMatrix:")
    assert c.get("/ogc/collections/units/tiles/WebMercatorQuad/1/0/0", params={"generation": 999}).status_code == 400


def test_a_key_in_the_url_only_on_tile_routes(demo):
    """MapLibre follows the TileJSON's template, so OGC tile routes take `?api_key=`, features do not."""
    c, engine, report, _ = demo
    key = report["keys"]["consumer"]
    tj = c.get("/ogc/collections/grids/tiles/WebMercatorQuad/tilejson.json", params={"api_key": key},
               headers={"X-API-Key": ""})
    assert tj.status_code == 200 and tj.json()["tiles"][0].endswith(f"{{x}}?api_key={key}")
    x, y, _ = a_grid_tile(engine, report["generation"])
    url = tj.json()["tiles"][0].format(z=14, x=x, y=y).replace("http://testserver", "")
    assert c.get(url, headers={"X-API-Key": ""}).status_code == 200
    assert c.get(f"/ogc/collections/grids/items?api_key={key}", headers={"X-API-Key": ""}).status_code == 401


def test_the_cache_is_bounded_and_drops_the_oldest_generation_first(tmp_path):
    cache = gt.TileCache(tmp_path, max_bytes=64 * 1024)
    body = b"x" * 3000  # one 4 KiB block on disk each
    for key in ("3-100", "1-100", "2-100"):
        for y in range(4):
            cache.put(key, "unit", 14, 1, y, body)
    assert sorted(d.name for d in tmp_path.iterdir()) == ["1-100", "2-100", "3-100"]
    for y in range(6):
        cache.put("4-100", "unit", 14, 1, y, body)
    cache.evict()
    left = sorted(d.name for d in tmp_path.iterdir())
    assert "4-100" in left and "1-100" not in left and left == sorted(left, key=lambda k: int(k.split("-")[0]))
    assert 4096 * len(list(tmp_path.rglob("*.mvt"))) <= 64 * 1024
    assert cache.get("4-100", "unit", 14, 1, 5) == body and cache.get("1-100", "unit", 14, 1, 0) is None
