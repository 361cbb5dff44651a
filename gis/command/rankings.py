"""The monthly grid scoreboard (月度网格排名): volume, on-time rate, satisfaction and repeat requests
per grid, a score, the rank, and the two lowest named — and reported upward when they were also
among the two lowest the month before, as the cities do.

A request counts for the grid it was located in, by the area's id (its identity), and each grid is
labelled with its code in the generation asked about: a re-coding (same areas, new codes) changes no count.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.locate.engine import LocateEngine
from gis.command.loop import REPEAT_DAYS
from gis.command.periods import shift_month

# score = 100 × (W_ON_TIME·on-time rate + W_SATISFACTION·(mean rating − 1)/4 + W_REPEAT·(1 − repeat rate))
W_ON_TIME, W_SATISFACTION, W_REPEAT = 0.4, 0.4, 0.2
NAMED = 2  # the lowest grids named each month


def grid_stats(conn: Connection, start: datetime, end: datetime, as_of: datetime) -> dict[int, dict]:
    """Per grid area id: requests created in [start, end), finished, on time, due by `as_of`, ratings,
    repeats (same category and unit — or grid — within REPEAT_DAYS of an earlier request)."""
    rows = conn.execute(text("""
        WITH r AS (
            SELECT grid_area_id, created_at, due_at, finished_at, satisfaction,
                   lag(created_at) OVER (PARTITION BY grid_area_id, coalesce(unit_area_id, 0), category
                                         ORDER BY created_at, id) AS before
            FROM request
            WHERE created_at >= :from AND created_at < :end AND status <> 'rejected' AND grid_area_id IS NOT NULL
        )
        SELECT grid_area_id, count(*) AS volume,
               count(*) FILTER (WHERE finished_at IS NOT NULL) AS finished,
               count(*) FILTER (WHERE finished_at IS NOT NULL AND finished_at <= due_at) AS on_time,
               count(*) FILTER (WHERE finished_at IS NOT NULL OR due_at < :as_of) AS due,
               avg(satisfaction) AS satisfaction, count(satisfaction) AS rated,
               count(*) FILTER (WHERE before IS NOT NULL AND created_at - before <= make_interval(days => :days))
                   AS repeats
        FROM r WHERE created_at >= :start GROUP BY grid_area_id
    """), {"from": start - timedelta(days=REPEAT_DAYS), "start": start, "end": end, "as_of": as_of,
           "days": REPEAT_DAYS}).mappings().all()
    return {int(r["grid_area_id"]): dict(r) for r in rows}


def score(s: dict) -> dict:
    """A grid's month as rates and one score (on time, satisfaction, repeats), from its counts."""
    on_time = s["on_time"] / s["due"] if s["due"] else 1.0
    sat = float(s["satisfaction"]) if s["satisfaction"] is not None else None
    repeat = s["repeats"] / s["volume"] if s["volume"] else 0.0
    sat_part = (sat - 1) / 4 if sat is not None else 0.5  # no ratings yet: neutral
    value = 100 * (W_ON_TIME * on_time + W_SATISFACTION * sat_part + W_REPEAT * (1 - repeat))
    return {"volume": s["volume"], "finished": s["finished"], "on_time_rate": round(on_time, 4),
            "satisfaction": round(sat, 3) if sat is not None else None, "rated": s["rated"],
            "repeat_rate": round(repeat, 4), "repeats": s["repeats"], "score": round(value, 2)}


def scoreboard(conn: Connection, locator: LocateEngine, start: datetime, end: datetime,
               as_of: datetime, with_previous: bool = True) -> dict:
    """Every grid of the locator's generation ranked for the month (1 = best), its requests counted by
    area id and labelled with this generation's code; grids with no requests are listed unranked. The lowest NAMED are named; `reported_upward` are those named twice in a row."""
    d = locator.levels["grid"]
    stats = grid_stats(conn, start, end, as_of)
    parent = dict(zip(d.codes.tolist(), d.parents.tolist()))
    ids = d.area_ids.tolist() if d.area_ids is not None else [None] * len(d.codes)
    rows = []
    for code, name, aid in zip(d.codes.tolist(), d.names.tolist(), ids):
        s = stats.get(aid)
        row = {"code": code, "name": name, "community": parent[code], "area_id": aid}
        row.update(score(s) if s else {"volume": 0, "finished": 0, "on_time_rate": None, "satisfaction": None,
                                        "rated": 0, "repeat_rate": None, "repeats": 0, "score": None})
        rows.append(row)
    ranked = sorted((r for r in rows if r["score"] is not None), key=lambda r: (-r["score"], r["code"]))
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    unranked = [r | {"rank": None} for r in rows if r["score"] is None]
    lowest = [r["code"] for r in ranked[-NAMED:]][::-1] if len(ranked) > NAMED else []
    out = {"month": f"{start:%Y-%m}", "start": start, "end": end, "as_of": as_of, "generation": locator.generation,
           "weights": {"on_time": W_ON_TIME, "satisfaction": W_SATISFACTION, "repeat": W_REPEAT},
           "ranked": len(ranked), "lowest": [next(r for r in ranked if r["code"] == c) for c in lowest],
           "grids": ranked + unranked}
    if with_previous:
        p0, p1 = shift_month(start, -1)
        before = scoreboard(conn, locator, p0, p1, as_of, with_previous=False)
        prev_low = {r["code"] for r in before["lowest"]}
        out["previous_lowest"] = [r["code"] for r in before["lowest"]]
        out["reported_upward"] = [c for c in lowest if c in prev_low]
    return out
