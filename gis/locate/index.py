"""In-memory point-in-polygon index for one level of areas, answering exactly as PostGIS ST_Covers does.

A precomputed cover: the level's extent is cut into square cells; a cell that no boundary comes near
is answered by lookup; a cell near a boundary keeps its candidate areas and, per candidate, the few
edges that a rightward ray from a point in that cell can cross. Those points are decided by the
winding-number test PostGIS itself runs for ST_Covers(polygon, point) (same double arithmetic, same
boundary rule), so the engine and the database agree on every point, edges and vertices included.
Among the areas that cover a point the one whose code sorts first answers (CONTRACT.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage

from gis.planar import M_PER_DEG, LocalPlane, degrees

EMPTY = -1


def _expand(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [starts[i], stops[i]) return (owner i, position) of every element, vectorised."""
    counts = stops - starts
    owner = np.repeat(np.arange(len(starts)), counts)
    if len(owner) == 0:
        return owner, owner.copy()
    offsets = np.cumsum(counts) - counts
    pos = np.arange(len(owner)) - np.repeat(offsets, counts) + np.repeat(starts, counts)
    return owner, pos


@dataclass
class _Edges:
    """Every ring edge of the level: endpoints, owning ring; rings know their area and part."""

    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray
    ring: np.ndarray
    ring_area: np.ndarray
    ring_part: np.ndarray
    ring_hole: np.ndarray


def _edges_of(geoms: np.ndarray) -> _Edges:
    parts, part_area = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    first = np.r_[True, ring_part[1:] != ring_part[:-1]]  # first ring of each polygon is its exterior
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same = coord_ring[1:] == coord_ring[:-1]
    i = np.nonzero(same)[0]
    return _Edges(
        x1=coords[i, 0], y1=coords[i, 1], x2=coords[i + 1, 0], y2=coords[i + 1, 1],
        ring=coord_ring[i], ring_area=part_area[ring_part], ring_part=ring_part, ring_hole=~first,
    )


