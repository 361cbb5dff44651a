"""Planner redraws: check proposed children of one parent (grids of a community, units of a grid…),
report what the redraw moves, and keep it as a draft generation until a planner commits it.

Findings (kind, codes, message, GeoJSON location): invalid, code, outside_parent, gap, overlap,
households, disconnected (errors: the proposal cannot be committed), compactness and estate_split
(warnings: a grid boundary that cuts a residential estate, 小区, naming the estate and the grids).
Metric work happens in the UTM zone of the parent, never in degrees.

Grid tiers: the grids of a community are tier 1; the grids of a tier-k grid are tier k+1 (as deep as the
city's `grid_tier` scheme goes). A redraw of grids names its parent (a community or a grid) and replaces
that parent's child grids; the grids of the next tier below them follow (each to the new grid that holds
it, which must hold it whole) and units follow the finest grid that covers them.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.store import bulk

from gis.store import audit, generations, identity, queries
from gis.store import codes as store_codes
from gis.planar import metric_crs
from gis.locate.index import LevelIndex
from gis.vocab import LEVEL_RANK, LEVELS
from gis.command.loop import Step, record_step
from gis.store.queries import OPEN_SQL

AREA_TOLERANCE_M2 = 1.0       # gaps, overlaps and overhangs smaller than this are drawing noise
SLIVER_PART_M2 = 1.0          # parts smaller than this do not make an area "disconnected"
COMPACTNESS_MIN = 0.15        # Polsby–Popper 4πA/P²: a square is 0.785, a 10:1 strip about 0.26
ERROR_KINDS = {"invalid", "code", "outside_parent", "gap", "overlap", "households", "disconnected"}
ESTATE_SHARE_MIN = 0.01       # a grid holding less than 1 % of an estate's ground does not split it (slivers)
CHILD_OUTSIDE_MAX = 0.01      # a lower-tier grid may stick out of its new parent grid by at most 1 % of its area


class RedrawError(ValueError):
    """A proposal that cannot even be checked (unknown level or parent, malformed features)."""


class ProposalTooLarge(RedrawError):
    """A proposal with more vertices than WANGGE_MAX_VERTICES, refused before any heavy work (413)."""

    def __init__(self, count: int, limit: int, counted_all: bool = True):
        """`count` vertices (a lower bound when counting stopped at the limit) against `limit`."""
        self.count, self.limit = count, limit
        more = "" if counted_all else "at least "
        super().__init__(f"features: {more}{count:,} vertices in all is over the limit of {limit:,} "
                         "(WANGGE_MAX_VERTICES); simplify the boundaries or send fewer areas at a time")


def vertex_limit(max_vertices: int | None = None) -> int:
    """The vertex limit in force: the one given, else the settings' (WANGGE_MAX_VERTICES)."""
    if max_vertices is not None:
        return max_vertices
    from gis.settings import get_settings

    return get_settings().max_vertices


def _positions(coords) -> int:
    """Positions in a GeoJSON `coordinates` array of any depth, counted without building geometry."""
    if not isinstance(coords, (list, tuple)) or not coords:
        return 0
    if not isinstance(coords[0], (list, tuple)):
        return 1
    if not isinstance(coords[0][0], (list, tuple)):
        return len(coords)
    return sum(_positions(c) for c in coords)


def _geojson_vertices(geometry) -> int:
    """Vertices of one GeoJSON geometry object (collections included); 0 for what is not one."""
    if not isinstance(geometry, dict):
        return 0
    if geometry.get("type") == "GeometryCollection":
        return sum(_geojson_vertices(g) for g in geometry.get("geometries") or [])
    return _positions(geometry.get("coordinates"))


def check_vertices(features: list, limit: int) -> int:
    """The vertex count of a list of GeoJSON features; ProposalTooLarge as soon as it passes `limit`."""
    total = 0
    for f in features:
        total += _geojson_vertices(f.get("geometry") if isinstance(f, dict) else None)
        if total > limit:
            raise ProposalTooLarge(total, limit, counted_all=False)
    return total


@dataclass
class Proposal:
    """New children for one parent: codes, names and shapes (EPSG:4326), in the order given."""

    level: str
    parent: str
    codes: list[str]
    names: list[str]
    geoms: np.ndarray  # EPSG:4326


def check_level(level: str) -> None:
    """RedrawError unless `level` is one a redraw can replace (every level below the district)."""
    if level not in LEVELS or level == "district":
        raise RedrawError(f"level: must be one of {', '.join(LEVELS[1:])}, not {level!r}")


