"""Hotspots of requests: counts per grid (from the grid area id stored on each request, so no spatial
join, and no count moves when a grid is re-coded) or per H3 cell, Getis-Ord Gi* (esda) with false-discovery-rate control, hot/cold classes at
90/95/99 %, and the trend against the window before.

Grid weights are built once per grid level of an engine and kept on it; H3 weights per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import h3
import numpy as np
import pandas as pd
import shapely
from scipy import stats
from shapely import STRtree
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.locate.engine import LocateEngine

SIGNIFICANCE = ((0.01, "99"), (0.05, "95"), (0.10, "90"))  # strictest first
TOUCH_TOL_DEG = 1e-5  # ~1 m: official boundaries with hairline gaps or slivers still count as neighbours


class HotspotError(ValueError):
    """A hotspot query that cannot be answered; the message names the parameter (unit, resolution)."""


@dataclass
class GiStar:
    """Getis–Ord Gi* per area: z, p-values and the hot/cold class at each significance."""
    z: np.ndarray  # standardised Gi* from the permutations (esda z_sim)
    p: np.ndarray  # two-sided p-value of that z (esda p_z_sim); FDR is applied to these
    p_sim: np.ndarray  # pseudo p-value: share of permutations at least as extreme
    classes: np.ndarray  # hot_99 … cold_90, or "none"


def neighbours_from_polygons(geoms: np.ndarray, tol: float = TOUCH_TOL_DEG) -> dict[int, list[int]]:
    """Queen contiguity (a shared boundary point), with `tol` so hairline gaps do not cut neighbours."""
    tree = STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=tol)
    keep = a != b
    nb: dict[int, list[int]] = {i: [] for i in range(len(geoms))}
    for i, j in zip(a[keep].tolist(), b[keep].tolist()):
        nb[i].append(j)
    return nb


def grid_weights(locator: LocateEngine):
    """Binary Queen weights over the engine's grids (code order), built once per grid level (a new
    engine that takes the grid level over unchanged keeps them)."""
    from libpysal.weights import W

    d = locator.levels["grid"]
    if d.weights is None:  # kept on the level itself: it lives exactly as long as these grids
        d.weights = W(neighbours_from_polygons(np.asarray(d.geoms)), silence_warnings=True)
    return d.weights


def warm_in_background(locator: LocateEngine):
    """Build the active generation's weights (and import esda) after start-up, off the request path."""
    from gis.warmup import in_background

    def warm():
        import esda  # noqa: F401  (its import is most of a cold first call)

        if "grid" in locator.levels:
            grid_weights(locator)

    return in_background("hotspot-weights", warm)


def h3_weights(cells: list[str]):
    """Binary weights over H3 cells: the six cells around each, where they are in the set."""
    from libpysal.weights import W

    pos = {c: i for i, c in enumerate(cells)}
    nb = {i: [pos[n] for n in h3.grid_ring(c, 1) if n in pos] for c, i in pos.items()}
    return W(nb, silence_warnings=True)


def gi_star(counts: np.ndarray, w, permutations: int = 999, seed: int = 12345) -> GiStar:
    """Gi* of counts with conditional permutations, FDR-controlled classes at 99/95/90 %."""
    import esda

    y = np.asarray(counts, dtype=float)
    n = len(y)
    if n < 3 or y.sum() == 0:
        zeros = np.zeros(n)
        return GiStar(zeros, np.ones(n), np.ones(n), np.full(n, "none", dtype=object))
    g = esda.G_Local(y, w, transform="B", permutations=permutations, star=True, seed=seed, n_jobs=1)
    z = np.nan_to_num(np.asarray(g.z_sim, float))
    p = np.nan_to_num(np.asarray(g.p_z_sim, float) * 2.0, nan=1.0).clip(0, 1)  # esda gives one tail
    return GiStar(z, p, np.asarray(g.p_sim, float), classify(z, p))


