"""Redraws at any grid tier, on a two-tier city (大网格 → 小网格): a drawn redraw of the tier-2 grids
under a tier-1 grid commits, units follow the finest grid and locate answers with the new generation;
automatic, split and merge redraws work under a grid parent; an automatic redraw of tier-1 grids that
hold tier-2 grids is refused with a message saying what to do."""
from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store import bulk, generations
from gis.store.db import session_scope
from gis.store.tiers import set_tiers

COMM = "370102001001"
G1, G2 = COMM + "001", COMM + "002"            # tier 1: west and east halves
G1S, G1N = G1 + "01", G1 + "02"              # tier 2 under G1: south and north
X0, XM, X1, Y0, YM, Y1 = 117.0, 117.01, 117.02, 36.6, 36.61, 36.62


def fc(*feats):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": n}, "geometry": shapely.geometry.mapping(g)}
        for c, n, g in feats]}


def quarters(box):
    """A box's four quarters, south-west first, row by row."""
    x0, y0, x1, y1 = box.bounds
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return [shapely.box(x0, y0, xm, ym), shapely.box(xm, y0, x1, ym),
            shapely.box(x0, ym, xm, y1), shapely.box(xm, ym, x1, y1)]


# households on the area rows, (level, tier) → households: 50 per unit, as its one building holds (the
# automatic redraw regroups units by these); the grids' figures are not read by the redraws tested
HOUSEHOLDS = {("district", None): 600, ("street", None): 600, ("community", None): 600, ("grid", 1): 200,
              ("grid", 2): 200, ("unit", None): 50}


def two_tier_city():
    """(level, code, name, parent, tier, parent_level, geometry) rows: G1 holds two tier-2 grids with
    four units each; G2 has no tier-2 grids and holds four units itself."""
    g1s, g1n = shapely.box(X0, Y0, XM, YM), shapely.box(X0, YM, XM, Y1)
    g2 = shapely.box(XM, Y0, X1, Y1)
    rows = [("district", "370102", "历下区", None, None, None, shapely.box(X0, Y0, X1, Y1)),
            ("street", "370102001", "甲街道", "370102", None, "district", shapely.box(X0, Y0, X1, Y1)),
            ("community", COMM, "明湖社区", "370102001", None, "street", shapely.box(X0, Y0, X1, Y1)),
            ("grid", G1, "西大网格", COMM, 1, "community", shapely.box(X0, Y0, XM, Y1)),
            ("grid", G2, "东大网格", COMM, 1, "community", g2),
            ("grid", G1S, "西南小网格", G1, 2, "grid", g1s),
            ("grid", G1N, "西北小网格", G1, 2, "grid", g1n)]
    for parent, box in ((G1S, g1s), (G1N, g1n), (G2, g2)):
        for i, q in enumerate(quarters(box), start=1):
            rows.append(("unit", f"{parent}{i:03d}", f"第{i}联户", parent, None, "grid", q))
    return rows