@dataclass(frozen=True)
class Parent:
    """Where a proposal's children hang: the parent's level, and for grids their tier (1 under a
    community, k+1 under a tier-k grid) with that tier's name and code digits."""

    level: str
    tier: int | None = None
    tier_name: str = ""
    digits: int = 3


def resolve_parent(session, generation: int, level: str, parent: str) -> Parent:
    """The parent of a redraw of `level` under the code `parent` in a generation: a grid's parent is a
    community (tier 1) or a grid (the next tier, as far as the city's tiers go); units hang under grids of
    the finest tier only. RedrawError naming `parent` otherwise."""
    from gis.store.tiers import tiers as city_tiers

    if level != "grid":
        parent_level = LEVELS[LEVEL_RANK[level] - 1]
        if queries.area(session, generation, parent_level, parent) is None:
            raise RedrawError(f"parent: {parent} is not a {parent_level} in generation {generation}")
        if level == "unit":
            below = session.execute(text("""
                SELECT count(*) FROM generation_area WHERE generation_id = :g AND level = 'grid'
                  AND parent_level = 'grid' AND parent_code = :p"""), {"g": generation, "p": parent}).scalar()
            if below:
                raise RedrawError(f"parent: grid {parent} holds {below} grid(s) of the next tier; units belong "
                                  "to the finest tier: redraw the units of one of those grids")
        return Parent(parent_level)
    scheme = city_tiers(session)
    row = session.execute(text("""
        SELECT level, tier FROM generation_area WHERE generation_id = :g AND code = :c
          AND level IN ('community', 'grid') ORDER BY level = 'grid' LIMIT 1"""),
        {"g": generation, "c": parent}).first()
    if row is None:
        raise RedrawError(f"parent: {parent} is neither a community nor a grid in generation {generation}")
    tier = 1 if row.level == "community" else int(row.tier) + 1
    if tier > len(scheme):
        raise RedrawError(f"parent: {parent} is a grid of the finest tier ({len(scheme)}, "
                          f"{scheme[-1].name}); this city has no tier below it to redraw")
    t = scheme[tier - 1]
    return Parent(row.level, tier, t.name, t.digits)


def parse(level: str, parent: str, features: dict, max_vertices: int | None = None) -> Proposal:
    """The request's FeatureCollection as a Proposal, or RedrawError naming what is malformed
    (ProposalTooLarge, counted before any geometry is built, over `max_vertices`)."""
    check_level(level)
    if not isinstance(features, dict) or features.get("type") != "FeatureCollection":
        raise RedrawError("features: a GeoJSON FeatureCollection is needed")
    items = features.get("features") or []
    if not isinstance(items, list):
        raise RedrawError("features.features: a list of GeoJSON features is needed")
    check_vertices(items, vertex_limit(max_vertices))
    codes, names, geoms = [], [], []
    for i, f in enumerate(items):
        if not isinstance(f, dict):
            raise RedrawError(f"features[{i}]: a GeoJSON feature is needed")
        props = f.get("properties") or {}
        try:
            g = shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None
        except Exception as exc:
            raise RedrawError(f"features[{i}].geometry: not a GeoJSON geometry ({exc})") from exc
        codes.append(str(props.get("code") or "").strip())
        names.append(str(props.get("name") or props.get("code") or ""))
        geoms.append(g)
    if not codes:
        raise RedrawError("features: the collection is empty")
    return Proposal(level, parent, codes, names, np.array(geoms, dtype=object))


def _gj(g) -> dict | None:
    return None if g is None or g.is_empty else json.loads(shapely.to_geojson(g))


def _finding(kind, codes, message, geometry=None) -> dict:
    return {"kind": kind, "severity": "error" if kind in ERROR_KINDS else "warning", "codes": list(codes),
            "message": message, "geometry": _gj(geometry)}


DENSIFY_DEG = 0.0002  # ~20 m: edges are densified before projecting, so a long parallel stays one line


def _metric(geoms, crs):
    """Lon/lat geometries in the metric CRS, densified first: a straight lon/lat edge projects to a curve,
    and a parent edge without the vertex a child has there would otherwise leave a false sliver."""
    return gpd.GeoSeries(list(shapely.segmentize(np.asarray(list(geoms), dtype=object), DENSIFY_DEG)),
                         crs=4326).to_crs(crs).values


def _degrees(geom, crs):
    return gpd.GeoSeries([geom], crs=crs).to_crs(4326).values[0]


