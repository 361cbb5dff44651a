"""Area rows are reused by ground: an area keeps its id in every generation where its boundary, name and
households are the same, so a re-coding moves no record; a changed boundary is a new row."""
from __future__ import annotations

import shapely
from sqlalchemy import text

from gis.store import bulk, generations
from gis.store.db import session_scope

SQUARE = shapely.box(117.0, 36.6, 117.01, 36.61)


def _write(engine, rows, based_on=None, replace=("district",)) -> tuple[int, list[int]]:
    with session_scope(engine) as s:
        gen = generations.create(s, source="test", based_on=based_on, replace_levels=replace)
        conn = s.connection().connection.driver_connection
        ids = bulk.write_areas(conn, gen, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                               [None] * len(rows), [0] * len(rows), [r[3] for r in rows])
    return gen, ids


def test_same_ground_same_id_new_code(clean_db):
    g1, (a,) = _write(clean_db, [("district", "370102", "历下区", SQUARE)])
    # the same ground under another code, its ring starting elsewhere (normalized before hashing)
    turned = shapely.Polygon(list(SQUARE.exterior.coords)[2:] + list(SQUARE.exterior.coords)[1:3])
    assert turned.equals(SQUARE) and list(turned.exterior.coords) != list(SQUARE.exterior.coords)
    g2, (b,) = _write(clean_db, [("district", "370199", "历下区", turned)], based_on=g1)
    assert a == b
    with clean_db.connect() as c:
        codes = c.execute(text("SELECT generation_id, code FROM generation_area WHERE area_id = :a ORDER BY 1"),
                          {"a": a}).all()
        assert [tuple(r) for r in codes] == [(g1, "370102"), (g2, "370199")]
        assert c.execute(text("SELECT count(*) FROM area")).scalar() == 1


def test_changed_ground_or_name_is_a_new_row(clean_db):
    g1, (a,) = _write(clean_db, [("district", "370102", "历下区", SQUARE)])
    _, (b,) = _write(clean_db, [("district", "370102", "历下区", shapely.box(117.0, 36.6, 117.011, 36.61))],
                     based_on=g1)
    _, (c,) = _write(clean_db, [("district", "370102", "历城区", SQUARE)], based_on=g1)
    assert len({a, b, c}) == 3


def test_twins_in_one_write_get_two_rows(clean_db):
    _, ids = _write(clean_db, [("district", "A", "同名", SQUARE), ("district", "B", "同名", SQUARE)])
    assert len(set(ids)) == 2
