"""Xi'an 80 and Beijing 54 files: refused unless the city has set its own transformation to CGCS2000.

PROJ has no official transformation from these datums to CGCS2000, only a "ballpark" one that shifts
nothing, tens of metres off. So a file in either is refused with a message saying why, unless the city
has set its own 7-parameter (or 3-parameter) Helmert (`WANGGE_XIAN80_TOWGS84`, `WANGGE_BEIJING54_TOWGS84`:
"dx,dy,dz,rx,ry,rz,ds" in metres, arc-seconds and ppm, position-vector convention as PROJ's +towgs84)
or 4-parameter plane transformation for projected files (`WANGGE_XIAN80_FOUR_PARAMS`,
`WANGGE_BEIJING54_FOUR_PARAMS`: "dE,dN,rotation,scale" — shifts of easting and northing in metres,
counter-clockwise rotation in arc-seconds, scale in ppm — onto the CGCS2000 zone of the same meridian).
Never a silent shift.
"""
from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import shapely

# normalised datum name -> (label, settings prefix)
LEGACY = {"xian1980": ("Xi'an 80", "xian80"), "beijing1954": ("Beijing 54", "beijing54"),
          "newbeijing": ("New Beijing", "beijing54")}
ARCSEC = np.pi / (180 * 3600)


class DatumRefused(ValueError):
    """A file in a datum with no transformation set; the message says why and how to give one."""


def parse_params(value: str | None, counts: tuple[int, ...], setting: str) -> tuple[float, ...] | None:
    """Comma-separated numbers, as many as one of `counts`; ValueError naming `setting` otherwise."""
    if value is None or not str(value).strip():
        return None
    try:
        nums = tuple(float(x) for x in str(value).split(","))
    except ValueError:
        raise ValueError(f"{setting}: {value!r} is not comma-separated numbers") from None
    if len(nums) not in counts or not np.isfinite(nums).all():
        raise ValueError(f"{setting}: give {' or '.join(map(str, counts))} finite numbers, not {len(nums)}")
    return nums


def legacy_datum(crs) -> str | None:
    """The key in LEGACY of a CRS's datum when it is Xi'an 80 or Beijing 54 (by name, so WKT-only .prj too)."""
    if crs is None:
        return None
    crs = pyproj.CRS(crs)
    names = [crs.name or ""]
    try:
        names += [crs.datum.name or "", crs.geodetic_crs.name if crs.geodetic_crs else ""]
    except Exception:  # a CRS without a datum: nothing to recognise
        pass
    for name in names:
        key = re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("d")
        for legacy in LEGACY:
            if legacy in key:
                return legacy
    return None


def _proj4(crs: pyproj.CRS) -> str:
    """A CRS's PROJ string (its warning about lost detail silenced: a Gauss–Krüger or longlat CRS survives whole)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return crs.to_proj4()


def _epsg(crs) -> str:
    code = pyproj.CRS(crs).to_epsg()
    return f"EPSG:{code}" if code else pyproj.CRS(crs).name


def to_cgcs2000(frame: gpd.GeoDataFrame, name: str, settings) -> gpd.GeoDataFrame:
    """A Xi'an 80 / Beijing 54 frame in EPSG:4326 through the city's own transformation, or DatumRefused."""
    key = legacy_datum(frame.crs)
    label, prefix = LEGACY[key]
    crs = pyproj.CRS(frame.crs)
    seven = parse_params(getattr(settings, f"{prefix}_towgs84", None), (3, 7), f"WANGGE_{prefix.upper()}_TOWGS84")
    four = parse_params(getattr(settings, f"{prefix}_four_params", None), (4,), f"WANGGE_{prefix.upper()}_FOUR_PARAMS")
    if seven is not None:
        base = re.sub(r"\s*\+towgs84=\S+", "", _proj4(crs))
        bound = pyproj.CRS.from_proj4(f"{base} +towgs84={','.join(repr(v) for v in seven)}")
        out = frame.set_crs(bound, allow_override=True).to_crs(4326)
        out.attrs["datum"] = {"from": label, "crs": _epsg(crs), "transformation": f"WANGGE_{prefix.upper()}_TOWGS84"}
        return out
    if four is not None:
        if not crs.is_projected:
            raise DatumRefused(f"{name}: the file is in {label} longitudes and latitudes ({_epsg(crs)}); a "
                               f"4-parameter transformation (WANGGE_{prefix.upper()}_FOUR_PARAMS) applies only to "
                               f"projected (Gauss–Krüger) coordinates; set WANGGE_{prefix.upper()}_TOWGS84 instead")
        de, dn, rot, ppm = four
        k, t = 1 + ppm * 1e-6, rot * ARCSEC
        m = np.array([[k * np.cos(t), k * np.sin(t)], [-k * np.sin(t), k * np.cos(t)]])

        def plane(xy: np.ndarray) -> np.ndarray:
            return xy @ m + np.array([de, dn])

        geoms = shapely.transform(np.asarray(frame.geometry.values, dtype=object), plane)
        base = re.sub(r"\s*\+(ellps|a|b|rf|f|towgs84|datum)=\S+", "", _proj4(crs))
        target = pyproj.CRS.from_proj4(f"{base} +ellps=GRS80")
        out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=geoms, crs=target).to_crs(4326)
        out.attrs["datum"] = {"from": label, "crs": _epsg(crs), "transformation": f"WANGGE_{prefix.upper()}_FOUR_PARAMS"}
        return out
    raise DatumRefused(
        f"{name}: the file is in {label} ({_epsg(crs)}). PROJ has no official transformation from {label} to "
        f"CGCS2000 (only a ballpark one that shifts nothing, tens of metres off), so it is not imported. Give the "
        f"city's own transformation: WANGGE_{prefix.upper()}_TOWGS84=\"dx,dy,dz,rx,ry,rz,ds\" (7-parameter "
        f"Helmert: metres, arc-seconds, ppm, position vector) or, for Gauss–Krüger coordinates, "
        f"WANGGE_{prefix.upper()}_FOUR_PARAMS=\"dE,dN,rotation,scale\" (metres, arc-seconds, ppm); or convert the "
        f"file to CGCS2000 (EPSG:4490, or its Gauss–Krüger zones EPSG:4491–4554) first")
