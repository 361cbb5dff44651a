"""What every importer shares: the refusal that lists every bad feature, reading files, CRS checks."""
from __future__ import annotations

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


def read_frame(path: Path | str) -> gpd.GeoDataFrame:
    """Any OGR-readable file as a GeoDataFrame; a clear refusal when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise ImportRefused(f"{path}: no such file")
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio/GDAL raise many kinds; the message is what matters
        raise ImportRefused(f"{path}: cannot be read as a spatial file: {exc}") from exc


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

