"""Hotspots and rankings on the small demo city, with planted patterns whose answer is known, and
Gi* checked against the same esda call on a geopandas frame loaded from PostGIS."""
from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.command import hotspots as hs
from gis.settings import Settings
from gis.command.periods import TZ
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = report["keys"]["admin"]
        yield c, engine, app


def grids(engine):
    return gpd.read_postgis("""
        SELECT ga.code, a.geom FROM generation_area ga JOIN area a ON a.id = ga.area_id
        WHERE ga.generation_id = (SELECT generation_id FROM active_generation) AND ga.level = 'grid'
        ORDER BY ga.code COLLATE "C" """, engine, geom_col="geom")


def plant(engine, rows):
    """rows: (created_at, grid_code, category, due_at, finished_at, satisfaction, unit_code), each kept
    with the ids of the areas bearing those codes (as the loop records them)."""
    with engine.begin() as conn:
        gen = conn.execute(text("SELECT generation_id FROM active_generation")).scalar()
        for created, grid, cat, due, fin, sat, unit in rows:
            conn.execute(text("""
                INSERT INTO request (created_at, category, matter_class, status, generation_id, grid_code, unit_code,
                                     grid_area_id, unit_area_id, geom, colour, due_at, finished_at, satisfaction, source)
                SELECT :c, :cat, 'shared', CASE WHEN CAST(:f AS timestamptz) IS NULL THEN 'handling' ELSE 'evaluated' END,
                       :g, CAST(:grid AS varchar), CAST(:unit AS varchar), ga.area_id,
                       (SELECT u.area_id FROM generation_area u WHERE u.generation_id = :g AND u.level = 'unit'
                          AND u.code = CAST(:unit AS varchar)),
                       ST_PointOnSurface(a.geom), 'blue', :due, CAST(:f AS timestamptz), :sat, 'test'
                FROM generation_area ga JOIN area a ON a.id = ga.area_id
                WHERE ga.generation_id = :g AND ga.level = 'grid' AND ga.code = CAST(:grid AS varchar)
            """), {"c": created, "cat": cat, "g": gen, "grid": grid, "unit": unit, "due": due, "f": fin, "sat": sat})


def test_gi_star_equals_esda_on_a_geopandas_frame(demo):
    """Our counts (stored codes, SQL) and weights (cached) give esda's own answer from a spatial join."""
    import esda
    from libpysal.weights import Queen

    c, engine, _ = demo
    start, end = datetime(2026, 9, 1, tzinfo=TZ), datetime(2026, 10, 1, tzinfo=TZ)
    ours = c.get("/v1/hotspots", params={"start": start.isoformat(), "end": end.isoformat(),
                                         "permutations": 999}).json()
    g = grids(engine)
    pts = gpd.read_postgis("SELECT geom FROM request WHERE created_at >= %(s)s AND created_at < %(e)s", engine,
                           geom_col="geom", params={"s": start, "e": end})
    joined = gpd.sjoin(pts, g, predicate="within")
    counts = joined.groupby("code").size().reindex(g["code"], fill_value=0).to_numpy()
    w = Queen.from_dataframe(g, use_index=False, silence_warnings=True)
    ref = esda.G_Local(counts.astype(float), w, transform="B", permutations=999, star=True, seed=12345, n_jobs=1)
    by_code = {a["code"]: a for a in ours["areas"]}
    assert ours["total"] == int(counts.sum()) == len(pts)
    assert [by_code[k]["count"] for k in g["code"]] == counts.tolist()
    np.testing.assert_allclose([by_code[k]["z"] for k in g["code"]], ref.z_sim, atol=1e-3)
    np.testing.assert_allclose([by_code[k]["p_sim"] for k in g["code"]], ref.p_sim)


def test_planted_cluster_is_hot_and_trend_rises(demo):
    c, engine, _ = demo
    g = grids(engine)
    # a cluster: one grid and its neighbours get many requests in March 2031, few in February
    w = hs.neighbours_from_polygons(np.asarray(g.geometry.values))
    centre = max(w, key=lambda i: len(w[i]))
    cluster = [centre] + w[centre]
    rows = []
    t = datetime(2031, 3, 1, 9, tzinfo=TZ)
    for i, code in enumerate(g["code"]):
        n = 60 if i in cluster else 3
        rows += [(t + timedelta(hours=k), code, "环境卫生", None, None, None, None) for k in range(n)]
        rows += [(t - timedelta(days=20) + timedelta(hours=k), code, "环境卫生", None, None, None, None) for k in range(3)]
    plant(engine, rows)
    body = c.get("/v1/hotspots", params={"start": "2031-03-01T00:00:00+08:00", "end": "2031-03-31T00:00:00+08:00"}).json()
    classes = {a["code"]: a["class"] for a in body["areas"]}
    assert classes[g["code"][centre]] == "hot_99"
    hot = {k for k, v in classes.items() if v.startswith("hot")}
    near = set(g["code"][cluster]) | {g["code"][j] for i in cluster for j in w[i]}
    assert len(hot & set(g["code"][cluster])) >= len(cluster) // 2
    assert hot <= near  # nothing hot away from the planted cluster
    assert not any(v.startswith("cold") for v in classes.values())
    trend = {a["code"]: a["trend"] for a in body["areas"]}
    assert all(trend[g["code"][i]] == "rising" for i in cluster)
    assert {trend[k] for k in g["code"] if k not in set(g["code"][cluster])} == {"steady"}
    assert body["areas"][0]["code"] in set(g["code"][cluster])  # hottest first
    assert body["previous"]["end"] == body["window"]["start"]
    # a category with no requests in the window: nothing is hot
    quiet = c.get("/v1/hotspots", params={"start": "2031-03-01T00:00:00+08:00", "end": "2031-03-31T00:00:00+08:00",
                                          "category": "困难帮扶"}).json()
    assert quiet["total"] == 0 and quiet["summary"]["none"] == len(g)
    # H3 cells: every request in the window is counted in a cell of the city
    cells = c.get("/v1/hotspots", params={"start": "2031-03-01T00:00:00+08:00", "end": "2031-03-31T00:00:00+08:00",
                                          "unit": "h3", "resolution": 9}).json()
    assert sum(a["count"] for a in cells["areas"]) == body["total"]
    assert cells["areas"][0]["class"].startswith("hot")


