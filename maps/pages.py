"""Whole map pages from the record: each function fetches what its map needs and returns the HTML
with every asset local. The `/maps/...` routes and `wangge map NAME -o FILE.html` both call these."""
from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.command import hotspots as hs
from gis.store.areas import children
from gis.locate.engine import LocateEngine
from gis.command.rankings import scoreboard
from gis.reach.circles import station_circles
from gis.reach.service_area import coverage_table, household_walks, reach_m
from gis.settings import Settings
from gis.store.queries import OPEN_SQL, addresses
from gis.command.periods import TZ, month_window, request_window
from maps.assets import render


class PageError(ValueError):
    """A page that cannot be drawn from what the record holds; the message says what is missing."""


class PageNotFound(PageError):
    """A page about a thing that does not exist (a redraw id)."""


def level_frame(locator: LocateEngine, level: str) -> gpd.GeoDataFrame:
    """One level's areas of the engine's generation as a frame (code, name, parent, households); PageError if none."""
    if level not in locator.levels:
        raise PageError(f"there are no {level} areas in generation {locator.generation}")
    d = locator.levels[level]
    return gpd.GeoDataFrame({"code": d.codes, "name": d.names, "parent_code": d.parents,
                             "households": d.households}, geometry=list(d.geoms), crs=4326)


def all_levels(locator: LocateEngine) -> gpd.GeoDataFrame:
    """Every level's areas in one frame, with a `level` column."""
    frames = [level_frame(locator, lvl).assign(level=lvl) for lvl in locator.levels]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)


def stations_frame(locator: LocateEngine) -> gpd.GeoDataFrame | None:
    """The engine's stations as a point frame (name, kind), or None when there are none."""
    s = locator.stations
    if s is None or not len(s.ids):
        return None
    return gpd.GeoDataFrame({"name": s.names, "kind": s.kinds}, geometry=shapely.points(s.lon, s.lat), crs=4326)


def _context(locator: LocateEngine) -> gpd.GeoDataFrame:
    return level_frame(locator, "community" if "community" in locator.levels else "grid")


def grids_page(engine: Engine, locator: LocateEngine, settings: Settings, api_key: str | None = None, **_) -> str:
    """Every level of the active generation; above 20,000 units the units come as vector tiles (the
    page then carries the caller's key in the tile URLs, as its own link does)."""
    from urllib.parse import quote

    from maps.grids import grids_map

    tiles = (f"/tiles/unit/{{z}}/{{x}}/{{y}}.pbf?generation={locator.generation}&api_key={quote(api_key, safe='')}"
             if api_key else None)
    return render(grids_map(all_levels(locator), stations_frame(locator), title=f"网格 · 第{locator.generation}代",
                            tile_url=tiles))


def coverage_page(engine: Engine, locator: LocateEngine, settings: Settings, minutes: float = 15.0,
                  level: str = "community", **_) -> str:
    """15-minute circles of every station, each area's covered share, and the buildings left out."""
    from maps.coverage import coverage_map

    if locator.reach is None or level not in locator.levels:
        raise PageError("coverage needs areas, a walking network and stations")
    with engine.connect() as conn:
        rows = addresses(conn)
    x = np.array([r.lon for r in rows], float)
    y = np.array([r.lat for r in rows], float)
    hh = np.array([r.households for r in rows], float)
    walk = household_walks(locator, x, y)
    table = {r["code"]: r for r in coverage_table(locator, level, x, y, hh, settings.walk_speed_m_s, (minutes,))}
    areas = level_frame(locator, level)
    areas["households"] = [table[c]["households"] for c in areas["code"]]
    areas["share"] = [table[c][f"share_{minutes:g}_min"] for c in areas["code"]]
    limit = reach_m(minutes, settings.walk_speed_m_s)
    out = walk > limit
    uncovered = gpd.GeoDataFrame({"address": [rows[i].address for i in np.flatnonzero(out)],
                                  "households": hh[out].astype(int)}, geometry=shapely.points(x[out], y[out]), crs=4326)
    _ids, polys, _stored = station_circles(engine, locator, minutes, settings.walk_speed_m_s)
    circles = gpd.GeoDataFrame({"name": locator.stations.names}, geometry=list(polys), crs=4326)
    return render(coverage_map(areas, circles[~circles.is_empty], uncovered, stations_frame(locator), minutes))