@pytest.fixture
def city(clean_db):
    rows = two_tier_city()
    with session_scope(clean_db) as s:
        set_tiers(s, [("大网格", 3, True), ("小网格", 2, True)])
        gen = generations.create(s, source="test two tiers", replace_levels=("district", "street", "community",
                                                                             "grid", "unit"))
        conn = s.connection().connection.driver_connection
        bulk.write_areas(conn, gen, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                         [r[3] for r in rows], [HOUSEHOLDS[r[0], r[4]] for r in rows], [r[6] for r in rows],
                         tiers=[r[4] for r in rows], parent_levels=[r[5] for r in rows])
        generations.activate(s, gen)
        for r in rows:
            if r[0] == "unit":  # one building of 50 households in the middle of every unit
                c = r[6].centroid
                s.execute(text("INSERT INTO address (address, households, geom) VALUES (:a, 50, "
                               "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"a": f"楼{r[1]}", "x": c.x, "y": c.y})
    return clean_db


@pytest.fixture
def client(city, pg_url):
    with session_scope(city) as s:
        ks = {r: keys.create(s, r) for r in ("consumer", "planner")}
    settings = Settings(database_url=pg_url, grid_households_min=50, grid_households_max=1000)
    with TestClient(create_app(settings)) as c:
        c.keys = ks
        yield c


def post(c, path, body):
    return c.post(path, json=body, headers={"X-API-Key": c.keys["planner"]})


def commit(c, rid):
    return c.post(f"/v1/redraws/{rid}/commit", headers={"X-API-Key": c.keys["planner"]})


def membership(engine, level: str) -> dict[str, tuple]:
    """(parent, parent_level, tier) of every `level` area of the active generation, areas and parents
    named by identity: the code each area row first bore (so the answers hold whether or not a commit
    re-codes children to follow their new parents)."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            WITH first AS (SELECT DISTINCT ON (area_id) area_id, code FROM generation_area
                           ORDER BY area_id, generation_id)
            SELECT f.code, coalesce(fp.code, ga.parent_code) AS parent, ga.parent_level, ga.tier
            FROM generation_area ga JOIN active_generation ag ON ag.generation_id = ga.generation_id
            JOIN first f ON f.area_id = ga.area_id
            LEFT JOIN generation_area p ON p.generation_id = ga.generation_id AND p.level = ga.parent_level
                                       AND p.code = ga.parent_code
            LEFT JOIN first fp ON fp.area_id = p.area_id
            WHERE ga.level = :l"""), {"l": level}).all()
    return {r.code: (r.parent, r.parent_level, r.tier) for r in rows}


def code_now(engine, first_code: str) -> str:
    """The code the area that first bore `first_code` bears in the active generation."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT ga.code FROM generation_area ga JOIN active_generation ag ON ag.generation_id = ga.generation_id
            WHERE ga.area_id = (SELECT area_id FROM generation_area WHERE code = :c ORDER BY generation_id LIMIT 1)
        """), {"c": first_code}).scalar()


def test_drawn_tier2_redraw_under_a_tier1_grid_commits_and_locate_answers_with_it(client, city):
    with city.begin() as conn:  # an open request in G1N's north-east unit
        rid = conn.execute(text("""
            INSERT INTO request (created_at, category, matter_class, status, generation_id, grid_code, unit_code, geom)
            SELECT now(), '环境卫生', 'public', 'collected', generation_id, :g, :u,
                   ST_SetSRID(ST_MakePoint(117.007, 36.617), 4326) FROM active_generation RETURNING id"""),
            {"g": G1N, "u": G1N + "004"}).scalar()
    west, east = shapely.box(X0, Y0, 117.005, Y1), shapely.box(117.005, Y0, XM, Y1)
    body = post(client, "/v1/redraws", {"level": "grid", "parent": G1,
                                        "features": fc((G1 + "03", "西小网格", west), (G1 + "04", "东小网格", east))}).json()
    assert body["valid"] is True, [(f["message"], f["geometry"]) for f in body["findings"]]
    assert body["impact"]["removed_codes"] == [G1S, G1N] and body["impact"]["households_after"] == {
        G1 + "03": 200, G1 + "04": 200}
    gen = commit(client, body["id"]).json()["generation"]
    grids = membership(city, "grid")
    assert grids == {G1: (COMM, "community", 1), G2: (COMM, "community", 1),
                     G1 + "03": (G1, "grid", 2), G1 + "04": (G1, "grid", 2)}
    units = membership(city, "unit")
    for code, (parent, plevel, _tier) in units.items():   # every unit under the finest grid covering it
        expected = G2 if code.startswith(G2) else (G1 + "03" if code[-1] in "13" else G1 + "04")
        assert (parent, plevel) == (expected, "grid"), code
    r = client.get("/v1/locate?lon=117.007&lat=36.617", headers={"X-API-Key": client.keys["consumer"]}).json()
    assert r["generation"] == gen and r["unit"]["code"] == code_now(city, G1N + "004")
    finest = [a["code"] for a in r["grid_path"]] if "grid_path" in r else None
    assert finest in (None, [G1, G1 + "04"]) and r["grid"]["code"] in (G1, G1 + "04")
    assert r["community"]["code"] == COMM
    with city.connect() as conn:  # the open request now answers to the finest grid that covers it
        assert conn.execute(text("SELECT grid_code, unit_code, generation_id FROM request WHERE id = :i"),
                            {"i": rid}).one() == (G1 + "04", code_now(city, G1N + "004"), gen)


