"""Metres on the ground from degrees: the metres in a degree, the local metric plane the KD-trees and
cell grids use, and the metric CRS (UTM zone) for exact areas and lengths around a place."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj

# Metres in one degree of latitude (and of longitude at the equator), on the sphere the plane assumes.
M_PER_DEG = 111_320.0


def degrees(metres: float) -> float:
    """A distance in metres as degrees of latitude (for tolerances: simplification, scatter)."""
    return metres / M_PER_DEG


@dataclass(frozen=True)
class LocalPlane:
    """An equirectangular plane in metres around latitude `lat0` (longitudes shrunk by cos lat0): off by
    well under 1 % across a city, and cheap enough to put millions of points in a KD-tree."""

    lat0: float

    @classmethod
    def around(cls, lat) -> "LocalPlane":
        """The plane centred on the mean of some latitudes (the points it will hold)."""
        return cls(float(np.mean(lat)))

    @property
    def k(self) -> float:
        """How much shorter a degree of longitude is than one of latitude here (cos lat0)."""
        return np.cos(np.radians(self.lat0))

    @property
    def scale(self) -> np.ndarray:
        """Metres per degree along x and y, to multiply (n, 2) lon/lat coordinates with."""
        return np.array([M_PER_DEG * self.k, M_PER_DEG])

    def xy(self, lon, lat) -> np.ndarray:
        """(n, 2) plane coordinates in metres of longitudes and latitudes."""
        return np.column_stack([np.asarray(lon, float) * M_PER_DEG * self.k, np.asarray(lat, float) * M_PER_DEG])

    def lengths(self, dlon, dlat) -> np.ndarray:
        """Metres of the steps (dlon, dlat) in degrees."""
        return np.hypot(np.asarray(dlon) * M_PER_DEG * self.k, np.asarray(dlat) * M_PER_DEG)


def metric_crs(lon: float, lat: float) -> pyproj.CRS:
    """The UTM zone around a point, for areas in square metres and exact lengths."""
    zone = int((lon + 180) // 6) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
