"""Map pages (folium), served whole with their assets from this service so they work offline."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from gis.locate import LocateEngine
from gis.service_area import circle, coverage_table, household_walks, reach_m
from gis.settings import Settings

router = APIRouter(prefix="/maps", tags=["maps"])


def _frame(loc: LocateEngine) -> gpd.GeoDataFrame:
    rows = {"level": [], "code": [], "name": [], "parent_code": [], "households": [], "geometry": []}
    for lvl, d in loc.levels.items():
        n = len(d.codes)
        rows["level"] += [lvl] * n
        rows["code"] += d.codes.tolist()
        rows["name"] += d.names.tolist()
        rows["parent_code"] += d.parents.tolist()
        rows["households"] += d.households.tolist()
        rows["geometry"] += list(d.geoms)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _stations(loc: LocateEngine) -> gpd.GeoDataFrame | None:
    s = loc.stations
    if s is None or not len(s.ids):
        return None
    return gpd.GeoDataFrame({"name": s.names, "kind": s.kinds}, geometry=shapely.points(s.lon, s.lat), crs=4326)


@router.get("/grids", response_class=HTMLResponse)
def grids(_role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator)):
    """The hierarchy of the active generation: districts to units, with the stations."""
    from maps.assets import render
    from maps.grids import grids_map

    return HTMLResponse(render(grids_map(_frame(loc), _stations(loc), title=f"网格 · 第{loc.generation}代")))


@router.get("/coverage", response_class=HTMLResponse)
def coverage(minutes: float = 15.0, level: str = "community", _role: str = Depends(require("maps")),
             loc: LocateEngine = Depends(get_locator), engine: Engine = Depends(get_db),
             settings: Settings = Depends(get_settings_dep)):
    """15-minute circles of every station, each area's covered share, and the buildings left out."""
    from maps.assets import render
    from maps.coverage import coverage_map

    if loc.reach is None or level not in loc.levels:
        raise HTTPException(409, "coverage needs areas, a walking network and stations")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT address, households, ST_X(geom) AS x, ST_Y(geom) AS y FROM address")).all()
    x = np.array([r.x for r in rows], float)
    y = np.array([r.y for r in rows], float)
    hh = np.array([r.households for r in rows], float)
    walk = household_walks(loc, x, y)
    table = {r["code"]: r for r in coverage_table(loc, level, x, y, hh, settings.walk_speed_m_s, (minutes,))}
    d = loc.levels[level]
    areas = gpd.GeoDataFrame({"code": d.codes, "name": d.names,
                              "households": [table[c]["households"] for c in d.codes],
                              "share": [table[c][f"share_{minutes:g}_min"] for c in d.codes]},
                             geometry=list(d.geoms), crs=4326)
    out = walk > reach_m(minutes, settings.walk_speed_m_s)
    uncovered = gpd.GeoDataFrame({"address": [rows[i].address for i in np.flatnonzero(out)],
                                  "households": hh[out].astype(int)}, geometry=shapely.points(x[out], y[out]), crs=4326)
    s = loc.stations
    limit = reach_m(minutes, settings.walk_speed_m_s)
    circles = gpd.GeoDataFrame({"name": s.names},
                               geometry=[circle(loc.reach.graph, float(a), float(b), limit) for a, b in zip(s.lon, s.lat)],
                               crs=4326)
    return HTMLResponse(render(coverage_map(areas, circles[~circles.is_empty], uncovered, _stations(loc), minutes)))
