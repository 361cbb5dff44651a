"""Identity across generations: which areas of a new generation succeed the areas an old one had.

An area keeps its id while its ground is the same (gis.store.bulk reuses the row), so only areas whose
id is not in the new generation were replaced. Their successors are the new areas of the same level on
overlapping ground; each pair is a `crosswalk` row (kind 'redraw' or 'import') with `share`, the part of
the old ground the successor took. The people assigned to a replaced area, and the open requests
located in it, follow it to one successor: the new area with the same code if there is one, else the
one that took most of its ground, the first code on a tie (an open request: the area its point lies in,
when one does).
Everything is a few set-based statements, so a re-import of identical areas costs one anti-join.
"""
from __future__ import annotations

from sqlalchemy import text

from gis.store.queries import OPEN_SQL

MIN_SHARE = 0.001  # overlaps below 0.1 % of the old ground are shared edges and drawing noise


def succeed(session, old_generation: int | None, new_generation: int, level: str | None = None,
            parents: list[str] | None = None, kind: str = "redraw", source: str | None = None,
            record: bool = True) -> dict:
    """Find the successors in `new_generation` of every area of `old_generation` (of `level`, and
    under `parents` codes when given) that the new one no longer holds; write them to the crosswalk and
    re-point assignments and open requests, in the caller's transaction (`record=False`: re-point only,
    e.g. when an earlier generation is made active again). Returns a report:
    {"replaced", "crosswalk", "assignments": [{"from", "to", "assignments"}], "requests", "unplaced"}."""
    report = {"replaced": 0, "crosswalk": 0, "assignments": [], "requests": 0, "unplaced": []}
    if old_generation is None:
        return report
    session.execute(text("""CREATE TEMP TABLE IF NOT EXISTS _succession (
        old_id bigint, level text, old_code text, new_id bigint, new_code text, share float8) ON COMMIT DROP"""))
    session.execute(text("TRUNCATE _succession"))
    session.execute(text("""
        WITH gone AS (
            SELECT o.area_id, o.level, o.code, a.geom, ST_Area(a.geom) AS ground
            FROM generation_area o JOIN area a ON a.id = o.area_id
            WHERE o.generation_id = :old AND (CAST(:l AS text) IS NULL OR o.level = :l)
              AND (CAST(:parents AS text[]) IS NULL OR o.parent_code = ANY(CAST(:parents AS text[])))
              AND NOT EXISTS (SELECT 1 FROM generation_area n
                              WHERE n.generation_id = :new AND n.area_id = o.area_id)
        ), pairs AS (
            SELECT g.area_id AS old_id, g.level, g.code AS old_code, n.area_id AS new_id, n.code AS new_code,
                   CASE WHEN g.ground > 0 AND ST_Intersects(na.geom, g.geom)
                        THEN least(1.0, ST_Area(ST_Intersection(na.geom, g.geom)) / g.ground) ELSE 0 END AS share
            FROM gone g
            JOIN area na ON na.level = g.level AND na.geom && g.geom
            JOIN generation_area n ON n.generation_id = :new AND n.area_id = na.id
            UNION
            SELECT g.area_id, g.level, g.code, n.area_id, n.code,
                   CASE WHEN g.ground > 0 AND ST_Intersects(na.geom, g.geom)
                        THEN least(1.0, ST_Area(ST_Intersection(na.geom, g.geom)) / g.ground) ELSE 0 END
            FROM gone g
            JOIN generation_area n ON n.generation_id = :new AND n.level = g.level AND n.code = g.code
            JOIN area na ON na.id = n.area_id
        )
        INSERT INTO _succession
        SELECT g.area_id, g.level, g.code, p.new_id, p.new_code, p.share
        FROM gone g LEFT JOIN pairs p ON p.old_id = g.area_id AND (p.share >= :min OR p.new_code = g.code)
    """), {"old": old_generation, "new": new_generation, "l": level, "parents": parents, "min": MIN_SHARE})
    report["replaced"] = session.execute(text("SELECT count(DISTINCT old_id) FROM _succession")).scalar()
    if not report["replaced"]:
        return report
    if record:
        report["crosswalk"] = session.execute(text("""
            INSERT INTO crosswalk (generation_id, kind, level, source, from_code, from_area_id, to_code, to_area_id,
                                   share)
            SELECT :g, :k, level, :s, old_code, old_id, new_code, new_id, share FROM _succession
            WHERE new_id IS NOT NULL"""), {"g": new_generation, "k": kind, "s": source}).rowcount
    report["unplaced"] = list(session.execute(text(
        "SELECT old_code FROM _succession WHERE new_id IS NULL ORDER BY old_code")).scalars())
    heir = """(SELECT DISTINCT ON (old_id) old_id, level, old_code, new_id, new_code FROM _succession
               WHERE new_id IS NOT NULL
               ORDER BY old_id, (new_code = old_code) DESC, round(share::numeric, 6) DESC, new_code COLLATE "C")"""
    moved = session.execute(text(f"""
        WITH h AS {heir}, m AS (
            UPDATE assignment s SET area_id = h.new_id, area_code = h.new_code FROM h
            WHERE s.area_id = h.old_id RETURNING h.old_code, h.new_code)
        SELECT old_code, new_code, count(*) AS n FROM m GROUP BY 1, 2 ORDER BY 1, 2""")).all()
    report["assignments"] = [{"from": r.old_code, "to": r.new_code, "assignments": int(r.n)} for r in moved]
    for lvl in ("grid", "unit"):
        report["requests"] += session.execute(text(f"""
            WITH h AS {heir}
            UPDATE request r SET {lvl}_area_id = coalesce((
                SELECT n.area_id FROM generation_area n JOIN area na ON na.id = n.area_id
                WHERE n.generation_id = :g AND n.level = '{lvl}' AND r.geom IS NOT NULL AND ST_Covers(na.geom, r.geom)
                ORDER BY n.code COLLATE "C" LIMIT 1), h.new_id)
            FROM h WHERE h.level = '{lvl}' AND r.{lvl}_area_id = h.old_id AND r.status IN ({OPEN_SQL})
        """), {"g": new_generation}).rowcount
    return report


def name_source(session, generation: int, source: str) -> None:
    """Name the source of the crosswalk rows a generation's draft wrote before it had a name (a
    redraw's rows are written before the redraw row and its id exist)."""
    session.execute(text("UPDATE crosswalk SET source = :s WHERE generation_id = :g"),
                    {"s": source, "g": generation})