def validate(p: Proposal, parent_geom, siblings_elsewhere: dict[str, str], households: np.ndarray,
             hh_range: tuple[int, int], compactness_min: float = COMPACTNESS_MIN,
             digits: int | None = None) -> list[dict]:
    """Every finding for a proposal. `siblings_elsewhere`: code → parent of areas of the same level
    under other parents (a code may not be taken from them); `digits`: how many digits a child's code
    adds to its parent's (a grid tier's `grid_tier.digits`), unchecked when None."""
    c = parent_geom.centroid
    crs = metric_crs(c.x, c.y)
    out = _code_findings(p, siblings_elsewhere, digits)
    shape_findings, ok = _shape_findings(p)
    out += shape_findings
    outside_findings, away = _outside_findings(p, parent_geom, crs)
    out += outside_findings
    ok &= ~away  # wholly outside: said so above; measuring it in the parent's plane would be meaningless
    geoms_m = _metric(p.geoms[ok], crs) if ok.any() else np.array([], dtype=object)
    codes_ok = [code for code, k in zip(p.codes, ok) if k]
    out += _part_findings(codes_ok, geoms_m, crs, compactness_min)
    out += _cover_findings(p, _metric([parent_geom], crs)[0], codes_ok, geoms_m, crs)
    out += _household_findings(p, households, hh_range)
    return out


def _code_findings(p: Proposal, siblings_elsewhere: dict[str, str], digits: int | None = None) -> list[dict]:
    """Missing, repeated, wrongly prefixed, wrongly long (for a tier's `digits`) or taken codes."""
    out, seen = [], {}
    for i, code in enumerate(p.codes):
        if not code:
            out.append(_finding("code", [], f"feature {i} has no code"))
        elif code in seen:
            out.append(_finding("code", [code], f"code {code} is used by features {seen[code]} and {i}"))
        else:
            seen[code] = i
            if not code.startswith(p.parent):
                out.append(_finding("code", [code], f"code {code} does not start with its parent's code {p.parent}"))
            elif digits and not (len(code) == len(p.parent) + digits and code[len(p.parent):].isdigit()):
                out.append(_finding("code", [code], f"code {code} must be its parent's code {p.parent} and "
                                                    f"{digits} digit(s) for this tier"))
            if code in siblings_elsewhere:
                out.append(_finding("code", [code], f"code {code} already names a {p.level} under "
                                                    f"{siblings_elsewhere[code]}"))
    return out


def _shape_findings(p: Proposal) -> tuple[list[dict], np.ndarray]:
    """`invalid` for what is not a valid polygon (located where GEOS says), and which features are."""
    out = []
    ok = np.zeros(len(p.codes), bool)
    for i, g in enumerate(p.geoms):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            out.append(_finding("invalid", [p.codes[i]], f"{p.codes[i] or i}: not a polygon"))
        elif not g.is_valid:
            reason = shapely.is_valid_reason(g)
            where = None
            m = re.search(r"\[([-\d.e]+) ([-\d.e]+)\]", reason)
            if m:
                where = shapely.Point(float(m.group(1)), float(m.group(2)))
            out.append(_finding("invalid", [p.codes[i]], f"{p.codes[i]}: invalid geometry ({reason})", where))
        else:
            ok[i] = True
    return out, ok


def _outside_findings(p: Proposal, parent_geom, crs) -> tuple[list[dict], np.ndarray]:
    """`outside_parent` for every feature with a location beyond its parent, valid or not (an invalid
    shape is judged by its repair), and which features lie wholly outside (far away: a wrong CRS, say)."""
    out = []
    away = np.zeros(len(p.codes), bool)
    for i, g in enumerate(p.geoms):
        if g is None or g.is_empty or not np.isfinite(shapely.get_coordinates(g)).all():
            continue
        shape = g if g.is_valid else shapely.make_valid(g)
        over = shapely.difference(shape, parent_geom)
        if over.is_empty:
            continue
        code, label = p.codes[i], p.codes[i] or f"feature {i}"
        if not shapely.intersects(shape, parent_geom):
            away[i] = True
            out.append(_finding("outside_parent", [code] if code else [],
                                f"{label} lies wholly outside its parent {p.parent}, "
                                f"{_distance_m(shape, parent_geom):,.0f} m from it", shape))
            continue
        over_m = _metric([over], crs)[0]
        if over_m.area > AREA_TOLERANCE_M2 or (over_m.area == 0 and over_m.length > 1.0):
            out.append(_finding("outside_parent", [code] if code else [],
                                f"{label}: {over_m.area:,.0f} m² lies outside its parent {p.parent}", over))
    return out, away


