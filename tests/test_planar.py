"""The local metric plane and the metric CRS agree with the ellipsoid closely enough for a city."""
from __future__ import annotations

import numpy as np
from pyproj import Geod

from gis.planar import LocalPlane, degrees, metric_crs


def test_plane_lengths_match_the_ellipsoid_within_half_a_percent():
    lon0, lat0 = 116.98, 36.65
    rng = np.random.default_rng(1)
    dlon, dlat = rng.uniform(-0.05, 0.05, 200), rng.uniform(-0.05, 0.05, 200)
    plane = LocalPlane(lat0)
    xy = plane.xy(lon0 + dlon, lat0 + dlat) - plane.xy([lon0], [lat0])
    _, _, geodesic = Geod(ellps="WGS84").inv(np.full(200, lon0), np.full(200, lat0), lon0 + dlon, lat0 + dlat)
    assert np.allclose(np.hypot(*xy.T), geodesic, rtol=5e-3)
    assert np.allclose(plane.lengths(dlon, dlat), np.hypot(*xy.T))
    assert LocalPlane.around([36.0, 37.0]).lat0 == 36.5
    assert abs(degrees(111_320.0) - 1.0) < 1e-12


def test_metric_crs_is_the_utm_zone_of_the_place():
    assert metric_crs(116.98, 36.65).to_epsg() == 32650
    assert metric_crs(-70.6, -33.4).to_epsg() == 32719
