"""What every importer shares: the refusal that lists every bad feature, reading files, CRS checks."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj


class ImportRefused(ValueError):
    """The whole import is refused; `problems` names every bad feature or row (nothing was written)."""

    def __init__(self, message: str, problems: list[dict] | None = None):
        self.problems = problems or []
        super().__init__(message)

    def __str__(self) -> str:
        lines = [self.args[0]]
        for p in self.problems[:200]:
            where = f"feature {p['feature']}" if "feature" in p else f"line {p.get('line')}"
            code = f" (code {p['code']})" if p.get("code") else ""
            lines.append(f"  - {where}{code}: {p['problem']}")
        if len(self.problems) > 200:
            lines.append(f"  … and {len(self.problems) - 200} more")
        return "\n".join(lines)


READABLE = ".geojson, .json, .gpkg, .kml, .gml, .fgb or a zipped Shapefile (.shp, .shx, .dbf, .prj)"
INSIDE_ZIP = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".gml", ".fgb")
MB = 1024 * 1024


def read_frame(path: Path | str, name: str | None = None, max_unzipped_mb: float | None = None,
               max_members: int | None = None) -> gpd.GeoDataFrame:
    """Any OGR-readable file, or a zip holding one, as a GeoDataFrame; a clear refusal naming `name`
    (default: the path) when it cannot be read. A zip's member count and total uncompressed size are
    capped (WANGGE_MAX_ZIP_MEMBERS, WANGGE_MAX_UNZIPPED_MB) before anything is extracted, and the
    extraction itself stops at the cap, whatever the zip's headers claim."""
    path = Path(path)
    name = name or str(path)
    if not path.exists():
        raise ImportRefused(f"{name}: no such file")
    if zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="wangge-unzip-") as tmp:
            return _read(_unzip(path, Path(tmp), name, max_unzipped_mb, max_members), name)
    if path.suffix.lower() == ".zip":
        raise ImportRefused(f"{name}: not a readable zip file; send {READABLE}")
    return _read(path, name)


def _read(path: Path, name: str) -> gpd.GeoDataFrame:
    """Read one spatial file; library messages (GDAL's, numpy's) never reach the user."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio/GDAL raise many kinds, with server paths in their text
        raise ImportRefused(f"{name}: cannot be read as a spatial file; send {READABLE}") from exc
    if frame.empty:
        raise ImportRefused(f"{name}: the file holds no features")
    return frame


def _unzip(path: Path, into: Path, name: str, max_unzipped_mb: float | None, max_members: int | None) -> Path:
    """Extract a zip's files (flat, by base name) under the caps; the spatial file to read."""
    from gis.settings import get_settings

    s = get_settings()
    cap_mb = s.max_unzipped_mb if max_unzipped_mb is None else max_unzipped_mb
    cap_n = s.max_zip_members if max_members is None else max_members
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > cap_n:
                raise ImportRefused(f"{name}: the zip holds {len(members)} files; at most {cap_n} "
                                    f"(WANGGE_MAX_ZIP_MEMBERS)")
            declared = sum(m.file_size for m in members)
            if declared > cap_mb * MB:
                raise ImportRefused(f"{name}: the zip unpacks to {declared / MB:.4g} MB; at most {cap_mb:g} MB "
                                    f"(WANGGE_MAX_UNZIPPED_MB)")
            budget = int(cap_mb * MB)
            for m in members:
                base = Path(m.filename.replace("\\", "/")).name
                if not base or base.startswith("."):
                    continue
                with zf.open(m) as src, open(into / base, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        budget -= len(chunk)
                        if budget < 0:
                            raise ImportRefused(f"{name}: the zip unpacks to more than {cap_mb:g} MB "
                                                f"(WANGGE_MAX_UNZIPPED_MB)")
                        dst.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise ImportRefused(f"{name}: not a readable zip file; send {READABLE}") from exc
    found = sorted((p for p in into.iterdir() if p.suffix.lower() in INSIDE_ZIP),
                   key=lambda p: (INSIDE_ZIP.index(p.suffix.lower()), p.name))
    if not found:
        raise ImportRefused(f"{name}: the zip holds no spatial file; send {READABLE}")
    return found[0]


def to_wgs84(frame: gpd.GeoDataFrame, path) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 (CGCS2000 is taken as identical); refuse a file without a CRS, and one
    whose coordinates cannot be longitudes and latitudes (a wrong declared CRS)."""
    if frame.crs is None:
        raise ImportRefused(f"{path}: the file declares no coordinate reference system; "
                            "save it with its CRS (e.g. EPSG:4490 CGCS2000 or EPSG:4326)")
    declared = frame.crs.to_string()
    crs = pyproj.CRS(frame.crs)
    if crs.to_epsg() == 4490:
        out = frame.set_crs(4326, allow_override=True)
    else:
        out = frame.to_crs(4326)
    valid = ~(out.geometry.isna() | out.geometry.is_empty)
    if valid.any():
        xmin, ymin, xmax, ymax = out.geometry[valid].total_bounds
        if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and -180 <= xmin <= xmax <= 180
                and -90 <= ymin <= ymax <= 90):
            raise ImportRefused(f"{path}: coordinates ({xmin:.6g}, {ymin:.6g}) … ({xmax:.6g}, {ymax:.6g}) are not "
                                f"longitudes/latitudes after reading them as {declared}: wrong CRS?")
    return out


def pick_field(frame, wanted: str | None, defaults: tuple[str, ...], what: str, path, required=True) -> str | None:
    """The column to use for `what`: the one asked for, or the first default present."""
    cols = [c for c in frame.columns if c != frame.geometry.name]
    if wanted:
        if wanted not in cols:
            raise ImportRefused(f"{path}: no field {wanted!r} for the {what}; the file has: {', '.join(cols)}")
        return wanted
    for d in defaults:
        if d in cols:
            return d
    if required:
        raise ImportRefused(f"{path}: no {what} field (looked for {', '.join(defaults)}; "
                            f"give --{what}-field); the file has: {', '.join(cols)}")
    return None

