"""Redraws a planner asks for instead of drawing: an automatic redraw of the grids under one parent, a
split of one grid, a merge of neighbouring grids. Each becomes an ordinary Proposal (all the parent's
grids), so it goes through the same validation, impact report, draft and commit as a drawn one.

The parent is a community (tier-1 grids) or a grid (the grids of the next tier; codes add that tier's
`grid_tier.digits`). The atoms are the ten-household units under the grids: they stay whole, so every
unit lands in exactly one new grid and is re-parented by the draft. The units of one estate (小区: the
unit's inner point lies in it) are one atom, so an estate is never split, unless the planner allows it
(`split_estates`). An automatic redraw or split works on the finest tier only: grids that hold grids of
the next tier are refused with a message saying so (redraw that next tier under each of them, or draw
the coarser grids so that each holds its lower-tier grids whole); merging them is allowed (the lower
grids follow the merged one).
"""
from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store import generations, queries
from gis.store.areas import children
from gis.redraw.partition import group_atoms, redraw_grids
from gis.redraw.propose import (Proposal, ProposalTooLarge, RedrawError, check_level, resolve_parent,
                                vertex_limit)


def from_file(path, level: str, parent: str, code_field: str | None = None,
              name_field: str | None = None, max_vertices: int | None = None) -> Proposal:
    """A proposal from a planner's file: GeoJSON, GeoPackage, a zipped Shapefile, anything OGR reads
    in a CRS it declares (reprojected to WGS84; CGCS2000 taken as identical). ProposalTooLarge over
    `max_vertices` (default WANGGE_MAX_VERTICES), before it is reprojected or checked."""
    from gis.importers.common import ImportRefused, pick_field, read_frame, to_wgs84

    check_level(level)
    try:
        frame = read_frame(path)
        limit = vertex_limit(max_vertices)
        count = int(shapely.get_num_coordinates(frame.geometry.values).sum()) if len(frame) else 0
        if count > limit:
            raise ProposalTooLarge(count, limit)
        frame = to_wgs84(frame, path)
        if frame.empty:
            raise RedrawError(f"{path}: the file has no features")
        code_col = pick_field(frame, code_field, ("code", "CODE", "编码", "代码"), "code", path)
        name_col = pick_field(frame, name_field, ("name", "NAME", "名称"), "name", path, required=False)
    except ImportRefused as exc:
        raise RedrawError(str(exc)) from exc
    codes = [str(int(c)) if isinstance(c, float) and c == c and float(c).is_integer() else
             ("" if c is None or c != c else str(c).strip()) for c in frame[code_col]]
    names = [str(n) for n in frame[name_col]] if name_col else codes
    return Proposal(level, parent, codes, names, np.asarray(frame.geometry.values, dtype=object))


def _parent_of(session: Session, gen: int, grid: str, field: str = "grids") -> str:
    """The code of a grid's parent (a community or a grid); RedrawError naming `field` if no such grid."""
    parent = session.execute(text("""
        SELECT parent_code FROM generation_area WHERE generation_id = :g AND level = 'grid' AND code = :c"""),
        {"g": gen, "c": grid}).scalar()
    if parent is None:
        raise RedrawError(f"{field}: {grid} is not a grid of generation {gen}")
    return parent


def _grids(session: Session, gen: int, parent: str):
    g = children(session, gen, "grid", [parent])
    return g["code"].tolist(), g["name"].tolist(), np.asarray(g.geometry.values, dtype=object)


def _finest_only(session: Session, gen: int, grids: list[str], what: str) -> None:
    """RedrawError when any of `grids` holds grids of the next tier (automatic work is on the finest tier)."""
    rows = session.execute(text("""
        SELECT parent_code, count(*) AS n FROM generation_area WHERE generation_id = :g AND level = 'grid'
          AND parent_level = 'grid' AND parent_code = ANY(:c) GROUP BY parent_code ORDER BY parent_code COLLATE "C"
    """), {"g": gen, "c": list(grids)}).all()
    if rows:
        held = ", ".join(f"{r.parent_code} ({r.n})" for r in rows[:5]) + (" …" if len(rows) > 5 else "")
        raise RedrawError(f"{what}: grids {held} hold grids of the next tier; an automatic redraw or split "
                          "works on the finest tier: redraw the grids under each of them (parent = that grid), "
                          "or draw these grids so that each holds its lower-tier grids whole")


def _units(session: Session, gen: int, grids: list[str]):
    u = children(session, gen, "unit", grids)
    if u.empty:
        raise RedrawError("these grids have no ten-household units to regroup; draw the new grids instead")
    return u["parent_code"].tolist(), u["households"].to_numpy(float), np.asarray(u.geometry.values, dtype=object)


