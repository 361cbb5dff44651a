"""Automatic redraw: contiguous grids with balanced households that tile the parent exactly."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from data.demo_city import build_city
from gis.autoredraw import adjacency, partition, redraw_grids


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
