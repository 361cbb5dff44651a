"""Vector tiles (/tiles/{level}/{z}/{x}/{y}.pbf) on the small demo city, and the grids map drawing its
units from them when there are too many to write into the page."""
from __future__ import annotations

import json
import math
import re

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.store.db import session_scope
from gis.settings import Settings
from maps.assets import ASSET_PREFIX, LOCAL, render
from maps.grids import grids_map
from maps.pages import all_levels
from tests.browser import CHROMIUM, live_server, load_page
from tests.conftest import fresh_demo

MVT = "application/vnd.mapbox-vector-tile"
VECTORGRID = f"{ASSET_PREFIX}/vectorgrid/Leaflet.VectorGrid.bundled.min.js"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        report["keys"]["planner"] = keys.create(s, "planner")
        report["keys"]["command"] = keys.create(s, "command")
    app = create_app(Settings(database_url=pg_url))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = report["keys"]["admin"]
        yield c, engine, report


def centre(engine, gen: int) -> tuple[float, float]:
    """A point inside a unit near the middle of the city."""
    with engine.connect() as conn:
        return tuple(conn.execute(text("""
            WITH c AS (SELECT ST_SetSRID(ST_Centroid(ST_Extent(a.geom)), 4326) AS p FROM generation_area ga
                       JOIN area a ON a.id = ga.area_id WHERE ga.generation_id = :g AND ga.level = 'unit')
            SELECT ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom))
            FROM generation_area ga JOIN area a ON a.id = ga.area_id, c
            WHERE ga.generation_id = :g AND ga.level = 'unit' ORDER BY a.geom <-> c.p LIMIT 1"""),
            {"g": gen}).one())