def test_hotspot_parameters_are_checked(demo):
    c, _, _ = demo
    assert (e422 := c.get("/v1/hotspots", params={"unit": "hex"})).status_code == 422 and e422.json()["errors"][0]["field"] == "unit"
    assert (e422 := c.get("/v1/hotspots", params={"unit": "h3", "resolution": 15})).status_code == 422 and e422.json()["errors"][0]["field"] == "resolution"
    bad = c.get("/v1/hotspots", params={"start": "2031-03-02T00:00:00", "end": "2031-03-01T00:00:00"})
    assert bad.status_code == 422 and "start" in bad.json()["detail"]


def test_fdr_classes_and_binomial_trend():
    z = np.array([3.5, 2.2, 1.8, -3.0, 0.1])
    p = np.array([0.0001, 0.02, 0.08, 0.0004, 0.9])
    out = hs.classify(z, p)
    assert out[0] == "hot_99" and out[3] == "cold_99" and out[4] == "none"
    assert out[1] in ("hot_95", "hot_90") and out[2] in ("hot_90", "none")
    assert list(hs.trend([30, 10, 12, 0], [10, 30, 10, 0])) == ["rising", "falling", "steady", "steady"]


def test_monthly_ranking_names_the_two_lowest(demo):
    c, engine, _ = demo
    g = grids(engine)["code"].tolist()
    good, late, unhappy, repeat = g[0], g[1], g[2], g[3]
    rows = []
    for month, lows in ((datetime(2032, 1, 5, 9, tzinfo=TZ), (late, unhappy)),
                        (datetime(2032, 2, 5, 9, tzinfo=TZ), (late, repeat))):
        for code in g:
            for k in range(4):
                created = month + timedelta(days=k * 5)
                due = created + timedelta(hours=48)
                fin = created + timedelta(hours=(96 if code == late else 10))
                sat = 2 if code == unhappy and month.month == 1 else 5
                cat = "环境卫生" if code == repeat and month.month == 2 else ["政策咨询", "矛盾调解", "代办服务", "设施维修"][k]
                unit = code + "001"
                rows.append((created, code, cat, due, fin, sat, unit))
    plant(engine, rows)
    feb = c.get("/v1/rankings", params={"month": "2032-02"}).json()
    by = {r["code"]: r for r in feb["grids"]}
    assert by[good]["volume"] == 4 and by[good]["on_time_rate"] == 1.0 and by[good]["satisfaction"] == 5.0
    assert by[late]["on_time_rate"] == 0.0
    assert by[repeat]["repeats"] == 3 and by[repeat]["repeat_rate"] == 0.75  # 3 within 30 days of an earlier one
    assert [r["code"] for r in feb["lowest"]] == [late, repeat]
    ranks = [r["rank"] for r in feb["grids"] if r["rank"]]
    assert ranks == list(range(1, len(g) + 1))
    assert feb["previous_lowest"] == [late, unhappy] and feb["reported_upward"] == [late]
    scores = [r["score"] for r in feb["grids"]]
    assert scores == sorted(scores, reverse=True)
    assert (e422 := c.get("/v1/rankings", params={"month": "2032-2"})).status_code == 422 and e422.json()["errors"][0]["field"] == "month"


def test_neighbours_survive_hairline_gaps_and_slivers():
    """Official boundaries rarely meet exactly: a 0.5 m gap or overlap still makes neighbours, 20 m does not."""
    import shapely

    d = 1 / 111_320  # one metre in degrees (near enough here)
    a = shapely.box(117.0, 36.6, 117.01, 36.61)
    gap = shapely.box(117.01 + 0.5 * d, 36.6, 117.02, 36.61)
    overlap = shapely.box(117.0, 36.61 - 0.5 * d, 117.01, 36.62)
    far = shapely.box(116.98, 36.6, 117.0 - 20 * d, 36.61)
    nb = hs.neighbours_from_polygons(np.array([a, gap, overlap, far], dtype=object))
    assert sorted(nb[0]) == [1, 2] and nb[3] == []
