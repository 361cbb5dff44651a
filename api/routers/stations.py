"""Stations by walking: nearest to a point, a station's service circle, and coverage by area."""
from __future__ import annotations

from typing import Annotated

import numpy as np
import shapely
import shapely.geometry
from fastapi import APIRouter, Depends, Query
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from api.http import PointParams, json_response
from gis.reach.circles import station_circles
from gis.errors import Invalid, NotFound, NotReady
from gis.locate.engine import LocateEngine
from gis.vocab import LEVELS
from gis.reach.service_area import SPEED_NOTE, coverage_report, propose_sites, reach_m
from gis.settings import Settings
from gis.store.queries import addresses

router = APIRouter(prefix="/v1", tags=["stations"])


@router.get("/stations/nearest")
async def nearest(_role: str = Depends(require("read")), point: PointParams = Depends(),
                  k: Annotated[int, Query(ge=1, le=20)] = 3, loc: LocateEngine = Depends(get_locator),
                  settings: Settings = Depends(get_settings_dep)):
    """The k stations nearest by walking on the network (snap distance included, none beyond the reach
    limit: an empty list says why); straight line without a network."""
    answer = loc.stations_answer(point.x, point.y, k)
    return json_response({"speed_m_s": settings.walk_speed_m_s, "speed_note": SPEED_NOTE,
                          "method": "walking" if loc.reach is not None else "straight_line",
                          "limit_m": settings.reach_limit_m, **answer})


@router.get("/stations/{station_id}/circle")
def station_circle(station_id: int, minutes: Annotated[float, Query(gt=0, le=60)] = 15.0,
                   _role: str = Depends(require("read")), loc: LocateEngine = Depends(get_locator),
                   engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """The station's N-minute walking circle, computed once per network version and speed and stored."""
    s = loc.stations
    where = np.flatnonzero(s.ids == station_id) if s is not None else []
    if not len(where):
        raise NotFound(f"station {station_id} does not exist")
    if loc.reach is None:
        raise NotReady("there is no walking network yet: import one (wangge import osm) or build the demo")
    i = int(where[0])
    _, polys, stored = station_circles(engine, loc, minutes, settings.walk_speed_m_s, [station_id])
    poly = shapely.set_precision(polys[0], 1e-7)
    geometry = shapely.geometry.mapping(poly) if not poly.is_empty else None
    return json_response({"type": "Feature", "geometry": geometry,
                          "properties": {"station": int(station_id), "name": s.names[i], "kind": s.kinds[i],
                                         "minutes": minutes, "speed_m_s": settings.walk_speed_m_s,
                                         "walk_m": reach_m(minutes, settings.walk_speed_m_s),
                                         "speed_note": SPEED_NOTE, "network_version": loc.network_version,
                                         "stored": bool(stored[0])}})


@router.get("/coverage")
def coverage(level: str = "community", uncovered: Annotated[int, Query(ge=0, le=10_000)] = 0,
             _role: str = Depends(require("read")),
             loc: LocateEngine = Depends(get_locator), engine: Engine = Depends(get_db),
             settings: Settings = Depends(get_settings_dep)):
    """Each area's households within the walking circle of a station, and the uncovered addresses."""
    if level not in LEVELS:
        raise Invalid("level", f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if level not in loc.levels:
        raise NotFound(f"there are no {level} areas in generation {loc.generation}")
    if loc.reach is None:
        raise NotReady("there is no walking network or no station yet")
    return json_response(coverage_report(loc, engine, level, settings.walk_speed_m_s, uncovered))


@router.get("/stations/siting")
def siting(k: Annotated[int, Query(ge=1, le=50)] = 3, minutes: Annotated[float, Query(gt=0, le=60)] = 15.0,
           _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
           engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """The next k station sites (among registry addresses) that add the most covered households."""
    if loc.reach is None:
        raise NotReady("siting needs a walking network and stations")
    with engine.connect() as conn:
        rows = addresses(conn)
    x = np.array([r[1] for r in rows], float)
    y = np.array([r[2] for r in rows], float)
    hh = np.array([r[3] for r in rows], float)
    sites = propose_sites(loc, x, y, hh, k, minutes, settings.walk_speed_m_s)
    for s in sites:
        s["address"] = rows[s.pop("address_index")][0]
    return json_response({"minutes": minutes, "speed_m_s": settings.walk_speed_m_s, "method": "greedy maximal covering",
                          "sites": sites})
