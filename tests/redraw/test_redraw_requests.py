"""Redraws a planner asks for (automatic, split, merge) on the small demo city: each is checked like a
drawn redraw, keeps every unit whole, and commits so locate answers with it at once."""
from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.settings import Settings
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    from gis import keys
    from gis.store.db import session_scope
    with session_scope(engine) as s:
        planner = keys.create(s, "planner")
    app = create_app(Settings(database_url=pg_url, grid_households_min=100, grid_households_max=1000,
                              escalation_interval_s=0))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = planner
        c.consumer = report["keys"]["consumer"]
        yield c, engine


def grids_of(engine, community, gen=None):
    with engine.connect() as conn:
        gen = gen or conn.execute(text("SELECT generation_id FROM active_generation")).scalar()
        rows = conn.execute(text("""
            SELECT ga.code, a.households, ST_AsBinary(a.geom) FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = 'grid' AND ga.parent_code = :c ORDER BY ga.code"""),
                            {"g": gen, "c": community}).all()
    return {r[0]: (r[1], shapely.from_wkb(bytes(r[2]))) for r in rows}


def first_community(engine):
    with engine.connect() as conn:
        return conn.execute(text("""SELECT code FROM generation_area WHERE level = 'community'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code LIMIT 1""")).scalar()


def test_auto_redraw_balances_and_commits(demo):
    c, engine = demo
    comm = first_community(engine)
    before = grids_of(engine, comm)
    total = sum(h for h, _ in before.values())
    r = c.post("/v1/redraws/auto", json={"parent": comm, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"], body["findings"]
    draft = grids_of(engine, comm, body["draft_generation"])
    assert sorted(draft) == [f"{comm}001", f"{comm}002", f"{comm}003"]
    loads = [h for h, _ in draft.values()]
    assert sum(loads) == total and max(abs(h - total / 3) for h in loads) <= 0.10 * total / 3 + 15
    union = shapely.union_all([g for _, g in draft.values()])
    parent = shapely.union_all([g for _, g in before.values()])
    assert abs(union.area - parent.area) / parent.area < 1e-9
    # every unit of the community lies in exactly one new grid, and the draft re-parents it there
    with engine.connect() as conn:
        units = conn.execute(text("""SELECT ga.parent_code, ST_AsBinary(ST_PointOnSurface(a.geom)) FROM generation_area ga
            JOIN area a ON a.id = ga.area_id WHERE ga.generation_id = :g AND ga.level = 'unit' AND ga.parent_code LIKE :c"""),
                             {"g": body["draft_generation"], "c": comm + "%"}).all()
    assert units
    for parent_code, wkb in units:
        p = shapely.from_wkb(bytes(wkb))
        assert [code for code, (_, g) in draft.items() if g.covers(p)] == [parent_code]
    # numbered in reading order: 001 is not south of 003
    ys = {code: g.centroid.y for code, (_, g) in draft.items()}
    assert ys[f"{comm}001"] >= ys[f"{comm}003"] - 0.01
    # an open request and the staff of a grid that the redraw removes
    gone = sorted(set(before) - set(draft))[-1]
    spot = before[gone][1].point_on_surface()
    req = c.post("/v1/requests", json={"category": "环境卫生", "lon": spot.x, "lat": spot.y},
                 headers={"X-API-Key": c.consumer}).json()
    assert req["grid"]["code"] == gone
    done = c.post(f"/v1/redraws/{body['id']}/commit")
    assert done.status_code == 200 and done.json()["generation"] == body["draft_generation"]
    with engine.connect() as conn:
        active = "SELECT area_id FROM generation_area WHERE generation_id = :g AND level = 'grid'"
        assert conn.execute(text(f"SELECT count(*) FROM assignment WHERE level = 'grid' AND area_id NOT IN ({active})"),
                            {"g": body["draft_generation"]}).scalar() == 0  # nobody left on a grid that is gone
        holders = conn.execute(text(f"SELECT count(*) FROM assignment WHERE level = 'grid' AND area_id IN ({active} "
                                    "AND code = ANY(:c))"), {"g": body["draft_generation"], "c": sorted(draft)}).scalar()
    assert holders == 3 * len(before)  # every grid's three staff assignments went somewhere new
    moved = c.get(f"/v1/requests/{req['id']}", headers={"X-API-Key": c.consumer}).json()
    newer = [code for code, (_, g) in draft.items() if g.covers(spot)][0]
    assert moved["grid"]["code"] == newer and moved["generation"] == body["draft_generation"]
    last = moved["events"][-1]
    assert last["action"] == "relocate" and last["detail"]["from"]["grid"] == gone and last["seq"] == moved["version"]
    pt = draft[f"{comm}002"][1].point_on_surface()
    loc = c.get("/v1/locate", params={"lon": pt.x, "lat": pt.y}, headers={"X-API-Key": c.consumer}).json()
    assert loc["grid"]["code"] == f"{comm}002" and loc["generation"] == body["draft_generation"]


def test_split_and_merge(demo):
    c, engine = demo
    with engine.connect() as conn:
        comm = conn.execute(text("""SELECT code FROM generation_area WHERE level = 'community'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code OFFSET 1 LIMIT 1""")).scalar()
    before = grids_of(engine, comm)
    first, second = sorted(before)[:2]
    split = c.post("/v1/redraws/split", json={"grid": first, "parts": 2}).json()
    assert split["valid"], split["findings"]
    after = grids_of(engine, comm, split["draft_generation"])
    assert len(after) == len(before) + 1 and first in after
    new = (set(after) - set(before)).pop()
    assert new.startswith(comm) and len(new) == 15
    pieces = shapely.union_all([after[first][1], after[new][1]])
    assert abs(pieces.symmetric_difference(before[first][1]).area) < 1e-12
    assert after[first][0] + after[new][0] == before[first][0]
    for code in set(before) - {first}:
        assert after[code][1].equals(before[code][1])  # the others are unchanged
    # merging two grids that touch
    a, b = next((x, y) for x in sorted(before) for y in sorted(before)
                if x < y and before[x][1].intersection(before[y][1]).length > 0)
    merged = c.post("/v1/redraws/merge", json={"grids": [b, a]}).json()
    assert merged["valid"], merged["findings"]
    after = grids_of(engine, comm, merged["draft_generation"])
    assert a in after and b not in after and after[a][0] == before[a][0] + before[b][0]
    assert set(merged["impact"]["removed_codes"]) == {b}


def test_refusals_name_the_problem(demo):
    c, engine = demo
    with engine.connect() as conn:
        codes = conn.execute(text("""SELECT code, parent_code FROM generation_area WHERE level = 'grid'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code""")).all()
    far = [x for x, p in codes if p != codes[0][1]][-1]
    r = c.post("/v1/redraws/merge", json={"grids": [codes[0][0], far]})
    assert r.status_code == 422 and "different communities" in r.json()["detail"]
    r = c.post("/v1/redraws/split", json={"grid": "999", "parts": 2})
    assert r.status_code == 422 and "999" in r.json()["detail"]
    r = c.post("/v1/redraws/split", json={"grid": codes[0][0], "parts": 500})
    assert r.status_code == 422 and "parts" in r.json()["detail"]
    r = c.post("/v1/redraws/auto", json={"parent": "nowhere"})
    assert r.status_code == 422 and "nowhere" in r.json()["detail"]
    assert c.post("/v1/redraws/auto", json={"parent": codes[0][1]}, headers={"X-API-Key": c.consumer}).status_code == 403


def test_before_after_map(demo, tmp_path):
    """/maps/redraws/{id}: two synced maps, the buildings that move and the findings, offline."""
    from maps.assets import inline
    from tests.browser import CHROMIUM, load_page

    c, engine = demo
    comm = first_community(engine)
    body = c.post("/v1/redraws/auto", json={"parent": comm, "k": 2}).json()
    assert body["impact"]["buildings_moved"] > 0 and "lon" in body["impact"]["moves"][0]
    page = c.get(f"/maps/redraws/{body['id']}")
    assert page.status_code == 200 and "L.Sync = function" not in page.text  # linked, not inlined
    assert "/static/maps/sync/L.Map.Sync.js" in page.text
    assert c.get("/maps/redraws/99999").status_code == 404
    assert c.get(f"/maps/redraws/{body['id']}", headers={"X-API-Key": c.consumer}).status_code == 403
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    f = tmp_path / "redraw.html"
    f.write_text(inline(page.text), encoding="utf-8")
    seen = load_page(f.as_uri(), screenshot=tmp_path / "redraw.png")
    assert seen.dom.count("leaflet-container") >= 2, "two maps side by side"
    for label in ("改前 before", "改后 after", "变动楼栋 buildings that move"):
        assert label in seen.dom
    assert seen.console_errors == [] and seen.failed_requests == []


def test_units_regrouped_inside_a_grid(demo):
    c, engine = demo
    with engine.connect() as conn:
        grid = conn.execute(text("""SELECT code FROM generation_area WHERE level = 'grid'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code DESC LIMIT 1""")).scalar()
        hh = conn.execute(text("""SELECT sum(households) FROM address WHERE ST_Covers((SELECT a.geom FROM generation_area ga
            JOIN area a ON a.id = ga.area_id WHERE ga.generation_id = (SELECT generation_id FROM active_generation)
            AND ga.level = 'grid' AND ga.code = :g), geom)"""), {"g": grid}).scalar()
    body = c.post("/v1/redraws/auto", json={"level": "unit", "parent": grid}).json()
    assert body["valid"], body["findings"]
    units = body["impact"]["households_after"]
    assert all(code.startswith(grid) and len(code) == 18 for code in units)
    assert sum(units.values()) == hh and all(5 <= n <= 15 for n in units.values())
    assert abs(len(units) - hh / 10) <= 1
    r = c.post("/v1/redraws/auto", json={"level": "street", "parent": grid})
    assert r.status_code == 422 and "level" in r.json()["detail"]


def test_incremental_engine_equals_a_full_build(demo):
    """After a grid redraw, the engine built from the previous one (unchanged levels taken over) gives
    the same answers as one built from scratch, and really took the unit index over."""
    import numpy as np

    from gis.locate.engine import build_engine

    c, engine = demo
    comm = first_community(engine)
    body = c.post("/v1/redraws/auto", json={"parent": comm, "k": 4}).json()
    assert body["valid"]
    old = build_engine(engine, body["based_on"])
    new_gen = body["draft_generation"]
    inc = build_engine(engine, new_gen, previous=old)
    full = build_engine(engine, new_gen)
    # units: the same areas with new parents, and re-coded where their grid changed: the index is kept
    # exactly when the codes kept their order (the tie rule follows code order)
    same_order = full.levels["unit"].area_ids.tolist() == old.levels["unit"].area_ids.tolist()
    assert (inc.levels["unit"].index is old.levels["unit"].index) == same_order
    assert inc.levels["grid"].index is not old.levels["grid"].index
    assert inc.reach is old.reach
    for lvl in full.levels:
        a, b = inc.levels[lvl], full.levels[lvl]
        assert a.codes.tolist() == b.codes.tolist() and a.parents.tolist() == b.parents.tolist()
        assert a.names.tolist() == b.names.tolist() and a.households.tolist() == b.households.tolist()
    rng = np.random.default_rng(3)
    xmin, ymin, xmax, ymax = shapely.union_all(full.levels["district"].geoms).bounds
    x, y = rng.uniform(xmin, xmax, 20_000), rng.uniform(ymin, ymax, 20_000)
    assert inc.locate_codes(x, y) == full.locate_codes(x, y)
    assert inc.locate_codes(x, y) != old.locate_codes(x, y)  # the redraw did change answers
