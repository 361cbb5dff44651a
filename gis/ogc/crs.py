"""The coordinate systems the OGC routes answer in (Part 2, CRS by reference): their URIs, axis order
and how a stored WGS84 geometry is turned into each, as SQL text built from trusted constants only."""
from __future__ import annotations

from dataclasses import dataclass

from gis.ogc.errors import bad_parameter

OGC = "http://www.opengis.net/def/crs"


@dataclass(frozen=True)
class Crs:
    """One output/input CRS: its URI, PostGIS SRID, whether its first axis is latitude (north)."""

    uri: str
    srid: int
    lat_first: bool

    def geom_sql(self, column: str) -> str:
        """SQL turning a stored (SRID 4326, lon/lat) `column` into this CRS in its own axis order.
        EPSG:4490 (CGCS2000) is treated as identical to WGS84, so it only swaps the axes."""
        expr = column if self.srid in (4326, 4490) else f"ST_Transform({column}, {self.srid})"
        return f"ST_FlipCoordinates({expr})" if self.lat_first else expr

    @property
    def digits(self) -> int:
        """Decimal digits written: 9 for degrees (sub-millimetre), 3 for metres."""
        return 3 if self.srid == 3857 else 9


CRS84 = Crs(f"{OGC}/OGC/1.3/CRS84", 4326, False)
EPSG4326 = Crs(f"{OGC}/EPSG/0/4326", 4326, True)
EPSG4490 = Crs(f"{OGC}/EPSG/0/4490", 4490, True)
EPSG3857 = Crs(f"{OGC}/EPSG/0/3857", 3857, False)
SUPPORTED = (CRS84, EPSG4326, EPSG4490, EPSG3857)
URIS = [c.uri for c in SUPPORTED]

# Short spellings accepted besides the URIs (the URI is what answers name).
_ALIASES = {"crs84": CRS84, "ogc:crs84": CRS84, "epsg:4326": EPSG4326, "epsg:4490": EPSG4490,
            "epsg:3857": EPSG3857, "[ogc:crs84]": CRS84}
_BY_URI = {c.uri.lower(): c for c in SUPPORTED}
_BY_URI.update({u.replace("http://", "https://"): c for u, c in _BY_URI.items()})


def parse(value: str | None, field: str = "crs") -> Crs:
    """The CRS named by `value` (a URI or EPSG:n / CRS84), CRS84 when absent; 400 naming `field` else."""
    if value is None or value == "":
        return CRS84
    key = value.strip().strip("[]").lower() if value.strip().startswith("[") else value.strip().lower()
    crs = _BY_URI.get(key) or _ALIASES.get(key)
    if crs is None:
        raise bad_parameter(field, f"unsupported coordinate system {value[:100]!r}; use one of {', '.join(URIS)}")
    return crs


def header(crs: Crs) -> str:
    """The Content-Crs header value: the URI in angle brackets."""
    return f"<{crs.uri}>"
