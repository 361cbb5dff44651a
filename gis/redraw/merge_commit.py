"""What committing a merge (多网合一) adds to a redraw's commit: the crosswalk from every source network's
codes to the merged grids, and the hand-over of the other communities in its scope."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store import identity


def after_commit(session: Session, row, old_gen: int, new_gen: int, actor: str, relocate) -> int:
    """When the committed redraw is a merge: the crosswalk from every source code to the merged areas
    (kind 'merge'), and the scope's communities other than the redraw's parent handed over (people and
    open requests follow the merged grids; `relocate` is the redraw commit's own relocation of open
    requests, passed in so this module needs nothing from the proposal code). Returns the crosswalk rows
    written (0: not a merge)."""
    impact = row["impact"] or {}
    merge = impact.get("merge") if isinstance(impact, dict) else None
    if not merge:
        return 0
    rows = [m for m in merge.get("mapping", []) if m.get("to_area_id")]
    if rows:
        session.execute(text("""
            INSERT INTO crosswalk (generation_id, kind, level, source, from_code, to_code, to_area_id, share)
            VALUES (:g, 'merge', 'grid', :s, :f, :t, :a, :sh)"""),
            [{"g": new_gen, "s": m["source"], "f": m["code"], "t": m["to_code"], "a": m["to_area_id"],
              "sh": m["share"]} for m in rows])
    others = [c for c in impact.get("scope", []) if c != row["parent_code"]]
    if others:
        _hand_over(session, others, old_gen, new_gen, row["id"], actor, relocate)
    return len(rows)


def _hand_over(session: Session, communities: list[str], old_gen: int, new_gen: int, redraw_id: int,
               actor: str, relocate) -> None:
    """People and open requests of the replaced grids of these communities follow their successors
    (what a redraw's commit does for its one parent)."""
    identity.succeed(session, old_gen, new_gen, "grid", communities, kind="redraw", source=f"redraw {redraw_id}")
    for c in communities:
        relocate(session, "grid", c, old_gen, new_gen, actor)
