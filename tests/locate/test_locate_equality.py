"""The in-memory engine answers exactly as PostGIS ST_Covers (tie rule included), on random points,
on every vertex, and on points interpolated along edges, where float rounding decides."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings, strategies as st, HealthCheck

from gis.locate.engine import build_engine
from gis.locate.sql import locate_codes_sql
from tests.areas_factory import write_generation
from tests.conftest import wipe

BOX = (117.000, 36.600, 117.030, 36.625)


def _cells(n, seed, box=BOX):
    rng = np.random.default_rng(seed)
    pts = shapely.points(rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n))
    frame = shapely.box(*box)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    return cells[~shapely.is_empty(cells)]


@pytest.fixture(scope="module")
def world(engine):
    wipe(engine)
    frame = shapely.box(*BOX)
    feats = [("district", "370102", "历下区", None, frame)]
    # streets: two halves split by a diagonal, so the shared edge is not axis-aligned
    s1 = shapely.Polygon([(BOX[0], BOX[1]), (BOX[2], BOX[1]), (BOX[0], BOX[3])])
    s2 = shapely.Polygon([(BOX[2], BOX[1]), (BOX[2], BOX[3]), (BOX[0], BOX[3])])
    feats += [("street", "370102002", "乙街道", "370102", s2), ("street", "370102001", "甲街道", "370102", s1)]
    # communities: voronoi cells, plus one with a hole and one multipolygon, and one overlapping pair
    comm = _cells(12, 1)
    for i, c in enumerate(comm):
        feats.append(("community", f"370102001{i:03d}", f"社区{i}", "370102001", c))
    hole = shapely.box(117.010, 36.605, 117.016, 36.611).difference(shapely.box(117.012, 36.607, 117.014, 36.609))
    feats.append(("community", "370102001900", "回字社区", "370102001", hole))
    multi = shapely.MultiPolygon([shapely.box(117.020, 36.610, 117.022, 36.612),
                                  shapely.box(117.024, 36.610, 117.026, 36.612)])
    feats.append(("community", "370102001901", "飞地社区", "370102001", multi))
    grids = _cells(150, 2)
    for i, g in enumerate(grids):
        feats.append(("grid", f"370102001000{i + 1:03d}", f"网格{i}", "370102001000", g))
    units = _cells(1500, 3)
    for i, u in enumerate(units):
        feats.append(("unit", f"370102001000000{i:03d}", f"联户{i}", "370102001000000", u))
    # parents must exist in the generation
    feats.append(("community", "370102001000", "父社区", "370102001", shapely.box(117.0, 36.6, 117.001, 36.601)))
    feats = [f for f in feats if not (f[0] == "community" and f[1] == "370102001000" and f[2] != "父社区")]
    feats.append(("grid", "370102001000000", "父网格", "370102001000", shapely.box(117.0, 36.6, 117.0005, 36.6005)))
    gen = write_generation(engine, feats)
    loc = build_engine(engine, gen)
    geoms = [f[4] for f in feats]
    return engine, gen, loc, geoms


def _compare(world, x, y):
    engine, gen, loc, _ = world
    ours = loc.locate_codes(x, y)
    for level in ("district", "street", "community", "grid", "unit"):
        theirs = locate_codes_sql(engine, gen, level, x, y)
        diff = [(float(x[i]), float(y[i]), ours[level][i], theirs[i])
                for i in range(len(x)) if ours[level][i] != theirs[i]]
        assert not diff, f"{level}: {len(diff)} of {len(x)} differ, e.g. {diff[:5]}"


def test_random_points_inside_and_outside(world):
    rng = np.random.default_rng(7)
    x = rng.uniform(BOX[0] - 0.002, BOX[2] + 0.002, 20_000)
    y = rng.uniform(BOX[1] - 0.002, BOX[3] + 0.002, 20_000)
    _compare(world, x, y)


def test_every_vertex(world):
    coords = np.unique(shapely.get_coordinates(np.array(world[3], dtype=object)), axis=0)
    _compare(world, coords[:, 0], coords[:, 1])


def test_points_along_edges(world):
    rng = np.random.default_rng(11)
    rings = shapely.get_rings(shapely.get_parts(np.array(world[3], dtype=object)))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    t = rng.uniform(0, 1, len(same))
    t[::5] = 0.5
    x = coords[same, 0] + (coords[same + 1, 0] - coords[same, 0]) * t
    y = coords[same, 1] + (coords[same + 1, 1] - coords[same, 1]) * t
    _compare(world, x, y)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**9), st.floats(0, 1), st.floats(-1e-12, 1e-12)),
                min_size=1, max_size=50))
def test_hypothesis_edge_neighbourhood(world, picks):
    """Points on, and within a hair of, edges chosen by hypothesis."""
    rings = shapely.get_rings(shapely.get_parts(np.array(world[3], dtype=object)))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    k = np.array([same[p[0] % len(same)] for p in picks])
    t = np.array([p[1] for p in picks])
    d = np.array([p[2] for p in picks])
    x = coords[k, 0] + (coords[k + 1, 0] - coords[k, 0]) * t + d
    y = coords[k, 1] + (coords[k + 1, 1] - coords[k, 1]) * t - d
    _compare(world, x, y)


def test_single_point_path_equals_batch(world):
    _, _, loc, geoms = world
    coords = np.unique(shapely.get_coordinates(np.array(geoms, dtype=object)), axis=0)[::7]
    rng = np.random.default_rng(3)
    x = np.r_[coords[:, 0], rng.uniform(BOX[0] - 0.001, BOX[2] + 0.001, 2000)]
    y = np.r_[coords[:, 1], rng.uniform(BOX[1] - 0.001, BOX[3] + 0.001, 2000)]
    for level, d in loc.levels.items():
        batch = d.index.query(x, y)
        one = np.array([d.index.query_one(float(a), float(b)) for a, b in zip(x, y)])
        assert np.array_equal(batch, one), level
