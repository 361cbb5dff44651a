"""Map pages (folium), served whole with their assets from this service so they work offline."""
from __future__ import annotations

import geopandas as gpd
import shapely
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from api.deps import get_locator, require
from gis.locate import LocateEngine

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
