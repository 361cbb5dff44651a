"""Merging networks (多网合一): two or more source networks (files as agencies deliver them, each with
its own codes) overlaid within a scope (the active generation's communities, or those under one
parent), their disagreements reported, and one network proposed as an ordinary redraw proposal.

Where a majority of the sources draw the same area (equal within AGREE_IOU) and its households are in
the balance band, the merged network keeps that shape (rebuilt from the community's ten-household
units); everywhere else the community's units are grouped anew by the automatic redraw (contiguous,
balanced households), so the merged grids nest in communities and their codes follow them (community
code + 3 digits). The proposal keeps the source code → merged area mapping; its commit writes a
`crosswalk` row (kind 'merge') for every source code.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.planar import metric_crs
from gis.redraw import merge_overlay as ov
from gis.redraw.asked import estate_groups, reading_order
from gis.redraw.partition import adjacency, group_atoms, redraw_grids
from gis.redraw.propose import (Buildings, Estates, Proposal, ProposalTooLarge, RedrawError, _finding, _impact,
                                estate_findings, households_of, keep_proposal, reparent_below_grids, validate,
                                vertex_limit)
from gis.store import audit, bulk, generations, identity, queries
from gis.store import codes as store_codes

MAX_SOURCES = 12
CODE_FIELDS = ("code", "CODE", "编码", "代码", "grid_code", "网格编码")
NAME_FIELDS = ("name", "NAME", "名称", "grid_name", "网格名称")


class MergeError(RedrawError):
    """Sources or a scope that cannot be merged; the message names the field (422)."""


@dataclass
class Source:
    """One source network as delivered: its label, codes, names and shapes (EPSG:4326)."""

    label: str
    codes: list[str]
    names: list[str]
    geoms: np.ndarray


def _code_text(c) -> str:
    """A code cell as text: integers read as floats lose their '.0', missing ones become ''."""
    if c is None or (isinstance(c, float) and c != c):
        return ""
    if isinstance(c, float) and c.is_integer():
        return str(int(c))
    return str(c).strip()


def _source(label: str, frame: gpd.GeoDataFrame, code_field: str | None, name_field: str | None,
            what: str) -> Source:
    """A Source from a WGS84 frame; MergeError names `what` when a field or a shape is unusable."""
    from gis.importers.common import ImportRefused, pick_field

    if frame.empty:
        raise MergeError(f"{what}: the source has no features")
    try:
        code_col = pick_field(frame, code_field, CODE_FIELDS, "code", what)
        name_col = pick_field(frame, name_field, NAME_FIELDS, "name", what, required=False)
    except ImportRefused as exc:
        raise MergeError(str(exc)) from exc
    codes = [_code_text(c) for c in frame[code_col]]
    for i, c in enumerate(codes):
        if not c:
            raise MergeError(f"{what}: feature {i} has no code")
        if len(c) > 64 or not c.isprintable():
            raise MergeError(f"{what}: feature {i}'s code is not 1 to 64 printable characters")
    dup = sorted({c for c in codes if codes.count(c) > 1}) if len(set(codes)) < len(codes) else []
    if dup:
        raise MergeError(f"{what}: code {dup[0]} is used by more than one feature")
    names = [str(n) if n is not None and n == n else c for n, c in zip(frame[name_col], codes)] if name_col else codes
    names = ["".join(ch for ch in n if ch.isprintable())[:200] or c for n, c in zip(names, codes)]
    geoms = np.asarray(frame.geometry.values, dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise MergeError(f"{what}: feature {codes[i]} is not a polygon")
        if not g.is_valid:
            fixed = ov.polygonal(shapely.make_valid(g))
            if abs(fixed.area - g.area) > 0.001 * max(g.area, 1e-18) or fixed.is_empty:
                raise MergeError(f"{what}: feature {codes[i]} is not a valid polygon ({shapely.is_valid_reason(g)})")
            geoms[i] = fixed
    return Source(label, codes, names, geoms)


def source_from_file(path, label: str | None = None, code_field: str | None = None,
                     name_field: str | None = None, max_vertices: int | None = None) -> Source:
    """A source network from a file OGR reads (GeoJSON, GeoPackage, zipped Shapefile) in any CRS it
    declares; its label defaults to the file's name without suffix."""
    from pathlib import Path

    from gis.importers.common import ImportRefused, read_frame, to_wgs84

    label = label or Path(path).stem
    try:
        frame = read_frame(path, Path(path).name)
        count = int(shapely.get_num_coordinates(frame.geometry.values).sum()) if len(frame) else 0
        if count > vertex_limit(max_vertices):
            raise ProposalTooLarge(count, vertex_limit(max_vertices))
        frame = to_wgs84(frame, Path(path).name)
    except ImportRefused as exc:
        raise MergeError(str(exc)) from exc
    return _source(label, frame, code_field, name_field, f"sources[{label}]")


