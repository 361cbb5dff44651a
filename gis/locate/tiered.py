"""The grid level's index when grids come in tiers (大网格/小网格): one LevelIndex per tier.

Grids of different tiers overlap (a coarse grid holds its children), so one index cannot hold them,
and a coarse grid's code is a prefix of its children's, so the code tie rule alone would answer the
coarse one. Each tier is indexed on its own; the grid answering a point is the one of the deepest tier
that covers it (where a finer tier has a gap the coarser grid answers), the first code in C collation
within that tier: the same rule as `gis.store.queries.first_covering`.
"""
from __future__ import annotations

import numpy as np

from gis.locate.index import EMPTY, LevelIndex


class TieredIndex:
    """The same interface as LevelIndex (ranks into the level's code-ordered arrays), tier by tier."""

    def __init__(self, geoms, tiers, area_ids=None, codes=None, previous: "TieredIndex | None" = None):
        geoms = np.asarray(geoms, dtype=object)
        tiers = np.asarray(tiers, dtype=np.int64)
        self.n = len(geoms)
        self.tier_numbers = np.unique(tiers).tolist()  # coarsest first
        self.positions: list[np.ndarray] = []  # per tier: ranks (level code order) of its grids
        self.indexes: list[LevelIndex] = []
        self.keys: list[tuple] = []  # per tier: (area ids, codes) in order, to reuse an unchanged tier
        old = {} if previous is None else dict(zip(previous.tier_numbers, zip(previous.keys, previous.indexes)))
        for t in self.tier_numbers:
            pos = np.flatnonzero(tiers == t)
            key = (None if area_ids is None else tuple(np.asarray(area_ids)[pos].tolist()),
                   None if codes is None else tuple(np.asarray(codes, dtype=object)[pos].tolist()))
            prev = old.get(t)
            reuse = prev is not None and key[0] is not None and key[1] is not None and prev[0] == key
            self.positions.append(pos)
            self.indexes.append(prev[1] if reuse else LevelIndex(geoms[pos]))
            self.keys.append(key)

    def path(self, x, y) -> np.ndarray:
        """(tiers × points) ranks of each tier's covering grid, coarsest tier first, -1 where none."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full((len(self.indexes), len(x)), EMPTY, dtype=np.int64)
        for k, (pos, idx) in enumerate(zip(self.positions, self.indexes)):
            r = idx.query(x, y)
            hit = r != EMPTY
            out[k, hit] = pos[r[hit]]
        return out

    def path_one(self, x: float, y: float) -> list[int]:
        """The ranks of the covering grid of every tier at one point, coarsest first (tiers without one
        left out)."""
        out = []
        for pos, idx in zip(self.positions, self.indexes):
            r = idx.query_one(x, y)
            if r != EMPTY:
                out.append(int(pos[r]))
        return out

    def query(self, x, y) -> np.ndarray:
        """Rank of the finest covering grid per point (deepest tier with a hit), -1 where none."""
        p = self.path(x, y)
        out = np.full(p.shape[1], EMPTY, dtype=np.int32)
        for row in p:  # coarsest first: a finer tier's hit overwrites
            hit = row != EMPTY
            out[hit] = row[hit]
        return out

    def query_one(self, x: float, y: float) -> int:
        """The same answer as `query` for one point."""
        for pos, idx in zip(reversed(self.positions), reversed(self.indexes)):
            r = idx.query_one(x, y)
            if r != EMPTY:
                return int(pos[r])
        return EMPTY

    @property
    def nbytes(self) -> int:
        """Memory held by every tier's index."""
        return sum(i.nbytes for i in self.indexes)
