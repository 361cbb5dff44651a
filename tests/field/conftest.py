"""Shared for the field-work tests: the small demo city once per module, its locate engine, and helpers
to find grids, units and people in it."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from gis.command.rules import load_rules
from gis.locate.engine import build_engine
from gis.store.db import session_scope
from tests.conftest import assign, fresh_demo


@pytest.fixture(scope="module")
def city(engine):
    """(engine, demo report, locate engine, rules) of a freshly loaded small demo city."""
    report = fresh_demo(engine)
    loc = build_engine(engine, report["generation"])
    return engine, report, loc, load_rules(None)


def grid_units(session, grid: str) -> list[tuple[int, str, int]]:
    """(area id, code, households) of the units of a grid in the active generation, by code."""
    return [tuple(r) for r in session.execute(text("""
        SELECT ga.area_id, ga.code, a.households FROM generation_area ga JOIN active_generation ag USING (generation_id)
        JOIN area a ON a.id = ga.area_id WHERE ga.level = 'unit' AND ga.parent_code = :g ORDER BY ga.code"""),
        {"g": grid}).all()]


def grids(session) -> list[str]:
    """The grid codes of the active generation, sorted."""
    return list(session.execute(text("""SELECT code FROM generation_area JOIN active_generation USING (generation_id)
                                        WHERE level = 'grid' ORDER BY code""")).scalars())


def inside(session, level: str, code: str) -> tuple[float, float]:
    """A point inside the area bearing `code` at `level` (active generation)."""
    return tuple(session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(a.geom) AS p FROM generation_area ga
        JOIN active_generation USING (generation_id) JOIN area a ON a.id = ga.area_id
        WHERE ga.level = :l AND ga.code = :c) s"""), {"l": level, "c": code}).first())


def new_person(engine, name: str, role: str, level: str, code: str) -> int:
    """A new person assigned in `role` to an area; their id."""
    with session_scope(engine) as s:
        return assign(s, name, "13800000000", role, level, code)
