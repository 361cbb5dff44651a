"""Coordinate conversions against published reference pairs, and round trips within 0.5 m in China."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pyproj import Geod

from gis import coords

GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("wgs,gcj", [
    # the pairs used by the widely copied coordtransform / eviltransform suites (Tiananmen, Beijing)
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
])
def test_wgs84_to_gcj02_reference(wgs, gcj):
    x, y = coords.wgs84_to_gcj02(*wgs)
    assert abs(x - gcj[0]) < 1e-9 and abs(y - gcj[1]) < 1e-9


def test_gcj02_to_bd09_reference():
    x, y = coords.gcj02_to_bd09(116.404, 39.915)
    assert abs(x - 116.41036949371029) < 1e-9 and abs(y - 39.92133699351022) < 1e-9


def test_bd09_back_to_gcj02_reference():
    x, y = coords.bd09_to_gcj02(116.41036949371029, 39.92133699351022)
    assert metres(x, y, 116.404, 39.915) < 0.01


@settings(max_examples=300, deadline=None)
@given(st.floats(73.5, 134.5), st.floats(18.5, 53.0))
def test_round_trips_within_half_a_metre(lon, lat):
    gx, gy = coords.wgs84_to_gcj02(lon, lat)
    wx, wy = coords.gcj02_to_wgs84(gx, gy)
    assert metres(lon, lat, wx, wy) < 0.5
    assert metres(gx, gy, *coords.wgs84_to_gcj02(wx, wy)) < 0.5
    bx, by = coords.wgs84_to_bd09(lon, lat)
    assert metres(lon, lat, *coords.bd09_to_wgs84(bx, by)) < 0.5


def test_offset_is_real_inside_china_and_absent_outside():
    x, y = coords.wgs84_to_gcj02(117.0, 36.65)
    assert 100 < metres(117.0, 36.65, x, y) < 1000  # GCJ-02 shifts by a few hundred metres
    assert coords.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)  # Paris


def test_vectorised_and_generic():
    lon = np.array([116.404, 117.0, 2.35])
    lat = np.array([39.915, 36.65, 48.85])
    x, y = coords.from_wgs84(lon, lat, "GCJ02")
    assert x.shape == (3,)
    bx, by = coords.to_wgs84(x, y, "gcj02")
    assert np.allclose(bx, lon, atol=1e-7) and np.allclose(by, lat, atol=1e-7)
    assert coords.to_wgs84(1.0, 2.0, "EPSG:4490") == (1.0, 2.0)


def test_unknown_crs_is_named():
    with pytest.raises(ValueError, match="'mars'.*wgs84, cgcs2000, gcj02, bd09"):
        coords.to_wgs84(1.0, 2.0, "mars")
