"""Locate on a city with grid tiers: the engine's grid (finest covering tier), grid_path and unit equal
shapely's brute-force covers and PostGIS's answers, on random points, vertices and edges; staff of
every tier answer; the API and the CLI carry grid_path; an unchanged tier keeps its index."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from data.demo_city import TIER_SCHEMES, build_city
from gis import keys
from gis.locate.engine import build_engine
from gis.locate.sql import grid_paths_sql, locate_codes_sql
from gis.locate.tiered import TieredIndex
from gis.settings import Settings
from gis.store import bulk, generations
from gis.store.db import session_scope
from gis.store.tiers import set_tiers
from tests.conftest import assign, wipe

WANGGE = str(Path(sys.executable).parent / "wangge")


@pytest.fixture(scope="module", autouse=True)
def one_tier_after(engine):
    """The schema's one-tier scheme again after this module (wipe leaves grid_tier alone)."""
    yield
    wipe(engine)
    with session_scope(engine) as s:
        set_tiers(s, [("网格", 3, False)])


def _city(tiers: int):
    """The small demo city's areas with `tiers` grid tiers, with gaps cut in the finer tiers: two
    finest grids (and their units) and, for three tiers, one middle grid with its children dropped,
    so that there the coarser grid answers."""
    a = build_city("small", seed=0, tiers=tiers).areas
    grids = a[a["level"] == "grid"]
    finest = grids[grids["tier"] == tiers]["code"].tolist()
    drop = {finest[3], finest[10]}
    if tiers == 3:
        mid = grids[grids["tier"] == 2]["code"].tolist()[5]
        drop |= {mid} | {c for c in finest if c.startswith(mid)}
    keep = ~a["code"].isin(drop) & ~a["parent_code"].isin(drop)
    return a[keep].reset_index(drop=True)


def _write(engine, areas, scheme) -> int:
    wipe(engine)
    with session_scope(engine) as s:
        set_tiers(s, scheme)
        gen = generations.create(s, source="test tiers", replace_levels=("district", "street", "community",
                                                                         "grid", "unit"))
        conn = s.connection().connection.driver_connection
        bulk.write_areas(conn, gen, areas["level"].tolist(), areas["code"].tolist(), areas["name"].tolist(),
                         areas["parent_code"].tolist(), areas["households"].to_numpy(), areas.geometry.values,
                         tiers=areas["tier"].tolist())
        generations.activate(s, gen)
    return gen


def _points(areas, n=3000, seed=7):
    """Random points over the city, every grid vertex, and points interpolated along grid edges."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = areas.total_bounds
    rx, ry = rng.uniform(x0 - 1e-3, x1 + 1e-3, n), rng.uniform(y0 - 1e-3, y1 + 1e-3, n)
    g = areas[areas["level"] == "grid"].geometry.values
    v = np.unique(shapely.get_coordinates(g), axis=0)
    v = v[rng.choice(len(v), min(len(v), 1500), replace=False)]
    rings = shapely.get_exterior_ring(shapely.get_parts(g))
    t = rng.uniform(0, 1, len(rings))
    e = shapely.get_coordinates(shapely.line_interpolate_point(rings, t, normalized=True))
    return (np.r_[rx, v[:, 0]], np.r_[ry, v[:, 1]]), (e[:, 0], e[:, 1])


def _shapely_paths(areas, x, y):
    """Brute force: for every point, the first code (C collation) of each tier's covering grids."""
    g = areas[areas["level"] == "grid"]
    geoms, codes, tiers = g.geometry.values, g["code"].to_numpy(), g["tier"].to_numpy(dtype=int)
    pt, gi = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="covered_by")
    best: dict[tuple[int, int], str] = {}
    for p, i in zip(pt.tolist(), gi.tolist()):
        k = (p, int(tiers[i]))
        if k not in best or codes[i].encode() < best[k].encode():
            best[k] = codes[i]
    return [[best[(p, t)] for t in sorted(int(t) for t in set(tiers)) if (p, t) in best] for p in range(len(x))]