def _distance_m(a, b) -> float:
    """Metres on the ellipsoid between the nearest points of two lon/lat geometries."""
    from pyproj import Geod

    return float(Geod(ellps="WGS84").geometry_length(shapely.shortest_line(a, b)))


def _part_findings(codes: list[str], geoms_m, crs, compactness_min: float) -> list[dict]:
    """`disconnected` (more than one real piece) and `compactness` (a warning) for each valid area."""
    out = []
    for code, g in zip(codes, geoms_m):
        parts = [q for q in shapely.get_parts(g) if q.area > SLIVER_PART_M2]
        if len(parts) > 1:
            out.append(_finding("disconnected", [code], f"{code} is in {len(parts)} separate pieces",
                                _degrees(g, crs)))
        pp = 4 * math.pi * g.area / g.length ** 2 if g.length else 0
        if pp < compactness_min:
            out.append(_finding("compactness", [code], f"{code}: Polsby–Popper compactness {pp:.2f} is below "
                                                       f"{compactness_min:.2f}", _degrees(g, crs)))
    return out


def _cover_findings(p: Proposal, parent_m, codes: list[str], geoms_m, crs) -> list[dict]:
    """`gap` (parent ground no area covers) and `overlap` (ground two areas claim)."""
    out = []
    union = shapely.union_all(geoms_m) if len(geoms_m) else shapely.Polygon()
    for gap in shapely.get_parts(shapely.difference(parent_m, union)):
        if gap.area > AREA_TOLERANCE_M2:
            out.append(_finding("gap", [], f"{gap.area:,.0f} m² of {p.parent} belongs to no {p.level}",
                                _degrees(gap, crs)))
    if not len(geoms_m):
        return out
    tree = shapely.STRtree(geoms_m)
    a, b = tree.query(geoms_m, predicate="intersects")
    for i, j in zip(a, b):
        if i < j:
            inter = shapely.intersection(geoms_m[i], geoms_m[j])
            if inter.area > AREA_TOLERANCE_M2:
                out.append(_finding("overlap", [codes[i], codes[j]],
                                    f"{codes[i]} and {codes[j]} overlap by {inter.area:,.0f} m²",
                                    _degrees(inter, crs)))
    return out


def _household_findings(p: Proposal, households: np.ndarray, hh_range: tuple[int, int]) -> list[dict]:
    """`households` for every coded area outside the level's balance band."""
    lo, hi = hh_range
    return [_finding("households", [code], f"{code} holds {int(n)} households, outside {lo}–{hi}")
            for code, n in zip(p.codes, households) if code and not lo <= n <= hi]


def households_of(geoms: np.ndarray, codes: list[str], x, y, hh) -> np.ndarray:
    """Households of each proposed area from registry points (a point on a shared edge counts once,
    for the area whose code sorts first, as locate would answer)."""
    valid = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid and not g.is_empty
                      for g in geoms])
    out = np.zeros(len(codes), dtype=np.int64)
    if not valid.any() or not len(x):
        return out
    order = np.flatnonzero(valid)[np.argsort([codes[i] for i in np.flatnonzero(valid)], kind="stable")]
    idx = LevelIndex(geoms[order]).query(np.asarray(x, float), np.asarray(y, float))
    sums = np.bincount(idx[idx >= 0], weights=np.asarray(hh, float)[idx >= 0], minlength=len(order))
    out[order] = sums.astype(np.int64)
    return out


def _engine_codes(geoms, codes, x, y):
    order = np.argsort(codes, kind="stable")
    idx = LevelIndex(np.asarray(geoms, dtype=object)[order]).query(np.asarray(x, float), np.asarray(y, float))
    sorted_codes = np.asarray(codes, dtype=object)[order]
    return np.where(idx >= 0, sorted_codes[np.maximum(idx, 0)], None)