def estate_groups(session: Session, atoms: np.ndarray) -> np.ndarray:
    """For each atom (lon/lat), the index of the estate its inner point lies in (first code wins), -1 for
    none: the atoms of one estate must move together."""
    group = np.full(len(atoms), -1)
    if not len(atoms):
        return group
    box = shapely.envelope(shapely.union_all(atoms))
    rows = session.execute(text("""
        SELECT ST_AsBinary(geom) FROM estate WHERE geom && ST_GeomFromWKB(:b, 4326) ORDER BY code COLLATE "C"
    """), {"b": shapely.to_wkb(box)}).scalars().all()
    if not rows:
        return group
    estates = shapely.from_wkb([bytes(r) for r in rows])
    pt, est = shapely.STRtree(estates).query(shapely.point_on_surface(atoms), predicate="within")
    first = np.full(len(atoms), len(estates))
    np.minimum.at(first, pt, est)
    return np.where(first < len(estates), first, -1)


def _regroup(session: Session, atoms, hh, k: int, tolerance: float, seed: int, split_estates: bool,
             field: str = "parent"):
    """`k` balanced contiguous grids from the atoms, each estate's atoms kept together unless
    `split_estates`; the grid polygons in reading order. RedrawError names `field` (the area asked about)
    when its units hold no households."""
    if not np.asarray(hh, float).sum() > 0:
        raise RedrawError(f"{field}: these units hold no households to balance; draw the new grids instead")
    if not split_estates:
        atoms, hh, _member = group_atoms(atoms, hh, estate_groups(session, atoms))
    if not 1 <= k <= len(atoms):
        kept = "" if split_estates else " (an estate's units count as one: allow split_estates to cut them)"
        raise RedrawError(f"k: {k} grids cannot be made from {len(atoms)} units{kept}")
    polys, _hh, _label = redraw_grids(atoms, hh, k, tolerance, seed, streets_in(session, atoms))
    return polys[reading_order(polys)]


# network edge kinds that are not streets a grid boundary should follow (paths through blocks)
NOT_STREETS = ("path", "footway", "steps", "corridor", "cycleway", "track", "bridleway", "service")


def streets_in(session: Session, geoms: np.ndarray) -> np.ndarray:
    """Street lines (lon/lat) of the walking network over these areas, for boundaries to follow."""
    box = shapely.envelope(shapely.union_all(geoms))
    rows = session.execute(text("""
        SELECT ST_AsBinary(geom) FROM network_edge
        WHERE geom && ST_GeomFromWKB(:b, 4326) AND coalesce(kind, '') <> ALL(:skip)"""),
        {"b": shapely.to_wkb(box), "skip": list(NOT_STREETS)}).scalars().all()
    return shapely.from_wkb([bytes(r) for r in rows]) if rows else np.array([], dtype=object)


def reading_order(geoms: np.ndarray) -> np.ndarray:
    """Indices west→east within rows north→south (DB11/T 2157 numbering); a row is a band about one
    typical area high."""
    c = shapely.get_coordinates(shapely.point_on_surface(geoms))
    band = np.sqrt(np.median(shapely.area(geoms))) or 1.0
    row = np.floor((c[:, 1].max() - c[:, 1]) / band)
    return np.lexsort((c[:, 0], row))


def _community_name(session, gen, community) -> str:
    row = queries.area(session, gen, "community", community)
    return (row.name if row else None) or community


def _number(parent: str, n: int, digits: int) -> str:
    return f"{parent}{n:0{digits}d}"


def auto(session: Session, community: str, k: int | None, target: tuple[int, int], tolerance: float = 0.10,
         seed: int = 0, split_estates: bool = False) -> Proposal:
    """All grids under a parent (a community, or a grid for the next tier) redrawn from their units: k
    contiguous grids of balanced households (k default: households / the middle of the target range),
    boundaries on streets where the balance allows, each estate whole unless `split_estates`, numbered
    in reading order with the tier's digits. A grid without lower-tier grids yet is cut into its first
    ones from its own units."""
    gen = generations.active_id(session)
    if gen is None:
        raise RedrawError("there is no active generation to redraw")
    parent = community
    where = resolve_parent(session, gen, "grid", parent)
    codes, _names, _geoms = _grids(session, gen, parent)
    if not codes and where.level == "community":
        raise RedrawError(f"parent: {parent} is not a community with grids in generation {gen}")
    _finest_only(session, gen, codes, "parent")
    _, hh, atoms = _units(session, gen, codes or [parent])
    if k is None:
        k = max(1, int(round(hh.sum() / (sum(target) / 2))))
    if not 1 <= k < 10 ** where.digits:
        raise RedrawError(f"k: {k} grids do not fit the {where.digits} digit(s) of tier {where.tier}")
    polys = _regroup(session, atoms, hh, k, tolerance, seed, split_estates)
    name = _community_name(session, gen, parent) if where.level == "community" else \
        (queries.area(session, gen, "grid", parent).name or parent)
    return Proposal("grid", parent, [_number(parent, n, where.digits) for n in range(1, k + 1)],
                    [f"{name}第{n}{where.tier_name or '网格'}" for n in range(1, k + 1)], polys)


