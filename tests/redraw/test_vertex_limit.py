"""A proposal over WANGGE_MAX_VERTICES is refused before any geometry is built or reprojected, with an
error naming the count and the limit (ProposalTooLarge, which the API answers with 413)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.redraw import ProposalTooLarge, RedrawError, from_file, parse
from gis.redraw.propose import check_vertices

PARENT = "370102001001"


def ring(n: int, x0: float = 117.0) -> shapely.Polygon:
    """A polygon of exactly n vertices (n - 1 distinct, the ring closed)."""
    t = np.linspace(0, 2 * np.pi, n - 1, endpoint=False)
    return shapely.Polygon(np.column_stack([x0 + 0.01 * np.cos(t), 36.6 + 0.01 * np.sin(t)]))


def collection(*geoms):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": f"{PARENT}{i:03d}"}, "geometry": shapely.geometry.mapping(g)}
        for i, g in enumerate(geoms)]}


def test_geojson_counted_on_both_sides_of_the_limit():
    fc = collection(ring(600), ring(400, 117.05), shapely.MultiPolygon([ring(50), ring(50, 117.1)]))
    assert check_vertices(fc["features"], 10**9) == 1100
    assert len(parse("grid", PARENT, fc, max_vertices=1100).codes) == 3   # at the limit: accepted
    with pytest.raises(ProposalTooLarge) as err:
        parse("grid", PARENT, fc, max_vertices=1099)
    assert isinstance(err.value, RedrawError) and err.value.limit == 1099 and err.value.count > 1099
    assert "vertices in all is over the limit of 1,099" in str(err.value)
    assert str(err.value).startswith("features: at least ")


def test_counting_stops_before_shapes_are_built():
    """Malformed geometry past the limit is never looked at: the count refuses first."""
    fc = collection(ring(1000))
    fc["features"].append({"type": "Feature", "properties": {"code": "x"},
                           "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}})
    with pytest.raises(ProposalTooLarge):
        parse("grid", PARENT, fc, max_vertices=500)
    with pytest.raises(RedrawError, match=r"features\[1\].geometry"):
        parse("grid", PARENT, fc, max_vertices=10_000)


def test_default_limit_is_the_setting(monkeypatch):
    from gis.settings import Settings, get_settings
    assert Settings().max_vertices == 200_000
    monkeypatch.setenv("WANGGE_MAX_VERTICES", "300")
    get_settings.cache_clear()
    try:
        with pytest.raises(ProposalTooLarge) as err:
            parse("grid", PARENT, collection(ring(301)))
        assert err.value.limit == 300
        parse("grid", PARENT, collection(ring(300)))
    finally:
        get_settings.cache_clear()


def test_files_counted_with_shapely(tmp_path):
    path = tmp_path / "big.gpkg"
    gpd.GeoDataFrame({"code": [PARENT + "001", PARENT + "002"]}, geometry=[ring(700), ring(700, 117.05)],
                     crs=4326).to_file(path, driver="GPKG")
    assert len(from_file(path, "grid", PARENT, max_vertices=1400).codes) == 2
    with pytest.raises(ProposalTooLarge) as err:
        from_file(path, "grid", PARENT, max_vertices=1399)
    assert err.value.count == 1400 and "1,400 vertices in all is over the limit of 1,399" in str(err.value)


def test_the_api_answers_413_naming_the_count(clean_db, pg_url):
    """Over the HTTP API the same refusal is a 413 whose words name the count and the limit."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from gis import keys
    from gis.settings import Settings
    from gis.store.db import session_scope

    with session_scope(clean_db) as s:
        planner = keys.create(s, "planner")
    with TestClient(create_app(Settings(database_url=pg_url, max_vertices=1000))) as c:
        r = c.post("/v1/redraws", json={"level": "grid", "parent": PARENT, "features": collection(ring(600), ring(600, 117.05))},
                   headers={"X-API-Key": planner})
    assert r.status_code == 413
    assert "over the limit of 1,000" in r.json()["detail"] and r.json()["errors"][0]["field"] == "features"