def source_from_features(label: str, features, code_field: str | None = None,
                         name_field: str | None = None) -> Source:
    """A source network from a GeoJSON FeatureCollection in WGS84 (a JSON body's `sources[].features`)."""
    what = f"sources[{label}].features"
    if not isinstance(features, dict) or features.get("type") != "FeatureCollection" \
            or not isinstance(features.get("features"), list):
        raise MergeError(f"{what}: a GeoJSON FeatureCollection is needed")
    rows, geoms = [], []
    for i, f in enumerate(features["features"]):
        if not isinstance(f, dict) or not isinstance(f.get("geometry"), dict):
            raise MergeError(f"{what}[{i}]: a GeoJSON feature with a geometry is needed")
        try:
            geoms.append(shapely.geometry.shape(f["geometry"]))
        except Exception as exc:  # shapely's message names no field: say which feature
            raise MergeError(f"{what}[{i}].geometry: not a GeoJSON geometry") from exc
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        rows.append({k: v for k, v in props.items() if isinstance(v, (str, int, float)) or v is None})
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=4326) if rows else gpd.GeoDataFrame(geometry=[], crs=4326)
    bad = ~np.isfinite(shapely.get_coordinates(frame.geometry.values)).all() if len(frame) else False
    if bad:
        raise MergeError(f"{what}: coordinates must be finite numbers")
    if len(frame):
        xmin, ymin, xmax, ymax = frame.total_bounds
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            raise MergeError(f"{what}: coordinates are not longitudes/latitudes (WGS84)")
    return _source(label, frame, code_field, name_field, what)


def check_sources(sources: list[Source]) -> None:
    """MergeError unless there are 2..MAX_SOURCES sources with distinct, non-empty labels."""
    if not 2 <= len(sources) <= MAX_SOURCES:
        raise MergeError(f"sources: give 2 to {MAX_SOURCES} source networks, not {len(sources)}")
    labels = [s.label for s in sources]
    for lab in labels:
        if not lab or len(lab) > 64 or not lab.isprintable():
            raise MergeError("sources: every source needs a label of 1 to 64 printable characters")
    if len(set(labels)) < len(labels):
        raise MergeError(f"sources: the label {next(l for l in labels if labels.count(l) > 1)!r} is given twice")


# -- the scope --------------------------------------------------------------------------------------
def scope(session: Session, gen: int, parent: str | None) -> list:
    """The communities the merge covers: every one of the generation, or the one called `parent`, or
    those under the street or district `parent` (rows: code, name, households, wkb)."""
    if parent is not None and (len(parent) > 32 or not parent.isprintable()):
        raise MergeError("parent: the code of a district, street or community (at most 32 printable characters)")
    rows = session.execute(text(f"""
        SELECT ga.code, a.name, a.households, ST_AsBinary(a.geom) AS wkb FROM {queries.GENERATION_AREAS}
        WHERE ga.generation_id = :g AND ga.level = 'community'
          AND (CAST(:p AS text) IS NULL OR ga.code = :p OR ga.parent_code = :p
               OR ga.parent_code IN (SELECT code FROM generation_area WHERE generation_id = :g
                                     AND level = 'street' AND parent_code = :p))
        ORDER BY ga.code COLLATE "C"
    """), {"g": gen, "p": parent or None}).all()
    if not rows:
        raise MergeError(f"parent: {parent} is not a district, street or community of generation {gen}"
                         if parent else f"there are no communities in generation {gen} to merge into")
    deep = session.execute(text("""
        SELECT count(*) FROM generation_area WHERE generation_id = :g AND level = 'grid' AND tier > 1
          AND left(code, length(:p)) = :p"""), {"g": gen, "p": parent or ""}).scalar()
    if deep:
        raise MergeError("level: this scope has grids of more than one tier; merging networks replaces "
                         "first-tier grids only: merge a scope without sub-grids")
    return rows


