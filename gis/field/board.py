"""The grid's public board (公示栏): the month's work of its holding units, its coverage of rounds and its
community's service stars. Residents' data never appears on it (no found texts, points or addresses);
people are named only where the city's setting allows."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import NotFound
from gis.field.coverage import holding_month
from gis.field.stars import stars


def board(session: Session, gen: int, grid: str, start: datetime, end: datetime, month: str, names: bool,
          stars_window: tuple[datetime, datetime] | None = None) -> dict:
    """The board of `grid` for the month [start, end): holding units' visits, patrols and checks, and the
    rounds of the grid; the community's stars of `stars_window` (default the same month; names only with
    `names`)."""
    g = session.execute(text("""
        WITH RECURSIVE up AS (
            SELECT ga.level, ga.code, ga.name_area, ga.parent_level, ga.parent_code FROM (
                SELECT x.*, a.name AS name_area FROM generation_area x JOIN area a ON a.id = x.area_id) ga
            WHERE ga.generation_id = :gen AND ga.level = 'grid' AND ga.code = :g
          UNION ALL
            SELECT ga.level, ga.code, NULL, ga.parent_level, ga.parent_code FROM up
            JOIN generation_area ga ON ga.generation_id = :gen AND ga.level = up.parent_level AND ga.code = up.parent_code
            WHERE up.level = 'grid')
        SELECT (SELECT name_area FROM up WHERE level = 'grid' AND code = :g) AS name,
               (SELECT code FROM up WHERE level = 'community') AS community"""), {"gen": gen, "g": grid}).first()
    if g is None or g.name is None:
        raise NotFound(f"grid: no grid {grid!r} in generation {gen}")
    work = session.execute(text("""
        SELECT count(*) FILTER (WHERE v.kind = 'visit') AS visits, count(*) FILTER (WHERE v.kind = 'patrol') AS patrols,
               count(*) FILTER (WHERE v.kind = 'check') AS checks
        FROM visit v JOIN generation_area ga ON ga.area_id = v.area_id AND ga.generation_id = :gen
        WHERE ga.level = 'grid' AND ga.code = :g AND v.at >= :s AND v.at < :e"""),
                           {"gen": gen, "g": grid, "s": start, "e": end}).first()
    s_start, s_end = stars_window or (start, end)
    wall = stars(session, gen, s_start, s_end, g.community, names) if g.community else []
    return {"grid": {"code": grid, "name": g.name}, "month": month, "community": g.community,
            "holding_units": holding_month(session, gen, grid, start, end),
            "rounds": {"visits": work.visits, "patrols": work.patrols, "checks": work.checks},
            "stars_month": f"{s_start.astimezone(start.tzinfo):%Y-%m}", "stars": wall[0]["stars"] if wall else [],
            "names_shown": names}
