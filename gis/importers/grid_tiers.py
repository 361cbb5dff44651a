"""Grid tiers in `wangge import areas --level grid --parent-field F`: one file holding every tier.

F holds a community code (a first-tier grid) or a grid code: of a grid in the same file, or of a grid
of the active generation that the file does not replace (the file replaces the tiers it holds; the
active generation's coarser grids are kept). Tiers are resolved by following parents. Checked before
anything is written, every problem listed: a parent that is unknown, a parent chain that loops, a tier
deeper than the city's tiers (grid_tier), a grid outside its parent grid beyond 1 %, and, where the
city says a tier nests, a parent grid its children leave uncovered by more than NEST_GAP_M2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text

from gis.store.queries import level_areas
from gis.store.tiers import tiers as city_tiers

NEST_GAP_M2 = 1.0  # a nesting tier may leave at most this much of its parent grid uncovered (slivers)


@dataclass
class GridParents:
    """The resolved grid file: each feature's parent code, parent level and tier, and the active
    generation's grids to keep (area ids) because the file hangs grids under them."""

    parents: list
    parent_levels: list
    tiers: list
    kept: list = field(default_factory=list)  # rows (area_id, code, parent_level, parent_code, tier)


def resolve(session, active, frame, parent_col, geoms, codes, problems, metric, outside_tolerance) -> GridParents:
    """Parents and tiers of a grid file from its parent field; problems appended (see module)."""
    n = len(codes)
    scheme = city_tiers(session)
    comm = {r.code: r for r in level_areas(session, active, "community")} if active else {}
    old = {r.code: r for r in level_areas(session, active, "grid")} if active else {}
    old_rows = _old_grids(session, active) if active else {}
    old_tier = {c: r.tier for c, r in old_rows.items()}
    in_file = {c: i for i, c in enumerate(codes) if c is not None}
    keys = [None if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" else str(v).strip()
            for v in frame[parent_col]]
    bad = np.zeros(n, dtype=bool)
    for i, key in enumerate(keys):
        if key is None:
            problems.append({"feature": i, "code": codes[i], "problem": "no parent code"})
            bad[i] = True
        elif key not in in_file and key not in old and key not in comm:
            problems.append({"feature": i, "code": codes[i], "problem":
                             f"parent code {key!r} is neither a grid in the file nor a grid or community in "
                             f"generation {active}"})
            bad[i] = True
        elif key == codes[i]:
            problems.append({"feature": i, "code": codes[i], "problem": "its parent is itself"})
            bad[i] = True
    # tiers by following parents inside the file (a chain that comes back to a feature is a cycle)
    tier = [0] * n
    for i in range(n):
        if tier[i] or bad[i]:
            continue
        chain, j = [], i
        while True:
            if j in chain:
                loop = chain[chain.index(j):] + [j]
                for k in set(loop):
                    if not bad[k]:
                        problems.append({"feature": k, "code": codes[k], "problem": "parents form a cycle: "
                                         + " → ".join(str(codes[m]) for m in loop)})
                        bad[k] = True
                break
            chain.append(j)
            key = keys[j]
            if bad[j] or tier[j]:
                break
            if key in in_file:
                j = in_file[key]
                continue
            tier[j] = 1 if key not in old else old_tier.get(key, 1) + 1
            break
        for k in reversed(chain):  # set tiers down the chain from the first one known
            if tier[k] or bad[k]:
                continue
            p = in_file.get(keys[k])
            if p is not None and tier[p]:
                tier[k] = tier[p] + 1
            else:
                bad[k] = True  # its chain ends in a refused feature: that one is already named
    file_tiers = {t for t in tier if t}
    lowest = min(file_tiers) if file_tiers else 1
    kept_codes = {c for c, t in old_tier.items() if t < lowest}
    for i in range(n):
        if not tier[i]:
            continue
        if tier[i] > len(scheme):
            problems.append({"feature": i, "code": codes[i], "problem":
                             f"it would be a grid of tier {tier[i]}, deeper than the city's {len(scheme)} tier(s) "
                             f"(grid_tier; set more with `wangge tiers set`)"})
            bad[i] = True
        key = keys[i]
        if key in old and key not in in_file and key not in kept_codes:
            problems.append({"feature": i, "code": codes[i], "problem":
                             f"parent grid {key} is of tier {old_tier.get(key)}, which this file replaces "
                             f"(it holds tier {lowest}); put {key} in the file too"})
            bad[i] = True
        if codes[i] in kept_codes:
            problems.append({"feature": i, "code": codes[i], "problem":
                             f"duplicate code: {codes[i]} is a grid of tier {old_tier[codes[i]]} kept from "
                             f"generation {active}"})
            bad[i] = True

    def geom_of(code):
        if code in in_file:
            return geoms[in_file[code]]
        row = old.get(code) if code in old else comm.get(code)
        return shapely.from_wkb(bytes(row.wkb)) if row is not None else None

    usable = np.array([g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid
                       for g in geoms])
    check = [i for i in range(n) if tier[i] and not bad[i] and usable[i] and geom_of(keys[i]) is not None]
    if check:
        child = _metric([geoms[i] for i in check], metric)
        par = _metric([geom_of(keys[i]) for i in check], metric)
        area, outside = shapely.area(child), shapely.area(shapely.difference(child, par))
        for i, a, o in zip(check, area, outside):
            if a > 0 and o / a > outside_tolerance:
                problems.append({"feature": i, "code": codes[i], "problem":
                                 f"{o / a:.1%} of it lies outside its parent {keys[i]}"})
    # nesting: where a tier nests, its grids cover each parent grid of the tier above without gaps
    for t in range(2, len(scheme) + 1):
        if not scheme[t - 1].nests:
            continue
        parents_above = [c for c, i in in_file.items() if tier[i] == t - 1] + \
                        [c for c in kept_codes if old_tier[c] == t - 1]
        if not parents_above or not any(tier[i] == t for i in range(n)):
            continue
        kids: dict[str, list] = {c: [] for c in parents_above}
        for i in range(n):
            if tier[i] == t and keys[i] in kids and usable[i]:
                kids[keys[i]].append(geoms[i])
        pc = sorted(kids, key=lambda c: c.encode())
        pg = _metric([geom_of(c) for c in pc], metric)
        cover = _metric([shapely.union_all(kids[c]) if kids[c] else shapely.Polygon() for c in pc], metric)
        gaps = shapely.area(shapely.difference(pg, cover))
        for c, gap in zip(pc, gaps):
            if gap > NEST_GAP_M2:
                problems.append({"feature": in_file.get(c), "code": c, "problem":
                                 f"its tier-{t} grids ({scheme[t - 1].name}) leave {gap:,.1f} m² of parent grid "
                                 f"{c} uncovered, and tier {t} nests (more than {NEST_GAP_M2:g} m²)"})
    parents = [keys[i] for i in range(n)]
    parent_levels = ["community" if tier[i] == 1 else "grid" for i in range(n)]
    kept = [(int(r.area_id), c, r.parent_level, r.parent_code, r.tier)
            for c, r in sorted(old_rows.items()) if c in kept_codes]
    return GridParents(parents, parent_levels, [t or 1 for t in tier], kept)


