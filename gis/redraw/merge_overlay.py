"""Merging networks (多网合一), the overlay: where two or more source networks of areas disagree.

Pure functions over arrays of shapely geometries in one metric CRS (metres), so they are exact and
testable without a database: thin strips between the sources' boundaries (slivers), areas one source
draws as one and another splits (split), ground one source covers and another does not (uncovered),
overlaps inside one source (overlap), registry households inside two areas of one source or in none
(double_counted, not_counted), and which areas the sources agree on (equal within a tolerance).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

SLIVER_WIDTH_M = 10.0     # a piece nowhere wider than this is a sliver (drawing disagreement), not ground
MIN_PIECE_M2 = 1.0        # pieces smaller than this are noise
SPLIT_SHARE = 0.05        # an overlap of at least this share of an area's ground is substantial
AGREE_IOU = 0.95          # two areas with intersection/union at least this are the same area
MAX_POINTS = 500          # registry points drawn in one finding's location


@dataclass
class Layer:
    """One source network in metric coordinates: its label, codes and shapes."""

    label: str
    codes: list[str]
    geoms: np.ndarray  # metric polygons
    names: list[str] = field(default_factory=list)


def thin(geoms_m: np.ndarray, width_m: float = SLIVER_WIDTH_M) -> np.ndarray:
    """Which geometries are nowhere wider than `width_m` (an inward buffer of half the width empties them)."""
    geoms_m = np.asarray(geoms_m, dtype=object)
    if not len(geoms_m):
        return np.zeros(0, bool)
    return shapely.is_empty(shapely.buffer(geoms_m, -width_m / 2, quad_segs=2))


def polygonal(g):
    """The polygonal part of an overlay result (lines and points where shapes only touch are dropped)."""
    if g is None or g.is_empty:
        return shapely.Polygon()
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _polygonal_all(pieces: np.ndarray) -> np.ndarray:
    """`polygonal` over an array, touching only the pieces that are not already (multi)polygons."""
    odd = ~np.isin(shapely.get_type_id(pieces), (3, 6))
    if odd.any():
        pieces[odd] = [polygonal(p) for p in pieces[odd]]
    return pieces


def pair_overlaps(a_m: np.ndarray, b_m: np.ndarray, distinct: bool = False):
    """(i, j, piece): every pair of an area of `a` and an area of `b` whose interiors overlap by more
    than MIN_PIECE_M2, with the overlapping ground (`distinct`: a and b are the same array; pairs i < j)."""
    a_m, b_m = np.asarray(a_m, dtype=object), np.asarray(b_m, dtype=object)
    if not len(a_m) or not len(b_m):
        return np.zeros(0, int), np.zeros(0, int), np.array([], dtype=object)
    i, j = shapely.STRtree(b_m).query(a_m, predicate="intersects")  # (query index, tree index)
    if distinct:
        i, j = i[i < j], j[i < j]
    pieces = _polygonal_all(np.asarray(shapely.intersection(a_m[i], b_m[j]), dtype=object))
    keep = shapely.area(pieces) > MIN_PIECE_M2
    return i[keep], j[keep], pieces[keep]


def agreement(a_m: np.ndarray, b_m: np.ndarray, iou: float = AGREE_IOU) -> np.ndarray:
    """For each area of `a`, the index of the area of `b` it equals within the tolerance (-1: none)."""
    out = np.full(len(a_m), -1)
    i, j, pieces = pair_overlaps(a_m, b_m)
    if not len(i):
        return out
    inter = shapely.area(pieces)
    union = shapely.area(np.asarray(a_m, dtype=object)[i]) + shapely.area(np.asarray(b_m, dtype=object)[j]) - inter
    ok = inter / np.maximum(union, 1e-9) >= iou
    out[i[ok]] = j[ok]
    return out


def _item(kind: str, sources: list[str], codes: list[str], message: str, geom_m=None, **extra) -> dict:
    """One disagreement; the location stays metric here (the caller turns it into GeoJSON)."""
    return {"kind": kind, "sources": sources, "codes": codes, "message": message, "where": geom_m, **extra}


def slivers_and_splits(a: Layer, b: Layer, width_m: float = SLIVER_WIDTH_M,
                       split_share: float = SPLIT_SHARE) -> list[dict]:
    """Thin overlaps between an area of `a` and an area of `b` that are not the same area (slivers),
    and areas of one that overlap two or more areas of the other substantially (split)."""
    out = []
    i, j, pieces = pair_overlaps(a.geoms, b.geoms)
    if not len(i):
        return out
    area_a, area_b = shapely.area(a.geoms), shapely.area(b.geoms)
    inter = shapely.area(pieces)
    is_thin = thin(pieces, width_m)
    # a thin piece is a sliver unless it is (nearly) the whole of one of the two areas (a thin area itself)
    whole = (inter >= 0.5 * area_a[i]) | (inter >= 0.5 * area_b[j])
    for k in np.flatnonzero(is_thin & ~whole):
        out.append(_item("sliver", [a.label, b.label], [a.codes[i[k]], b.codes[j[k]]],
                         f"{a.label} {a.codes[i[k]]} and {b.label} {b.codes[j[k]]} overlap in a strip of "
                         f"{inter[k]:,.0f} m² narrower than {width_m:g} m: their shared boundary is drawn differently",
                         pieces[k], area_m2=float(inter[k])))
    substantial = ~is_thin & ((inter >= split_share * area_a[i]) | (inter >= split_share * area_b[j]))
    for src, dst, own, other, own_area in ((a, b, i, j, area_a), (b, a, j, i, area_b)):
        s_own, s_other = own[substantial], other[substantial]
        for o in np.unique(s_own):
            parts = s_other[s_own == o]
            if len(parts) < 2:
                continue
            names = [dst.codes[p] for p in parts]
            out.append(_item("split", [src.label, dst.label], [src.codes[o]] + names,
                             f"{src.label} {src.codes[o]} is one area, but {dst.label} splits its ground between "
                             f"{len(parts)} areas: {', '.join(names)}", src.geoms[o],
                             area_m2=float(own_area[o])))
    return out


def uncovered(a: Layer, b: Layer, scope_m=None, width_m: float = SLIVER_WIDTH_M,
              min_m2: float = MIN_PIECE_M2, covers: dict | None = None) -> list[dict]:
    """Ground that areas of `a` cover and no area of `b` does (within `scope_m` when given): each piece
    wider than `width_m` is `uncovered`, a thinner one a `sliver` (a thin gap in b's boundaries)."""
    if not len(a.geoms):
        return []
    covers = covers if covers is not None else {}
    cover_a = covers[a.label] if a.label in covers else shapely.union_all(a.geoms)
    cover_b = covers[b.label] if b.label in covers else \
        (shapely.union_all(b.geoms) if len(b.geoms) else shapely.Polygon())
    rest = polygonal(shapely.difference(cover_a, cover_b))
    if scope_m is not None:
        rest = polygonal(shapely.intersection(rest, scope_m))
    pieces = np.array([p for p in shapely.get_parts(rest) if p.area > min_m2], dtype=object)
    if not len(pieces):
        return []
    is_thin = thin(pieces, width_m)
    tree = shapely.STRtree(a.geoms)
    out = []
    for piece, t in zip(pieces, is_thin):
        near = tree.query(piece, predicate="intersects")
        near = [n for n in near if polygonal(shapely.intersection(a.geoms[n], piece)).area > min_m2]
        codes = [a.codes[n] for n in near]
        if t:
            out.append(_item("sliver", [a.label, b.label], codes,
                             f"a strip of {piece.area:,.0f} m² narrower than {width_m:g} m in {a.label} "
                             f"{', '.join(codes)} lies in no {b.label} area: a thin gap between its boundaries",
                             piece, area_m2=float(piece.area)))
        else:
            out.append(_item("uncovered", [a.label, b.label], codes,
                             f"{piece.area:,.0f} m² of {a.label} {', '.join(codes)} is covered by no {b.label} area",
                             piece, area_m2=float(piece.area)))
    return out


def self_overlaps(a: Layer, width_m: float = SLIVER_WIDTH_M) -> list[dict]:
    """Ground two areas of the same source both claim: `overlap`, or a `sliver` when it is thin."""
    i, j, pieces = pair_overlaps(a.geoms, a.geoms, distinct=True)
    out = []
    for k, t in zip(range(len(i)), thin(pieces, width_m)):
        kind = "sliver" if t else "overlap"
        out.append(_item(kind, [a.label], [a.codes[i[k]], a.codes[j[k]]],
                         f"{a.label} {a.codes[i[k]]} and {a.codes[j[k]]} both claim {pieces[k].area:,.0f} m²",
                         pieces[k], area_m2=float(pieces[k].area)))
    return out


def household_counts(a: Layer, pts_m: np.ndarray, hh: np.ndarray, pts_ll: np.ndarray,
                     in_scope: np.ndarray | None = None) -> list[dict]:
    """Registry households that one source counts twice (the address lies in two or more of its areas:
    one item per set of areas) or not at all (in none of its areas, within the scope: one item)."""
    n = len(pts_m)
    if not n:
        return []
    hh = np.asarray(hh, float)
    if len(a.geoms):
        p, g = shapely.STRtree(a.geoms).query(pts_m, predicate="intersects")
    else:
        p, g = np.zeros(0, int), np.zeros(0, int)
    count = np.bincount(p, minlength=n)
    out = []
    twice = np.flatnonzero(count >= 2)
    if len(twice):
        groups: dict[tuple, list[int]] = {}
        order = np.argsort(p, kind="stable")
        starts = np.searchsorted(p[order], twice)
        for pt, st in zip(twice, starts):
            groups.setdefault(tuple(sorted(a.codes[x] for x in g[order[st:st + count[pt]]])), []).append(pt)
        for codes, members in sorted(groups.items()):
            total = int(hh[members].sum())
            out.append(_item("double_counted", [a.label], list(codes),
                             f"{total} households at {len(members)} address(es) are counted in {len(codes)} "
                             f"{a.label} areas at once: {', '.join(codes)}", None,
                             points=pts_ll[members[:MAX_POINTS]], households=total))
    missing = np.flatnonzero((count == 0) & (in_scope if in_scope is not None else True))
    if len(missing):
        total = int(hh[missing].sum())
        out.append(_item("not_counted", [a.label], [],
                         f"{total} households at {len(missing)} address(es) lie in no {a.label} area",
                         None, points=pts_ll[missing[:MAX_POINTS]], households=total))
    return out


def disagreements(layers: list[Layer], scope_m=None, pts_m=None, hh=None, pts_ll=None, in_scope=None,
                  width_m: float = SLIVER_WIDTH_M, split_share: float = SPLIT_SHARE) -> list[dict]:
    """Every disagreement between and within the source networks (metric locations, see `_item`)."""
    out = []
    for a in layers:
        out += self_overlaps(a, width_m)
    for x in range(len(layers)):
        for y in range(x + 1, len(layers)):
            out += slivers_and_splits(layers[x], layers[y], width_m, split_share)
    covers = {a.label: shapely.union_all(a.geoms) for a in layers}
    for a in layers:
        for b in layers:
            if a is not b:
                out += uncovered(a, b, scope_m, width_m, covers=covers)
    if scope_m is not None:
        everyone = shapely.union_all(np.array(list(covers.values()), dtype=object)) if layers else shapely.Polygon()
        for piece in shapely.get_parts(polygonal(shapely.difference(scope_m, everyone))):
            if piece.area > MIN_PIECE_M2 and not thin(np.array([piece], dtype=object), width_m)[0]:
                out.append(_item("uncovered", [], [], f"{piece.area:,.0f} m² of the scope is covered by no source",
                                 piece, area_m2=float(piece.area)))
    if pts_m is not None and len(pts_m):
        for a in layers:
            out += household_counts(a, pts_m, hh, pts_ll, in_scope)
    return out


def support(layers: list[Layer], iou: float = AGREE_IOU) -> list[np.ndarray]:
    """For each layer, an (areas × layers) matrix of the matching area index in every layer (-1: none;
    an area matches itself)."""
    out = []
    for x, a in enumerate(layers):
        m = np.full((len(a.geoms), len(layers)), -1)
        m[:, x] = np.arange(len(a.geoms))
        for y, b in enumerate(layers):
            if y != x:
                m[:, y] = agreement(a.geoms, b.geoms, iou)
        out.append(m)
    return out


def agreed(layers: list[Layer], quorum: int | None = None, iou: float = AGREE_IOU) -> list[tuple[int, int, np.ndarray]]:
    """The areas at least `quorum` sources (default: a majority, and at least two) draw the same:
    (layer, area index, matching index per layer), each agreed shape once (from the first layer that
    has it), none overlapping another substantially."""
    if quorum is None:
        quorum = max(2, len(layers) // 2 + 1)
    cand = [(x, int(i), m[i]) for x, m in enumerate(support(layers, iou))
            for i in np.flatnonzero((m >= 0).sum(1) >= quorum)]
    if not cand:
        return []
    shapes = np.array([layers[x].geoms[i] for x, i, _m in cand], dtype=object)
    tree = shapely.STRtree(shapes)
    kept = np.zeros(len(cand), bool)
    taken: set[tuple[int, int]] = set()
    out = []
    for c, (x, i, m) in enumerate(cand):
        if (x, i) in taken:
            continue
        near = tree.query(shapes[c], predicate="intersects")
        near = near[kept[near]]
        overlap = shapely.area(shapely.intersection(shapes[c], shapes[near])) if len(near) else np.zeros(0)
        if (overlap > SPLIT_SHARE * shapes[c].area).any():
            continue
        kept[c] = True
        out.append((x, i, m.copy()))
        taken |= {(y, int(m[y])) for y in range(len(layers)) if m[y] >= 0}
    return out


def shares(src_m: np.ndarray, merged_m: np.ndarray, min_share: float = 0.001):
    """(i, j, share): the part of each source area's ground that each merged area holds (at least
    `min_share`); a source area that overlaps nothing that much keeps its largest overlap, if any."""
    i, j, pieces = pair_overlaps(src_m, merged_m)
    area = shapely.area(np.asarray(src_m, dtype=object))
    share = np.minimum(shapely.area(pieces) / np.maximum(area[i], 1e-9), 1.0) if len(i) else np.zeros(0)
    keep = share >= min_share
    for s in set(i.tolist()) - set(i[keep].tolist()):
        keep[np.flatnonzero(i == s)[np.argmax(share[i == s])]] = True
    return i[keep], j[keep], share[keep]


def claim(atoms_m: np.ndarray, shapes_m: np.ndarray, iou: float = AGREE_IOU) -> np.ndarray:
    """For each atom (a unit), the kept shape holding more than half of it (-1: none); a shape whose
    atoms do not rebuild it within the tolerance claims none (it cannot be kept exactly enough)."""
    atoms_m, shapes_m = np.asarray(atoms_m, dtype=object), np.asarray(shapes_m, dtype=object)
    label = np.full(len(atoms_m), -1)
    i, j, pieces = pair_overlaps(atoms_m, shapes_m)
    if not len(i):
        return label
    most = shapely.area(pieces) > 0.5 * shapely.area(atoms_m[i])
    label[i[most]] = j[most]
    for s in range(len(shapes_m)):
        mine = label == s
        if not mine.any():
            continue
        rebuilt = shapely.union_all(atoms_m[mine])
        inter = polygonal(shapely.intersection(rebuilt, shapes_m[s])).area
        if inter / max(rebuilt.area + shapes_m[s].area - inter, 1e-9) < iou:
            label[mine] = -1
    return label