# -- the plan ----------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A merge worked out: the proposal per community, the disagreements (GeoJSON locations), and the
    source code → merged grid mapping (indices into the concatenated proposals)."""

    proposals: list[Proposal]
    disagreements: list[dict]
    mapping: list[dict]
    kept: list[str]
    redrawn: list[str]


def _to_ll(geoms_m, crs) -> np.ndarray:
    return gpd.GeoSeries(list(geoms_m), crs=crs).to_crs(4326).values if len(geoms_m) else np.array([], dtype=object)


def _to_m(geoms_ll, crs) -> np.ndarray:
    return gpd.GeoSeries(list(geoms_ll), crs=4326).to_crs(crs).values if len(geoms_ll) else np.array([], dtype=object)


def _located(items: list[dict], crs) -> list[dict]:
    """Disagreements with their locations as GeoJSON in WGS84 (and no metric shapes)."""
    out = []
    metric = [d["where"] for d in items if d.get("where") is not None]
    ll = iter(_to_ll(metric, crs))
    for d in items:
        d = dict(d)
        where = d.pop("where", None)
        pts = d.pop("points", None)
        geom = next(ll) if where is not None else (shapely.multipoints(pts) if pts is not None and len(pts) else None)
        d["geometry"] = None if geom is None or geom.is_empty else json.loads(shapely.to_geojson(
            shapely.set_precision(geom, 1e-7)))
        out.append(d)
    return out


def _band_k(total: float, lo: int, hi: int) -> int | None:
    """The number of grids that puts `total` households within lo..hi each, nearest the middle (None:
    no such number)."""
    if total <= 0:
        return 1
    first, last = max(1, math.ceil(total / hi)), max(1, math.floor(total / lo))
    if first > last:
        return None
    mid = (lo + hi) / 2
    return min(range(first, last + 1), key=lambda k: abs(total / k - mid))


def _regions(adj, label, hh, lo, hi):
    """Label atoms still free (-1) into connected free regions; a region too small or of an impossible
    size for the band takes in the neighbouring kept grids (releasing them) until it fits or none is left.
    Returns (label, regions): regions as arrays of atom indices."""
    from scipy.sparse.csgraph import connected_components

    for _ in range(len(label) + 1):
        free = np.flatnonzero(label < 0)
        if not len(free):
            return label, []
        n, comp = connected_components(adj[free][:, free], directed=False)
        regions = [free[comp == c] for c in range(n)]
        bad = [r for r in regions if _band_k(hh[r].sum(), lo, hi) is None]
        if not bad:
            return label, regions
        released = False
        for r in bad:
            nb = np.unique(adj[r].indices)
            kept = np.unique(label[nb][label[nb] >= 0])
            if len(kept):
                smallest = min(kept, key=lambda s: hh[label == s].sum())
                label[label == smallest] = -1
                released = True
        if not released:
            return label, regions
    return label, regions


def _atoms(session: Session, gen: int, community: str, community_geom):
    """The community's ten-household units (codes, households, shapes), or its grids when it has no
    units, or the community itself."""
    grids = queries.level_areas(session, gen, "grid", [community])
    units = queries.level_areas(session, gen, "unit", [g.code for g in grids]) if grids else []
    rows = units or grids
    if not rows:
        return [community], np.array([0.0]), np.array([community_geom], dtype=object)
    return ([r.code for r in rows], np.array([r.households for r in rows], float),
            shapely.from_wkb([bytes(r.wkb) for r in rows]))


def plan(session: Session, sources: list[Source], parent: str | None, hh_range: tuple[int, int],
         tolerance: float = 0.10, seed: int = 0, quorum: int | None = None, width_m: float = ov.SLIVER_WIDTH_M,
         iou: float = ov.AGREE_IOU) -> tuple[Plan, list]:
    """Overlay the sources within the scope and work out the merged network; returns (plan, scope rows)."""
    check_sources(sources)
    gen = generations.active_id(session)
    if gen is None:
        raise MergeError("there is no active generation to merge into")
    comms = scope(session, gen, parent)
    comm_ll = shapely.from_wkb([bytes(r.wkb) for r in comms])
    scope_ll = shapely.union_all(comm_ll)
    c = scope_ll.centroid
    crs = metric_crs(c.x, c.y)
    scope_m = _to_m([scope_ll], crs)[0]
    comm_m = _to_m(comm_ll, crs)
    # each source, only the areas that reach into the scope
    layers, kept_idx = [], []
    for s in sources:
        inside = shapely.intersects(s.geoms, scope_ll)
        idx = np.flatnonzero(inside)
        kept_idx.append(idx)
        layers.append(ov.Layer(s.label, [s.codes[i] for i in idx], _to_m(s.geoms[idx], crs),
                               [s.names[i] for i in idx]))
    b = Buildings.within(session, scope_ll)
    pts_ll = np.c_[b.x, b.y] if len(b.x) else np.zeros((0, 2))
    pts_m = shapely.get_coordinates(_to_m(shapely.points(pts_ll), crs)) if len(pts_ll) else np.zeros((0, 2))
    found = ov.disagreements(layers, scope_m, shapely.points(pts_m) if len(pts_m) else None, b.hh, pts_ll,
                             None, width_m)
    for s, idx in zip(sources, kept_idx):
        away = sorted(set(range(len(s.codes))) - set(idx.tolist()))
        if away:
            found.append(ov._item("outside_scope", [s.label], [s.codes[i] for i in away],
                                  f"{len(away)} {s.label} area(s) lie wholly outside the merge's scope: "
                                  f"{', '.join(s.codes[i] for i in away[:20])}", None))

    agreed = ov.agreed(layers, quorum, iou)
    shapes_m = np.array([layers[x].geoms[i] for x, i, _m in agreed], dtype=object)
    home = np.full(len(shapes_m), -1)
    if len(shapes_m):
        ci, si, pieces = ov.pair_overlaps(comm_m, shapes_m)
        frac = shapely.area(pieces) / shapely.area(shapes_m[si])
        ok = frac >= iou
        home[si[ok]] = ci[ok]

    lo, hi = hh_range
    proposals, kept_codes, redrawn = [], [], []
    for ci, row in enumerate(comms):
        _codes, hh, atoms_ll = _atoms(session, gen, row.code, comm_ll[ci])
        atoms_m = _to_m(atoms_ll, crs)
        mine = np.flatnonzero(home == ci)
        label = np.full(len(atoms_ll), -1)
        if len(mine):
            sub = ov.claim(atoms_m, shapes_m[mine], iou)
            label[sub >= 0] = mine[sub[sub >= 0]]
        for s in np.unique(label[label >= 0]):  # a kept shape outside the band is redrawn
            if not lo <= hh[label == s].sum() <= hi:
                label[label == s] = -1
        adj = adjacency(atoms_m) if len(atoms_m) > 1 else None
        regions = []
        if adj is not None:
            label, regions = _regions(adj, label, hh, lo, hi)
        elif (label < 0).any():
            regions = [np.flatnonzero(label < 0)]
        polys, names, codes_wanted = [], [], []
        for s in np.unique(label[label >= 0]):
            x, i, m = agreed[s]
            polys.append(shapely.coverage_union_all(atoms_ll[label == s]))
            support = [(layers[y].codes[m[y]], layers[y].names[m[y]]) for y in range(len(layers)) if m[y] >= 0]
            fit = [c for c, _n in support
                   if c.startswith(row.code) and len(c) == len(row.code) + 3 and c[-3:].isdigit()]
            codes_wanted.append(fit[0] if fit else None)
            names.append(support[0][1])
        new_polys = []
        for r in regions:
            k = _band_k(hh[r].sum(), lo, hi) or 1
            # the units of one estate (小区) move together: an estate is never split by the redraw
            fused, fused_hh, _member = group_atoms(atoms_ll[r], hh[r], estate_groups(session, atoms_ll[r]))
            k = max(1, min(k, len(fused)))
            if k == 1:
                new_polys.append(shapely.coverage_union_all(atoms_ll[r]))
            else:
                p, _h, _l = redraw_grids(fused, fused_hh, k, tolerance, seed)
                new_polys += list(p)
        if new_polys:

            order = reading_order(np.array(new_polys, dtype=object))
            new_polys = [new_polys[o] for o in order]
        taken = {c for c in codes_wanted if c}
        seen, codes = set(), []
        for c in codes_wanted:
            codes.append(c if c and c not in seen else None)
            seen.add(c)
        free = (f"{row.code}{n:03d}" for n in range(1, 1000) if f"{row.code}{n:03d}" not in taken)
        codes = [c or next(free) for c in codes]
        start = len(names)
        codes += [next(free) for _ in new_polys]
        names += [f"{row.name or row.code}第{int(c[-3:])}网格" for c in codes[start:]]
        kept_codes += codes[:start]
        redrawn += codes[start:]
        proposals.append(Proposal("grid", row.code, codes, names, np.array(polys + new_polys, dtype=object)))

    merged_ll = np.concatenate([p.geoms for p in proposals]) if proposals else np.array([], dtype=object)
    merged_codes = [c for p in proposals for c in p.codes]
    merged_m = _to_m(merged_ll, crs)
    mapping = []
    for layer in layers:
        i, j, share = ov.shares(layer.geoms, merged_m)
        for a, m, sh in zip(i, j, share):
            mapping.append({"source": layer.label, "code": layer.codes[a], "to_code": merged_codes[m],
                            "to_index": int(m), "share": round(float(sh), 6)})
    return Plan(proposals, _located(found, crs), mapping, kept_codes, redrawn), comms


# -- the proposal ------------------------------------------------------------------------------------
def _sum_impacts(parts: list[dict]) -> dict:
    """One impact report for all the communities of a merge."""
    out = {"areas_before": 0, "areas_after": 0, "removed_codes": [], "new_codes": [], "buildings_moved": 0,
           "households_moved": 0, "moves": [], "households_after": {}, "staff_to_reassign": [],
           "open_requests_in_redrawn_areas": 0}
    for p in parts:
        for k, v in p.items():
            if isinstance(v, list) and k in out:
                out[k] += v
            elif isinstance(v, dict) and k in out:
                out[k].update(v)
            elif isinstance(v, (int, float)) and k in out:
                out[k] += v
    out["moves"] = out["moves"][:5000]
    return out


def propose_merge(session: Session, sources: list[Source], parent: str | None, actor: str,
                  hh_ranges: dict[str, tuple[int, int]], level: str = "grid", tolerance: float = 0.10,
                  seed: int = 0) -> dict:
    """Overlay the sources, report their disagreements, and keep the merged network as a redraw proposal
    (checked like a drawn one, community by community; a draft generation when valid). Returns the
    report: the redraw's id, valid, findings, impact, disagreements, and the source code mapping."""
    if level != "grid":
        raise MergeError(f"level: networks are merged at the grid level, not {level!r}")
    lo, hi = hh_ranges.get("grid", (0, 10**9))
    pl, comms = plan(session, sources, parent, (lo, hi), tolerance, seed)
    active = generations.active_id(session)
    scope_codes = [r.code for r in comms]
    old = queries.level_areas(session, active, "grid")
    elsewhere = {r.code: r.parent_code for r in old if r.parent_code not in set(scope_codes)}
    findings, impacts, households = [], [], []
    for p, row in zip(pl.proposals, comms):
        geom = shapely.from_wkb(bytes(row.wkb))
        b = Buildings.within(session, geom)
        hh = households_of(p.geoms, p.codes, b.x, b.y, b.hh)
        households.append(hh)
        findings += validate(p, geom, elsewhere, hh, (lo, hi), digits=3)
        findings += estate_findings(p, Estates.within(session, geom), geom)
        impacts.append(_impact(session, p, [r for r in old if r.parent_code == p.parent], hh, b))
    valid = not any(f["severity"] == "error" for f in findings)
    impact = _sum_impacts(impacts)
    impact.update({"scope": scope_codes, "kept": len(pl.kept), "redrawn": len(pl.redrawn),
                   "kept_codes": pl.kept, "redrawn_codes": pl.redrawn})
    labels = [s.label for s in sources]
    gen = None
    mapping = pl.mapping
    if valid:
        savepoint = session.begin_nested()
        gen = _draft(session, active, f"merge of {', '.join(labels)}", scope_codes)
        codes = [c for p in pl.proposals for c in p.codes]
        conn = session.connection().connection.driver_connection
        n = len(codes)
        ids = bulk.write_areas(conn, gen, ["grid"] * n, codes, [name for p in pl.proposals for name in p.names],
                               [p.parent for p in pl.proposals for _ in p.codes],
                               np.concatenate(households) if households else [],
                               np.concatenate([p.geoms for p in pl.proposals]), tiers=[1] * n,
                               parent_levels=["community"] * n)
        moved, orphans, straddling = [], [], []
        for p in pl.proposals:
            touched = sorted(set(p.codes) | {r.code for r in old if r.parent_code == p.parent})
            m, o, st = reparent_below_grids(session, gen, 1, p.parent, touched)
            moved, orphans, straddling = moved + m, orphans + o, straddling + st
        if straddling or orphans:
            savepoint.rollback()
            gen, valid = None, False
            findings += straddling
            if orphans:
                findings.append(_finding("gap", [o["code"] for o in orphans],
                                         f"{len(orphans)} grid or unit(s) would lie in no new grid"))
        else:
            try:  # codes follow parents: units under new grids take codes that begin with theirs
                recoded = store_codes.recode(session, gen)
            except store_codes.CodeError as exc:
                raise RedrawError(str(exc)) from exc
            savepoint.commit()
            impact["recoded"], impact["recoded_count"] = recoded[:1000], len(recoded)
            impact["children_reparented"] = moved[:1000]
            impact["children_reparented_count"] = len(moved)
            mapping = [dict(m, to_area_id=int(ids[m["to_index"]])) for m in mapping]
    warn = [dict(d, severity="warning") for d in pl.disagreements]
    impact["merge"] = {"sources": [{"label": s.label, "areas": len(s.codes)} for s in sources],
                       "mapping": mapping, "disagreements": len(warn)}
    rid = session.execute(text("""
        INSERT INTO redraw (actor, level, parent_code, based_on, draft_generation, valid, findings, impact)
        VALUES (:a, 'grid', :p, :b, :g, :v, CAST(:f AS jsonb), CAST(:i AS jsonb)) RETURNING id"""),
        {"a": actor, "p": parent or (scope_codes[0] if len(scope_codes) == 1 else ""), "b": active, "g": gen,
         "v": valid, "f": json.dumps(findings + warn, ensure_ascii=False),
         "i": json.dumps(impact, ensure_ascii=False)}).scalar()
    if gen is not None:
        identity.name_source(session, gen, f"redraw {rid}")
    audit.write(session, actor, "propose merge", {"redraw": rid, "sources": labels, "parent": parent,
                                                  "valid": valid, "disagreements": len(warn)})
    if not valid:
        keep_proposal(session, rid, Proposal("grid", parent or "", [c for p in pl.proposals for c in p.codes],
                                             [n for p in pl.proposals for n in p.names],
                                             np.concatenate([p.geoms for p in pl.proposals])))
    return {"id": rid, "valid": valid, "draft_generation": gen, "based_on": active, "scope": scope_codes,
            "sources": impact["merge"]["sources"], "disagreements": warn, "findings": findings,
            "mapping": mapping, "impact": {k: v for k, v in impact.items() if k != "merge"}}


