"""The demo city is deterministic and geometrically sound: each level tiles its parent exactly."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from data.demo_city import build_city
from gis.vocab import LEVELS


@pytest.fixture(scope="module")
def city():
    return build_city("small", seed=0)


def test_deterministic(city):
    again = build_city("small", seed=0)
    pd.testing.assert_frame_equal(pd.DataFrame(city.areas.drop(columns="geometry")),
                                  pd.DataFrame(again.areas.drop(columns="geometry")))
    assert all(a.equals_exact(b, 0) for a, b in zip(city.areas.geometry, again.areas.geometry))
    assert city.requests.equals(again.requests)
    other = build_city("small", seed=1)
    assert not other.requests[["lon", "lat"]].equals(city.requests[["lon", "lat"]])


def test_counts_in_range(city):
    n = city.areas["level"].value_counts()
    assert n["district"] == 1 and n["street"] == 2 and n["community"] == 6
    assert 25 <= n["grid"] <= 35 and 900 <= n["unit"] <= 1100
    grids = city.areas[city.areas["level"] == "grid"]["households"]
    assert grids.between(300, 500).all()
    units = city.areas[city.areas["level"] == "unit"]["households"]
    assert units.between(5, 15).mean() > 0.9
    assert city.areas[city.areas["level"] == "district"]["households"].iat[0] == 10_000
    assert len(city.stations) == 20 and len(city.requests) == 20_000


def test_levels_tile_their_parents(city):
    a = city.areas
    for parent_level, child_level in zip(LEVELS, LEVELS[1:]):
        parents = a[a["level"] == parent_level].set_index("code")
        children = a[a["level"] == child_level]
        assert children["parent_code"].isin(parents.index).all()
        for pcode, group in children.groupby("parent_code"):
            pg = parents.loc[pcode, "geometry"]
            geoms = group.geometry.values
            union = shapely.coverage_union_all(geoms)
            assert abs(union.area - pg.area) / pg.area < 1e-9
            assert abs(shapely.area(geoms).sum() - pg.area) / pg.area < 1e-9  # no overlaps
            assert shapely.symmetric_difference(union, pg).area / pg.area < 1e-9
        sums = children.groupby("parent_code")["households"].sum()
        assert (sums == parents.loc[sums.index, "households"]).all()
    assert shapely.is_valid(a.geometry.values).all()
    assert (shapely.get_num_geometries(a.geometry.values) == 1).all()  # contiguous


def test_codes(city):
    a = city.areas
    lengths = {"district": 6, "street": 9, "community": 12, "grid": 15, "unit": 18}
    for lvl, n in lengths.items():
        codes = a[a["level"] == lvl]["code"]
        assert codes.str.len().eq(n).all() and codes.is_unique
    child = a[a["level"] != "district"]
    assert all(c.startswith(p) for c, p in zip(child["code"], child["parent_code"]))


def test_addresses_inside_their_unit(city):
    units = city.areas[city.areas["level"] == "unit"].set_index("code").geometry
    geoms = units.loc[city.addresses["unit_code"]].values
    assert shapely.contains_properly(geoms, city.addresses.geometry.values).all()
    assert city.addresses["building_code"].is_unique
    assert city.addresses["households"].sum() == 10_000


def test_network_is_connected(city):
    coords = shapely.get_coordinates(city.streets.geometry.values)
    nodes, inv = np.unique(coords.round(9), axis=0, return_inverse=True)
    inv = inv.ravel()
    m = coo_matrix((np.ones(len(inv) // 2), (inv[0::2], inv[1::2])), shape=(len(nodes), len(nodes)))
    assert connected_components(m, directed=False)[0] == 1


def test_requests_inside_and_clustered(city):
    district = city.areas[city.areas["level"] == "district"].geometry.iat[0]
    r = city.requests
    assert shapely.contains_xy(district, r["lon"].to_numpy(), r["lat"].to_numpy()).all()
    grids = city.areas[city.areas["level"] == "grid"]
    tree = shapely.STRtree(grids.geometry.values)
    pi, gi = tree.query(shapely.points(r["lon"], r["lat"]), predicate="within")
    per_grid = np.bincount(gi, minlength=len(grids)) / grids["households"].to_numpy()
    top = np.sort(per_grid)[::-1]
    # by households alone the busiest grid would be ~1.1x the median (Poisson noise on ~700 each)
    assert top[:2].mean() > 1.5 * np.median(per_grid), "hotspots stand out against households"
    assert set(r["matter_class"]) == {"public", "shared", "private"}
