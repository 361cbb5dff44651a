"""Personal data under PIPL: every staff read of it is logged (who, when, what, for which purpose), and
what is older than the retention settings is purged."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Invalid

PURPOSE_MAX = 200


def purpose_of(purpose: str | None, default: str) -> str:
    """The stated purpose of a read: the caller's, trimmed, or the route's default; Invalid naming `purpose`."""
    p = (purpose or "").strip() or default
    if len(p) > PURPOSE_MAX:
        raise Invalid("purpose", f"at most {PURPOSE_MAX} characters")
    return p


def log_read(session: Session, actor: str, what: str, purpose: str, subjects: int) -> None:
    """One staff read of personal data on record (in the reading transaction, so no read goes unlogged)."""
    session.execute(text("INSERT INTO pii_access_log (actor, what, purpose, subjects) VALUES (:a, :w, :p, :n)"),
                    {"a": actor, "w": what, "p": purpose, "n": int(subjects)})


def purge(session: Session, now: datetime, field_days: int, log_days: int) -> dict:
    """Delete visits, settled pledges and flags older than `field_days`, and access-log rows older than
    `log_days`; the counts deleted (a request raised from a visit stays: it is the loop's record)."""
    field_before, log_before = now - timedelta(days=field_days), now - timedelta(days=log_days)
    out = {}
    for table, where in (("visit", "at < :b"), ("pledge", "state <> 'made' AND settled_at < :b"), ("flag", "at < :b")):
        out[table] = session.execute(text(f"DELETE FROM {table} WHERE {where}"), {"b": field_before}).rowcount
    out["pii_access_log"] = session.execute(text("DELETE FROM pii_access_log WHERE at < :b"),
                                            {"b": log_before}).rowcount
    return {"deleted": out, "field_before": field_before.isoformat(), "log_before": log_before.isoformat()}