def _draft(session: Session, based_on: int, source: str, communities: list[str]) -> int:
    """A draft generation: `based_on` without the first-tier grids of these communities (left out, not
    deleted: a deletion would cascade to the units under them, which the draft re-parents instead)."""
    gen = session.execute(text("INSERT INTO generation (based_on, state, source) VALUES (:b, 'draft', :s) "
                               "RETURNING id"), {"b": based_on, "s": source}).scalar_one()
    session.execute(text("""
        INSERT INTO generation_area (generation_id, area_id, level, code, parent_level, parent_code, tier)
        SELECT :g, area_id, level, code, parent_level, parent_code, tier FROM generation_area
        WHERE generation_id = :b
          AND NOT (level = 'grid' AND parent_level = 'community' AND parent_code = ANY(:c))"""),
        {"g": gen, "b": based_on, "c": communities})
    return gen


# -- the commit --------------------------------------------------------------------------------------
def after_commit(session: Session, row, old_gen: int, new_gen: int, actor: str) -> int:
    """When the committed redraw is a merge: the crosswalk from every source code to the merged areas
    (kind 'merge'), and the scope's communities other than the redraw's parent handed over (people and
    open requests follow the merged grids). Returns the crosswalk rows written (0: not a merge)."""
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
        _hand_over(session, others, old_gen, new_gen, row["id"], actor)
    return len(rows)


def _hand_over(session: Session, communities: list[str], old_gen: int, new_gen: int, redraw_id: int,
               actor: str) -> None:
    """People and open requests of the replaced grids of these communities follow their successors
    (what a redraw's commit does for its one parent)."""
    from gis.redraw.propose import _relocate_open_requests

    identity.succeed(session, old_gen, new_gen, "grid", communities, kind="redraw", source=f"redraw {redraw_id}")
    for c in communities:
        _relocate_open_requests(session, "grid", c, old_gen, new_gen, actor)
