"""Automatic redraw: contiguous grids with balanced households that tile the parent exactly."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from data.demo_city import build_city
from gis.redraw.partition import adjacency, partition, redraw_grids


def test_partition_is_contiguous_balanced_and_tiles():
    city = build_city("community3k", seed=1)
    units = city.areas[city.areas["level"] == "unit"]
    community = city.areas[city.areas["level"] == "community"].geometry.iat[0]
    polys, hh, label = redraw_grids(units.geometry.values, units["households"].to_numpy(), 8)
    assert len(polys) == 8 and hh.sum() == 3000
    assert np.abs(hh / 375 - 1).max() <= 0.10
    assert all(shapely.get_num_geometries(p) == 1 for p in polys)   # contiguous
    union = shapely.union_all(polys)
    assert abs(union.area - community.area) / community.area < 1e-9     # no gap
    assert abs(shapely.area(polys).sum() - community.area) / community.area < 1e-9  # no overlap


def test_corner_touch_is_not_adjacency():
    a, b, c = shapely.box(0, 0, 1, 1), shapely.box(1, 1, 2, 2), shapely.box(1, 0, 2, 1)
    adj = adjacency(np.array([a, b, c], dtype=object))
    assert adj[0, 1] == 0 and adj[0, 2] == 1 and adj[1, 2] == 1


def test_each_region_stays_connected_when_balancing():
    city = build_city("community3k", seed=2)
    units = city.areas[city.areas["level"] == "unit"]
    atoms = gpd.GeoSeries(list(units.geometry.values), crs=4326).to_crs(32650).values
    label = partition(atoms, units["households"].to_numpy(), 6, seed=3)
    for r in range(6):
        assert shapely.get_num_geometries(shapely.union_all(atoms[label == r])) == 1


def test_boundaries_follow_streets_where_balance_allows():
    """On a 3,000-household community with its streets: with the streets given, more of the boundary
    between grids lies on streets than without them, the grids stay within ±4 % and compact."""
    from gis.redraw.partition import best_partition, off_street, on_street_share, polsby_popper

    city = build_city("community3k", seed=0)
    units = city.areas[city.areas["level"] == "unit"]
    atoms = gpd.GeoSeries(list(units.geometry.values), crs=4326).to_crs(32650).values
    hh = units["households"].to_numpy().astype(float)
    streets = city.streets[city.streets["kind"] != "path"]
    streets = gpd.GeoSeries(list(streets.geometry.values), crs=4326).to_crs(32650).values
    plain = best_partition(atoms, hh, 8, tolerance=0.10, restarts=4)
    along = best_partition(atoms, hh, 8, tolerance=0.10, restarts=4, streets_m=streets)
    assert np.abs(np.bincount(along, weights=hh) / 375 - 1).max() <= 0.04
    assert on_street_share(atoms, along, streets) > on_street_share(atoms, plain, streets) + 0.10
    polys = np.array([shapely.union_all(atoms[along == r]) for r in range(8)], dtype=object)
    assert polsby_popper(polys).mean() > 0.5
    off = off_street(atoms, streets)
    assert off.nnz == adjacency(atoms).nnz and off.sum() < adjacency(atoms).sum()  # street edges discounted
