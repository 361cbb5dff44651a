"""Estates (小区) in redraws, on the small demo city (which has estates straddling its grids): the
automatic redraw and the split never cut an estate unless the planner allows it, and a drawn proposal
that cuts one gets an `estate_split` warning naming the estate and the grids."""
from __future__ import annotations

from collections import defaultdict

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.settings import Settings
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    fresh_demo(engine)
    from gis import keys
    from gis.store.db import session_scope
    with session_scope(engine) as s:
        planner = keys.create(s, "planner")
        reader = keys.create(s, "consumer")
    app = create_app(Settings(database_url=pg_url, grid_households_min=100, grid_households_max=1000,
                              escalation_interval_s=0))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = planner
        c.reader = reader
        yield c, engine


def active(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT generation_id FROM active_generation")).scalar()


def grid_of_units(engine, gen: int, community: str) -> dict[str, str]:
    """unit (by area id: a redraw re-codes units that change grid) → its grid in `gen`, for the units of
    one community."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT area_id, parent_code FROM generation_area WHERE generation_id = :g AND level = 'unit'
              AND parent_code IN (SELECT code FROM generation_area WHERE generation_id = :g AND level = 'grid'
                                  AND parent_code = :c)"""), {"g": gen, "c": community}).all()
    return dict(rows)


def estate_units(engine, gen: int, community: str) -> dict[str, list[str]]:
    """estate code → the units (area ids) of `community` whose inner point lies in it (how the redraw
    groups them)."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT e.code, u.area_id FROM generation_area u JOIN area ua ON ua.id = u.area_id
            JOIN generation_area g ON g.generation_id = u.generation_id AND g.level = 'grid' AND g.code = u.parent_code
            JOIN estate e ON ST_Within(ST_PointOnSurface(ua.geom), e.geom)
            WHERE u.generation_id = :g AND u.level = 'unit' AND g.parent_code = :c"""),
            {"g": gen, "c": community}).all()
    out = defaultdict(list)
    for e, u in rows:
        out[e].append(u)
    return out


def split_estates(grid_of: dict[str, str], estates: dict[str, list[str]]) -> set[str]:
    return {e for e, units in estates.items() if len({grid_of[u] for u in units}) > 1}


def communities(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(text("""SELECT code FROM generation_area WHERE level = 'community'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code""")).scalars().all()


def test_the_demo_has_estates_inside_communities(demo):
    c, engine = demo
    with engine.connect() as conn:
        n, outside = conn.execute(text("""
            SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
                SELECT 1 FROM generation_area ga JOIN area a ON a.id = ga.area_id
                JOIN active_generation ag ON ag.generation_id = ga.generation_id
                WHERE ga.level = 'community' AND ST_Covers(ST_Buffer(a.geom, 1e-9), e.geom))) FROM estate e""")).one()
        box = conn.execute(text("SELECT ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), "
                                "ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) FROM estate")).one()
    assert n > 50 and outside == 0
    r = c.get("/v1/estates", params={"bbox": ",".join(map(str, box))}, headers={"X-API-Key": c.reader})
    assert r.status_code == 200 and len(r.json()["features"]) == n
    f = r.json()["features"][0]["properties"]
    assert f["households"] > 0 and len(f["name"]) >= 3 and f["code"].startswith("370102")
    bad = c.get("/v1/estates", params={"bbox": "117,36"}, headers={"X-API-Key": c.reader})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "bbox"


def test_automatic_redraw_keeps_every_estate_whole_unless_allowed(demo):
    c, engine = demo
    gen = active(engine)
    comm = communities(engine)[0]
    estates = estate_units(engine, gen, comm)
    assert len(estates) >= 5
    # the demo's own grids cut some estates: keeping them whole is a real constraint
    assert split_estates(grid_of_units(engine, gen, comm), estates)
    body = c.post("/v1/redraws/auto", json={"parent": comm, "k": 3}).json()
    assert body["valid"], body["findings"]
    draft = grid_of_units(engine, body["draft_generation"], comm)
    assert split_estates(draft, estates) == set()                        # every estate of the scope whole
    assert not [f for f in body["findings"] if f["kind"] == "estate_split"]
    loose = c.post("/v1/redraws/auto", json={"parent": comm, "k": 3, "split_estates": True}).json()
    cut = split_estates(grid_of_units(engine, loose["draft_generation"], comm), estates)
    assert cut, "allowed to, the balanced partition cuts some estate"
    warned = {f["message"].split("(")[1].split(")")[0] for f in loose["findings"] if f["kind"] == "estate_split"}
    assert warned == cut
    r = c.post("/v1/redraws/auto", json={"parent": comm, "split_estates": "yes"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "split_estates"


def test_split_keeps_every_estate_whole(demo):
    c, engine = demo
    gen = active(engine)
    comm = communities(engine)[1]
    grid_of = grid_of_units(engine, gen, comm)
    estates = estate_units(engine, gen, comm)
    grid = max(set(grid_of.values()), key=lambda g: sum(1 for e in estates.values() if any(grid_of[u] == g for u in e)))
    body = c.post("/v1/redraws/split", json={"grid": grid, "parts": 3}).json()
    assert body["valid"], body["findings"]
    draft = grid_of_units(engine, body["draft_generation"], comm)
    inside = {e: [u for u in units if grid_of[u] == grid] for e, units in estates.items()}
    assert any(len(v) > 1 for v in inside.values())
    assert split_estates(draft, {e: v for e, v in inside.items() if v}) == set()


def test_drawn_cut_through_an_estate_is_warned(demo):
    """The community's own grids proposed as drawn: every estate they cut is named with its grids."""
    c, engine = demo
    gen = active(engine)
    comm = communities(engine)[2]
    grid_of = grid_of_units(engine, gen, comm)
    estates = estate_units(engine, gen, comm)
    expected = {e: sorted({grid_of[u] for u in units}) for e, units in estates.items()
                if len({grid_of[u] for u in units}) > 1}
    assert expected
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT ga.code, a.name, ST_AsGeoJSON(a.geom) FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = 'grid' AND ga.parent_code = :c"""), {"g": gen, "c": comm}).all()
    import json
    features = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code, "name": name}, "geometry": json.loads(g)} for code, name, g in rows]}
    body = c.post("/v1/redraws", json={"level": "grid", "parent": comm, "features": features}).json()
    assert body["valid"], body["findings"]     # a warning does not block the commit
    found = {f["message"].split("(")[1].split(")")[0]: sorted(f["codes"])
             for f in body["findings"] if f["kind"] == "estate_split"}
    assert found == expected
    one = next(f for f in body["findings"] if f["kind"] == "estate_split")
    assert one["severity"] == "warning" and one["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # located on the estate's own ground
    code = one["message"].split("(")[1].split(")")[0]
    with engine.connect() as conn:
        ground = shapely.from_wkb(bytes(conn.execute(text("SELECT ST_AsBinary(geom) FROM estate WHERE code = :c"),
                                                     {"c": code}).scalar()))
    shown = shapely.geometry.shape(one["geometry"])
    assert abs(shown.area - ground.area) <= 1e-6 * ground.area