def propose(session: Session, p: Proposal, actor: str, hh_ranges: dict[str, tuple[int, int]]) -> dict:
    """Check a proposal, compute its impact, store it with a draft generation; returns the report."""
    active = generations.active_id(session)
    if active is None:
        raise RedrawError("there is no active generation to redraw")
    where = resolve_parent(session, active, p.level, p.parent)
    parent_level = where.level
    row = queries.area(session, active, parent_level, p.parent)
    parent_geom = shapely.from_wkb(bytes(row.wkb))
    old = queries.level_areas(session, active, p.level)
    elsewhere = {r.code: r.parent_code for r in old if r.parent_code != p.parent}
    old_here = [r for r in old if r.parent_code == p.parent]
    b = Buildings.within(session, parent_geom)
    households = households_of(p.geoms, p.codes, b.x, b.y, b.hh)
    findings = validate(p, parent_geom, elsewhere, households, hh_ranges.get(p.level, (0, 10**9)),
                        digits=where.digits if where.tier else None)
    if p.level == "grid":
        findings += estate_findings(p, Estates.within(session, parent_geom), parent_geom)
    valid = not any(f["severity"] == "error" for f in findings)
    impact = _impact(session, p, old_here, households, b)

    # The draft (only for a valid proposal): the active generation with this parent's children replaced.
    gen = None
    if valid:
        savepoint = session.begin_nested()
        gen = generations.create(session, source=f"redraw {p.level} of {p.parent}", based_on=active,
                                 state="draft", replace_children=(p.level, p.parent, parent_level))
        conn = session.connection().connection.driver_connection
        n = len(p.codes)
        bulk.write_areas(conn, gen, [p.level] * n, p.codes, p.names, [p.parent] * n, households, p.geoms,
                         tiers=[where.tier] * n if where.tier else None, parent_levels=[parent_level] * n)
        touched = sorted(set(p.codes) | {r.code for r in old_here})
        if p.level == "grid":
            moved, orphans, straddling = reparent_below_grids(session, gen, where.tier, p.parent, touched)
        else:
            from gis.importers.areas import reparent_children
            moved, orphans = reparent_children(session, gen, p.level, touched)
            straddling = []
        if straddling:
            savepoint.rollback()
            gen, valid = None, False
            findings += straddling
        elif orphans:
            savepoint.rollback()
            gen, valid = None, False
            below = LEVELS[LEVEL_RANK[p.level] + 1] if p.level != "grid" else "grid or unit"
            findings.append(_finding("gap", [o["code"] for o in orphans],
                                     f"{len(orphans)} {below}(s) would lie in no new {p.level}"))
        else:
            try:
                recoded = store_codes.recode(session, gen)  # codes follow parents, in the draft the planner sees
            except store_codes.CodeError as exc:
                raise RedrawError(str(exc)) from exc
            savepoint.commit()
            impact["children_reparented"] = moved[:1000]
            impact["children_reparented_count"] = len(moved)
            impact["recoded"], impact["recoded_count"] = recoded[:1000], len(recoded)
    rid = session.execute(text("""
        INSERT INTO redraw (actor, level, parent_code, based_on, draft_generation, valid, findings, impact)
        VALUES (:a, :l, :p, :b, :g, :v, CAST(:f AS jsonb), CAST(:i AS jsonb)) RETURNING id"""),
        {"a": actor, "l": p.level, "p": p.parent, "b": active, "g": gen, "v": valid,
         "f": json.dumps(findings, ensure_ascii=False), "i": json.dumps(impact, ensure_ascii=False)}).scalar()
    if gen is not None:
        identity.name_source(session, gen, f"redraw {rid}")
    audit.write(session, actor, "propose redraw", {"redraw": rid, "level": p.level, "parent": p.parent,
                                                   "valid": valid, "findings": len(findings)})
    if not valid:
        keep_proposal(session, rid, p)
    return {"id": rid, "valid": valid, "draft_generation": gen, "based_on": active, "findings": findings,
            "impact": impact}