def intersecting(engine, gen: int, level: str, z: int, x: int, y: int) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT ga.code, a.name, a.households, ga.parent_code
            FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = :l
              AND ST_Intersects(a.geom, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"""),
            {"g": gen, "l": level, "z": z, "x": x, "y": y}).all()
    return {r.code: (r.name, r.households, r.parent_code) for r in rows}


def test_a_city_tile_holds_exactly_the_units_meeting_it(demo):
    c, engine, report = demo
    gen = report["generation"]
    lon, lat = centre(engine, gen)
    z = 15
    x, y = tile_of(lon, lat, z)
    r = c.get(f"/tiles/unit/{z}/{x}/{y}.pbf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT and r.headers["cache-control"].startswith("public, max-age=")
    layers = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
    assert list(layers) == ["unit"]
    layer = layers["unit"]
    assert layer["extent"] == 4096
    got = {f["properties"]["code"]: (f["properties"]["name"], f["properties"]["households"],
                                     f["properties"].get("parent_code")) for f in layer["features"]}
    want = intersecting(engine, gen, "unit", z, x, y)
    assert len(want) > 10 and got == want
    assert len(layer["features"]) == len(want)  # one feature per unit, none twice
    for f in layer["features"]:
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        flat = re.findall(r"-?\d+", str(f["geometry"]["coordinates"]))
        assert all(-64 <= int(v) <= 4096 + 64 for v in flat)  # clipped to the tile and its buffer
    # the same tile named by its generation is the same tile
    again = c.get(f"/tiles/unit/{z}/{x}/{y}.pbf?generation={gen}")
    assert again.status_code == 200 and again.content == r.content


def test_every_level_is_served_and_named_after_itself(demo):
    c, engine, report = demo
    gen = report["generation"]
    lon, lat = centre(engine, gen)
    for level, z in (("district", 10), ("street", 12), ("community", 13), ("grid", 14)):
        x, y = tile_of(lon, lat, z)
        r = c.get(f"/tiles/{level}/{z}/{x}/{y}.pbf")
        assert r.status_code == 200, (level, r.text)
        layers = mapbox_vector_tile.decode(r.content)
        assert list(layers) == [level]
        assert {f["properties"]["code"] for f in layers[level]["features"]} == set(
            intersecting(engine, gen, level, z, x, y))


def test_an_empty_tile_is_204(demo):
    c, _engine, _report = demo
    x, y = tile_of(0.0, 0.0, 15)  # the Gulf of Guinea: no unit there
    r = c.get(f"/tiles/unit/15/{x}/{y}.pbf")
    assert r.status_code == 204 and r.content == b"" and r.headers["cache-control"].startswith("public, max-age=")


@pytest.mark.parametrize("path, field", [
    ("/tiles/planet/15/1/1.pbf", "level"),
    ("/tiles/unit/23/0/0.pbf", "z"),
    ("/tiles/unit/-1/0/0.pbf", "z"),
    ("/tiles/unit/2/4/0.pbf", "x"),
    ("/tiles/unit/2/-1/0.pbf", "x"),
    ("/tiles/unit/2/0/4.pbf", "y"),
    ("/tiles/unit/0/0/1.pbf", "y"),
    ("/tiles/unit/2/0/abc.pbf", "y"),
])
def test_a_bad_address_is_422_naming_the_field(demo, path, field):
    c, _engine, _report = demo
    r = c.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}:") and r.json()["errors"][0]["field"] == field


def test_generations_unknown_and_draft(demo):
    c, engine, report = demo
    gen = report["generation"]
    lon, lat = centre(engine, gen)
    x, y = tile_of(lon, lat, 15)
    r = c.get(f"/tiles/unit/15/{x}/{y}.pbf?generation=99999")
    assert r.status_code == 404 and "99999" in r.json()["detail"]
    with engine.begin() as conn:  # a draft: a copy of the active generation's membership
        draft = conn.execute(text("INSERT INTO generation (state, source, based_on) VALUES ('draft', 'test', :g) "
                                  "RETURNING id"), {"g": gen}).scalar()
        conn.execute(text("""INSERT INTO generation_area
                                 (generation_id, area_id, level, code, parent_level, parent_code, tier)
                             SELECT :d, area_id, level, code, parent_level, parent_code, tier FROM generation_area
                             WHERE generation_id = :g"""), {"d": draft, "g": gen})
    try:
        url = f"/tiles/unit/15/{x}/{y}.pbf?generation={draft}"
        assert c.get(url, headers={"X-API-Key": report["keys"]["command"]}).status_code == 404  # maps, no redraw
        for role in ("planner", "admin"):
            r = c.get(url, headers={"X-API-Key": report["keys"][role]})
            assert r.status_code == 200, (role, r.text)
            assert set(f["properties"]["code"] for f in mapbox_vector_tile.decode(r.content)["unit"]["features"]) \
                == set(intersecting(engine, gen, "unit", 15, x, y))
        # the active generation stays the default
        assert c.get(f"/tiles/unit/15/{x}/{y}.pbf", headers={"X-API-Key": report["keys"]["command"]}).status_code == 200
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM generation WHERE id = :d"), {"d": draft})


def test_a_key_with_the_maps_capability_is_needed(demo):
    c, engine, report = demo
    lon, lat = centre(engine, report["generation"])
    x, y = tile_of(lon, lat, 15)
    url = f"/tiles/unit/15/{x}/{y}.pbf"
    assert c.get(url, headers={"X-API-Key": ""}).status_code == 401
    assert c.get(url, headers={"X-API-Key": "wg_not_a_key"}).status_code == 401
    assert c.get(url, headers={"X-API-Key": report["keys"]["consumer"]}).status_code == 403
    # the key may come in the query, as a map page's tile URLs carry it
    assert c.get(f"{url}?api_key={report['keys']['command']}", headers={"X-API-Key": ""}).status_code == 200


def units_page(c, report, tile_url: str | None, unit_limit: int = 10) -> str:
    loc = c.app.state.engine_cache.get()
    return render(grids_map(all_levels(loc), None, unit_limit=unit_limit, tile_url=tile_url))


def test_too_many_units_come_from_vector_tiles_served_locally(demo):
    c, engine, report = demo
    n_units = report["counts"]["units"]
    assert n_units > 10
    html = units_page(c, report, "/tiles/unit/{z}/{x}/{y}.pbf?api_key=k")
    assert f'src="{VECTORGRID}"' in html
    assert "unpkg.com" not in html and not any(url in html for url in LOCAL)
    assert "L.vectorGrid.protobuf(" in html and "'/tiles/unit/{z}/{x}/{y}.pbf?api_key=k'" in html
    assert json.dumps(f"十联户 unit ({n_units:,}, vector tiles)") in html  # the layer control's name
    assert "minZoom: 14" in html
    with engine.connect() as conn:
        some_unit = conn.execute(text("SELECT code FROM generation_area WHERE generation_id = :g AND level = 'unit' "
                                      "LIMIT 1"), {"g": report["generation"]}).scalar()
    assert f'"{some_unit}"' not in html  # no unit written into the page
    # without a tile URL (a standalone file, say) the layer only says so, and no VectorGrid is loaded
    plain = units_page(c, report, None)
    assert "too many to draw here" in plain and "vectorgrid" not in plain.lower()
    # under the limit units are written into the page as before
    small = units_page(c, report, "/tiles/unit/{z}/{x}/{y}.pbf?api_key=k", unit_limit=10 ** 6)
    assert "vectorGrid" not in small and f'"{some_unit}"' in small


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_units_draw_from_tiles_in_a_browser(demo, tmp_path):
    """The page in headless Chromium with the outside world unreachable: VectorGrid loads from the
    service, fetches the unit tiles, draws them, and a click names the unit under the pointer."""

    from fastapi.responses import HTMLResponse

    c, engine, report = demo
    gen = report["generation"]
    lon, lat = centre(engine, gen)
    with engine.connect() as conn:
        code = conn.execute(text("""SELECT ga.code FROM generation_area ga JOIN area a ON a.id = ga.area_id
                                    WHERE ga.generation_id = :g AND ga.level = 'unit'
                                      AND ST_Contains(a.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"""),
                            {"g": gen, "x": lon, "y": lat}).scalar()
    key = report["keys"]["admin"]
    loc = c.app.state.engine_cache.get()
    m = grids_map(all_levels(loc), None, unit_limit=10,
                  tile_url=f"/tiles/unit/{{z}}/{{x}}/{{y}}.pbf?generation={gen}&api_key={key}")
    html = render(m)
    vg = re.search(r"var (\w+) = L\.vectorGrid\.protobuf\(", html).group(1)
    # turn the (hidden at first) unit layer on at zoom 16, and click the middle unit once its tiles are in
    html = html.replace("</html>", f"""<script>
      {m.get_name()}.setView([{lat}, {lon}], 16, {{animate: false}});
      {vg}.once('load', function () {{
        document.body.dataset.tiles = 'loaded';
        {m.get_name()}.fire('click', {{latlng: L.latLng({lat}, {lon})}});
      }});
      {m.get_name()}.addLayer({vg});
    </script></html>""")

    app = create_app(Settings(database_url=c.app.state.settings.database_url))
    app.add_api_route("/test/units", lambda: HTMLResponse(html), methods=["GET"])
    with live_server(app) as base:
        page = load_page(f"{base}/test/units", screenshot=tmp_path / "units.png")
    assert page.console_errors == []
    assert page.failed_requests == []
    assert 'data-tiles="loaded"' in page.dom, "the unit tiles did not load"
    pane = re.search(r'<div class="leaflet-pane leaflet-vector-units-pane".*?</div></div></div>', page.dom, re.S)
    assert pane and pane.group(0).count("<canvas") >= 1, "no unit tile was drawn"
    popup = re.search(r'<div class="leaflet-popup-content"[^>]*>(.*?)</div>', page.dom, re.S)
    assert popup and code in popup.group(1), "a click did not name the unit under it"
