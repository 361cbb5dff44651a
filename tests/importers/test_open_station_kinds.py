"""Station kinds are open: any kind is stored and answered as given (nearest stations, locate, maps);
known kinds keep their labels and colours, others get a neutral colour and their own legend entry."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.importers import import_stations
from gis.settings import Settings
from maps.coverage import OTHER_KIND_COLOUR, kind_legend
from gis.vocab import STATION_KINDS
from maps.grids import KIND_COLOUR
from tests.conftest import fresh_demo

HERE = (116.876, 36.618)  # a point of the small demo city with stations within walking reach


@pytest.fixture(scope="module")
def demo(engine, pg_url, tmp_path_factory):
    report = fresh_demo(engine)
    path = tmp_path_factory.mktemp("kinds") / "stations.geojson"
    gpd.GeoDataFrame({"name": ["泉城图书馆", "明湖卫生服务站"], "kind": ["  library ", "卫生服务站"]},
                     geometry=[shapely.Point(*HERE), shapely.Point(HERE[0] + 0.0002, HERE[1])], crs=4326).to_file(path)
    imported = import_stations(engine, path)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.headers["X-API-Key"] = report["keys"]["admin"]
        yield c, engine, imported


def test_any_kind_is_stored_as_given(demo):
    c, engine, imported = demo
    assert imported["inserted"] == 2
    with engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT name, kind FROM station WHERE name IN ('泉城图书馆', '明湖卫生服务站')")).all())
    assert kinds == {"泉城图书馆": "library", "明湖卫生服务站": "卫生服务站"}


def test_nearest_stations_and_locate_answer_the_kind(demo):
    c, _, _ = demo
    body = c.get("/v1/stations/nearest", params={"lon": HERE[0], "lat": HERE[1], "k": 5}).json()
    got = {s["name"]: s["kind"] for s in body["stations"]}
    assert got["泉城图书馆"] == "library" and got["明湖卫生服务站"] == "卫生服务站"
    located = c.get("/v1/locate", params={"lon": HERE[0], "lat": HERE[1]}).json()
    assert {"library", "卫生服务站"} <= {s["kind"] for s in located["stations"]}


def test_coverage_legend_names_every_kind(demo):
    legend = kind_legend(["library", "party_service_center", "卫生服务站", "library"])
    assert legend == {STATION_KINDS["party_service_center"]: KIND_COLOUR["party_service_center"],
                      "library": OTHER_KIND_COLOUR, "卫生服务站": OTHER_KIND_COLOUR}
    c, _, _ = demo
    page = c.get("/maps/coverage")
    assert page.status_code == 200
    legend_html = page.text[page.text.index("服务站 stations</b>"):]
    legend_html = legend_html[:legend_html.index("</div></div>")]
    for label in ("library", "卫生服务站", "党群服务中心"):
        assert label in legend_html
