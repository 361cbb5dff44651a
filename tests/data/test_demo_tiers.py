"""`wangge demo --tiers 2|3`: the demo's grids come in nested tiers (each tier tiles its parent grid
exactly), codes follow parents with each tier's digits, units hang under the finest tier, a grid leader
answers for each coarser grid and a grid worker for each finest; loaded, locate agrees with PostGIS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from data.demo_city import TIER_SCHEMES, build_city
from gis.locate.engine import build_engine
from gis.locate.sql import grid_paths_sql, locate_codes_sql
from gis.store.db import session_scope
from gis.store.tiers import set_tiers, tiers
from tests.conftest import wipe

WANGGE = str(Path(sys.executable).parent / "wangge")


@pytest.fixture(scope="module", params=[2, 3])
def city(request):
    return request.param, build_city("small", seed=0, tiers=request.param)


def test_tiers_tile_their_parent_and_codes_follow(city):
    t, c = city
    a = c.areas
    grids = a[a["level"] == "grid"]
    assert sorted(grids["tier"].unique().tolist()) == list(range(1, t + 1))
    by_code = a.set_index("code")
    for k in range(1, t + 1):
        tier = grids[grids["tier"] == k]
        digits = TIER_SCHEMES[t][k - 1][1]
        parent_len = 12 if k == 1 else 15 + sum(d for _n, d, _s in TIER_SCHEMES[t][1:k - 1])
        assert tier["code"].str.len().eq(parent_len + digits).all() and tier["code"].is_unique
        assert all(code.startswith(p) for code, p in zip(tier["code"], tier["parent_code"]))
        expect_parent_level = "community" if k == 1 else "grid"
        assert (by_code.loc[tier["parent_code"], "level"] == expect_parent_level).all()
        if k > 1:
            assert (by_code.loc[tier["parent_code"], "tier"] == k - 1).all()
        for pcode, group in tier.groupby("parent_code"):  # each tier tiles its parents exactly
            pg = by_code.loc[pcode, "geometry"]
            union = shapely.coverage_union_all(group.geometry.values)
            assert shapely.symmetric_difference(union, pg).area / pg.area < 1e-9
            assert abs(shapely.area(group.geometry.values).sum() - pg.area) / pg.area < 1e-9
            assert group["households"].sum() == by_code.loc[pcode, "households"]
    finest = set(grids[grids["tier"] == t]["code"])
    units = a[a["level"] == "unit"]
    assert units["parent_code"].isin(finest).all()
    assert all(u.startswith(g) and len(u) == len(g) + 3 for u, g in zip(units["code"], units["parent_code"]))
    assert c.addresses["grid_code"].isin(finest).all()
    # a grid worker per finest grid, a grid leader per coarser one
    staff = c.staff[c.staff["level"] == "grid"]
    workers = staff[staff["role"] == "grid_worker"]["area_code"]
    leaders = staff[staff["role"] == "grid_leader"]["area_code"]
    assert set(workers) == finest and workers.is_unique
    assert set(leaders) == set(grids["code"]) - finest and leaders.is_unique
    # the finest tier has about as many grids as the one-tier demo (twice each coarser tier's)
    n = grids["tier"].value_counts().sort_index().to_numpy()
    assert 20 <= n[-1] <= 40 and all(n[i + 1] <= 2 * n[i] for i in range(t - 1))


def test_one_tier_is_unchanged():
    a = build_city("small", seed=0).areas
    grids = a[a["level"] == "grid"]
    assert (grids["tier"] == 1).all() and grids["code"].str.len().eq(15).all()
    assert a.loc[a["level"] != "grid", "tier"].isna().all()


def test_demo_tiers_loads_and_locates(engine, pg_url):
    wipe(engine)
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url)
    try:
        p = subprocess.run([WANGGE, "demo", "--tiers", "3", "--json"], capture_output=True, text=True, env=env,
                           timeout=600)
        assert p.returncode == 0, p.stderr
        report = json.loads(p.stdout)
        assert report["tiers"] == [n for n, _d, _s in TIER_SCHEMES[3]]
        gen = report["generation"]
        with engine.connect() as c:
            assert [(t.name, t.digits, t.nests) for t in tiers(c)] == TIER_SCHEMES[3]
            assert c.execute(text("""SELECT count(*) FROM request r JOIN generation_area g ON g.generation_id = :g
                AND g.area_id = r.grid_area_id AND g.tier = 3"""), {"g": gen}).scalar() == report["counts"]["requests"]
        loc = build_engine(engine, gen)
        rng = np.random.default_rng(5)
        x0, y0, x1, y1 = shapely.total_bounds(loc.levels["district"].geoms)
        x, y = rng.uniform(x0, x1, 800), rng.uniform(y0, y1, 800)
        paths = loc.grid_paths(x, y)
        inside = [d is not None for d in loc.locate_codes(x, y)["district"]]
        assert sum(inside) > 600
        assert all(len(path) == 3 for path, i in zip(paths, inside) if i)  # the demo's tiers nest without gaps
        assert all(path == [] for path, i in zip(paths, inside) if not i)
        assert paths == grid_paths_sql(engine, gen, x, y)
        assert loc.locate_codes(x, y)["grid"] == locate_codes_sql(engine, gen, "grid", x, y)
        k = inside.index(True)
        ans = loc.answer_one(float(x[k]), float(y[k]))
        roles = {(s["area_code"], s["role"]) for s in ans["staff"]}
        assert {(g["code"], "grid_leader") for g in ans["grid_path"][:2]} <= roles
        assert (ans["grid"]["code"], "grid_worker") in roles and ans["grid"]["tier_name"] == "楼栋网格"
        p = subprocess.run([WANGGE, "demo", "--tiers", "4"], capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode != 0 and "--tiers must be 1, 2 or 3" in p.stderr
    finally:
        wipe(engine)
        with session_scope(engine) as s:
            set_tiers(s, [("网格", 3, False)])
