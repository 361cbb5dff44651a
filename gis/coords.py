"""Coordinate systems Chinese apps use: WGS84 / CGCS2000 (stored), GCJ-02 (Amap, Tencent, WeChat) and
BD-09 (Baidu). Vectorised over numpy arrays; the GCJ-02 inverse is iterated to < 1e-7 degrees."""
from __future__ import annotations

import numpy as np

from gis.errors import Invalid

CRS_NAMES = ("wgs84", "cgcs2000", "gcj02", "bd09")
# Every spelling accepted for each canonical name (matched case-insensitively, spaces trimmed). On /v1
# and the command line a pair is always longitude, latitude whatever the name: axis order as a CRS
# defines it belongs to the OGC routes alone.
CRS_SPELLINGS = {
    "wgs84": ("wgs84", "EPSG:4326", "4326", "CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
              "http://www.opengis.net/def/crs/EPSG/0/4326"),
    "cgcs2000": ("cgcs2000", "EPSG:4490", "4490", "http://www.opengis.net/def/crs/EPSG/0/4490"),
    "gcj02": ("gcj02",),
    "bd09": ("bd09",),
}
_ALIASES = {spelling.lower(): name for name, spellings in CRS_SPELLINGS.items() for spelling in spellings}
CRS_ACCEPTED = (", ".join(CRS_NAMES) + " (also " + "; ".join(
    f"{', '.join(sp[1:])} for {name}" for name, sp in CRS_SPELLINGS.items() if len(sp) > 1) + ")")
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


class CrsError(Invalid):
    """A coordinate system name this service does not know; names the field and the accepted names."""


def normalize_crs(crs: str, field: str = "crs") -> str:
    """The canonical name (wgs84, cgcs2000, gcj02, bd09) of any accepted spelling of `crs`, or CrsError
    naming `field`, the bad value and the accepted names: the one CRS parser for the API, CLI and importers."""
    c = _ALIASES.get(str(crs).strip().lower())
    if c is None:
        raise CrsError(field, f"unknown coordinate system {str(crs)[:100]!r}; use one of {CRS_ACCEPTED}")
    return c


def out_of_china(lon, lat) -> np.ndarray:
    """True where a point lies outside the box in which GCJ-02 offsets apply."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _shape(fn):
    def wrapper(lon, lat):
        scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
        x, y = fn(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return (float(x), float(y)) if scalar else (x, y)
    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


@_shape
def wgs84_to_gcj02(lon, lat):
    """WGS84 → GCJ-02; unchanged outside China."""
    dlon, dlat = _delta(lon, lat)
    out = out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


@_shape
def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS84 by fixed-point iteration of the forward offset (to < 1e-7 degrees)."""
    x, y = lon.copy(), lat.copy()
    for _ in range(30):
        gx, gy = wgs84_to_gcj02(x, y)
        ex, ey = gx - lon, gy - lat
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < 1e-9) and np.all(np.abs(ey) < 1e-9):
            break
    return x, y


@_shape
def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (Baidu's extra rotation and offset)."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


@_shape
def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02: the published closed-form inverse (off by up to ~0.1 m), then refined by
    fixed-point iteration of the forward formula to < 1e-9 degrees."""
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(10):
        bx, by = gcj02_to_bd09(gx, gy)
        ex, ey = bx - lon, by - lat
        gx, gy = gx - ex, gy - ey
        if np.all(np.abs(ex) < 1e-10) and np.all(np.abs(ey) < 1e-10):
            break
    return gx, gy


@_shape
def wgs84_to_bd09(lon, lat):
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


@_shape
def bd09_to_wgs84(lon, lat):
    """BD-09 → WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon, lat, crs: str):
    """Coordinates in `crs` → WGS84 (CGCS2000 is taken as identical to WGS84)."""
    c = normalize_crs(crs)
    if c in ("wgs84", "cgcs2000"):
        return (lon, lat) if np.ndim(lon) == 0 else (np.asarray(lon, float), np.asarray(lat, float))
    return gcj02_to_wgs84(lon, lat) if c == "gcj02" else bd09_to_wgs84(lon, lat)


def from_wgs84(lon, lat, crs: str):
    """WGS84 → coordinates in `crs`."""
    c = normalize_crs(crs)
    if c in ("wgs84", "cgcs2000"):
        return (lon, lat) if np.ndim(lon) == 0 else (np.asarray(lon, float), np.asarray(lat, float))
    return wgs84_to_gcj02(lon, lat) if c == "gcj02" else wgs84_to_bd09(lon, lat)
