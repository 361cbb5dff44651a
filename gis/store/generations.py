"""Generations: which areas make up the map at one time, which one is active, and how a new one is made.

A new generation copies the membership of the one it is based on, except the levels being replaced,
so unchanged areas are shared (never copied or edited) and old generations stay queryable.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store.queries import active_generation
from gis.vocab import LEVELS

CHANNEL = "wangge_generation"


class GenerationError(RuntimeError):
    """A generation request that cannot be honoured (unknown id, a draft, ...)."""


class GenerationNotFound(GenerationError):
    """A generation id that does not exist (404 when activating)."""


class GenerationChoiceError(GenerationError):
    """A `generation=`/`at=` choice that cannot be honoured; the message names the parameter (422)."""


def active_id(session: Session) -> int | None:
    """The active generation's id (None before the first import)."""
    return active_generation(session)


def create(session: Session, source: str, note: str | None = None, based_on: int | None = None,
           replace_levels: tuple[str, ...] = (), state: str = "committed",
           replace_children: tuple[str, ...] | None = None) -> int:
    """Insert a generation based on `based_on` (default: the active one), carrying forward every
    membership row except those of `replace_levels` and, with `replace_children=(level, parent)` or
    `(level, parent, parent_level)`, the areas of that level under that parent (a grid's parent may be a
    community or a grid: the parent level tells which); returns the new id (not yet active). Rows are
    left out rather than copied and deleted, so nothing below them is touched."""
    if based_on is None:
        based_on = active_id(session)
    gen = session.execute(
        text("INSERT INTO generation (based_on, state, source, note) VALUES (:b, :s, :src, :n) RETURNING id"),
        {"b": based_on, "s": state, "src": source, "n": note},
    ).scalar_one()
    if based_on is not None:
        session.execute(
            text("""
                INSERT INTO generation_area (generation_id, area_id, level, code, parent_level, parent_code, tier)
                SELECT :g, area_id, level, code, parent_level, parent_code, tier FROM generation_area
                WHERE generation_id = :b AND NOT (level = ANY(:skip))
                  AND NOT (level = :cl AND parent_code = :cp
                           AND (CAST(:cpl AS text) IS NULL OR parent_level = :cpl))
            """),
            {"g": gen, "b": based_on, "skip": list(replace_levels),
             "cl": replace_children[0] if replace_children else "", "cp": replace_children[1] if replace_children else "",
             "cpl": replace_children[2] if replace_children and len(replace_children) > 2 else None},
        )
    return gen


def activate(session: Session, generation: int) -> None:
    """Make `generation` the one locate answers with; workers hear of it through NOTIFY on commit."""
    state = session.execute(text("SELECT state FROM generation WHERE id = :g"), {"g": generation}).scalar()
    if state is None:
        raise GenerationNotFound(f"generation {generation} does not exist")
    if state != "committed":
        raise GenerationError(f"generation {generation} is a {state}, not a committed generation")
    session.execute(text("UPDATE generation SET activated_at = now() WHERE id = :g"), {"g": generation})
    session.execute(text("INSERT INTO generation_activation (generation_id) VALUES (:g)"), {"g": generation})
    session.execute(
        text("""
            INSERT INTO active_generation (id, generation_id, changed_at) VALUES (1, :g, now())
            ON CONFLICT (id) DO UPDATE SET generation_id = EXCLUDED.generation_id, changed_at = now()
        """),
        {"g": generation},
    )


def active_at(session: Session, when) -> int | None:
    """The generation that was active at `when` (None before the first activation)."""
    return session.execute(text("""
        SELECT generation_id FROM generation_activation WHERE at <= :w ORDER BY at DESC, id DESC LIMIT 1
    """), {"w": when}).scalar()


def choose(session: Session, generation: int | None = None, at=None, drafts: bool = False) -> int | None:
    """The generation a query asks for: `generation=N`, or the one active `at` a time, or the active one.
    GenerationError names the parameter when it cannot be honoured (a draft only for planners)."""
    if generation is not None and at is not None:
        raise GenerationChoiceError("generation: give generation or at, not both")
    if at is not None:
        gen = active_at(session, at)
        if gen is None:
            raise GenerationChoiceError(f"at: no generation was active at {at.isoformat()}")
        return gen
    if generation is None:
        return active_id(session)
    state = session.execute(text("SELECT state FROM generation WHERE id = :g"), {"g": generation}).scalar()
    if state is None or (state == "draft" and not drafts):
        raise GenerationChoiceError(f"generation: generation {generation} does not exist")
    return generation


def notify_data_changed(session: Session) -> None:
    """Tell every worker that stations or staff changed (delivered on commit)."""
    session.execute(text("SELECT pg_notify(:c, 'data')"), {"c": CHANNEL})


def listing(session: Session) -> list[dict]:
    """Every generation, oldest first, with its area counts per level and whether it is active."""
    active = active_id(session)
    rows = session.execute(text("""
        SELECT g.id, g.created_at, g.activated_at, g.based_on, g.state, g.source, g.note,
               count(ga.area_id) FILTER (WHERE ga.level = 'district') AS districts,
               count(ga.area_id) FILTER (WHERE ga.level = 'street') AS streets,
               count(ga.area_id) FILTER (WHERE ga.level = 'community') AS communities,
               count(ga.area_id) FILTER (WHERE ga.level = 'grid') AS grids,
               count(ga.area_id) FILTER (WHERE ga.level = 'unit') AS units
        FROM generation g LEFT JOIN generation_area ga ON ga.generation_id = g.id
        GROUP BY g.id ORDER BY g.id
    """)).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        d["active"] = d["id"] == active
        d["counts"] = {lvl: d.pop(lvl + "s" if lvl != "community" else "communities") for lvl in LEVELS}
        for k in ("created_at", "activated_at"):
            d[k] = d[k].isoformat() if d[k] else None
        out.append(d)
    return out
