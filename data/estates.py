"""The demo city's residential estates (小区): groups of 2–6 neighbouring ten-household units inside one
community (an estate may straddle a grid boundary, as real ones do), with names like 锦绣花园, 阳光小区.
About half of the units lie in an estate; the rest are streets of houses, schools and shops."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text

from data import names as N
from gis.planar import metric_crs

ESTATE_SHARE = 0.5      # about this share of units belongs to an estate
MIN_UNITS, MAX_UNITS = 2, 6
START_CHANCE = 0.2      # a unit not yet in an estate starts one with this chance (tuned to ESTATE_SHARE)


def _neighbours(geoms_m: np.ndarray) -> list[np.ndarray]:
    """For each unit, the units sharing an edge longer than 1 m with it (a corner does not count)."""
    a, b = shapely.STRtree(geoms_m).query(geoms_m, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms_m[a]), shapely.boundary(geoms_m[b])))
    a, b = a[shared > 1.0], b[shared > 1.0]
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    cuts = np.searchsorted(a, np.arange(len(geoms_m) + 1))
    return [b[cuts[i]:cuts[i + 1]] for i in range(len(geoms_m))]


def build_estates(areas: gpd.GeoDataFrame, seed: int = 0) -> gpd.GeoDataFrame:
    """Estates for a built demo city (its `areas` frame): code (community code + 'E' + 3 digits), name,
    households (of its units) and the union of its units' ground, deterministic for `seed`."""
    rng = np.random.default_rng(seed + 7919)
    names = N.Names(rng)
    units = areas[areas["level"] == "unit"]
    comms = areas[areas["level"] == "community"]
    ugeoms = np.asarray(units.geometry.values, dtype=object)
    c = shapely.centroid(shapely.union_all(ugeoms))
    geoms_m = gpd.GeoSeries(list(ugeoms), crs=4326).to_crs(metric_crs(c.x, c.y)).values
    hh = units["households"].to_numpy()
    # each unit's community: the one holding its inner point (first code wins)
    cgeoms = np.asarray(comms.geometry.values, dtype=object)
    pt, ci = shapely.STRtree(cgeoms).query(shapely.point_on_surface(ugeoms), predicate="within")
    community = np.full(len(ugeoms), len(cgeoms))
    np.minimum.at(community, pt, ci)
    near = _neighbours(geoms_m)
    taken = np.zeros(len(ugeoms), bool)
    rows = []
    per_community: dict[int, int] = {}
    for start in rng.permutation(len(ugeoms)):
        if taken[start] or hh[start] == 0 or rng.random() > START_CHANCE:
            continue
        want = int(rng.integers(MIN_UNITS, MAX_UNITS + 1))
        members, frontier = [start], list(near[start])
        taken[start] = True
        while len(members) < want and frontier:
            j = frontier.pop(int(rng.integers(0, len(frontier))))
            if taken[j] or community[j] != community[start] or hh[j] == 0:
                continue
            taken[j] = True
            members.append(j)
            frontier.extend(near[j])
        if len(members) < MIN_UNITS:
            taken[start] = False
            continue
        k = community[start]
        per_community[k] = per_community.get(k, 0) + 1
        rows.append((f"{comms['code'].iat[k]}E{per_community[k]:03d}", names.estate(),
                     int(hh[members].sum()), shapely.coverage_union_all(ugeoms[members])))
    rows.sort(key=lambda r: r[0])
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                             "households": [r[2] for r in rows]},
                            geometry=[shapely.MultiPolygon(shapely.get_parts(r[3])) for r in rows], crs=4326)


def write_estates(session, estates: gpd.GeoDataFrame) -> int:
    """Replace every stored estate with these (the demo's); returns how many were written."""
    session.execute(text("DELETE FROM estate"))
    if len(estates):
        session.execute(text("""
            INSERT INTO estate (code, name, households, geom)
            SELECT e.code, e.name, e.hh, ST_Multi(ST_GeomFromWKB(e.wkb, 4326))
            FROM unnest(CAST(:c AS text[]), CAST(:n AS text[]), CAST(:h AS int[]), CAST(:w AS bytea[]))
                 AS e(code, name, hh, wkb)"""),
            {"c": estates["code"].tolist(), "n": estates["name"].tolist(),
             "h": [int(h) for h in estates["households"]], "w": [shapely.to_wkb(g) for g in estates.geometry.values]})
    return len(estates)
