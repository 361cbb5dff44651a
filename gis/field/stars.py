"""Service stars (服务明星): the month's top three per community by flags earned; ties go to more orders
finished in the month, then to the lower person id (the earlier registered), so the wall is the same
whoever asks. Names only when the caller may see them (staff, logged) or the city's setting allows."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.field.flags import HANDLERS_SQL, award
from gis.vocab import FINISHED_STATUSES

TOP = 3


def stars(session: Session, gen: int, start: datetime, end: datetime, community: str | None = None,
          names: bool = False) -> list[dict]:
    """Per community (of the people's assignments, walked up the active generation), its top three people
    of [start, end) by flags: rank, flags, orders finished, organisation, and the name only with `names`."""
    award(session, start)
    rows = session.execute(text(f"""
        WITH RECURSIVE up AS (
            SELECT asg.person_id, ga.level, ga.code, ga.parent_level, ga.parent_code FROM assignment asg
            JOIN generation_area ga ON ga.area_id = asg.area_id AND ga.generation_id = :gen
          UNION ALL
            SELECT up.person_id, ga.level, ga.code, ga.parent_level, ga.parent_code FROM up
            JOIN generation_area ga ON ga.generation_id = :gen AND ga.level = up.parent_level
                                   AND ga.code = up.parent_code
            WHERE up.level NOT IN ('community', 'street', 'district')
        ),
        home AS (SELECT DISTINCT person_id, code AS community FROM up WHERE level = 'community'
                 AND (CAST(:community AS text) IS NULL OR code = :community)),
        f AS (SELECT person_id, sum(flags) AS flags FROM flag WHERE at >= :since AND at < :end GROUP BY person_id),
        done AS (SELECT person_id, count(*) AS finished FROM ({HANDLERS_SQL}) h
                 WHERE status = ANY(:fin) AND finished_at >= :since AND finished_at < :end GROUP BY person_id),
        ranked AS (
            SELECT h.community, h.person_id, f.flags, coalesce(done.finished, 0) AS finished,
                   row_number() OVER (PARTITION BY h.community
                                      ORDER BY f.flags DESC, coalesce(done.finished, 0) DESC, h.person_id) AS rank
            FROM home h JOIN f ON f.person_id = h.person_id LEFT JOIN done ON done.person_id = h.person_id
            WHERE f.flags > 0)
        SELECT r.*, p.name, p.organisation FROM ranked r JOIN person p ON p.id = r.person_id
        WHERE r.rank <= {TOP} ORDER BY r.community, r.rank"""),
        {"gen": gen, "since": start, "end": end, "community": community, "fin": list(FINISHED_STATUSES)}).all()
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r.community, []).append(
            {"rank": r.rank, "flags": int(r.flags), "finished": r.finished, "organisation": r.organisation,
             **({"person_id": r.person_id, "name": r.name} if names else {})})
    return [{"community": c, "stars": s} for c, s in out.items()]
