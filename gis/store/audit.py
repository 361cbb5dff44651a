"""The audit log: one append-only row per change of the record (imports, redraws, activations, demo
loads), written in the caller's transaction so it is there exactly when the change is."""
from __future__ import annotations

import json

from sqlalchemy import text


def write(session, actor: str, action: str, detail: dict) -> None:
    """Append who (`actor`) did what (`action`) with its `detail` as JSON (non-JSON values as text)."""
    session.execute(text("INSERT INTO audit_log (actor, action, detail) VALUES (:a, :x, CAST(:d AS jsonb))"),
                    {"a": actor, "x": action, "d": json.dumps(detail, ensure_ascii=False, default=str)})