FRAMES = {"hour": "YYYY-MM-DD HH24:00", "day": "YYYY-MM-DD", "week": 'IYYY-"W"IW'}  # China Standard Time


def heatmap_page(engine: Engine, locator: LocateEngine, settings: Settings, start: datetime | None = None,
                 end: datetime | None = None, days: float = 30, category: str | None = None, step: str = "day",
                 **_) -> str:
    """Requests of the window as a heatmap with one frame per hour, day or ISO week (China Standard Time)."""
    from maps.command import heatmap_map

    if step not in FRAMES:
        raise PageError(f"step: {step!r}; use one of {', '.join(FRAMES)}")
    with engine.connect() as conn:
        s, e, _prev = request_window(conn, start, end, days)
        points = hs.request_points(conn, s, e, category, frame=FRAMES[step])
    title = f"请求热力 {s.astimezone(TZ):%Y-%m-%d} – {e.astimezone(TZ):%Y-%m-%d}" + (f" · {category}" if category else "")
    return render(heatmap_map(points, _context(locator), title))


def hotspots_page(engine: Engine, locator: LocateEngine, settings: Settings, start: datetime | None = None,
                  end: datetime | None = None, days: float = 30, category: str | None = None, **_) -> str:
    """Grids coloured by their Gi* class for the window (hot/cold at 99/95/90 %, FDR)."""
    from maps.command import hotspot_map

    with engine.connect() as conn:
        s, e, prev = request_window(conn, start, end, days)
        result = hs.hotspots(conn, locator, s, e, prev, category, "grid", permutations=settings.hotspot_permutations)
    grids = level_frame(locator, "grid")
    stats = pd.DataFrame(result["areas"]).set_index("code")
    for col in ("count", "previous", "trend", "z", "class"):
        grids[col] = stats.loc[grids["code"], col].to_numpy()
    title = f"Gi* 热点 {s.astimezone(TZ):%Y-%m-%d} – {e.astimezone(TZ):%Y-%m-%d}" + (f" · {category}" if category else "")
    return render(hotspot_map(grids, _context(locator), title))


def overdue_page(engine: Engine, locator: LocateEngine, settings: Settings, **_) -> str:
    """Open requests past their deadline, coloured by their colour code (urgency and importance)."""
    from maps.command import overdue_map

    with engine.connect() as conn:
        rows = conn.execute(text(f"""
            SELECT id, category, status, grid_code AS grid, colour,
                   round(extract(epoch FROM now() - due_at) / 3600) AS overdue_h, ST_X(geom) AS x, ST_Y(geom) AS y
            FROM request WHERE status IN ({OPEN_SQL}) AND due_at < now() AND geom IS NOT NULL
            ORDER BY due_at""")).all()
    frame = pd.DataFrame(rows, columns=["id", "category", "status", "grid", "colour", "overdue_h", "x", "y"])
    frame["overdue_h"] = frame["overdue_h"].astype(float).astype(int)
    xy = frame[["x", "y"]].to_numpy(dtype=float)  # float even when empty (an empty frame's columns are objects)
    req = gpd.GeoDataFrame(frame.drop(columns=["x", "y"]), geometry=shapely.points(xy[:, 0], xy[:, 1]), crs=4326)
    return render(overdue_map(req, _context(locator), f"超期请求 overdue · {datetime.now(TZ):%Y-%m-%d %H:%M}"))


