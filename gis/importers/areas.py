"""`wangge import areas`: one level of official boundaries into a new, active generation.

Grids may come in tiers: with `--parent-field` a grid file holds every tier (gis.importers.grid_tiers).

Every feature is checked before anything is written (empty or non-polygon geometry, blank or duplicate
code, invalid geometry that cannot be repaired within 0.1 % of its area, a parent that does not exist,
a child outside its parent); any bad feature refuses the whole import with all of them listed.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.store import bulk

from gis.store import generations
from gis.store.db import session_scope
from gis.importers import grid_tiers
from gis.importers.common import ImportRefused, area_fields, pick_field, read_frame, to_wgs84
from gis.store import audit
from gis.store import codes as store_codes, identity
from gis.planar import metric_crs
from gis.store.queries import areas_join, first_covering, level_areas
from gis.vocab import LEVEL_RANK, LEVELS

REPAIR_TOLERANCE = 0.001   # a repair may change the area by at most 0.1 % (CONTRACT.md)
OUTSIDE_TOLERANCE = 0.01   # a child may stick out of its parent by at most 1 % of its area (slivers)


def _polygonal(g):
    """The polygonal part of a repaired geometry (make_valid may add lines or points)."""
    if g is None or g.is_empty:
        return g
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _ring_area(g) -> float:
    """The area the rings enclose by the shoelace formula, as drawn (holes subtracted), even when invalid."""
    total = 0.0
    for poly in shapely.get_parts(g):
        if poly.geom_type != "Polygon":
            continue
        ext = np.asarray(poly.exterior.coords)
        total += abs(_shoelace(ext)) - sum(abs(_shoelace(np.asarray(r.coords))) for r in poly.interiors)
    return total


def _shoelace(c: np.ndarray) -> float:
    return 0.5 * float(np.sum(c[:-1, 0] * c[1:, 1] - c[1:, 0] * c[:-1, 1]))


def check_features(frame: gpd.GeoDataFrame, codes: list, metric) -> tuple[np.ndarray, list[dict], list[str]]:
    """Geometry and code checks; returns repaired geometries, problems and the codes that were repaired."""
    problems, repaired = [], []
    geoms = np.array(frame.geometry.values, dtype=object)
    seen: dict[str, int] = {}
    metric_geoms = frame.to_crs(metric).geometry.values
    for i, (g, code) in enumerate(zip(geoms, codes)):
        if code is None:
            problems.append({"feature": i, "code": None, "problem": "no code"})
        elif code in seen:
            problems.append({"feature": i, "code": code, "problem": f"duplicate code (also feature {seen[code]})"})
        else:
            seen[code] = i
        if g is None or g.is_empty:
            problems.append({"feature": i, "code": code, "problem": "empty geometry"})
            continue
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append({"feature": i, "code": code, "problem": f"{g.geom_type} is not a polygon"})
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = _polygonal(shapely.make_valid(g))
            before = _ring_area(metric_geoms[i])
            after = shapely.area(_polygonal(shapely.make_valid(metric_geoms[i])))
            change = abs(after - before) / before if before > 0 else float("inf")
            if fixed.is_empty or change > REPAIR_TOLERANCE:
                problems.append({"feature": i, "code": code, "problem":
                                 f"invalid geometry ({reason}); repairing it changes its area by "
                                 f"{change:.2%}, more than {REPAIR_TOLERANCE:.1%}"})
                continue
            geoms[i] = fixed
            repaired.append(code)
    return geoms, problems, repaired


def import_areas(engine: Engine, path, level: str, code_field: str | None = None, name_field: str | None = None,
                 parent_field: str | None = None, households_field: str | None = None, actor: str = "cli",
                 encoding: str | None = None) -> dict:
    """Import one level of areas; see the module docstring. Returns the import report (with the text
    encoding its attributes were read in, said or guessed)."""
    if level not in LEVELS:
        raise ImportRefused(f"level: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    path = Path(path)
    frame = to_wgs84(read_frame(path, encoding=encoding), path)
    if frame.empty:
        raise ImportRefused(f"{path}: the file has no features")
    code_col, name_col, hh_col = area_fields(frame, code_field, name_field, households_field, path)
    if level == "district" and parent_field:
        raise ImportRefused("--parent-field: districts have no parent")
    parent_col = pick_field(frame, parent_field, (), "parent", path, required=bool(parent_field)) \
        if level != "district" else None

    codes = [None if c is None or (isinstance(c, float) and np.isnan(c)) or str(c).strip() == "" else
             str(int(c)) if isinstance(c, (float, np.floating)) and float(c).is_integer() else str(c).strip()
             for c in frame[code_col]]
    names = [str(n) if n is not None and str(n) != "nan" else (codes[i] or "") for i, n in enumerate(frame[name_col])]
    xmin, ymin, xmax, ymax = frame.total_bounds
    metric = metric_crs((xmin + xmax) / 2, (ymin + ymax) / 2)
    geoms, problems, repaired = check_features(frame, codes, metric)
    households = None
    if hh_col:
        hh = frame[hh_col].to_numpy()
        households = []
        for i, v in enumerate(hh):
            try:
                n = int(v)
                if n < 0:
                    raise ValueError
                households.append(n)
            except (TypeError, ValueError):
                problems.append({"feature": i, "code": codes[i], "problem": f"households {v!r} is not a count"})
                households.append(0)

    parent_level = LEVELS[LEVEL_RANK[level] - 1] if LEVEL_RANK[level] else None
    with session_scope(engine) as session:
        active = generations.active_id(session)
        tiered = None
        if level == "grid" and parent_col:  # one file of every tier: parents are communities or grids
            tiered = grid_tiers.resolve(session, active, frame, parent_col, geoms, codes, problems, metric,
                                        OUTSIDE_TOLERANCE)
            parents = tiered.parents
        else:
            parents = _parents(session, active, parent_level, frame, parent_col, geoms, codes, problems, metric)
        if problems:
            raise ImportRefused(f"{path}: import refused, {len(problems)} problem(s); nothing was written",
                                sorted(problems, key=lambda p: p["feature"]))
        replaced = session.execute(text(
            "SELECT count(*) FROM generation_area WHERE generation_id = :g AND level = :l"),
            {"g": active, "l": level}).scalar() if active else 0
        gen = generations.create(session, source=f"import {level}", note=str(path), based_on=active,
                                 replace_levels=(level,))
        conn = session.connection().connection.driver_connection
        if households is None:  # counted before writing, so an unchanged area's row is reused, not altered
            households = _households_from_registry(session, geoms)
        bulk.write_areas(conn, gen, [level] * len(codes), codes, names, parents, households, geoms,
                         tiers=tiered.tiers if tiered else None,
                         parent_levels=tiered.parent_levels if tiered else None)
        if tiered and tiered.kept:  # the active generation's coarser grids the file hangs its grids under
            _keep_grids(session, gen, tiered.kept)
        reparented = _reparent_children(session, gen, level)
        if tiered:
            reparented += _units_to_finest(session, gen)
        try:
            recoded = store_codes.recode(session, gen, source=f"import {level}")  # codes follow parents
        except store_codes.CodeError as exc:
            raise ImportRefused(f"import refused: {exc}; nothing was written") from exc
        succession = identity.succeed(session, active, gen, level, kind="import",
                                      source=f"import {level} {path.name}")
        generations.activate(session, gen)
        report = {"generation": gen, "level": level, "imported": len(codes), "repaired": repaired,
                  "reparented": reparented, "replaced": int(replaced), "file": str(path),
                  "recoded": len(recoded), "succeeded": succession["replaced"],
                  "encoding": frame.attrs.get("encoding")} | ({"datum": frame.attrs["datum"]}
                                                           if "datum" in frame.attrs else {})
        if tiered:
            report["tiers"] = {str(t): tiered.tiers.count(t) for t in sorted(set(tiered.tiers))}
            report["kept"] = len(tiered.kept)
        audit.write(session, actor, "import areas", {k: v for k, v in report.items() if k != "reparented"}
              | {"reparented": len(reparented)})
    return report


def _parents(session, active, parent_level, frame, parent_col, geoms, codes, problems, metric) -> list:
    """Each feature's parent code: from the field (must exist) or by containment of its representative
    point; and in both cases the child must not stick out of its parent by more than 1 %."""
    n = len(codes)
    if parent_level is None:
        return [None] * n
    rows = level_areas(session, active, parent_level) if active else []
    if parent_level == "grid" and rows:  # grids in tiers: the finest covering tier first (units hang there)
        tier = {r.code: r.tier for r in session.execute(text(
            "SELECT code, tier FROM generation_area WHERE generation_id = :g AND level = 'grid'"), {"g": active})}
        rows = sorted(rows, key=lambda r: (-tier.get(r.code, 1), r.code.encode()))
    if not rows:
        for i in range(n):
            problems.append({"feature": i, "code": codes[i],
                             "problem": f"there are no {parent_level} areas yet to hold it: import that level first"})
        return [None] * n
    pcodes = [r.code for r in rows]
    pgeoms = shapely.from_wkb([bytes(r.wkb) for r in rows])
    index = {c: k for k, c in enumerate(pcodes)}
    usable = np.array([g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid
                       for g in geoms])
    parent_idx = np.full(n, -1)
    if parent_col:
        for i, v in enumerate(frame[parent_col]):
            key = None if v is None else str(v).strip()
            if key not in index:
                problems.append({"feature": i, "code": codes[i],
                                 "problem": f"parent code {key!r} is not a {parent_level} in generation {active}"})
            else:
                parent_idx[i] = index[key]
    else:
        tree = shapely.STRtree(pgeoms)
        reps = shapely.point_on_surface(np.where(usable, geoms, None))
        pi, ai = tree.query(reps[usable], predicate="intersects")
        ok = np.flatnonzero(usable)
        first = np.full(len(ok), len(pcodes))
        np.minimum.at(first, pi, ai)  # parents in code order (grids: finest tier first), as in locate
        first[first == len(pcodes)] = -1
        parent_idx[ok] = first
        for i in ok[first == -1]:
            problems.append({"feature": int(i), "code": codes[i], "problem": f"outside every {parent_level}"})
    # a child outside its parent (beyond slivers)
    check = np.flatnonzero(usable & (parent_idx >= 0))
    if len(check):
        to_m = gpd.GeoSeries(list(geoms[check]), crs=4326).to_crs(metric).values
        par_m = gpd.GeoSeries(list(pgeoms[parent_idx[check]]), crs=4326).to_crs(metric).values
        area = shapely.area(to_m)
        outside = shapely.area(shapely.difference(to_m, par_m))
        for i, a, o in zip(check, area, outside):
            if a > 0 and o / a > OUTSIDE_TOLERANCE:
                problems.append({"feature": int(i), "code": codes[i], "problem":
                                 f"{o / a:.1%} of it lies outside its parent {pcodes[parent_idx[i]]}"})
    return [pcodes[k] if k >= 0 else None for k in parent_idx]


def _keep_grids(session, gen: int, kept: list) -> None:
    """Carry the active generation's coarser grids (that the file's grids hang under) into `gen`."""
    for area_id, code, parent_level, parent_code, tier in kept:
        session.execute(text("""
            INSERT INTO generation_area (generation_id, area_id, level, code, parent_level, parent_code, tier)
            VALUES (:g, :a, 'grid', :c, :pl, :pc, :t)"""),
            {"g": gen, "a": area_id, "c": code, "pl": parent_level, "pc": parent_code, "t": tier})


def _units_to_finest(session, gen: int) -> list[dict]:
    """Units hang under the finest grid that covers them: a unit whose parent is a grid of a coarser
    tier than the one covering its representative point moves there."""
    rows = session.execute(text(f"""
        WITH c AS (
            SELECT u.area_id, u.code, u.parent_code, ST_PointOnSurface(ua.geom) AS pt, p.tier AS ptier
            FROM {areas_join("u", "ua")}
            JOIN generation_area p ON p.generation_id = u.generation_id AND p.level = 'grid' AND p.code = u.parent_code
            WHERE u.generation_id = :g AND u.level = 'unit'
        ), n AS (SELECT c.*, {first_covering("c.pt", "'grid'")} AS new_parent FROM c)
        SELECT n.area_id, n.code, n.parent_code, n.new_parent FROM n
        JOIN generation_area q ON q.generation_id = :g AND q.level = 'grid' AND q.code = n.new_parent
        WHERE q.tier > n.ptier
    """), {"g": gen}).all()
    for r in rows:
        session.execute(text("UPDATE generation_area SET parent_code = :p WHERE generation_id = :g AND area_id = :a"),
                        {"p": r.new_parent, "g": gen, "a": r.area_id})
    return [{"code": r.code, "from": r.parent_code, "to": r.new_parent} for r in rows]


def _households_from_registry(session, geoms) -> list[int]:
    """Households of each new area from the address registry (the entrances it covers), in input order."""
    rows = session.execute(text("""
        SELECT g.i, coalesce(sum(ad.households), 0) AS hh
        FROM unnest(CAST(:w AS bytea[])) WITH ORDINALITY AS g(wkb, i)
        LEFT JOIN address ad ON ST_Covers(ST_GeomFromWKB(g.wkb, 4326), ad.geom)
        GROUP BY g.i ORDER BY g.i
    """), {"w": [shapely.to_wkb(g) for g in geoms]}).all()
    return [int(r.hh) for r in rows]


def reparent_children(session, gen: int, level: str, parents: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Children one level down whose parent code no longer exists in `gen`, or whose parent (same code,
    redrawn) no longer covers their representative point, get the area of `level` that covers that
    point (first code wins). `parents` limits the check to children of those codes (a redraw's). Returns
    (moved, orphans): orphans lie in no area of `level` and keep their dangling parent, so the caller
    must refuse or report them."""
    if LEVEL_RANK[level] == len(LEVELS) - 1:
        return [], []
    child_level = LEVELS[LEVEL_RANK[level] + 1]
    rows = session.execute(text(f"""
        WITH c AS (
            SELECT c.area_id, c.code, c.parent_code, ST_PointOnSurface(ca.geom) AS pt, pa.geom AS parent_geom
            FROM {areas_join("c", "ca")}
            LEFT JOIN generation_area p ON p.generation_id = c.generation_id AND p.level = :l AND p.code = c.parent_code
            LEFT JOIN area pa ON pa.id = p.area_id
            WHERE c.generation_id = :g AND c.level = :cl
              AND (c.parent_level IS NULL OR c.parent_level = :l)
              AND (CAST(:parents AS text[]) IS NULL OR c.parent_code = ANY(CAST(:parents AS text[])) OR p.code IS NULL)
        )
        SELECT c.area_id, c.code, c.parent_code,
               {first_covering("c.pt")} AS new_parent
        FROM c WHERE c.parent_geom IS NULL OR NOT ST_Covers(c.parent_geom, c.pt)
    """), {"g": gen, "l": level, "cl": child_level, "parents": parents}).all()
    orphans = [{"code": r.code, "parent": r.parent_code} for r in rows if r.new_parent is None]
    moved = [r for r in rows if r.new_parent is not None and r.new_parent != r.parent_code]
    for r in moved:
        session.execute(text("UPDATE generation_area SET parent_code = :p WHERE generation_id = :g AND area_id = :a"),
                        {"p": r.new_parent, "g": gen, "a": r.area_id})
    return [{"code": r.code, "from": r.parent_code, "to": r.new_parent} for r in moved], orphans


def _reparent_children(session, gen: int, level: str) -> list[dict]:
    """reparent_children for an import: an orphan refuses the whole import."""
    moved, orphans = reparent_children(session, gen, level)
    if orphans:
        child_level = LEVELS[LEVEL_RANK[level] + 1]
        raise ImportRefused(
            f"import refused: {len(orphans)} {child_level}(s) would lose their parent and lie outside every new "
            f"{level}; nothing was written",
            [{"feature": None, "code": o["code"], "problem": f"parent {o['parent']} is gone and no new {level} holds it"}
             for o in orphans])
    return moved