def _shapely_units(areas, x, y):
    u = areas[areas["level"] == "unit"]
    codes = u["code"].to_numpy()
    pt, ui = shapely.STRtree(u.geometry.values).query(shapely.points(x, y), predicate="covered_by")
    out = [None] * len(x)
    for p, i in zip(pt.tolist(), ui.tolist()):
        if out[p] is None or codes[i].encode() < out[p].encode():
            out[p] = codes[i]
    return out


@pytest.fixture(scope="module", params=[2, 3], ids=["two_tiers", "three_tiers"])
def tiered(request, engine):
    t = request.param
    areas = _city(t)
    gen = _write(engine, areas, TIER_SCHEMES[t])
    return t, areas, gen, build_engine(engine, gen)


def test_grid_path_and_unit_equal_shapely_and_postgis(tiered, engine):
    t, areas, gen, loc = tiered
    assert isinstance(loc.levels["grid"].index, TieredIndex) and len(loc.levels["grid"].index.indexes) == t
    (x, y), (ex, ey) = _points(areas)
    paths = loc.grid_paths(x, y)
    codes = loc.locate_codes(x, y)
    brute = _shapely_paths(areas, x, y)
    assert paths == brute
    assert codes["grid"] == [p[-1] if p else None for p in brute]
    assert codes["unit"] == _shapely_units(areas, x, y)
    # the coarser grid answers where the finer tier has a gap, and such points were drawn
    assert sum(1 for p in paths if 0 < len(p) < t) > 20 and sum(1 for p in paths if len(p) == t) > 1000
    for px, py in ((x, y), (ex, ey)):
        assert loc.grid_paths(px, py) == grid_paths_sql(engine, gen, px, py)
        assert loc.locate_codes(px, py)["grid"] == locate_codes_sql(engine, gen, "grid", px, py)
        assert loc.locate_codes(px, py)["unit"] == locate_codes_sql(engine, gen, "unit", px, py)
    # one point at a time answers as the batch does
    for i in range(0, len(x), 97):
        one = loc.areas_at(float(x[i]), float(y[i]))
        assert [g["code"] for g in one["grid_path"]] == paths[i]
        assert (one["grid"] or {}).get("code") == codes["grid"][i]
        if one["grid"]:
            assert one["grid"] == one["grid_path"][-1] and one["grid"]["tier"] == len(paths[i])
            assert one["grid"]["tier_name"] == TIER_SCHEMES[t][len(paths[i]) - 1][0]


def test_staff_of_every_tier_answer(tiered, engine):
    t, areas, gen, _loc = tiered
    (x, y), _ = _points(areas, n=400)
    loc = build_engine(engine, gen)
    i = next(k for k, p in enumerate(loc.grid_paths(x, y)) if len(p) == t)
    path = loc.grid_paths(x[i:i + 1], y[i:i + 1])[0]
    with session_scope(engine) as s:
        s.execute(text("TRUNCATE assignment, person CASCADE"))
        for k, code in enumerate(path):
            assign(s, f"第{k + 1}层长", "13800000000", "grid_leader" if k < t - 1 else "grid_worker", "grid", code)
    loc = build_engine(engine, gen)
    ans = loc.answer_one(float(x[i]), float(y[i]))
    assert ans["found"] and ans["grid"]["code"] == path[-1]
    assert [g["code"] for g in ans["grid_path"]] == path
    assert sorted(p["area_code"] for p in ans["staff"]) == sorted(path)
    assert ans["staff"][0]["role"] == "grid_worker"  # the finest grid's worker first


