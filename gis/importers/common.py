"""What every importer shares: the refusal that lists every bad feature, reading files (their text
encoding said or guessed), CRS checks (CGCS2000 Gauss–Krüger zones; Xi'an 80 / Beijing 54 refused unless
the city set its transformation), field names in English or Chinese."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj

from gis.importers.datums import DatumRefused, legacy_datum, to_cgcs2000
from gis.importers.encoding import EncodingError, canonical, shapefile_encoding


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
               max_members: int | None = None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Any OGR-readable file, or a zip holding one, as a GeoDataFrame; a clear refusal naming `name`
    (default: the path) when it cannot be read. A zip's member count and total uncompressed size are
    capped (WANGGE_MAX_ZIP_MEMBERS, WANGGE_MAX_UNZIPPED_MB) before anything is extracted, and the
    extraction itself stops at the cap, whatever the zip's headers claim. A Shapefile's attributes are
    read in `encoding`, else as gis.importers.encoding guesses; `frame.attrs["encoding"]` says which."""
    path = Path(path)
    name = name or str(path)
    if not path.exists():
        raise ImportRefused(f"{name}: no such file")
    if zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="wangge-unzip-") as tmp:
            return _read(_unzip(path, Path(tmp), name, max_unzipped_mb, max_members), name, encoding)
    if path.suffix.lower() == ".zip":
        raise ImportRefused(f"{name}: not a readable zip file; send {READABLE}")
    return _read(path, name, encoding)


def _read(path: Path, name: str, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read one spatial file; library messages (GDAL's, numpy's) never reach the user."""
    chosen = None
    kw = {}
    try:
        if path.suffix.lower() == ".shp":
            chosen = shapefile_encoding(path, encoding)
            kw["encoding"] = chosen.encoding
        elif encoding:
            canonical(encoding)  # a bad name is refused even where the format fixes the encoding (UTF-8)
    except EncodingError as exc:
        raise ImportRefused(str(exc)) from None
    try:
        frame = gpd.read_file(path, **kw)
    except UnicodeDecodeError:
        raise ImportRefused(f"{name}: the attribute table is not {chosen.encoding} text; give its encoding with "
                            f"--encoding (e.g. GBK, GB18030, UTF-8)") from None
    except Exception as exc:  # pyogrio/GDAL raise many kinds, with server paths in their text
        raise ImportRefused(f"{name}: cannot be read as a spatial file; send {READABLE}") from exc
    if frame.empty:
        raise ImportRefused(f"{name}: the file holds no features")
    frame.attrs["encoding"] = chosen.report() if chosen else {"encoding": "UTF-8", "how": "format"}
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
    """Reproject to EPSG:4326 (CGCS2000, and its Gauss–Krüger zones' datum, is taken as identical); refuse
    a file without a CRS, one in Xi'an 80 / Beijing 54 with no transformation set, and one whose coordinates
    cannot be longitudes and latitudes (a wrong declared CRS; a Gauss–Krüger zone prefix is named)."""
    from gis.settings import get_settings

    if frame.crs is None:
        raise ImportRefused(f"{path}: the file declares no coordinate reference system; "
                            "save it with its CRS (e.g. EPSG:4490 CGCS2000 or EPSG:4326)" + _gk_hint(frame))
    declared = _crs_label(frame.crs)
    crs = pyproj.CRS(frame.crs)
    if legacy_datum(crs):
        try:
            out = to_cgcs2000(frame, str(path), get_settings())
        except DatumRefused as exc:
            raise ImportRefused(str(exc)) from None
    elif crs.to_epsg() == 4490:
        out = frame.set_crs(4326, allow_override=True)
    else:
        out = frame.to_crs(4326)
    valid = ~(out.geometry.isna() | out.geometry.is_empty)
    if valid.any():
        xmin, ymin, xmax, ymax = out.geometry[valid].total_bounds
        if not (np.isfinite([xmin, ymin, xmax, ymax]).all() and -180 <= xmin <= xmax <= 180
                and -90 <= ymin <= ymax <= 90):
            raise ImportRefused(f"{path}: coordinates ({xmin:.6g}, {ymin:.6g}) … ({xmax:.6g}, {ymax:.6g}) are not "
                                f"longitudes/latitudes after reading them as {declared}: wrong CRS?"
                                + _gk_hint(frame))
    out.attrs = dict(frame.attrs) | dict(out.attrs)
    return out


def _crs_label(crs) -> str:
    """A CRS as the user knows it: EPSG:n when it has one, else its name (never a whole WKT)."""
    code = pyproj.CRS(crs).to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else (pyproj.CRS(crs).name or "the declared CRS")


def gk_zone_crs(x: float) -> int | None:
    """The CGCS2000 Gauss–Krüger CRS whose zone prefix an easting like 39 5xx xxx m carries
    (3-degree zones 25–45: EPSG:4513–4533; 6-degree zones 13–23: EPSG:4491–4501), else None."""
    if not np.isfinite(x):
        return None
    zone, rest = divmod(x, 1_000_000)
    if not 100_000 <= rest <= 900_000:
        return None
    if 25 <= zone <= 45:
        return 4513 + int(zone) - 25
    if 13 <= zone <= 23:
        return 4491 + int(zone) - 13
    return None


def _gk_hint(frame: gpd.GeoDataFrame) -> str:
    """A hint when the raw eastings carry a Gauss–Krüger zone prefix: the CRS they belong to."""
    valid = ~(frame.geometry.isna() | frame.geometry.is_empty)
    if not valid.any():
        return ""
    xmin, _, xmax, _ = frame.geometry[valid].total_bounds
    code = gk_zone_crs(xmin)
    if code is None or gk_zone_crs(xmax) != code:
        return ""
    return (f"; the eastings carry a Gauss–Krüger zone prefix, so they look like EPSG:{code} "
            f"({pyproj.CRS(code).name}): save the file with that CRS")


# Field names agencies use, by what they hold; every importer's defaults are extended with these.
CHINESE_FIELDS = {
    "code": ("编码", "代码", "编号", "区划代码", "网格编码", "网格编号"),
    "name": ("名称", "名字", "网格名称", "区划名称"),
    "households": ("户数", "总户数", "住户数"),
    "parent": ("上级编码", "上级代码", "父级编码", "所属编码"),
    "kind": ("类型", "类别", "种类"),
    "address": ("地址", "详细地址"),
}


def pick_field(frame, wanted: str | None, defaults: tuple[str, ...], what: str, path, required=True) -> str | None:
    """The column to use for `what`: the one asked for, or the first default present (English defaults,
    then the Chinese names agencies use, CHINESE_FIELDS)."""
    cols = [c for c in frame.columns if c != frame.geometry.name]
    defaults = tuple(defaults) + tuple(c for c in CHINESE_FIELDS.get(what, ()) if c not in defaults)
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


def area_fields(frame, code_field: str | None, name_field: str | None, households_field: str | None,
                path) -> tuple[str, str, str | None]:
    """The code, name and (optional) households columns of a file of areas or estates, as asked or by
    the usual names (英文 or 中文)."""
    return (pick_field(frame, code_field, ("code", "CODE", "编码", "代码"), "code", path),
            pick_field(frame, name_field, ("name", "NAME", "名称"), "name", path),
            pick_field(frame, households_field, ("households", "户数"), "households", path, required=False))

