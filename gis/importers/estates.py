"""`wangge import estates`: residential estates (小区) as polygons with code, name and households.

Estates are not part of the area hierarchy: the automatic redraw keeps each whole and a drawn redraw
is warned when it cuts one. Every feature is checked before anything is written (no code, duplicate
code, empty or non-polygon geometry, invalid geometry that cannot be repaired within 0.1 % of its area,
households that are not a count); any bad feature refuses the whole import with all of them listed.
An estate whose code is already stored is replaced; the others stay. Without a households field, an
estate's households are counted from the address registry.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.errors import Invalid
from gis.importers.areas import check_features
from gis.importers.common import ImportRefused, area_fields, pick_field, read_frame, to_wgs84
from gis.planar import metric_crs
from gis.store import audit
from gis.store.db import session_scope

MAX_ESTATES_ANSWERED = 5000  # GET /v1/estates answers at most this many


def _code(c) -> str | None:
    """A code cell as text (whole floats without their '.0'); None when blank."""
    if c is None or (isinstance(c, float) and np.isnan(c)) or str(c).strip() == "":
        return None
    if isinstance(c, (float, np.floating)) and float(c).is_integer():
        return str(int(c))
    return str(c).strip()


def _households(values, codes, problems) -> list[int | None]:
    """Each feature's households (None when blank), a problem for what is not a count."""
    out = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
            continue
        try:
            n = float(v)
            if n < 0 or not n.is_integer():
                raise ValueError
            out.append(int(n))
        except (TypeError, ValueError):
            problems.append({"feature": i, "code": codes[i], "problem": f"households {v!r} is not a count"})
            out.append(None)
    return out


def import_estates(engine: Engine, path, code_field: str | None = None, name_field: str | None = None,
                   households_field: str | None = None, actor: str = "cli", encoding: str | None = None) -> dict:
    """Import estates from any OGR-readable file; see the module docstring. Returns the import report.
    A Shapefile's attributes are read in `encoding`, else as gis.importers.encoding guesses."""
    path = Path(path)
    frame = to_wgs84(read_frame(path, encoding=encoding), path)
    if frame.empty:
        raise ImportRefused(f"{path}: the file has no features")
    code_col, name_col, hh_col = area_fields(frame, code_field, name_field, households_field, path)
    codes = [_code(c) for c in frame[code_col]]
    names = [str(n).strip() if n is not None and str(n) not in ("nan", "") else None for n in frame[name_col]]
    xmin, ymin, xmax, ymax = frame.total_bounds
    geoms, problems, repaired = check_features(frame, codes, metric_crs((xmin + xmax) / 2, (ymin + ymax) / 2))
    for i, code in enumerate(codes):
        if code is not None and len(code) > 32:
            problems.append({"feature": i, "code": code, "problem": "code is longer than 32 characters"})
        if names[i] is None:
            problems.append({"feature": i, "code": code, "problem": "no name"})
    households = _households(frame[hh_col].to_numpy(), codes, problems) if hh_col else [None] * len(codes)
    if problems:
        raise ImportRefused(f"{path}: import refused, {len(problems)} problem(s); nothing was written",
                            sorted(problems, key=lambda p: p["feature"]))
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    with session_scope(engine) as session:
        existing = set(session.execute(text("SELECT code FROM estate WHERE code = ANY(:c)"),
                                       {"c": codes}).scalars())
        session.execute(text("""
            INSERT INTO estate (code, name, households, properties, geom)
            SELECT e.code, e.name, coalesce(e.hh, 0), '{}'::jsonb, ST_Multi(ST_GeomFromWKB(e.wkb, 4326))
            FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:hh AS int[]), CAST(:wkb AS bytea[]))
                 AS e(code, name, hh, wkb)
            ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, households = EXCLUDED.households,
                                             geom = EXCLUDED.geom"""),
            {"codes": codes, "names": names, "hh": households,
             "wkb": [shapely.to_wkb(g) for g in geoms]})
        counted = [c for c, h in zip(codes, households) if h is None]
        if counted:
            session.execute(text("""
                UPDATE estate e SET households = coalesce((
                    SELECT sum(a.households) FROM address a WHERE ST_Covers(e.geom, a.geom)), 0)
                WHERE e.code = ANY(:c)"""), {"c": counted})
        report = {"imported": len(codes), "new": len(codes) - len(existing), "replaced": len(existing),
                  "repaired": repaired, "households_from_registry": len(counted), "file": str(path)}
        audit.write(session, actor, "import estates", report)
    return report


def parse_bbox(bbox: str) -> tuple[float, float, float, float]:
    """`min_lon,min_lat,max_lon,max_lat` as four floats; Invalid naming `bbox` otherwise."""
    try:
        box = tuple(float(v) for v in str(bbox).split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not all(np.isfinite(box)):
        raise Invalid("bbox", "four numbers min_lon,min_lat,max_lon,max_lat are needed")
    x0, y0, x1, y1 = box
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise Invalid("bbox", "min_lon < max_lon within ±180 and min_lat < max_lat within ±90 are needed")
    return box


def estates_in(conn, box: tuple[float, float, float, float]) -> dict:
    """The estates meeting a lon/lat box as a GeoJSON FeatureCollection in code order (at most
    MAX_ESTATES_ANSWERED; `truncated` says when there were more)."""
    rows = conn.execute(text("""
        SELECT code, name, households, ST_AsGeoJSON(geom, 7) AS geometry FROM estate
        WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
          AND ST_Intersects(geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))
        ORDER BY code COLLATE "C" LIMIT :n"""),
        {"x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3], "n": MAX_ESTATES_ANSWERED + 1}).all()
    features = [{"type": "Feature", "geometry": json.loads(r.geometry),
                 "properties": {"code": r.code, "name": r.name, "households": r.households}}
                for r in rows[:MAX_ESTATES_ANSWERED]]
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > MAX_ESTATES_ANSWERED}