class LevelIndex:
    """Answer `which area (by rank in code order) covers each point` for one level."""

    def __init__(self, geoms, cell_m: float | None = None, max_cells: int = 24_000_000):
        geoms = np.asarray(geoms, dtype=object)
        self.n = len(geoms)
        if self.n == 0:
            self.nx = self.ny = 0
            return
        e = _edges_of(geoms)
        self._e = e
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        lat0 = (ymin + ymax) / 2
        if cell_m is None:
            # Small against the areas (most cells pure) and against the edges (few edges per row band,
            # so a point near a long straight boundary still tests only a handful of edges).
            plane = LocalPlane(lat0)
            areas_m2 = shapely.area(geoms) * M_PER_DEG ** 2 * plane.k
            edge_m = plane.lengths(e.x2 - e.x1, e.y2 - e.y1)
            cell_m = float(np.clip(min(np.sqrt(np.median(areas_m2)) / 12.0, 1.5 * np.median(edge_m)), 1.0, 2000.0))
        csy = degrees(cell_m)
        csx = cell_m / (M_PER_DEG * max(np.cos(np.radians(lat0)), 0.01))
        # Two cells of margin all round; coarsen until the raster fits the budget.
        while True:
            nx = int(np.ceil((xmax - xmin) / csx)) + 4
            ny = int(np.ceil((ymax - ymin) / csy)) + 4
            if nx * ny <= max_cells:
                break
            csx *= 1.25
            csy *= 1.25
        self.x0, self.y0 = xmin - 2 * csx, ymin - 2 * csy
        self.csx, self.csy, self.nx, self.ny = csx, csy, nx, ny
        self._build(geoms, e)

    # -- building ---------------------------------------------------------------------------------
    def _cells_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.floor((x - self.x0) / self.csx).astype(np.int64)
        row = np.floor((y - self.y0) / self.csy).astype(np.int64)
        return col, row

    def _build(self, geoms: np.ndarray, e: _Edges) -> None:
        """The cover, in four steps: boundary cells, pure cells, mixed cells' candidates, their edges."""
        near = self._boundary_cells(e)
        cell = self._label_pure_cells(geoms, near)
        mixed = np.flatnonzero(near.ravel())
        del near
        ci, ai = self._mark_mixed_cells(geoms, cell, mixed)
        self._slot_edges(e, ci, ai, mixed // self.nx)
        self.cell = cell

    def _boundary_cells(self, e: _Edges) -> np.ndarray:
        """(ny, nx) mask of the cells a boundary touches (the exact supercover of every edge): the cells
        of both ends and those on either side of every grid line an edge crosses. Crossings within a
        hair (1e-6 cell) of a cell corner mark both sides, so float rounding at borders cannot matter."""
        near = np.zeros(self.ny * self.nx, dtype=bool)
        fx1, fy1 = (e.x1 - self.x0) / self.csx, (e.y1 - self.y0) / self.csy
        fx2, fy2 = (e.x2 - self.x0) / self.csx, (e.y2 - self.y0) / self.csy
        self._mark(near, fx1, fy1)
        self._mark(near, fx2, fy2)
        for a1, b1, a2, b2, swap in ((fx1, fy1, fx2, fy2, False), (fy1, fx1, fy2, fx2, True)):
            lo, hi = np.minimum(a1, a2), np.maximum(a1, a2)
            first = np.floor(lo).astype(np.int64) + 1
            last = np.floor(hi).astype(np.int64)
            owner, line = _expand(first, np.maximum(last + 1, first))
            if len(owner):
                t = (line - a1[owner]) / (a2[owner] - a1[owner])
                other = b1[owner] + (b2[owner] - b1[owner]) * t
                if swap:
                    self._mark(near, other, line.astype(np.float64))
                else:
                    self._mark(near, line.astype(np.float64), other)
        return near.reshape(self.ny, self.nx)

    def _mark(self, near: np.ndarray, fx: np.ndarray, fy: np.ndarray, eps: float = 1e-6) -> None:
        """Mark the cells at fractional cell coordinates (fx, fy), both sides when within `eps` of a line."""
        for cx in (np.floor(fx - eps), np.floor(fx + eps)):
            for cy in (np.floor(fy - eps), np.floor(fy + eps)):
                c = np.clip(cx.astype(np.int64), 0, self.nx - 1)
                r = np.clip(cy.astype(np.int64), 0, self.ny - 1)
                near[r * self.nx + c] = True

    def _label_pure_cells(self, geoms: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Flat cell table with each pure cell's answer: connected pieces of cells no boundary touches
        are labelled, and each piece is decided at one representative cell."""
        nx = self.nx
        comp, ncomp = ndimage.label(~near)
        cell = np.full(self.ny * nx, EMPTY, dtype=np.int32)
        flat_comp = comp.ravel()
        if ncomp:
            order = np.argsort(flat_comp, kind="stable")
            firsts = order[np.searchsorted(flat_comp[order], np.arange(1, ncomp + 1))]
            rx = self.x0 + (firsts % nx + 0.5) * self.csx
            ry = self.y0 + (firsts // nx + 0.5) * self.csy
            tree = shapely.STRtree(geoms)
            pi, ai = tree.query(shapely.points(rx, ry), predicate="intersects")
            best = np.full(ncomp + 1, np.iinfo(np.int32).max, dtype=np.int64)
            np.minimum.at(best, pi + 1, ai)
            label = np.where(best == np.iinfo(np.int32).max, EMPTY, best).astype(np.int32)
            label[0] = EMPTY
            cell = label[flat_comp]
        return cell

    def _mark_mixed_cells(self, geoms: np.ndarray, cell: np.ndarray, mixed: np.ndarray):
        """Number the mixed cells (-2, -3, … in `cell`) and give each its candidates: the areas whose
        bounding box meets the (slightly grown) cell. Returns the (mixed cell, area) slot pairs."""
        self.n_mixed = len(mixed)
        cell[mixed] = -2 - np.arange(len(mixed), dtype=np.int32)
        ci, ai = self._candidates(geoms, cell)
        self.mc_ptr = np.searchsorted(ci, np.arange(len(mixed) + 1)).astype(np.int64)
        self.slot_area = ai.astype(np.int32)
        return ci, ai

    def _slot_edges(self, e: _Edges, ci: np.ndarray, ai: np.ndarray, mrow: np.ndarray) -> None:
        """Per slot (mixed cell, candidate): the candidate's edges whose y-range meets the cell's row —
        every edge a horizontal ray from a point in the cell can cross. Stored as a range into the edges
        sorted by (area, row), so nothing is expanded at build time. (The same floor() as a query
        point's row: monotone, so an edge whose y-range holds the point's y always lists its row.)"""
        ny = self.ny
        r0 = np.clip(np.floor((np.minimum(e.y1, e.y2) - self.y0) / self.csy).astype(np.int64), 0, ny - 1)
        r1 = np.clip(np.floor((np.maximum(e.y1, e.y2) - self.y0) / self.csy).astype(np.int64), 0, ny - 1)
        eid, erow = _expand(r0, r1 + 1)
        key = e.ring_area[e.ring[eid]].astype(np.int64) * ny + erow
        o = np.argsort(key, kind="stable")  # edges stay in ring order within an (area, row) key
        key = key[o]
        self.row_edge = eid[o].astype(np.int32)
        skey = ai.astype(np.int64) * ny + mrow[ci]
        self.slot_lo = np.searchsorted(key, skey, side="left")
        self.slot_hi = np.searchsorted(key, skey, side="right")

    def _candidates(self, geoms: np.ndarray, cell: np.ndarray, chunk: int = 8192):
        """(mixed cell, area) pairs for every area whose bounding box (grown by a cell) meets the
        cell: a superset of the areas that can cover a point there, decided exactly at query time.
        Sorted by cell, then by area (code order)."""
        b = shapely.bounds(geoms)
        c0 = np.clip(np.floor((b[:, 0] - self.x0) / self.csx).astype(np.int64) - 1, 0, self.nx - 1)
        c1 = np.clip(np.floor((b[:, 2] - self.x0) / self.csx).astype(np.int64) + 1, 0, self.nx - 1)
        r0 = np.clip(np.floor((b[:, 1] - self.y0) / self.csy).astype(np.int64) - 1, 0, self.ny - 1)
        r1 = np.clip(np.floor((b[:, 3] - self.y0) / self.csy).astype(np.int64) + 1, 0, self.ny - 1)
        ms, as_ = [], []
        for s in range(0, len(geoms), chunk):  # bounded memory for 78,000 units
            sl = slice(s, s + chunk)
            aid, row = _expand(r0[sl], r1[sl] + 1)
            k, col = _expand(c0[sl][aid], c1[sl][aid] + 1)
            v = cell[row[k] * self.nx + col]
            keep = v <= -2
            ms.append((-2 - v[keep]).astype(np.int64))
            as_.append(aid[k][keep] + s)
        m, a = np.concatenate(ms), np.concatenate(as_)
        o = np.argsort(m, kind="stable")  # stable: areas stay in code order within a cell
        return m[o], a[o]

    # -- querying ---------------------------------------------------------------------------------
    def query(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Rank (index in code order) of the covering area with the first code, or -1, per point."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full(len(x), EMPTY, dtype=np.int32)
        if self.n == 0 or len(x) == 0:
            return out
        col, row = self._cells_of(x, y)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        idx = np.flatnonzero(inside)
        v = self.cell[row[idx] * self.nx + col[idx]]
        out[idx] = np.where(v >= 0, v, EMPTY)
        hard = v <= -2
        if hard.any():
            pts = idx[hard]
            out[pts] = self._exact(x[pts], y[pts], -2 - v[hard])
        return out

    def query_one(self, x: float, y: float) -> int:
        """The same answer as `query` for one point, without array overhead on the common path."""
        if self.n == 0:
            return EMPTY
        col = math.floor((x - self.x0) / self.csx)
        row = math.floor((y - self.y0) / self.csy)
        if not (0 <= col < self.nx and 0 <= row < self.ny):
            return EMPTY
        v = int(self.cell[row * self.nx + col])
        if v >= EMPTY:
            return v
        return int(self._exact(np.array([x], float), np.array([y], float), np.array([-2 - v]))[0])

    def _exact(self, px: np.ndarray, py: np.ndarray, m: np.ndarray) -> np.ndarray:
        """PostGIS's ST_Covers winding-number test over each point's candidate slots."""
        e = self._e
        pair_pt, slot = _expand(self.mc_ptr[m], self.mc_ptr[m + 1])
        pair_of, ek = _expand(self.slot_lo[slot], self.slot_hi[slot])
        edge = self.row_edge[ek]
        qx, qy = px[pair_pt[pair_of]], py[pair_pt[pair_of]]
        x1, y1, x2, y2 = e.x1[edge], e.y1[edge], e.x2[edge], e.y2[edge]
        side = (x2 - x1) * (qy - y1) - (qx - x1) * (y2 - y1)
        boundary = (side == 0.0) & (qx >= np.minimum(x1, x2)) & (qx <= np.maximum(x1, x2)) \
            & (qy >= np.minimum(y1, y2)) & (qy <= np.maximum(y1, y2))
        contrib = ((y1 <= qy) & (qy < y2) & (side > 0)).astype(np.int32) \
            - ((y2 <= qy) & (qy < y1) & (side < 0)).astype(np.int32)
        ring = e.ring[edge]
        npairs = len(pair_pt)
        covers = np.zeros(npairs, dtype=bool)
        if len(edge):
            # Runs of the same (pair, ring): edges of a slot are stored in ring order.
            start = np.r_[True, (pair_of[1:] != pair_of[:-1]) | (ring[1:] != ring[:-1])]
            gs = np.flatnonzero(start)
            wn = np.add.reduceat(contrib, gs)
            bnd = np.logical_or.reduceat(boundary, gs)
            g_pair, g_ring = pair_of[gs], ring[gs]
            ring_in = wn != 0
            hole = e.ring_hole[g_ring]
            part = e.ring_part[g_ring]
            # A part covers when its exterior holds the point and none of its holes does.
            pstart = np.r_[True, (g_pair[1:] != g_pair[:-1]) | (part[1:] != part[:-1])]
            ps = np.flatnonzero(pstart)
            ext_in = np.logical_or.reduceat(ring_in & ~hole, ps)
            hole_in = np.logical_or.reduceat(ring_in & hole, ps)
            part_in = ext_in & ~hole_in
            np.logical_or.at(covers, g_pair[ps[part_in]], True)
            np.logical_or.at(covers, g_pair[bnd], True)
        res = np.full(len(px), EMPTY, dtype=np.int32)
        hit = np.flatnonzero(covers)
        if len(hit):
            first_pt, first_i = np.unique(pair_pt[hit], return_index=True)
            res[first_pt] = self.slot_area[slot[hit[first_i]]]
        return res

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (for the benchmarks' figures)."""
        if self.n == 0:
            return 0
        return sum(a.nbytes for a in (self.cell, self.mc_ptr, self.slot_area, self.slot_lo, self.slot_hi,
                                      self.row_edge))