def reparent_below_grids(session: Session, gen: int, tier: int, parent: str, touched: list[str]):
    """After a redraw of the tier-`tier` grids of `parent` in the draft `gen`: the grids of the next tier
    under any `touched` code go to the new grid that covers their inner point (first code wins), which must
    hold them whole (else an `outside_parent` finding); units under a touched code (or under `parent`
    itself) go to the finest grid that covers their inner point. Returns (moved, orphans, findings)."""
    rows = session.execute(text(f"""
        WITH c AS (
            SELECT c.area_id, c.code, c.parent_code, ca.geom, ST_PointOnSurface(ca.geom) AS pt
            FROM {queries.areas_join("c", "ca")}
            WHERE c.generation_id = :g AND c.level = 'grid' AND c.parent_level = 'grid'
              AND c.parent_code = ANY(:codes))
        SELECT c.area_id, c.code, c.parent_code, s.code AS new_parent, s.outside, s.wkb
        FROM c LEFT JOIN LATERAL (
            SELECT n.code,
                   ST_Area(ST_Difference(c.geom, na.geom)::geography) / nullif(ST_Area(c.geom::geography), 0) AS outside,
                   ST_AsBinary(ST_Difference(c.geom, na.geom)) AS wkb
            FROM {queries.areas_join("n", "na")}
            WHERE n.generation_id = :g AND n.level = 'grid' AND n.parent_code = :p AND n.tier = :t
              AND ST_Covers(na.geom, c.pt)
            ORDER BY n.code COLLATE "C" LIMIT 1) s ON true
    """), {"g": gen, "codes": touched, "p": parent, "t": tier}).all()
    findings = [_finding("outside_parent", [r.code, r.new_parent],
                         f"grid {r.code} (tier {tier + 1}) would lie {r.outside:.1%} outside its new parent grid "
                         f"{r.new_parent}: a grid of tier {tier} must hold each grid below it whole",
                         shapely.from_wkb(bytes(r.wkb)) if r.wkb else None)
                for r in rows if r.new_parent is not None and (r.outside or 0) > CHILD_OUTSIDE_MAX]
    units = session.execute(text(f"""
        SELECT u.area_id, u.code, u.parent_code, (
            SELECT n.code FROM {queries.areas_join("n", "na")}
            WHERE n.generation_id = :g AND n.level = 'grid' AND ST_Covers(na.geom, ST_PointOnSurface(ua.geom))
            ORDER BY n.tier DESC, n.code COLLATE "C" LIMIT 1) AS new_parent
        FROM {queries.areas_join("u", "ua")}
        WHERE u.generation_id = :g AND u.level = 'unit' AND u.parent_code = ANY(:codes)
    """), {"g": gen, "codes": list(touched) + [parent]}).all()
    everything = list(rows) + list(units)
    orphans = [{"code": r.code, "parent": r.parent_code} for r in everything if r.new_parent is None]
    moved = [r for r in everything if r.new_parent is not None and r.new_parent != r.parent_code]
    if moved:
        session.execute(text("""
            UPDATE generation_area SET parent_code = m.p
            FROM unnest(CAST(:ids AS bigint[]), CAST(:ps AS text[])) AS m(a, p)
            WHERE generation_id = :g AND area_id = m.a"""),
            {"g": gen, "ids": [r.area_id for r in moved], "ps": [r.new_parent for r in moved]})
    return [{"code": r.code, "from": r.parent_code, "to": r.new_parent} for r in moved], orphans, findings


@dataclass
class Estates:
    """Residential estates (小区) near a parent: codes, names and shapes (EPSG:4326)."""

    codes: list
    names: list
    geoms: np.ndarray

    @classmethod
    def within(cls, session: Session, geom) -> "Estates":
        """The estates whose ground meets `geom` (EPSG:4326), in code order."""
        rows = session.execute(text("""
            SELECT code, name, ST_AsBinary(geom) AS wkb FROM estate
            WHERE ST_Intersects(geom, ST_GeomFromWKB(:w, 4326)) ORDER BY code COLLATE "C"
        """),
            {"w": shapely.to_wkb(geom)}).all()
        return cls([r.code for r in rows], [r.name for r in rows],
                   np.array(shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else [], dtype=object))


def estate_findings(p: Proposal, estates: Estates, parent_geom) -> list[dict]:
    """`estate_split` (a warning) for every estate whose ground inside the parent the proposed areas
    share out among two or more of them (each holding at least 1 % of it), naming the estate and the areas."""
    good = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid
                     and not g.is_empty and bool(code) for g, code in zip(p.geoms, p.codes)], bool)
    if not len(estates.codes) or not good.any():
        return []
    c = parent_geom.centroid
    crs = metric_crs(c.x, c.y)
    inside = shapely.intersection(estates.geoms, parent_geom)
    est_m = _metric(inside, crs)
    idx = np.flatnonzero(good)
    prop_m = _metric(p.geoms[idx], crs)
    e, a = shapely.STRtree(prop_m).query(est_m, predicate="intersects")
    shares = shapely.area(shapely.intersection(est_m[e], prop_m[a])) / np.maximum(shapely.area(est_m[e]), 1e-9)
    out = []
    for k in np.unique(e):
        mine = (e == k) & (shares >= ESTATE_SHARE_MIN) & (shares * shapely.area(est_m[k]) > AREA_TOLERANCE_M2)
        if mine.sum() < 2:
            continue
        order = np.argsort(-shares[mine])
        codes = [p.codes[idx[j]] for j in a[mine][order]]
        parts = ", ".join(f"{code} {sh:.0%}" for code, sh in zip(codes, shares[mine][order]))
        out.append(_finding("estate_split", codes, f"estate {estates.names[k]} ({estates.codes[k]}) is cut "
                                                   f"between {len(codes)} {p.level}s: {parts}", inside[k]))
    return out


