"""Red flags (积旗制): each finished order earns its handlers the flags of every active rule it meets
(the `flag_rule` table, like the colour table), and the visitor who found it the `found` rules' flags;
awarded once per (person, request, rule), so the sweep is safe to run again. Weekly totals per person."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.vocab import FINISHED_STATUSES

# The people who handled a request: an assignee naming `person_id` is that person; one naming only a
# name is the one person of that name (departments are not people). Parameters: :since.
HANDLERS_SQL = """
    SELECT DISTINCT r.id AS request_id, p.id AS person_id, r.created_at, r.finished_at, r.due_at, r.satisfaction,
           r.status
    FROM request r
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.assignees) = 'array' THEN r.assignees
                                                 ELSE '[]'::jsonb END) a
    JOIN person p ON CASE WHEN (a->>'person_id') ~ '^[0-9]{1,9}$' THEN p.id = (a->>'person_id')::int
                          ELSE coalesce(a->>'role', '') <> 'department' AND p.name = a->>'name'
                               AND (SELECT count(*) FROM person q WHERE q.name = p.name) = 1 END
    WHERE jsonb_array_length(CASE WHEN jsonb_typeof(r.assignees) = 'array' THEN r.assignees ELSE '[]'::jsonb END) > 0
      AND (r.created_at >= :since OR r.finished_at >= :since)
"""


def award(session: Session, since: datetime) -> int:
    """Flags for every request finished since `since` by the active rules; returns how many rows were new."""
    return session.execute(text(f"""
        WITH handled AS ({HANDLERS_SQL}),
        fin AS (SELECT * FROM handled WHERE status = ANY(:fin) AND finished_at IS NOT NULL),
        found AS (SELECT DISTINCT r.id AS request_id, v.person_id, r.finished_at FROM visit v
                  JOIN request r ON r.id = v.request_id
                  WHERE r.status = ANY(:fin) AND r.finished_at >= :since),
        earned AS (
            SELECT f.person_id, f.request_id, fr.code, fr.flags, f.finished_at FROM fin f
            JOIN flag_rule fr ON fr.active AND (fr.kind = 'finished'
                 OR (fr.kind = 'on_time' AND f.due_at IS NOT NULL AND f.finished_at <= f.due_at)
                 OR (fr.kind = 'satisfied' AND f.satisfaction >= fr.min_satisfaction))
            UNION ALL
            SELECT f.person_id, f.request_id, fr.code, fr.flags, f.finished_at FROM found f
            JOIN flag_rule fr ON fr.active AND fr.kind = 'found')
        INSERT INTO flag (person_id, request_id, rule_code, flags, at)
        SELECT person_id, request_id, code, flags, finished_at FROM earned WHERE flags > 0
        ON CONFLICT ON CONSTRAINT flag_once DO NOTHING"""),
                           {"since": since, "fin": list(FINISHED_STATUSES)}).rowcount


def weekly(session: Session, start: datetime, end: datetime, person_ids: list[int] | None = None) -> list[dict]:
    """Per person for [start, end): orders taken (requests they were handed, by creation time), orders
    finished and flags earned; people with none of these are left out."""
    award(session, start)
    rows = session.execute(text(f"""
        WITH handled AS ({HANDLERS_SQL}),
        t AS (SELECT person_id, count(*) FILTER (WHERE created_at >= :since AND created_at < :end) AS taken,
                     count(*) FILTER (WHERE status = ANY(:fin) AND finished_at >= :since AND finished_at < :end)
                       AS finished
              FROM handled GROUP BY person_id),
        f AS (SELECT person_id, sum(flags) AS flags FROM flag WHERE at >= :since AND at < :end GROUP BY person_id)
        SELECT coalesce(t.person_id, f.person_id) AS person_id, coalesce(t.taken, 0) AS taken,
               coalesce(t.finished, 0) AS finished, coalesce(f.flags, 0) AS flags
        FROM t FULL JOIN f ON f.person_id = t.person_id
        WHERE (CAST(:ids AS int[]) IS NULL OR coalesce(t.person_id, f.person_id) = ANY(CAST(:ids AS int[])))
          AND (coalesce(t.taken, 0) + coalesce(t.finished, 0) + coalesce(f.flags, 0)) > 0
        ORDER BY flags DESC, finished DESC, person_id"""),
                           {"since": start, "end": end, "fin": list(FINISHED_STATUSES), "ids": person_ids}).all()
    return [{"person_id": r.person_id, "taken": r.taken, "finished": r.finished, "flags": int(r.flags)} for r in rows]
