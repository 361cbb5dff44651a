"""Records refer to areas by id (issue 12): a request keeps the grid and unit it was located in; a
re-coding (a new generation, the same area rows, a new code) changes no count of the month's ranking,
the hotspot counts or a grid's board, and its people follow it; a redraw's relocation of open requests
moves their area ids with their codes."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from gis.command import loop
from gis.command.hotspots import grid_counts
from gis.command.periods import TZ, month_window
from gis.command.rankings import scoreboard
from gis.command.rules import load_rules
from gis.locate.engine import build_engine
from gis.redraw.propose import _relocate_open_requests
from gis.store import generations
from gis.store import people
from gis.store.db import session_scope
from gis.vocab import OPEN_STATUSES
from tests.conftest import assign, fresh_demo

POINT = {"lon": 116.876, "lat": 36.618}
COUNTS = ("volume", "finished", "on_time_rate", "satisfaction", "rated", "repeat_rate", "repeats", "score", "rank")


@pytest.fixture
def demo(engine):
    report = fresh_demo(engine)
    return engine, report["generation"]


def locator(engine, gen):
    return build_engine(engine, gen)


def new_generation(engine, edit) -> int:
    """A committed, active generation based on the active one, its membership rows edited by `edit`
    (session, generation) in the same transaction."""
    with session_scope(engine) as s:
        gen = generations.create(s, source="test")
        edit(s, gen)
        generations.activate(s, gen)
    return gen


def recode(s, gen, level, old, new):
    """In generation `gen`: the area bearing `old` at `level` bears `new`, its children follow."""
    s.execute(text("UPDATE generation_area SET code = :n WHERE generation_id = :g AND level = :l AND code = :o"),
              {"g": gen, "l": level, "o": old, "n": new})
    s.execute(text("UPDATE generation_area SET parent_code = :n WHERE generation_id = :g AND parent_level = :l "
                   "AND parent_code = :o"), {"g": gen, "l": level, "o": old, "n": new})


def area_id(conn, gen, level, code):
    return conn.execute(text("SELECT area_id FROM generation_area WHERE generation_id = :g AND level = :l "
                             "AND code = :c"), {"g": gen, "l": level, "c": code}).scalar()


def test_a_new_request_keeps_the_ids_of_its_grid_and_unit(demo, pg_url):
    engine, gen = demo
    loc = locator(engine, gen)
    with session_scope(engine) as s:
        r = loop.create(s, load_rules(), loc, lon=POINT["lon"], lat=POINT["lat"], category="环境卫生")
        row = s.execute(text("SELECT grid_code, unit_code, grid_area_id, unit_area_id FROM request WHERE id = :i"),
                        {"i": r["id"]}).one()
        assert row.grid_area_id == area_id(s, gen, "grid", row.grid_code) is not None
        assert row.unit_area_id == area_id(s, gen, "unit", row.unit_code) is not None
        # the same matter again in the same unit is a repeat, found by the areas' ids
        again = loop.create(s, load_rules(), loc, lon=POINT["lon"], lat=POINT["lat"], category="环境卫生")
        assert again["repeat_of"] == r["id"]


def busiest(engine):
    """The month with the most requests, and its busiest grid code (as located)."""
    with engine.connect() as c:
        month = c.execute(text("""SELECT to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') FROM request
                                  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")).scalar()
        start, end = month_window(month)
        grid = c.execute(text("""SELECT grid_code FROM request WHERE created_at >= :s AND created_at < :e
                                 AND status <> 'rejected' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""),
                         {"s": start, "e": end}).scalar()
    return start, end, grid


def test_a_recoding_changes_no_count(demo):
    engine, gen = demo
    start, end, old = busiest(engine)
    new = old[:-3] + "987"
    as_of = datetime.now(TZ)
    before_loc = locator(engine, gen)
    with engine.connect() as c:
        before = scoreboard(c, before_loc, start, end, as_of)
        counts_before = dict(zip(before_loc.levels["grid"].codes.tolist(), grid_counts(c, before_loc, start, end)))
    with session_scope(engine) as s:
        board_before = loop.board(s, old, start, end)
        pid = assign(s, "陈网格", "13800001111", "grid_worker", "grid", old)
    assert board_before["received"] > 0

    after_gen = new_generation(engine, lambda s, g: recode(s, g, "grid", old, new))
    after_loc = locator(engine, after_gen)
    with engine.connect() as c:
        assert area_id(c, gen, "grid", old) == area_id(c, after_gen, "grid", new)  # the same area, a new label
        assert area_id(c, after_gen, "grid", old) is None
        after = scoreboard(c, after_loc, start, end, as_of)
        counts_after = dict(zip(after_loc.levels["grid"].codes.tolist(), grid_counts(c, after_loc, start, end)))

    rows_before = {r["code"]: r for r in before["grids"]}
    rows_after = {r["code"]: r for r in after["grids"]}
    assert old not in rows_after and set(rows_after) == set(rows_before) - {old} | {new}
    assert rows_before[old]["volume"] > 0
    assert {k: rows_after[new][k] for k in COUNTS} == {k: rows_before[old][k] for k in COUNTS}
    for code in set(rows_before) - {old}:
        assert {k: rows_after[code][k] for k in COUNTS} == {k: rows_before[code][k] for k in COUNTS}, code
    assert after["ranked"] == before["ranked"]
    assert [r["code"] for r in after["lowest"]] == [new if c == old else c for c in (r["code"] for r in before["lowest"])]
    # hotspot counts and the grid's board: the same numbers under the new code
    assert counts_before[old] > 0 and counts_after[new] == counts_before[old]
    assert {c: n for c, n in counts_after.items() if c != new} == {c: n for c, n in counts_before.items() if c != old}
    with session_scope(engine) as s:
        board_after = loop.board(s, new, start, end)
        assert {k: board_after[k] for k in ("received", "finished", "on_time", "satisfaction")} == \
            {k: board_before[k] for k in ("received", "finished", "on_time", "satisfaction")}
        assert [i["id"] for i in board_after["items"]] == [i["id"] for i in board_before["items"]]
        # the grid's people follow it: listed under the new code, assigned under the old
        mine = [p for p in people.people(s, area=new) if p["id"] == pid]
        assert [(a["area"]["code"], a["assigned_code"], a["current"]) for a in mine[0]["assignments"]] == [
            (new, old, True)]
    assert any(p["name"] == "陈网格" for p in after_loc.staff_of("grid", new))


def test_relocated_open_requests_take_the_new_areas_ids(demo):
    engine, gen = demo
    loc = locator(engine, gen)
    rules = load_rules()
    with session_scope(engine) as s:
        community, g1, g2 = s.execute(text("""
            SELECT parent_code, min(code), max(code) FROM generation_area WHERE generation_id = :g AND level = 'grid'
            GROUP BY parent_code HAVING count(*) >= 2 ORDER BY parent_code LIMIT 1"""), {"g": gen}).one()
        opened = {}
        for code in (g1, g2):  # one open request inside each grid
            x, y = s.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(a.geom) AS p
                FROM generation_area ga JOIN area a ON a.id = ga.area_id
                WHERE ga.generation_id = :g AND ga.level = 'unit' AND ga.parent_code = :c ORDER BY ga.code LIMIT 1) q"""),
                             {"g": gen, "c": code}).one()
            r = loop.create(s, rules, loc, lon=x, lat=y, category="环境卫生")
            assert r["grid"]["code"] == code
            opened[code] = r["id"]

    def redraw(s, g):
        # g1: a new boundary row under a new code; g2: a new boundary row keeping its code
        for code, label in ((g1, g1[:-3] + "986"), (g2, g2)):
            old_id = area_id(s, g, "grid", code)
            new_id = s.execute(text("""INSERT INTO area (level, code, name, households, geom, ground)
                SELECT level, :c, name || '（重划）', households, geom, ground FROM area WHERE id = :i RETURNING id"""),
                               {"c": label, "i": old_id}).scalar()
            s.execute(text("UPDATE generation_area SET area_id = :n WHERE generation_id = :g AND area_id = :o"),
                      {"n": new_id, "g": g, "o": old_id})
            recode(s, g, "grid", code, label)

    after = new_generation(engine, redraw)
    with session_scope(engine) as s:
        moved = _relocate_open_requests(s, "grid", community, gen, after, "test")
        assert moved >= 1
    with engine.connect() as c:
        for code, rid in opened.items():
            r = c.execute(text("SELECT grid_code, unit_code, grid_area_id, unit_area_id, generation_id FROM request "
                               "WHERE id = :i"), {"i": rid}).one()
            assert r.grid_area_id == area_id(c, after, "grid", r.grid_code) != area_id(c, gen, "grid", code)
            assert r.unit_area_id == area_id(c, after, "unit", r.unit_code) is not None
            steps = c.execute(text("SELECT action FROM request_event WHERE request_id = :i ORDER BY seq"),
                              {"i": rid}).scalars().all()
            if code == g1:
                assert r.grid_code == g1[:-3] + "986" and r.generation_id == after and steps[-1] == "relocate"
            else:
                assert r.grid_code == g2 and "relocate" not in steps
        # no open request of the community points at a grid area the new generation lacks
        stale = c.execute(text("""
            SELECT count(*) FROM request r WHERE r.status = ANY(:open)
              AND r.grid_code LIKE :c || '%' AND NOT EXISTS (
                SELECT 1 FROM generation_area ga WHERE ga.generation_id = :g AND ga.area_id = r.grid_area_id)"""),
                           {"c": community, "g": after, "open": list(OPEN_STATUSES)}).scalar()
        assert stale == 0