def classify(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """hot_99/95/90 and cold_99/95/90 where p passes the FDR cut-off at that level, else none."""
    import esda

    out = np.full(len(z), "none", dtype=object)
    for alpha, label in reversed(SIGNIFICANCE):  # 90 first, then overwrite with the stricter levels
        sig = p <= esda.fdr(p, alpha)
        out[sig & (z > 0)] = f"hot_{label}"
        out[sig & (z < 0)] = f"cold_{label}"
    return out


def trend(now: np.ndarray, before: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """rising/falling/steady: given n = now + before requests, is the split different from even
    (equal windows, equal rates)? Exact two-sided binomial test per area."""
    now = np.asarray(now, np.int64)
    before = np.asarray(before, np.int64)
    n = now + before
    lo = stats.binom.cdf(np.minimum(now, before), n, 0.5)
    p = np.minimum(1.0, 2 * lo)
    out = np.full(len(now), "steady", dtype=object)
    out[(p < alpha) & (now > before)] = "rising"
    out[(p < alpha) & (now < before)] = "falling"
    return out


def request_points(conn: Connection, start: datetime, end: datetime, category: str | None = None, *,
                   not_areas: list[int] | None = None, frame: str | None = None) -> pd.DataFrame:
    """lon, lat of the requests created in [start, end) (of a category; with `not_areas`, only those
    whose grid area is not one of these ids), and with `frame` (a to_char format) their time label in
    China Standard Time."""
    where, params = [], {"start": start, "end": end}
    if category:
        where.append("AND category = :cat")
        params["cat"] = category
    if not_areas is not None:
        where.append("AND (grid_area_id IS NULL OR NOT grid_area_id = ANY(:ids))")
        params["ids"] = list(not_areas)
    label = ", to_char(created_at AT TIME ZONE 'Asia/Shanghai', :fmt)" if frame else ""
    if frame:
        params["fmt"] = frame
    rows = conn.execute(text(f"""
        SELECT ST_X(geom), ST_Y(geom){label} FROM request
        WHERE created_at >= :start AND created_at < :end AND geom IS NOT NULL {' '.join(where)}"""), params).all()
    return pd.DataFrame(rows, columns=["lon", "lat"] + (["frame"] if frame else []))


def grid_counts(conn: Connection, locator: LocateEngine, start: datetime, end: datetime,
                category: str | None = None) -> np.ndarray:
    """Requests per grid of the locator's generation (code order). A request located in one of these
    grids counts by its stored area id, whichever generation located it and whatever the grid is called
    now; the others (located in grids since redrawn) are located again from their point."""
    d = locator.levels["grid"]
    ids = [int(i) for i in d.area_ids.tolist()] if d.area_ids is not None else []
    pos = {a: i for i, a in enumerate(ids)}
    counts = np.zeros(len(d.codes), np.int64)
    for aid, n in conn.execute(text(f"""
            SELECT grid_area_id, count(*) FROM request
            WHERE created_at >= :start AND created_at < :end AND grid_area_id = ANY(:ids)
              {"AND category = :cat" if category else ""}
            GROUP BY grid_area_id"""), {"start": start, "end": end, "ids": ids, "cat": category}):
        counts[pos[int(aid)]] += n
    other = request_points(conn, start, end, category, not_areas=ids)
    if len(other):
        idx = d.index.query(other["lon"].to_numpy(), other["lat"].to_numpy())
        counts += np.bincount(idx[idx >= 0], minlength=len(d.codes))
    return counts


def city_cells(locator: LocateEngine, resolution: int) -> list[str]:
    """H3 cells that overlap the city (the top level's areas), sorted: every located request falls
    in one of them."""
    top = next(lvl for lvl in ("district", "street", "community", "grid") if lvl in locator.levels)
    cells: set[str] = set()
    for g in locator.levels[top].geoms:
        for part in shapely.get_parts(g):
            shape = h3.geo_to_h3shape(part.__geo_interface__)
            cells |= set(h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
    return sorted(cells)


def cells_of(xy: np.ndarray, resolution: int) -> list[str]:
    """The H3 cell of each lon/lat point at `resolution`."""
    return [h3.latlng_to_cell(y, x, resolution) for x, y in xy.tolist()]


def hotspots(conn: Connection, locator: LocateEngine, start: datetime, end: datetime, prev: tuple[datetime, datetime],
             category: str | None = None, unit: str = "grid", resolution: int = 8, permutations: int = 999,
             seed: int = 12345) -> dict:
    """Gi* hotspots for one window, with counts and trend against `prev`; areas hottest first."""
    if unit == "grid":
        if "grid" not in locator.levels:
            raise HotspotError("unit: there are no grids in the active generation")
        d = locator.levels["grid"]
        now = grid_counts(conn, locator, start, end, category)
        before = grid_counts(conn, locator, prev[0], prev[1], category)
        w = grid_weights(locator)
        ids, names = d.codes.tolist(), d.names.tolist()
    elif unit == "h3":
        if not 5 <= resolution <= 11:
            raise HotspotError(f"resolution: {resolution}; use 5 (about 250 km²) to 11 (about 2,000 m²)")
        cells = city_cells(locator, resolution)
        pos = {c: i for i, c in enumerate(cells)}

        def count(a, b):
            c = np.zeros(len(cells), np.int64)
            for cell in cells_of(request_points(conn, a, b, category)[["lon", "lat"]].to_numpy(), resolution):
                i = pos.get(cell)
                if i is not None:
                    c[i] += 1
            return c

        now, before = count(start, end), count(*prev)
        w = h3_weights(cells)
        ids, names = cells, [None] * len(cells)
    else:
        raise HotspotError(f"unit: {unit!r}; use grid or h3")
    g = gi_star(now, w, permutations, seed)
    tr = trend(now, before)
    order = np.argsort(-g.z, kind="stable")
    areas = [{"code": ids[i], "name": names[i], "count": int(now[i]), "previous": int(before[i]),
              "change": int(now[i] - before[i]), "trend": tr[i], "z": round(float(g.z[i]), 3),
              "p": float(f"{g.p[i]:.4g}"), "p_sim": float(g.p_sim[i]), "class": g.classes[i]} for i in order]
    summary = {c: int((g.classes == c).sum()) for c in
               [f"{k}_{lab}" for k in ("hot", "cold") for _, lab in SIGNIFICANCE] + ["none"]}
    return {
        "unit": unit, "resolution": resolution if unit == "h3" else None, "category": category,
        "window": {"start": start, "end": end}, "previous": {"start": prev[0], "end": prev[1]},
        "generation": locator.generation, "total": int(now.sum()), "previous_total": int(before.sum()),
        "method": {"statistic": "Getis-Ord Gi* (esda.G_Local, star=True, binary weights)",
                   "weights": "queen contiguity" if unit == "grid" else "H3 first ring",
                   "permutations": permutations, "seed": seed,
                   "p": "two-sided, from the z of the permutation distribution",
                   "classes": "Benjamini–Hochberg FDR (esda.fdr) at 0.10/0.05/0.01",
                   "trend": "exact binomial test of this window against the previous one, 5 %"},
        "summary": summary, "areas": areas,
    }
