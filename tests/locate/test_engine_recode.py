"""A re-coding that keeps the codes' order keeps the level's index (no rebuild of 78,000 units), and
the engine then answers with the new codes exactly as a full build does."""
from __future__ import annotations

import numpy as np
from sqlalchemy import text

from gis.locate.engine import build_engine
from gis.store import generations
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import hierarchy


def _recoded(engine, gen: int, *sql: str) -> int:
    with session_scope(engine) as s:
        new = generations.create(s, source="test recode", based_on=gen)
        for statement in sql:
            s.execute(text(statement), {"g": new})
    return new


def test_order_keeping_recode_keeps_the_index(clean_db):
    gen = write_generation(clean_db, hierarchy())
    old = build_engine(clean_db, gen)
    new = _recoded(clean_db, gen, "UPDATE generation_area SET code = 'Z' || code "
                                  "WHERE generation_id = :g AND level = 'unit'")
    inc, full = build_engine(clean_db, new, previous=old), build_engine(clean_db, new)
    assert inc.levels["unit"].index is old.levels["unit"].index
    assert inc.levels["unit"].codes.tolist() == full.levels["unit"].codes.tolist()
    assert all(c.startswith("Z") for c in inc.levels["unit"].codes.tolist())
    x, y = np.linspace(116.99, 117.03, 300), np.linspace(36.59, 36.63, 300)
    xx, yy = np.meshgrid(x, y)
    assert inc.locate_codes(xx.ravel(), yy.ravel()) == full.locate_codes(xx.ravel(), yy.ravel())


def test_order_changing_recode_rebuilds(clean_db):
    gen = write_generation(clean_db, hierarchy())
    old = build_engine(clean_db, gen)
    # the two grids swap codes: their order flips, so the first-code tie rule on their shared edge flips
    swap = ("UPDATE generation_area SET code = '{b}' WHERE generation_id = :g AND level = 'grid' "
            "AND code = '{a}'")
    new = _recoded(clean_db, gen, *(swap.format(a=a, b=b) for a, b in (
        ("370102001001001", "T"), ("370102001001002", "370102001001001"), ("T", "370102001001002"))))
    inc, full = build_engine(clean_db, new, previous=old), build_engine(clean_db, new)
    assert inc.levels["grid"].index is not old.levels["grid"].index
    edge = full.levels["grid"].geoms[0].intersection(full.levels["grid"].geoms[1])
    pts = np.array([edge.interpolate(f, normalized=True).coords[0] for f in np.linspace(0, 1, 50)])
    assert inc.locate_codes(pts[:, 0], pts[:, 1]) == full.locate_codes(pts[:, 0], pts[:, 1])