def test_a_redraw_names_its_tier_and_refuses_a_tier_too_deep(client):
    r = post(client, "/v1/redraws", {"level": "grid", "parent": G1S,
                                     "features": fc((G1S + "001", "x", shapely.box(X0, Y0, XM, YM)))})
    assert r.status_code == 422 and "finest tier" in r.json()["detail"] and r.json()["errors"][0]["field"] == "parent"
    r = post(client, "/v1/redraws", {"level": "unit", "parent": G1,
                                     "features": fc((G1 + "09", "x", shapely.box(X0, Y0, XM, Y1)))})
    assert r.status_code == 422 and "next tier" in r.json()["detail"]
    # tier-2 codes add the tier's 2 digits to the parent grid's code
    body = post(client, "/v1/redraws", {"level": "grid", "parent": G1, "features": fc(
        (G1 + "003", "西", shapely.box(X0, Y0, 117.005, Y1)), (G1 + "04", "东", shapely.box(117.005, Y0, XM, Y1)))}).json()
    bad = [f for f in body["findings"] if f["kind"] == "code"]
    assert body["valid"] is False and [f["codes"] for f in bad] == [[G1 + "003"]] and "2 digit(s)" in bad[0]["message"]


def test_tier2_grid_straddling_new_tier1_grids_is_an_error(client):
    """Tier-1 grids redrawn so that one of them cuts a tier-2 grid in two: outside_parent names it."""
    south, north = shapely.box(X0, Y0, X1, 36.615), shapely.box(X0, 36.615, X1, Y1)
    body = post(client, "/v1/redraws", {"level": "grid", "parent": COMM,
                                        "features": fc((COMM + "003", "南", south), (COMM + "004", "北", north))}).json()
    assert body["valid"] is False and body["draft_generation"] is None
    cut = [f for f in body["findings"] if f["kind"] == "outside_parent"]
    assert cut and {f["codes"][0] for f in cut} == {G1N}