def ranking_page(engine: Engine, locator: LocateEngine, settings: Settings, month: str | None = None, **_) -> str:
    """Grids coloured by their score for the month; the two lowest outlined and named."""
    from maps.command import ranking_map

    start, end = month_window(month, previous=True)
    with engine.connect() as conn:
        board = scoreboard(conn, locator, start, end, as_of=datetime.now(TZ), with_previous=False)
    grids = level_frame(locator, "grid")
    stats = pd.DataFrame(board["grids"]).set_index("code")
    for col in ("rank", "score", "volume", "on_time_rate", "satisfaction", "repeat_rate"):
        grids[col] = stats.loc[grids["code"], col].to_numpy()
    return render(ranking_map(grids, [r["code"] for r in board["lowest"]], f"网格排名 {board['month']}"))


def redraw_page(engine: Engine, locator: LocateEngine, settings: Settings, redraw_id: int = 0, **_) -> str:
    """A redraw before and after, side by side: the areas, the buildings that move, the findings."""
    import shapely.geometry

    from maps.redraw import proposal_frame, redraw_map

    with engine.connect() as conn:
        r = conn.execute(text("SELECT * FROM redraw WHERE id = :i"), {"i": redraw_id}).mappings().first()
        if r is None:
            raise PageNotFound(f"redraw {redraw_id} does not exist")
        parents = r["impact"].get("scope") or [r["parent_code"]]  # a merge covers several communities
        before = children(conn, r["based_on"], r["level"], parents)
        after = children(conn, r["draft_generation"], r["level"], parents) if r["draft_generation"] \
            else proposal_frame(r.get("proposal"), r["impact"].get("households_after"))
    moves = r["impact"].get("moves", [])
    moves = gpd.GeoDataFrame(
        {k: [m.get(k) for m in moves] for k in ("address", "from", "to", "households")},
        geometry=shapely.points([m.get("lon", np.nan) for m in moves], [m.get("lat", np.nan) for m in moves])
        if moves else [], crs=4326)
    moves = moves[~moves.geometry.is_empty & moves.geometry.notna()] if len(moves) else moves
    located = [f for f in r["findings"] if f.get("geometry")]
    findings = gpd.GeoDataFrame({"kind": [f["kind"] for f in located], "severity": [f.get("severity", "error") for f in located],
                                 "message": [f["message"] for f in located]},
                                geometry=[shapely.geometry.shape(f["geometry"]) for f in located], crs=4326)
    state = "已提交 committed" if r["status"] == "committed" else ("可提交 valid" if r["valid"] else "不可提交 not valid")
    title = f"重划 #{redraw_id} {r['level']} of {r['parent_code']} · {state}"
    return render(redraw_map(before, after, moves, findings, title))


def rounds_page(engine: Engine, locator: LocateEngine, settings: Settings, scope: tuple[str, str] | None = None,
                **_) -> str:
    """Units coloured by days since their last visit (the whole map, or a grid, community or street's)."""
    from gis.field.coverage import last_visits, units_under
    from gis.store.db import session_scope
    from maps.rounds import rounds_map

    units = level_frame(locator, "unit")
    grids = level_frame(locator, "grid")
    with session_scope(engine) as session:
        last = last_visits(session, locator.generation).set_index("code")
        if scope is not None:
            under = units_under(session, locator.generation, *scope)
            units = units[units["code"].isin(under.loc[under["level"] == "unit", "code"])]
            grids = grids[grids["code"].isin(under.loc[under["level"] == "grid", "code"])]
    now = pd.Timestamp(datetime.now(TZ))
    at = pd.to_datetime(last["last_at"].reindex(units["code"]).to_numpy(), utc=True)
    units = units.assign(days=((now - at).total_seconds() / 86400).to_numpy(dtype=float))
    where = f" · {scope[0]} {scope[1]}" if scope else ""
    return render(rounds_map(units, grids, f"走访覆盖 rounds{where} · {datetime.now(TZ):%Y-%m-%d}"))


PAGES = {"grids": grids_page, "coverage": coverage_page, "heatmap": heatmap_page, "hotspots": hotspots_page,
         "overdue": overdue_page, "ranking": ranking_page,
         "rounds": rounds_page}
