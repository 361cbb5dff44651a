"""`wangge export` and GET /v1/exports: one level of a generation's map as a file planners open in
QGIS/ArcGIS — GeoPackage, GeoJSON or a zipped Shapefile (with a UTF-8 .cpg and a .prj), in WGS84,
CGCS2000 or a Gauss–Krüger zone. Fields: code, name, parent, households, and tier for grids.

The output is what `wangge import areas` reads back: the same codes and the same ground.
"""
from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Invalid
from gis.store.generations import GenerationError, choose
from gis.store.queries import level_areas
from gis.vocab import LEVELS

FORMATS = {"gpkg": ("GPKG", ".gpkg", "application/geopackage+sqlite3"),
           "geojson": ("GeoJSON", ".geojson", "application/geo+json"),
           "shp": ("ESRI Shapefile", ".shp.zip", "application/zip")}
SUFFIXES = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".zip": "shp"}
CGCS2000 = 4490
# Names the rest of the service uses for the two geographic CRSs (gis.coords), as EPSG codes.
CRS_ALIASES = {"wgs84": 4326, "crs84": 4326, "epsg:4326": 4326, "cgcs2000": CGCS2000, "epsg:4490": CGCS2000,
               "webmercator": 3857, "epsg:3857": 3857}


class ExportError(Invalid):
    """An export that cannot be made as asked (422); the message starts with the option or parameter."""

    def __init__(self, message: str):
        field, _, rest = message.partition(": ")
        super().__init__(field, rest)


@dataclass(frozen=True)
class Export:
    """What was written: the file, its format, level, generation, feature count and CRS."""

    file: str
    format: str
    level: str
    generation: int | None
    features: int
    crs: str

    def report(self) -> dict:
        """The export as the command line prints it."""
        return self.__dict__.copy()


def format_of(path: Path | str, field: str = "-o") -> str:
    """The format a file name asks for by its suffix (.gpkg, .geojson/.json, .shp.zip/.zip)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(f"{field}: {Path(path).name!r} has no known suffix; use .gpkg, .geojson or .shp.zip")
    return SUFFIXES[suffix]


def target_crs(value: str | None, field: str = "--crs") -> int:
    """The EPSG code to export in: wgs84/CRS84 (default), cgcs2000, EPSG:3857 or any EPSG CRS PROJ knows
    (the CGCS2000 Gauss–Krüger zones EPSG:4491–4554 among them); gcj02/bd09 are not map projections."""
    if value is None or not str(value).strip():
        return 4326
    key = str(value).strip().lower()
    if key in CRS_ALIASES:
        return CRS_ALIASES[key]
    if key in ("gcj02", "bd09"):
        raise ExportError(f"{field}: {value} is an obfuscated web-map offset, not a CRS a GIS can read; "
                          f"export in wgs84 or cgcs2000")
    code = key.removeprefix("epsg:")
    if not code.isdigit():
        raise ExportError(f"{field}: {value!r}; use wgs84, cgcs2000 or EPSG:n (e.g. EPSG:4527)")
    try:
        crs = pyproj.CRS.from_epsg(int(code))
    except pyproj.exceptions.CRSError:
        raise ExportError(f"{field}: EPSG:{code} is not a coordinate reference system PROJ knows") from None
    if not (crs.is_projected or crs.is_geographic) or crs.is_vertical:
        raise ExportError(f"{field}: EPSG:{code} is not a horizontal CRS")
    return int(code)


def frame(session: Session, level: str, generation: int | None = None, parent: str | None = None,
          drafts: bool = False) -> tuple[gpd.GeoDataFrame, int | None]:
    """A level's areas of a generation (default: the active one) under `parent`, in code order, in WGS84."""
    if level not in LEVELS:
        raise ExportError(f"level: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    try:
        gen = choose(session, generation, None, drafts)
    except GenerationError as exc:
        raise ExportError(str(exc)) from None
    rows = [] if gen is None else level_areas(session, gen, level, None if parent is None else [parent])
    columns = {"code": [r.code for r in rows], "name": [r.name for r in rows],
               "parent": [r.parent_code for r in rows], "households": [int(r.households or 0) for r in rows]}
    if level == "grid":
        columns["tier"] = [r.tier for r in rows]
    geoms = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326), gen


def reproject(areas: gpd.GeoDataFrame, epsg: int) -> gpd.GeoDataFrame:
    """WGS84 areas in `epsg`; CGCS2000 and its projections start from EPSG:4490, taken as identical to WGS84
    (as on import), so no datum shift is ever applied between the two."""
    if epsg == 4326:
        return areas
    crs = pyproj.CRS.from_epsg(epsg)
    on_cgcs = crs.geodetic_crs is not None and crs.geodetic_crs.to_epsg() == CGCS2000
    base = areas.set_crs(CGCS2000, allow_override=True) if on_cgcs else areas
    return base if epsg == CGCS2000 else base.to_crs(epsg)


def write(areas: gpd.GeoDataFrame, path: Path, fmt: str, layer: str) -> None:
    """Write `areas` to `path` in `fmt`; a Shapefile goes into a zip with its .shp/.shx/.dbf/.prj/.cpg."""
    driver = FORMATS[fmt][0]
    if fmt != "shp":
        kw = {"layer": layer} if fmt == "gpkg" else {}
        areas.to_file(path, driver=driver, engine="pyogrio", promote_to_multi=True, **kw)
        return
    with tempfile.TemporaryDirectory(prefix="wangge-export-") as tmp:
        shp = Path(tmp) / f"{layer}.shp"
        areas.to_file(shp, driver=driver, engine="pyogrio", encoding="UTF-8", promote_to_multi=True)
        if not shp.with_suffix(".cpg").exists():
            shp.with_suffix(".cpg").write_text("UTF-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)


def export(session: Session, level: str, path: Path | str, crs: str | None = None, generation: int | None = None,
           parent: str | None = None, fmt: str | None = None, drafts: bool = False,
           crs_field: str = "--crs") -> Export:
    """Export one level to `path` (format by suffix unless `fmt`); ExportError names the bad option."""
    path = Path(path)
    fmt = fmt or format_of(path)
    if fmt not in FORMATS:
        raise ExportError(f"format: {fmt!r}; use one of {', '.join(FORMATS)}")
    epsg = target_crs(crs, crs_field)
    areas, gen = frame(session, level, generation, parent, drafts)
    if areas.empty:
        where = f" under {parent}" if parent else ""
        raise ExportError(f"level: generation {gen} has no {level} areas{where}" if gen is not None
                          else "generation: there is no map yet; import or build one first")
    write(reproject(areas, epsg), path, fmt, level)
    return Export(str(path), fmt, level, gen, len(areas), f"EPSG:{epsg}")