def test_tier1_redraw_keeps_tier2_grids_under_the_grid_that_holds_them(client, city):
    """Tier-1 grids redrawn along the tier-2 boundaries: the tier-2 grids follow their new parent."""
    south, north = shapely.box(X0, Y0, X1, YM), shapely.box(X0, YM, X1, Y1)
    body = post(client, "/v1/redraws", {"level": "grid", "parent": COMM,
                                        "features": fc((COMM + "003", "南", south), (COMM + "004", "北", north))}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    grids = membership(city, "grid")
    assert grids[G1S] == (COMM + "003", "grid", 2) and grids[G1N] == (COMM + "004", "grid", 2)
    units = membership(city, "unit")
    assert {c for c, (p, _l, _t) in units.items() if p == G1S} == {f"{G1S}{i:03d}" for i in range(1, 5)}
    # G2's units had no tier-2 grid: they go to the tier-1 grid covering them
    assert {units[f"{G2}{i:03d}"][0] for i in (1, 2)} == {COMM + "003"}
    assert {units[f"{G2}{i:03d}"][0] for i in (3, 4)} == {COMM + "004"}


def test_automatic_split_and_merge_at_tier2(client, city):
    # automatic: the tier-2 grids of G1 redrawn into 2 (tier-2 codes add 2 digits)
    body = post(client, "/v1/redraws/auto", {"parent": G1, "k": 2}).json()
    assert body["valid"] is True, body["findings"]
    assert sorted(body["impact"]["households_after"]) == [G1 + "01", G1 + "02"]
    assert sorted(body["impact"]["households_after"].values()) == [200, 200]
    commit(client, body["id"])
    assert {c for c, (p, _l, t) in membership(city, "grid").items() if t == 2} == {G1 + "01", G1 + "02"}
    # G2 has no tier-2 grids: an automatic redraw under it makes its first ones from its units
    body = post(client, "/v1/redraws/auto", {"parent": G2, "k": 2}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    units = membership(city, "unit")
    assert {units[f"{G2}{i:03d}"][0] for i in range(1, 5)} == {G2 + "01", G2 + "02"}
    # split one tier-2 grid, then merge the parts back
    body = post(client, "/v1/redraws/split", {"grid": G2 + "01", "parts": 2}).json()
    assert body["valid"] is True, body["findings"]
    assert sorted(body["impact"]["new_codes"]) == [G2 + "03"]
    commit(client, body["id"])
    body = post(client, "/v1/redraws/merge", {"grids": [G2 + "01", G2 + "03"]}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    assert {c for c, (p, _l, _t) in membership(city, "grid").items() if p == G2} == {G2 + "01", G2 + "02"}


def test_automatic_redraw_of_grids_holding_a_lower_tier_is_refused(client):
    r = post(client, "/v1/redraws/auto", {"parent": COMM, "k": 2})
    assert r.status_code == 422 and G1 in r.json()["detail"] and "finest tier" in r.json()["detail"]
    r = post(client, "/v1/redraws/split", {"grid": G1, "parts": 2})
    assert r.status_code == 422 and "next tier" in r.json()["detail"]


def test_a_third_tier_is_made_and_redrawn_under_a_tier2_grid(client, city):
    """With three tiers, a tier-2 grid's units are cut into its first tier-3 grids (2 more digits), a
    drawn redraw of those commits, and the units follow the finest grid."""
    with session_scope(city) as s:
        set_tiers(s, [("大网格", 3, True), ("小网格", 2, True), ("楼栋网格", 2, True)])
    body = post(client, "/v1/redraws/auto", {"parent": G1S, "k": 2}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    grids = membership(city, "grid")
    assert {c: v for c, v in grids.items() if v[2] == 3} == {G1S + "01": (G1S, "grid", 3), G1S + "02": (G1S, "grid", 3)}
    units = membership(city, "unit")
    assert {units[f"{G1S}{i:03d}"][0] for i in range(1, 5)} == {G1S + "01", G1S + "02"}
    assert all(units[f"{G1N}{i:03d}"][0] == G1N for i in range(1, 5))      # the other tier-2 grid untouched
    # drawn: the tier-3 grids of G1S as south and north halves
    south, north = shapely.box(X0, Y0, XM, 36.605), shapely.box(X0, 36.605, XM, YM)
    body = post(client, "/v1/redraws", {"level": "grid", "parent": G1S, "features": fc(
        (G1S + "03", "南楼栋", south), (G1S + "04", "北楼栋", north))}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    units = membership(city, "unit")
    assert [units[f"{G1S}{i:03d}"][0] for i in range(1, 5)] == [G1S + "03", G1S + "03", G1S + "04", G1S + "04"]
    r = post(client, "/v1/redraws", {"level": "grid", "parent": G1S + "03", "features": fc(
        (G1S + "0301", "x", south))})
    assert r.status_code == 422 and "finest tier (3, 楼栋网格)" in r.json()["detail"]


def test_merging_tier1_grids_carries_their_tier2_grids_and_units(client, city):
    body = post(client, "/v1/redraws/merge", {"grids": [G1, G2]}).json()
    assert body["valid"] is True, body["findings"]
    commit(client, body["id"])
    grids = membership(city, "grid")
    assert grids == {G1: (COMM, "community", 1), G1S: (G1, "grid", 2), G1N: (G1, "grid", 2)}
    units = membership(city, "unit")
    assert {units[f"{G2}{i:03d}"][0] for i in range(1, 5)} == {G1}           # G2's units: the merged grid
    assert {units[f"{G1S}{i:03d}"][0] for i in range(1, 5)} == {G1S}         # still under their tier-2 grid


def test_command_line_auto_and_split_under_a_grid(city, env):
    import json
    import os
    import subprocess
    import sys

    def wangge(*args):
        return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True,
                              env=os.environ | {"PYTHONPATH": os.getcwd(), "WANGGE_GRID_HOUSEHOLDS_MIN": "50"},
                              timeout=120)

    p = wangge("redraw", "auto", G1, "--k", "2", "--split-estates", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["valid"] and sorted(out["impact"]["households_after"]) == [G1 + "01", G1 + "02"]
    p = wangge("redraw", "split", G1, "--parts", "2")
    assert p.returncode == 1 and "next tier" in p.stderr and "Traceback" not in p.stderr
