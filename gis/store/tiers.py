"""The city's grid tiers (大网格/小网格, 小区网格/楼栋网格): how many, their names, the digits each adds
to its parent's code, and whether a tier's grids must cover their parent grid without gaps."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

FIRST_TIER_DIGITS = 3  # the national scheme: a first-tier grid is its community's 12 digits + 3
MAX_TIERS = 9


@dataclass(frozen=True)
class Tier:
    """One grid tier: 1 is the coarsest (under a community); `digits` it adds to its parent's code."""

    tier: int
    name: str
    digits: int
    nests: bool


class TierError(ValueError):
    """A tier scheme that cannot be stored (empty, too deep, bad digits, or existing grids deeper)."""


def tiers(conn) -> list[Tier]:
    """The city's grid tiers, coarsest first (at least the first, seeded by the schema)."""
    rows = conn.execute(text("SELECT tier, name, digits, nests FROM grid_tier ORDER BY tier")).all()
    return [Tier(int(r.tier), r.name, int(r.digits), bool(r.nests)) for r in rows]


def set_tiers(session, scheme: list[tuple[str, int, bool]]) -> list[Tier]:
    """Replace the tier scheme with `scheme` = [(name, digits, nests), ...] coarsest first, in the
    caller's transaction; TierError when grids of a deeper tier than the scheme allows exist already."""
    if not scheme:
        raise TierError("tiers: at least one tier is needed")
    if len(scheme) > MAX_TIERS:
        raise TierError(f"tiers: at most {MAX_TIERS} tiers, not {len(scheme)}")
    for i, (name, digits, _nests) in enumerate(scheme, start=1):
        if not str(name).strip():
            raise TierError(f"tiers[{i}].name: a tier needs a name")
        if not 1 <= int(digits) <= 6:
            raise TierError(f"tiers[{i}].digits: {digits} is not between 1 and 6")
    deepest = session.execute(text("SELECT max(tier) FROM generation_area WHERE level = 'grid'")).scalar()
    if deepest and deepest > len(scheme):
        raise TierError(f"tiers: grids of tier {deepest} exist already; a scheme of {len(scheme)} tier(s) "
                        "would leave them without a tier")
    session.execute(text("DELETE FROM grid_tier"))
    for i, (name, digits, nests) in enumerate(scheme, start=1):
        session.execute(text("INSERT INTO grid_tier (tier, name, digits, nests) VALUES (:t, :n, :d, :s)"),
                        {"t": i, "n": str(name).strip(), "d": int(digits), "s": bool(nests)})
    return tiers(session)