def test_unchanged_tiers_keep_their_index(tiered, engine):
    t, areas, gen, old = tiered
    # a new generation re-codes one finest grid (same ground): only the finest tier's index is rebuilt
    g = areas.copy()
    fine = g.index[(g["level"] == "grid") & (g["tier"] == t)][0]
    old_code = g.at[fine, "code"]
    new_code = old_code[:-2] + "99"
    g.loc[g["parent_code"] == old_code, "code"] = [new_code + c[len(old_code):] for c in
                                                   g.loc[g["parent_code"] == old_code, "code"]]
    g.loc[g["parent_code"] == old_code, "parent_code"] = new_code
    g.at[fine, "code"] = new_code
    with session_scope(engine) as s:
        gen2 = generations.create(s, source="test recode", replace_levels=("district", "street", "community",
                                                                          "grid", "unit"))
        conn = s.connection().connection.driver_connection
        bulk.write_areas(conn, gen2, g["level"].tolist(), g["code"].tolist(), g["name"].tolist(),
                         g["parent_code"].tolist(), g["households"].to_numpy(), g.geometry.values,
                         tiers=g["tier"].tolist())
    inc = build_engine(engine, gen2, previous=old)
    full = build_engine(engine, gen2)
    oi, ni = old.levels["grid"].index, inc.levels["grid"].index
    assert all(a is b for a, b in zip(oi.indexes[:-1], ni.indexes[:-1]))
    assert oi.indexes[-1] is not ni.indexes[-1]
    (x, y), _ = _points(areas, n=1500, seed=3)
    assert inc.grid_paths(x, y) == full.grid_paths(x, y) == grid_paths_sql(engine, gen2, x, y)
    assert new_code in {p[-1] for p in inc.grid_paths(x, y) if p}


def test_one_tier_answers_grid_path_of_the_grid(clean_db):
    from tests.locate.test_api_locate import hierarchy
    from tests.areas_factory import write_generation

    gen = write_generation(clean_db, hierarchy())
    loc = build_engine(clean_db, gen)
    ans = loc.answer_one(117.015, 36.615)
    assert ans["grid"] == {"code": "370102001001002", "name": "东网格"} and ans["grid_path"] == [ans["grid"]]
    assert loc.answer_one(116.0, 36.0)["grid_path"] == [] and not loc.answer_one(116.0, 36.0)["found"]


def test_api_and_cli_carry_grid_path(engine, pg_url, tmp_path):
    areas = _city(2)
    gen = _write(engine, areas, TIER_SCHEMES[2])
    loc = build_engine(engine, gen)
    (x, y), _ = _points(areas, n=200, seed=11)
    paths = loc.grid_paths(x, y)
    i = next(k for k, p in enumerate(paths) if len(p) == 2)
    j = next(k for k, p in enumerate(paths) if len(p) == 1)
    with session_scope(engine) as s:
        key = keys.create(s, "consumer")
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        h = {"X-API-Key": key}
        one = c.get(f"/v1/locate?lon={float(x[i])!r}&lat={float(y[i])!r}", headers=h).json()
        assert [g["code"] for g in one["grid_path"]] == paths[i] and one["grid"] == one["grid_path"][-1]
        assert [g["tier_name"] for g in one["grid_path"]] == ["大网格", "小网格"]
        batch = c.post("/v1/locate", headers=h, json={"points": [[float(x[i]), float(y[i])], [float(x[j]), float(y[j])], [0.0, 0.0]]}).json()
        assert [r["grid_path"] for r in batch["results"]] == [paths[i], paths[j], []]
        assert [r["grid"] for r in batch["results"]] == [paths[i][-1], paths[j][-1], None]
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url)
    p = subprocess.run([WANGGE, "locate", repr(float(x[i])), repr(float(y[i])), "--json"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert [g["code"] for g in json.loads(p.stdout)["grid_path"]] == paths[i]
    f = tmp_path / "pts.csv"
    f.write_text(f"id,lon,lat\na,{float(x[i])!r},{float(y[i])!r}\nb,{float(x[j])!r},{float(y[j])!r}\n", encoding="utf-8")
    p = subprocess.run([WANGGE, "locate", "--file", str(f), "--json"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert [r["grid_path"] for r in json.loads(p.stdout)["results"]] == [paths[i], paths[j]]
