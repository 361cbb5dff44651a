"""Redraws a planner asks for instead of drawing: an automatic redraw of a community's grids, a split
of one grid, a merge of neighbouring grids. Each becomes an ordinary Proposal (all the community's
grids), so it goes through the same validation, impact report, draft and commit as a drawn one.

The atoms are the community's ten-household units: they stay whole, so every unit lands in exactly
one new grid and is re-parented by the draft.
"""
from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store import generations, queries
from gis.store.areas import children
from gis.redraw.partition import redraw_grids
from gis.redraw.propose import Proposal, ProposalTooLarge, RedrawError, check_level, vertex_limit


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


def _community_of(session: Session, gen: int, grid: str) -> str:
    parent = session.execute(text("""
        SELECT parent_code FROM generation_area WHERE generation_id = :g AND level = 'grid' AND code = :c"""),
        {"g": gen, "c": grid}).scalar()
    if parent is None:
        raise RedrawError(f"grids: {grid} is not a grid of generation {gen}")
    return parent


def _grids(session: Session, gen: int, community: str):
    g = children(session, gen, "grid", [community])
    return g["code"].tolist(), g["name"].tolist(), np.asarray(g.geometry.values, dtype=object)


def _units(session: Session, gen: int, grids: list[str]):
    u = children(session, gen, "unit", grids)
    if u.empty:
        raise RedrawError("these grids have no ten-household units to regroup; draw the new grids instead")
    return u["parent_code"].tolist(), u["households"].to_numpy(float), np.asarray(u.geometry.values, dtype=object)


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


def auto(session: Session, community: str, k: int | None, target: tuple[int, int], tolerance: float = 0.10,
         seed: int = 0) -> Proposal:
    """All grids of a community redrawn from its units: k contiguous grids of balanced households
    (k default: households / the middle of the target range), their boundaries on streets where the
    balance allows, numbered in reading order."""
    gen = generations.active_id(session)
    codes, _names, _geoms = _grids(session, gen, community)
    if not codes:
        raise RedrawError(f"parent: {community} is not a community with grids in generation {gen}")
    _, hh, atoms = _units(session, gen, codes)
    total = hh.sum()
    if k is None:
        k = max(1, int(round(total / (sum(target) / 2))))
    if not 1 <= k <= len(atoms):
        raise RedrawError(f"k: {k} grids cannot be made from {len(atoms)} units")
    polys, _hh, _label = redraw_grids(atoms, hh, k, tolerance, seed, streets_in(session, atoms))
    order = reading_order(polys)
    name = _community_name(session, gen, community)
    return Proposal("grid", community, [f"{community}{n:03d}" for n in range(1, k + 1)],
                    [f"{name}第{n}网格" for n in range(1, k + 1)], polys[order])


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


def split(session: Session, grid: str, parts: int = 2, tolerance: float = 0.10, seed: int = 0) -> Proposal:
    """One grid cut into `parts` balanced contiguous grids along its units' edges; the first part keeps
    the code, the others take the community's next free numbers; the other grids are unchanged."""
    gen = generations.active_id(session)
    community = _community_of(session, gen, grid)
    codes, names, geoms = _grids(session, gen, community)
    if not 2 <= parts <= 20:
        raise RedrawError(f"parts: {parts}; split into 2 to 20 grids")
    _, hh, atoms = _units(session, gen, [grid])
    if len(atoms) < parts:
        raise RedrawError(f"parts: grid {grid} has {len(atoms)} unit(s), too few for {parts} grids")
    polys, _hh, _label = redraw_grids(atoms, hh, parts, tolerance, seed, streets_in(session, atoms))
    polys = polys[reading_order(polys)]
    i = codes.index(grid)
    used = {int(c[-3:]) for c in codes if c[-3:].isdigit()}
    free = [n for n in range(1, 1000) if n not in used][:parts - 1]
    new_codes = [grid] + [f"{community}{n:03d}" for n in free]
    new_names = [names[i]] + [f"{names[i]}（分{j}）" for j in range(2, parts + 1)]
    keep = [j for j in range(len(codes)) if j != i]
    return Proposal("grid", community, [codes[j] for j in keep] + new_codes, [names[j] for j in keep] + new_names,
                    np.array([geoms[j] for j in keep] + list(polys), dtype=object))


def merge(session: Session, grids: list[str]) -> Proposal:
    """Neighbouring grids of one community merged into one, which keeps the first code; the others unchanged."""
    gen = generations.active_id(session)
    grids = list(dict.fromkeys(grids))
    if len(grids) < 2:
        raise RedrawError("grids: name at least two grids to merge")
    communities = {_community_of(session, gen, g) for g in grids}
    if len(communities) != 1:
        raise RedrawError(f"grids: {', '.join(grids)} are in different communities ({', '.join(sorted(communities))})")
    community = communities.pop()
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
