"""A week of field work for the demo city, so the rounds page, coverage and stars show something: each
grid worker visits most units of their grid over the last seven days, holding units patrol, and a few
reporting officials (报到党员) per community took and finished orders of the last month (flags awarded)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import shapely
from sqlalchemy import text

from gis.field.flags import award
from gis.store import bulk

VISITED_SHARE = 0.85  # the share of units a grid worker reaches in the demo week
OFFICIALS_PER_COMMUNITY = 4


def write_visits(session, conn, areas, ids: dict, seed: int = 0, now: datetime | None = None) -> dict:
    """The demo week: visits (one per unit reached, at the unit's centre, by its grid's worker), two
    patrols per holding unit, and reporting officials handed finished requests; returns the counts."""
    rng = np.random.default_rng(seed + 14)
    now = now or datetime.now(timezone.utc)
    units = areas[areas["level"] == "unit"]
    worker = dict(session.execute(text(
        "SELECT area_code, min(person_id) FROM assignment WHERE role = 'grid_worker' GROUP BY area_code")).all())
    keep = rng.random(len(units)) < VISITED_SHARE
    keep &= units["parent_code"].isin(list(worker)).to_numpy()
    sub = units[keep]
    pts = shapely.point_on_surface(sub.geometry.values)
    ats = [now - timedelta(seconds=float(s)) for s in rng.uniform(3600, 7 * 86400 - 3600, len(sub))]
    bulk.write_points(conn, "visit", ("person_id", "kind", "at", "generation_id", "area_id", "grid_code",
                                      "outside_grid", "unit_area_ids", "households", "source"),
                      ([worker[g] for g in sub["parent_code"]], ["visit"] * len(sub), ats,
                       [None] * len(sub), [ids[("grid", g)] for g in sub["parent_code"]], sub["parent_code"].tolist(),
                       [False] * len(sub), [[ids[("unit", c)]] for c in sub["code"]],
                       sub["households"].to_numpy(), ["demo"] * len(sub)),
                      shapely.get_x(pts), shapely.get_y(pts))
    patrols = _patrols(session, conn, areas, rng, now)
    officials = _officials(session, conn, areas, ids, rng, now)
    flags = award(session, now - timedelta(days=62))
    return {"visits": len(sub), "patrols": patrols, "officials": officials, "flags": flags}


def _patrols(session, conn, areas, rng, now) -> int:
    """Two patrols this week by each holding unit, at its grid's centre."""
    rows = session.execute(text(
        "SELECT person_id, area_code, area_id FROM assignment WHERE role = 'holding_department' ORDER BY id")).all()
    grids = areas[areas["level"] == "grid"].set_index("code")
    rows = [r for r in rows if r.area_code in grids.index]
    pts = shapely.point_on_surface(grids.loc[[r.area_code for r in rows]].geometry.values)
    n = len(rows)
    bulk.write_points(conn, "visit", ("person_id", "kind", "at", "area_id", "grid_code", "outside_grid", "source"),
                      ([r.person_id for r in rows] * 2, ["patrol"] * 2 * n,
                       [now - timedelta(days=float(d)) for d in rng.uniform(0.1, 6.9, 2 * n)],
                       [r.area_id for r in rows] * 2, [r.area_code for r in rows] * 2, [False] * 2 * n, ["demo"] * 2 * n),
                      np.tile(shapely.get_x(pts), 2), np.tile(shapely.get_y(pts), 2))
    return 2 * n


def _officials(session, conn, areas, ids, rng, now) -> int:
    """Reporting officials registered to each community (在职党员到社区报到), each handed some of the requests
    of its first grid finished in the last month (as assignees naming their person id)."""
    grids = areas[areas["level"] == "grid"]
    finest = grids[~grids["code"].isin(set(grids["parent_code"]))].sort_values("code")  # where requests land
    # the demo's codes follow their parents, so a grid's community is its code's first 12 digits (any tier)
    first = finest.groupby(finest["code"].str[:12])["code"].first()
    made = 0
    for community, grid in first.items():
        for k in range(OFFICIALS_PER_COMMUNITY):
            pid = session.execute(text("INSERT INTO person (name, organisation) VALUES (:n, :o) RETURNING id"),
                                  {"n": f"{community}报到党员{k + 1}", "o": f"区直机关第{k + 1}党支部"}).scalar()
            session.execute(text("INSERT INTO assignment (person_id, role, level, area_id, area_code) "
                                 "VALUES (:p, 'reporting_official', 'community', :a, :c)"),
                            {"p": pid, "a": ids[("community", community)], "c": community})
            take = int(rng.integers(0, 6))
            session.execute(text("""
                UPDATE request SET assignees = assignees || jsonb_build_array(jsonb_build_object(
                    'person_id', CAST(:p AS int), 'name', CAST(:n AS text), 'role', 'reporting_official'))
                WHERE id IN (SELECT id FROM request WHERE grid_code = :g AND finished_at >= :since
                             AND finished_at < :now AND status IN ('fed_back', 'evaluated')
                             ORDER BY id OFFSET :off LIMIT :take)"""),
                            {"p": pid, "n": f"{community}报到党员{k + 1}", "g": grid, "since": now - timedelta(days=31),
                             "now": now, "off": k * 6, "take": take})
            made += 1
    return made