def keep_proposal(session: Session, redraw_id: int, p: Proposal) -> None:
    """Keep an invalid proposal's features on its redraw (it has no draft generation), so its
    before/after map can still draw it, wherever and whatever its shapes are."""
    features = [{"type": "Feature", "properties": {"code": code, "name": name},
                 "geometry": None if g is None else json.loads(shapely.to_geojson(g))}
                for code, name, g in zip(p.codes, p.names, p.geoms)]
    session.execute(text("UPDATE redraw SET proposal = CAST(:f AS jsonb) WHERE id = :i"),
                    {"i": redraw_id, "f": json.dumps({"type": "FeatureCollection", "features": features},
                                                     ensure_ascii=False)})


@dataclass
class Buildings:
    """The registry addresses in a parent: rows (address, households), lon/lat and households arrays."""

    rows: list
    x: np.ndarray
    y: np.ndarray
    hh: np.ndarray

    @classmethod
    def within(cls, session: Session, geom) -> "Buildings":
        """The addresses that intersect `geom` (EPSG:4326)."""
        rows = session.execute(text("""
            SELECT id, address, households, ST_X(geom) AS x, ST_Y(geom) AS y FROM address
            WHERE ST_Intersects(geom, ST_GeomFromWKB(:w, 4326))"""), {"w": shapely.to_wkb(geom)}).all()
        return cls(rows, np.array([r.x for r in rows], float), np.array([r.y for r in rows], float),
                   np.array([r.households for r in rows], float))


def _impact(session, p: Proposal, old_here: list, households, b: Buildings) -> dict:
    """Which buildings, households, staff assignments and open requests change area."""
    x, y, hh, pts = b.x, b.y, b.hh, b.rows
    old_codes = [r.code for r in old_here]
    old_geoms = shapely.from_wkb([bytes(r.wkb) for r in old_here]) if old_here else np.array([], dtype=object)
    before = _engine_codes(old_geoms, old_codes, x, y) if len(old_codes) else np.full(len(x), None)
    good = [i for i, g in enumerate(p.geoms) if g is not None and g.geom_type in ("Polygon", "MultiPolygon")
            and g.is_valid and p.codes[i]]
    after = _engine_codes(p.geoms[good], [p.codes[i] for i in good], x, y) if good else np.full(len(x), None)
    moved = np.flatnonzero(before != after)
    removed = sorted(set(old_codes) - set(p.codes))
    removed_ids = [r.area_id for r in old_here if r.code in set(removed)]
    staff = session.execute(text("""
        SELECT p.name, s.role, s.area_code FROM assignment s JOIN person p ON p.id = s.person_id
        WHERE s.area_id = ANY(:ids) ORDER BY s.id"""), {"ids": removed_ids}).all() if removed_ids else []
    col = "grid_code" if p.level == "grid" else ("unit_code" if p.level == "unit" else None)
    open_requests = []
    if col:
        open_requests = session.execute(text(f"""
            SELECT id, {col} AS code FROM request WHERE status IN ({OPEN_SQL}) AND {col} = ANY(:c)"""),
            {"c": old_codes}).all() if old_codes else []
    return {
        "areas_before": len(old_codes), "areas_after": len(p.codes),
        "removed_codes": removed, "new_codes": sorted(set(p.codes) - set(old_codes) - {""}),
        "buildings_moved": int(len(moved)), "households_moved": int(hh[moved].sum()) if len(moved) else 0,
        "moves": [{"address": pts[i].address, "from": before[i], "to": after[i], "households": int(hh[i]),
                   "lon": round(float(x[i]), 7), "lat": round(float(y[i]), 7)} for i in moved[:5000]],
        "households_after": {c: int(n) for c, n in zip(p.codes, households) if c},
        "staff_to_reassign": [{"name": s.name, "role": s.role, "area_code": s.area_code} for s in staff],
        "open_requests_in_redrawn_areas": len(open_requests),
    }


