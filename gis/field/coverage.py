"""Coverage of rounds (入户问需 once a week): per grid and ISO week the share of households whose unit was
visited and the units not visited for N weeks; per community or street the same for each of its grids;
per holding unit (包保单位) and month its visits, patrols and checks."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.command.periods import TZ
from gis.errors import Invalid, NotFound


def week_window(week: str | None, now: datetime | None = None) -> tuple[datetime, datetime, str]:
    """[start, end) and label of an ISO week `YYYY-Www` in China Standard Time (default: this week)."""
    if week:
        m = re.fullmatch(r"(20[0-9]{2})-W([0-5][0-9])", week.strip())
        if m is None:
            raise Invalid("week", f"{week[:20]!r} is not an ISO week YYYY-Www (e.g. 2026-W47)")
        try:
            d = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise Invalid("week", f"{week[:20]!r}: that year has no such week") from None
    else:
        today = (now or datetime.now(TZ)).astimezone(TZ).date()
        d = today - timedelta(days=today.weekday())
    start = datetime(d.year, d.month, d.day, tzinfo=TZ)
    y, w, _ = d.isocalendar()
    return start, start + timedelta(days=7), f"{y}-W{w:02d}"


SCOPES = {
    "grid": "ga.code = :code",
    "community": "ga.tier = 1 AND ga.parent_level = 'community' AND ga.parent_code = :code",
    "street": """ga.tier = 1 AND ga.parent_level = 'community' AND ga.parent_code IN (
                   SELECT c.code FROM generation_area c WHERE c.generation_id = :gen AND c.level = 'community'
                   AND c.parent_code = :code)""",
}


def units_under(session: Session, gen: int, scope: str, code: str) -> pd.DataFrame:
    """Every unit under the grids of a scope (a grid, or the tier-1 grids of a community or street), with
    the top grid it counts for, its households and its last visit before now (one recursive query)."""
    if scope not in SCOPES:
        raise Invalid("scope", f"use one of {', '.join(SCOPES)}")
    rows = session.execute(text(f"""
        WITH RECURSIVE down AS (
            SELECT ga.level, ga.code, ga.area_id, ga.code AS grid FROM generation_area ga
            WHERE ga.generation_id = :gen AND ga.level = 'grid' AND {SCOPES[scope]}
          UNION ALL
            SELECT c.level, c.code, c.area_id, down.grid FROM generation_area c
            JOIN down ON c.generation_id = :gen AND c.parent_level = down.level AND c.parent_code = down.code
            WHERE down.level = 'grid'
        )
        SELECT d.grid, d.level, d.area_id, d.code, a.name, a.households FROM down d JOIN area a ON a.id = d.area_id
        ORDER BY d.grid, d.code"""), {"gen": gen, "code": code}).all()
    frame = pd.DataFrame(rows, columns=["grid", "level", "area_id", "code", "name", "households"])
    if frame.empty:
        raise NotFound(f"{scope}: no {scope} {code!r} with grids in generation {gen}")
    return frame


def rounds(session: Session, gen: int, scope: str, code: str, week: str | None, stale_weeks: int,
           now: datetime | None = None) -> dict:
    """Coverage of one week's rounds for a grid, or for each grid of a community or street: households
    whose unit was visited that week over all households, visits by kind, and (for a grid) the units not
    visited for `stale_weeks` weeks up to the week's end, the longest unvisited first."""
    start, end, label = week_window(week, now)
    frame = units_under(session, gen, scope, code)
    grids, units = frame[frame["level"] == "grid"], frame[frame["level"] == "unit"].copy()
    seen = pd.DataFrame(session.execute(text("""
        SELECT uid AS area_id, max(v.at) AS last_at, bool_or(v.at >= :s) AS this_week
        FROM visit v CROSS JOIN LATERAL unnest(v.unit_area_ids) AS uid
        WHERE v.at < :e AND v.unit_area_ids && CAST(:ids AS bigint[]) GROUP BY uid"""),
        {"s": start, "e": end, "ids": units["area_id"].astype(int).tolist()}).all(),
        columns=["area_id", "last_at", "this_week"])
    units = units.merge(seen, on="area_id", how="left")
    units["this_week"] = units["this_week"].astype("boolean").fillna(False).astype(bool)
    kinds = pd.DataFrame(session.execute(text("""
        SELECT v.area_id, v.kind, count(*) AS n FROM visit v
        WHERE v.at >= :s AND v.at < :e AND v.area_id = ANY(:g) GROUP BY v.area_id, v.kind"""),
        {"s": start, "e": end, "g": grids["area_id"].astype(int).tolist()}).all(), columns=["area_id", "kind", "n"])
    kinds = kinds.merge(grids[["area_id", "grid"]], on="area_id")
    stale_before = end - timedelta(weeks=stale_weeks)
    out = []
    for g, name in grids[grids["code"] == grids["grid"]][["grid", "name"]].itertuples(index=False):
        u = units[units["grid"] == g]
        total = int(u["households"].sum())
        visited = int(u.loc[u["this_week"], "households"].sum())
        k = kinds[kinds["grid"] == g].groupby("kind")["n"].sum()
        row = {"grid": g, "name": name, "units": len(u), "visited_units": int(u["this_week"].sum()),
               "households": total, "visited_households": visited,
               "share": round(visited / total, 4) if total else None,
               **{f"{kind}s": int(k.get(kind, 0)) for kind in ("visit", "patrol", "check")}}
        stale = u[u["last_at"].isna() | (u["last_at"] < stale_before)]
        row["not_visited_units"] = len(stale)
        if scope == "grid":
            row["not_visited"] = [
                {"code": c, "name": n, "households": int(h), "last_visit": None if pd.isna(t) else t.to_pydatetime(),
                 "days_since": None if pd.isna(t) else int((end - t.to_pydatetime()).total_seconds() // 86400)}
                for c, n, h, t in stale.sort_values("last_at", na_position="first")[
                    ["code", "name", "households", "last_at"]].itertuples(index=False)]
        out.append(row)
    total = sum(r["households"] for r in out)
    visited = sum(r["visited_households"] for r in out)
    return {scope: code, "week": label, "start": start, "end": end, "stale_weeks": stale_weeks,
            "households": total, "visited_households": visited,
            "share": round(visited / total, 4) if total else None, "grids": out}


def last_visits(session: Session, gen: int) -> pd.DataFrame:
    """Every unit of a generation with its last visit (NaT when never): what the rounds map colours."""
    rows = session.execute(text("""
        SELECT ga.area_id, ga.code, ga.parent_code AS grid, a.households, lv.last_at
        FROM generation_area ga JOIN area a ON a.id = ga.area_id
        LEFT JOIN (SELECT uid, max(v.at) AS last_at FROM visit v CROSS JOIN LATERAL unnest(v.unit_area_ids) AS uid
                   GROUP BY uid) lv ON lv.uid = ga.area_id
        WHERE ga.generation_id = :gen AND ga.level = 'unit' ORDER BY ga.code"""), {"gen": gen}).all()
    return pd.DataFrame(rows, columns=["area_id", "code", "grid", "households", "last_at"])


def holding_month(session: Session, gen: int, grid: str, start: datetime, end: datetime) -> list[dict]:
    """The grid's holding units (包保单位: people in the holding_department role assigned to it) and their
    visits, patrols and checks in [start, end), as published on the grid's board."""
    rows = session.execute(text("""
        SELECT p.id, coalesce(p.organisation, p.name) AS unit,
               count(v.id) FILTER (WHERE v.kind = 'visit') AS visits,
               count(v.id) FILTER (WHERE v.kind = 'patrol') AS patrols,
               count(v.id) FILTER (WHERE v.kind = 'check') AS checks
        FROM generation_area ga JOIN assignment asg ON asg.area_id = ga.area_id AND asg.role = 'holding_department'
        JOIN person p ON p.id = asg.person_id
        LEFT JOIN visit v ON v.person_id = p.id AND v.at >= :s AND v.at < :e
        WHERE ga.generation_id = :gen AND ga.level = 'grid' AND ga.code = :g
        GROUP BY p.id ORDER BY unit, p.id"""), {"gen": gen, "g": grid, "s": start, "e": end}).all()
    return [{"unit": r.unit, "visits": r.visits, "patrols": r.patrols, "checks": r.checks} for r in rows]
