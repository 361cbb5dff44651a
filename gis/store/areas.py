"""Reading areas of a generation as GeoJSON, straight from the record."""
from __future__ import annotations

import json

import geopandas as gpd
import shapely

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.planar import degrees
from gis.store.generations import GenerationError, choose
from gis.store.queries import GENERATION_AREAS, level_areas
from gis.vocab import LEVELS


class AreaQueryError(ValueError):
    """A query naming an unknown level or generation."""


def feature_collection(session: Session, level: str, parent: str | None = None,
                       generation: int | None = None, simplify_m: float = 0.0, drafts: bool = False,
                       at=None) -> dict:
    """Areas of `level` (optionally under `parent`) in `generation`, or in the one active `at` a time
    (default: the active one); a draft generation (an uncommitted redraw) only when `drafts` (planners)."""
    if level not in LEVELS:
        raise AreaQueryError(f"level: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    try:
        generation = choose(session, generation, at, drafts)
    except GenerationError as exc:
        raise AreaQueryError(str(exc)) from exc
    if generation is None:
        return {"type": "FeatureCollection", "generation": None, "features": []}
    tol = degrees(simplify_m)
    rows = session.execute(text(f"""
        SELECT ga.code, a.name, ga.level, ga.parent_code, a.households,
               ST_AsGeoJSON(CASE WHEN CAST(:tol AS float8) > 0 THEN ST_SimplifyPreserveTopology(a.geom, :tol) ELSE a.geom END, 7)
                 AS geometry
        FROM {GENERATION_AREAS}
        WHERE ga.generation_id = :g AND ga.level = :lvl AND (CAST(:parent AS text) IS NULL OR ga.parent_code = :parent)
        ORDER BY ga.code COLLATE "C"
    """), {"g": generation, "lvl": level, "parent": parent, "tol": tol}).all()
    features = [{
        "type": "Feature",
        "geometry": json.loads(r.geometry),
        "properties": {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent_code,
                       "households": r.households, "generation": generation},
    } for r in rows]
    return {"type": "FeatureCollection", "generation": generation, "features": features}


def children(conn, generation: int, level: str, parents: list[str]) -> gpd.GeoDataFrame:
    """The areas of `level` under any of `parents` in a generation, code order: code, name,
    parent_code, households and geometry (EPSG:4326)."""
    rows = level_areas(conn, generation, level, parents)
    return gpd.GeoDataFrame({"code": [r.code for r in rows], "name": [r.name for r in rows],
                             "parent_code": [r.parent_code for r in rows], "households": [r.households for r in rows]},
                            geometry=shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else [], crs=4326)