def commit(session: Session, redraw_id: int, actor: str) -> int:
    """Make the draft the active generation, in one transaction; RedrawConflict when the proposal is not
    valid, was committed already, or another generation became active since it was drawn."""
    row = session.execute(text("SELECT * FROM redraw WHERE id = :i FOR UPDATE"), {"i": redraw_id}).mappings().first()
    if row is None:
        raise RedrawNotFound(f"redraw {redraw_id} does not exist")
    active = queries.active_generation(session, lock=True)
    if row["status"] == "committed":
        raise RedrawConflict(f"redraw {redraw_id} was already committed as generation {row['draft_generation']}")
    if not row["valid"]:
        raise RedrawConflict(f"redraw {redraw_id} is not valid: fix its findings and propose again")
    if active != row["based_on"]:
        raise RedrawConflict(f"redraw {redraw_id} was drawn on generation {row['based_on']}, but generation {active} "
                             "has become active since (another commit came first): propose it again")
    gen = row["draft_generation"]
    session.execute(text("UPDATE generation SET state = 'committed' WHERE id = :g"), {"g": gen})
    generations.activate(session, gen)
    from gis.redraw.merge import after_commit  # a merge (多网合一): the crosswalk from its source codes
    after_commit(session, row, active, gen, actor)
    succession = identity.succeed(session, active, gen, row["level"], [row["parent_code"]], kind="redraw",
                                  source=f"redraw {redraw_id}")
    staff = succession["assignments"]
    moved_requests = _relocate_open_requests(session, row["level"], row["parent_code"], active, gen, actor)
    session.execute(text("UPDATE redraw SET status = 'committed', committed_at = now() WHERE id = :i"),
                    {"i": redraw_id})
    audit.write(session, actor, "commit redraw", {"redraw": redraw_id, "generation": gen, "previous": active,
                                                  "staff_reassigned": staff, "requests_relocated": moved_requests})
    return gen


def _finest_grid(geom: str, generation: str) -> str:
    """A scalar subquery: the code of the finest-tier grid of `generation` covering `geom` (first code
    wins within a tier), the grid a point belongs to when grids come in tiers."""
    return (f"(SELECT fg.code FROM {queries.areas_join('fg', 'fga')} WHERE fg.generation_id = {generation} "
            f"AND fg.level = 'grid' AND ST_Covers(fga.geom, {geom}) ORDER BY fg.tier DESC, fg.code COLLATE \"C\" LIMIT 1)")

def _relocate_open_requests(session: Session, level: str, parent: str, old_gen: int, new_gen: int,
                            actor: str) -> int:
    """Open requests in the redrawn areas are located again with the new generation (the finest grid that
    answers for them now); each move is a step in the request's log, so the old codes stay on record."""
    if level not in ("grid", "unit"):
        return 0
    col = f"{level}_code"
    rows = session.execute(text(f"""
        SELECT r.id, r.version, r.status, r.grid_code, r.unit_code,
               {_finest_grid("r.geom", ":new")} AS new_grid,
               {queries.first_covering("r.geom", "'unit'", ":new")} AS new_unit
        FROM request r
        WHERE r.status IN ({OPEN_SQL}) AND r.geom IS NOT NULL
          AND r.{col} IN (SELECT code FROM generation_area WHERE generation_id = :old AND level = :l
                          AND parent_code = :p)
        FOR UPDATE OF r
    """), {"new": new_gen, "old": old_gen, "l": level, "p": parent}).all()
    moved = 0
    now = session.execute(text("SELECT now()")).scalar()
    # the areas they are in now, by id (the same code may name a redrawn area: a new row)
    ids = ["grid_area_id = (SELECT area_id FROM generation_area WHERE generation_id = :gen AND level = 'grid' "
           "AND code = CAST(:g AS varchar))", "unit_area_id = (SELECT area_id FROM generation_area WHERE generation_id = :gen "
           "AND level = 'unit' AND code = CAST(:u AS varchar))"]
    for r in rows:
        if r.new_grid is None:
            continue
        params = {"g": r.new_grid, "u": r.new_unit, "gen": new_gen}
        if (r.new_grid, r.new_unit) == (r.grid_code, r.unit_code):
            session.execute(text(f"UPDATE request SET {', '.join(ids)} WHERE id = :id"), params | {"id": r.id})
            continue
        record_step(session, r.id, r.version, Step(
            actor, "relocate", r.status, None, "boundaries redrawn: located again",
            {"from": {"grid": r.grid_code, "unit": r.unit_code, "generation": old_gen},
             "to": {"grid": r.new_grid, "unit": r.new_unit, "generation": new_gen}}), now,
                    ["grid_code = :g", "unit_code = :u", "generation_id = :gen"] + ids, params)
        moved += 1
    return moved


class RedrawConflict(RuntimeError):
    """The proposal cannot be committed now (409)."""


class RedrawNotFound(LookupError):
    """No such proposal (404)."""