def auto_units(session: Session, grid: str, target: tuple[int, int], tolerance: float = 0.30,
               seed: int = 0) -> Proposal:
    """A grid's ten-household units regrouped (十联户): the grid cut into the Voronoi cells of its
    registry entrances, grouped into contiguous units of about ten households (the middle of the unit
    target range), numbered in reading order under the grid's code."""
    gen = generations.active_id(session)
    row = queries.area(session, gen, "grid", grid)
    if row is None:
        raise RedrawError(f"parent: {grid} is not a grid of generation {gen}")
    area = shapely.from_wkb(bytes(row.wkb))
    pts = session.execute(text("""
        SELECT ST_X(geom), ST_Y(geom), sum(households) FROM address
        WHERE ST_Covers(ST_GeomFromWKB(:a, 4326), geom) AND households > 0 GROUP BY 1, 2"""),
        {"a": shapely.to_wkb(area)}).all()
    if len(pts) < 2:
        raise RedrawError(f"parent: grid {grid} has {len(pts)} addressed building(s) with households; "
                          "units need the address registry")
    xy = np.array([(p[0], p[1]) for p in pts])
    hh = np.array([p[2] for p in pts], float)
    cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=area)
    cells = np.array(shapely.get_parts(cells), dtype=object)
    # each entrance's own cell, cut to the grid (voronoi_polygons does not keep the input order)
    owner = shapely.STRtree(cells).query(shapely.points(xy), predicate="intersects")
    mine = np.empty(len(xy), dtype=object)
    for i, c in zip(*owner):
        mine[i] = cells[c]
    atoms = shapely.intersection(mine, area)
    k = max(1, int(round(hh.sum() / (sum(target) / 2))))
    polys, _hh, _label = redraw_grids(atoms, hh, k, tolerance, seed)
    polys = polys[reading_order(polys)]
    name = row.name
    return Proposal("unit", grid, [f"{grid}{n:03d}" for n in range(1, k + 1)],
                    [f"{name}第{n}联户" for n in range(1, k + 1)], polys)


def split(session: Session, grid: str, parts: int = 2, tolerance: float = 0.10, seed: int = 0,
          split_estates: bool = False) -> Proposal:
    """One grid (of any tier) cut into `parts` balanced contiguous grids along its units' edges, each
    estate whole unless `split_estates`; the first part keeps the code, the others take the parent's
    next free numbers (the tier's digits); the other grids are unchanged."""
    gen = generations.active_id(session)
    parent = _parent_of(session, gen, grid, "grid")
    where = resolve_parent(session, gen, "grid", parent)
    codes, names, geoms = _grids(session, gen, parent)
    if not 2 <= parts <= 20:
        raise RedrawError(f"parts: {parts}; split into 2 to 20 grids")
    _finest_only(session, gen, [grid], "grid")
    _, hh, atoms = _units(session, gen, [grid])
    if len(atoms) < parts:
        raise RedrawError(f"parts: grid {grid} has {len(atoms)} unit(s), too few for {parts} grids")
    try:
        polys = _regroup(session, atoms, hh, parts, tolerance, seed, split_estates, field="grid")
    except RedrawError as exc:
        raise RedrawError(str(exc).replace("k: ", "parts: ", 1)) from exc
    i = codes.index(grid)
    d = where.digits
    used = {int(c[len(parent):]) for c in codes if c.startswith(parent) and c[len(parent):].isdigit()}
    free = [n for n in range(1, 10 ** d) if n not in used][:parts - 1]
    if len(free) < parts - 1:
        raise RedrawError(f"parts: the {d} digit(s) of tier {where.tier} have no {parts - 1} free numbers left")
    new_codes = [grid] + [_number(parent, n, d) for n in free]
    new_names = [names[i]] + [f"{names[i]}（分{j}）" for j in range(2, parts + 1)]
    keep = [j for j in range(len(codes)) if j != i]
    return Proposal("grid", parent, [codes[j] for j in keep] + new_codes, [names[j] for j in keep] + new_names,
                    np.array([geoms[j] for j in keep] + list(polys), dtype=object))


def merge(session: Session, grids: list[str]) -> Proposal:
    """Neighbouring grids of one parent (a community, or a grid for the next tier) merged into one, which
    keeps the first code; the others unchanged (grids of the next tier under them follow the merged one)."""
    gen = generations.active_id(session)
    grids = list(dict.fromkeys(grids))
    if len(grids) < 2:
        raise RedrawError("grids: name at least two grids to merge")
    parents = {_parent_of(session, gen, g) for g in grids}
    if len(parents) != 1:
        raise RedrawError(f"grids: {', '.join(grids)} are in different communities or parent "
                          f"grids ({', '.join(sorted(parents))}); merge grids of one parent only")
    community = parents.pop()
    codes, names, geoms = _grids(session, gen, community)
    pick = [codes.index(g) for g in sorted(grids)]
    merged = shapely.coverage_union_all(geoms[pick])
    if len(shapely.get_parts(shapely.buffer(merged, 1e-7))) > 1:
        raise RedrawError(f"grids: {', '.join(grids)} do not form one connected area; merge neighbours only")
    keep = [j for j in range(len(codes)) if j not in pick]
    first = pick[0]
    return Proposal("grid", community, [codes[j] for j in keep] + [codes[first]],
                    [names[j] for j in keep] + [names[first]],
                    np.array([geoms[j] for j in keep] + [merged], dtype=object))
