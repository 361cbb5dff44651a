"""Codes follow parents: every child's code begins with its parent's code, at every level and tier.

A child whose code does not is given a new one (its parent's code + a zero-padded sequence number,
the digits its level adds: 3 for streets, communities and units, the tier's `grid_tier.digits` for
grids), top down, so a parent's new code cascades to its children in the same transaction. A code
that already begins with its parent's is kept as given. Only `generation_area` changes (codes are
labels: the area keeps its id, so no record moves); each change is a `crosswalk` row of kind 'recode'.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from gis.store.tiers import tiers as grid_tiers

LEVEL_DIGITS = {"street": 3, "community": 3, "unit": 3}  # the national 12-digit scheme and 十联户 + 3
CODE_MAX_LEN = 32  # generation_area.code


class CodeError(ValueError):
    """A code that cannot be given (a parent whose child numbers are used up, or too long a code)."""


class CodeNotFound(LookupError):
    """A code that no committed generation and no crosswalk row ever held (404 on /v1/codes)."""


@dataclass(frozen=True)
class Step:
    """One pass of the re-coding: a level (and for grids a tier) and the digits its codes add."""

    level: str
    tier: int | None
    digits: int


def steps(conn) -> list[Step]:
    """The passes top down: street, community, grid tier 1..n, unit (districts have no parent)."""
    out = [Step("street", None, LEVEL_DIGITS["street"]), Step("community", None, LEVEL_DIGITS["community"])]
    out += [Step("grid", t.tier, t.digits) for t in grid_tiers(conn)]
    out.append(Step("unit", None, LEVEL_DIGITS["unit"]))
    return out


def next_codes(parents: list[str], taken: set[str], digits: int) -> list[str]:
    """For each entry of `parents` (in order) the parent's code + the smallest zero-padded sequence
    number whose code is not in `taken`; each code handed out is added to `taken`. CodeError names the
    parent when its numbers are used up (10**digits - 1 children)."""
    out, start = [], {}
    limit = 10 ** digits
    for parent in parents:
        n = start.get(parent, 1)
        while n < limit and f"{parent}{n:0{digits}d}" in taken:
            n += 1
        if n >= limit:
            raise CodeError(f"code: {parent} has no free {digits}-digit child number left")
        code = f"{parent}{n:0{digits}d}"
        if len(code) > CODE_MAX_LEN:
            raise CodeError(f"code: {code} would be longer than {CODE_MAX_LEN} characters")
        taken.add(code)
        start[parent] = n + 1
        out.append(code)
    return out


def recode(session, generation: int, source: str | None = None) -> list[dict]:
    """Re-code, in the caller's transaction, every area of `generation` whose code does not begin with
    its parent's (top down, so new parent codes cascade); children's `parent_code` follow their parent.
    Writes one 'recode' crosswalk row per change (same area id) and returns the changes
    [{"level", "from", "to", "area_id"}], parents before children."""
    changes: list[dict] = []
    for step in steps(session):
        rows = session.execute(text("""
            SELECT area_id, code, parent_code FROM generation_area
            WHERE generation_id = :g AND level = :l AND (CAST(:t AS smallint) IS NULL OR tier = :t)
              AND parent_code IS NOT NULL AND left(code, length(parent_code)) <> parent_code
            ORDER BY parent_code, code COLLATE "C"
        """), {"g": generation, "l": step.level, "t": step.tier}).all()
        if not rows:
            continue
        taken = set(session.execute(text(
            "SELECT code FROM generation_area WHERE generation_id = :g AND level = :l"),
            {"g": generation, "l": step.level}).scalars())
        ids = [r.area_id for r in rows]
        old = [r.code for r in rows]
        new = next_codes([r.parent_code for r in rows], taken, step.digits)
        # new codes are never codes present at this level, so one UPDATE cannot collide with itself
        session.execute(text("""
            UPDATE generation_area ga SET code = m.new FROM unnest(CAST(:ids AS bigint[]), CAST(:new AS text[])) AS m(id, new)
            WHERE ga.generation_id = :g AND ga.area_id = m.id"""), {"g": generation, "ids": ids, "new": new})
        # grids of the next tier and units hang under a grid by (parent_level, parent_code): they follow
        session.execute(text("""
            UPDATE generation_area c SET parent_code = m.new
            FROM unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS m(old, new)
            WHERE c.generation_id = :g AND c.parent_level = :l AND c.parent_code = m.old"""),
            {"g": generation, "l": step.level, "old": old, "new": new})
        session.execute(text("""
            INSERT INTO crosswalk (generation_id, kind, level, source, from_code, from_area_id, to_code, to_area_id, share)
            SELECT :g, 'recode', :l, :s, m.old, m.id, m.new, m.id, 1.0
            FROM unnest(CAST(:ids AS bigint[]), CAST(:old AS text[]), CAST(:new AS text[])) AS m(id, old, new)"""),
            {"g": generation, "l": step.level, "s": source, "ids": ids, "old": old, "new": new})
        changes += [{"level": step.level, "from": o, "to": n, "area_id": i} for i, o, n in zip(ids, old, new)]
    return changes


# -- what a code was and what it became -------------------------------------------------------------
MAX_HOPS = 64  # crosswalk steps followed from one code (a chain of re-codings and redraws)


def history(session, code: str, level: str | None = None) -> dict:
    """What `code` was (per level and area: name, area id, the committed generations it bore the code
    in), what it became (the crosswalk rows out of it, followed to the codes of the active generation,
    shares multiplied along the way) and what it came from. CodeNotFound names the code when no committed
    generation and no crosswalk row ever held it."""
    active = session.execute(text("SELECT generation_id FROM active_generation WHERE id = 1")).scalar()
    was = session.execute(text("""
        SELECT ga.level, ga.area_id, a.name, array_agg(ga.generation_id ORDER BY ga.generation_id) AS gens,
               bool_or(ga.generation_id = :active) AS present
        FROM generation_area ga JOIN generation g ON g.id = ga.generation_id AND g.state = 'committed'
        JOIN area a ON a.id = ga.area_id
        WHERE ga.code = :c AND (CAST(:l AS text) IS NULL OR ga.level = :l)
        GROUP BY ga.level, ga.area_id, a.name ORDER BY min(ga.generation_id), ga.level
    """), {"c": code, "l": level, "active": active}).all()
    out_rows = _crosswalk(session, "from_code = :c", {"c": code}, level)
    in_rows = _crosswalk(session, "to_code = :c", {"c": code}, level)
    if not was and not out_rows and not in_rows:
        where = f" at level {level}" if level else ""
        raise CodeNotFound(f"code: {code} was never a code{where} in any generation or crosswalk")
    incarnations = [{"level": r.level, "name": r.name, "area_id": int(r.area_id), "generations": list(r.gens),
                     "first": r.gens[0], "last": r.gens[-1], "present": bool(r.present),
                     "now": _follow(session, [(r.level, code, int(r.area_id))], level, active)} for r in was]
    if incarnations:  # the latest area to bear the code (per level) says what the code now means
        latest = {}
        for w in incarnations:
            if w["level"] not in latest or w["last"] >= latest[w["level"]]["last"]:
                latest[w["level"]] = w
        now = sorted((n for w in latest.values() for n in w["now"]), key=lambda d: (d["level"], -d["share"], d["code"]))
    else:  # a code known only to the crosswalk: a merge's source code, or one re-coded as it came in
        starts = list(dict.fromkeys((r.level, code, r.from_area_id) for r in out_rows))
        now = _follow(session, starts, level, active)
    return {
        "code": code, "level": level, "active_generation": active,
        "present": any(w["present"] for w in incarnations),
        "was": incarnations, "now": now,
        "became": [_row(r) for r in out_rows],
        "came_from": [_row(r) for r in in_rows],
    }


def _crosswalk(session, where: str, params: dict, level: str | None) -> list:
    """Crosswalk rows of committed generations matching `where`, oldest first."""
    return session.execute(text(f"""
        SELECT x.* FROM crosswalk x JOIN generation g ON g.id = x.generation_id AND g.state = 'committed'
        WHERE {where} AND (CAST(:l AS text) IS NULL OR x.level = :l) ORDER BY x.generation_id, x.id
    """), params | {"l": level}).all()


def _row(r) -> dict:
    """One crosswalk row as JSON."""
    return {"generation": r.generation_id, "kind": r.kind, "level": r.level, "source": r.source,
            "from_code": r.from_code, "from_area_id": r.from_area_id, "to_code": r.to_code,
            "to_area_id": r.to_area_id, "share": None if r.share is None else round(float(r.share), 6),
            "at": r.at.isoformat() if r.at else None}


def _follow(session, starts: list[tuple], level: str | None, active: int | None) -> list[dict]:
    """The codes of the active generation that the areas `starts` = [(level, code, area id or None)]
    lead to, with the share of their ground each holds: an area the active generation still holds ends
    a path (whatever code it bears now); a replaced one goes on through the later crosswalk rows out of
    it (by area id, or by code for a merge's source codes), shares multiplied along a path and summed
    where paths meet again."""
    if active is None:
        return []
    # a path's head: (level, code, area id or None, generation it was reached in) → share of the ground
    frontier: dict[tuple, float] = {(lvl, c, a, 0): 1.0 for lvl, c, a in starts}
    now_of: dict[tuple, dict] = {}
    for _ in range(MAX_HOPS):
        if not frontier:
            break
        nxt: dict[tuple, float] = {}
        for (lvl, c, area_id, since), share in frontier.items():
            if area_id is not None:
                held = session.execute(text("""
                    SELECT ga.code, a.name FROM generation_area ga JOIN area a ON a.id = ga.area_id
                    WHERE ga.generation_id = :g AND ga.area_id = :a AND ga.level = :l"""),
                    {"g": active, "a": area_id, "l": lvl}).first()
                if held is not None:
                    d = now_of.setdefault((lvl, held.code), {"level": lvl, "code": held.code, "name": held.name,
                                                             "area_id": area_id, "share": 0.0})
                    d["share"] = min(1.0, d["share"] + share)
                    continue
                rows = _crosswalk(session, "from_area_id = :a AND kind <> 'recode' AND x.generation_id > :since",
                                  {"a": area_id, "since": since}, lvl)
            else:
                rows = _crosswalk(session, "from_code = :c AND from_area_id IS NULL AND x.generation_id > :since",
                                  {"c": c, "since": since}, lvl)
            for r in rows:
                if r.to_area_id is None:
                    continue
                key = (r.level, r.to_code, int(r.to_area_id), int(r.generation_id))
                nxt[key] = nxt.get(key, 0.0) + share * (1.0 if r.share is None else float(r.share))
        frontier = nxt
    out = sorted(now_of.values(), key=lambda d: (-d["share"], d["code"]))
    for d in out:
        d["share"] = round(d["share"], 6)
    return out


def crosswalk_rows(session, generation: int | None = None, level: str | None = None) -> list[dict]:
    """Every crosswalk row a committed generation wrote (default: the active one), for other systems;
    GenerationChoiceError (naming `generation`) for one that does not exist or is a draft."""
    from gis.store.generations import GenerationChoiceError, choose

    generation = choose(session, generation)
    if generation is None:
        raise GenerationChoiceError("generation: there is no active generation yet")
    return [_row(r) for r in _crosswalk(session, "x.generation_id = :g", {"g": generation}, level)]
