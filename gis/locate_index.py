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

M_PER_DEG = 111_320.0
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
            areas_m2 = shapely.area(geoms) * M_PER_DEG ** 2 * np.cos(np.radians(lat0))
            cell_m = float(np.clip(np.sqrt(np.median(areas_m2)) / 16.0, 1.0, 2000.0))
        csy = cell_m / M_PER_DEG
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
        nx, ny = self.nx, self.ny
        # 1. Cells a boundary comes near: sample every edge at most a quarter cell apart; a point of
        #    the edge in cell C lies within 1/8 cell of a sample, so mark the sample's cell and the
        #    neighbours it is that close to (plus a margin, so float rounding at borders cannot matter).
        span = np.maximum(np.abs(e.x2 - e.x1) / self.csx, np.abs(e.y2 - e.y1) / self.csy)
        nsamp = np.ceil(span * 4).astype(np.int64) + 1
        owner, k = _expand(np.zeros(len(nsamp), np.int64), nsamp)
        t = k / np.maximum(nsamp[owner] - 1, 1)
        fx = (e.x1[owner] + (e.x2[owner] - e.x1[owner]) * t - self.x0) / self.csx
        fy = (e.y1[owner] + (e.y2[owner] - e.y1[owner]) * t - self.y0) / self.csy
        del owner, k, t
        col, row = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        fx -= col
        fy -= row
        margin = 0.13
        dxs = [np.zeros(len(fx), bool), fx < margin, fx > 1 - margin]
        dys = [np.zeros(len(fy), bool), fy < margin, fy > 1 - margin]
        near = np.zeros((ny, nx), dtype=bool)
        for dx, mx in zip((0, -1, 1), dxs):
            for dy, my in zip((0, -1, 1), dys):
                sel = (mx if dx else True) & (my if dy else True)
                if dx == 0 and dy == 0:
                    sel = np.ones(len(fx), bool)
                near[np.clip(row[sel] + dy, 0, ny - 1), np.clip(col[sel] + dx, 0, nx - 1)] = True
        del col, row, fx, fy, dxs, dys

        # 2. Pure cells: label connected pieces, decide each piece at one representative cell.
        comp, ncomp = ndimage.label(~near)
        cell = np.full(ny * nx, EMPTY, dtype=np.int32)
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
        del comp, flat_comp

        # 3. Mixed cells: candidates are the areas whose bounding box meets the (slightly grown) cell.
        mixed = np.flatnonzero(near.ravel())
        del near
        self.n_mixed = len(mixed)
        cell[mixed] = -2 - np.arange(len(mixed), dtype=np.int32)
        mcol, mrow = mixed % nx, mixed // nx
        bx0 = self.x0 + mcol * self.csx
        by0 = self.y0 + mrow * self.csy
        boxes = shapely.box(bx0 - self.csx * 0.01, by0 - self.csy * 0.01,
                            bx0 + self.csx * 1.01, by0 + self.csy * 1.01)
        bboxes = shapely.envelope(geoms)
        btree = shapely.STRtree(bboxes)
        ci, ai = btree.query(boxes)  # bounding boxes only: a superset, decided exactly at query time
        del boxes
        o = np.lexsort((ai, ci))  # per mixed cell, candidates in code order
        ci, ai = ci[o], ai[o]
        self.mc_ptr = np.searchsorted(ci, np.arange(len(mixed) + 1)).astype(np.int64)
        self.slot_area = ai.astype(np.int32)

        # 4. Per slot (mixed cell, candidate): the candidate's edges that a rightward ray from the
        #    cell can meet: y-range within the cell's row band (±1 row), right end not left of the cell.
        r0 = np.floor((np.minimum(e.y1, e.y2) - self.y0) / self.csy).astype(np.int64) - 1
        r1 = np.floor((np.maximum(e.y1, e.y2) - self.y0) / self.csy).astype(np.int64) + 1
        r0, r1 = np.clip(r0, 0, ny - 1), np.clip(r1, 0, ny - 1)
        eid, erow = _expand(r0, r1 + 1)
        erow = erow.astype(np.int64)
        earea = e.ring_area[e.ring[eid]].astype(np.int64)
        key = earea * ny + erow
        o = np.lexsort((eid, key))
        key, eid = key[o], eid[o]
        slot_cell_row = mrow[ci]
        skey = ai.astype(np.int64) * ny + slot_cell_row
        lo = np.searchsorted(key, skey, side="left")
        hi = np.searchsorted(key, skey, side="right")
        slot_of, pos = _expand(lo, hi)
        cand = eid[pos]
        cell_xmin = bx0[ci[slot_of]]
        keep = np.maximum(e.x1[cand], e.x2[cand]) >= cell_xmin - self.csx
        slot_of, cand = slot_of[keep], cand[keep]
        self.slot_eptr = np.searchsorted(slot_of, np.arange(len(ai) + 1)).astype(np.int64)
        self.slot_edge = cand.astype(np.int32)
        self.cell = cell

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
        pair_of, ek = _expand(self.slot_eptr[slot], self.slot_eptr[slot + 1])
        edge = self.slot_edge[ek]
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
        if self.n == 0:
            return 0
        return sum(a.nbytes for a in (self.cell, self.mc_ptr, self.slot_area, self.slot_eptr, self.slot_edge))