def _metric(geoms, metric) -> np.ndarray:
    return gpd.GeoSeries(list(geoms), crs=4326).to_crs(metric).values


def _old_grids(session, active) -> dict:
    """The active generation's grids by code: area_id, tier, parent_level, parent_code."""
    return {r.code: r for r in session.execute(text(
        "SELECT area_id, code, tier, parent_level, parent_code FROM generation_area "
        "WHERE generation_id = :g AND level = 'grid'"), {"g": active})}


def nesting_gaps(conn, generation: int, tier: int) -> list[tuple[str, float]]:
    """(parent grid code, m² left uncovered) for every grid of tier `tier` - 1 in `generation` that its
    tier-`tier` children leave uncovered by more than NEST_GAP_M2 (none when the generation has no grid
    of that tier): what making the tier nest would break."""
    rows = conn.execute(text("""
        WITH kids AS (
            SELECT c.parent_code, ST_Union(ca.geom) AS geom
            FROM generation_area c JOIN area ca ON ca.id = c.area_id
            WHERE c.generation_id = :g AND c.level = 'grid' AND c.tier = :t GROUP BY c.parent_code)
        SELECT p.code, ST_Area(coalesce(ST_Difference(pa.geom, k.geom), pa.geom)::geography) AS gap
        FROM generation_area p JOIN area pa ON pa.id = p.area_id LEFT JOIN kids k ON k.parent_code = p.code
        WHERE p.generation_id = :g AND p.level = 'grid' AND p.tier = :t - 1
          AND EXISTS (SELECT 1 FROM kids)
        ORDER BY p.code COLLATE "C"
    """), {"g": generation, "t": tier}).all()
    return [(r.code, float(r.gap)) for r in rows if r.gap > NEST_GAP_M2]
