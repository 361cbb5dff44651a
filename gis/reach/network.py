"""The walking network in memory: a CSR graph of the edges in the record, snapping by KD-tree, and the
distances every API answer about walking needs (scipy.sparse.csgraph Dijkstra, bounded).

Nodes are the edges' end points (shared exactly where ways meet); lengths are metres on the ellipsoid as
stored. Points are snapped to their nearest node on a local metric plane and the snap distance is added,
so a walk is: point → nearest node → network → station's node → station.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.planar import LocalPlane


@dataclass
class WalkGraph:
    """CSR graph of the network plus node coordinates (lon/lat and a local metric plane)."""

    lon: np.ndarray
    lat: np.ndarray
    graph: csr_matrix
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_len: np.ndarray
    edge_geom: np.ndarray
    lat0: float
    tree: cKDTree

    @property
    def n(self) -> int:
        """The number of nodes."""
        return len(self.lon)

    def xy(self, lon, lat) -> np.ndarray:
        """Plane coordinates in metres (the local plane around the network's mean latitude)."""
        return self.plane.xy(lon, lat)

    @property
    def plane(self) -> LocalPlane:
        """The local metric plane the nodes are snapped on."""
        return LocalPlane(self.lat0)

    def snap(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node and the straight-line distance to it (metres) for each point."""
        d, i = self.tree.query(self.xy(np.atleast_1d(lon), np.atleast_1d(lat)))
        return i.astype(np.int64), d

    def distances_from(self, node: int, limit_m: float) -> np.ndarray:
        """Network metres from one node to every node (inf beyond `limit_m`)."""
        return dijkstra(self.graph, directed=True, indices=node, limit=limit_m)


def build_graph(lines, lengths: np.ndarray | None = None) -> WalkGraph | None:
    """A WalkGraph from LineStrings (EPSG:4326) and their lengths in metres (computed if not given)."""
    geoms = np.asarray(lines, dtype=object)
    if len(geoms) == 0:
        return None
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))
    pts = np.vstack([start, end])
    nodes, inv = np.unique(pts, axis=0, return_inverse=True)
    inv = inv.ravel()
    u, v = inv[: len(geoms)], inv[len(geoms):]
    if lengths is None:
        plane = LocalPlane(float(nodes[:, 1].mean()))
        c, idx = shapely.get_coordinates(geoms, return_index=True)
        seg = np.flatnonzero(idx[1:] == idx[:-1])
        d = plane.lengths(c[seg + 1, 0] - c[seg, 0], c[seg + 1, 1] - c[seg, 1])
        lengths = np.bincount(idx[seg], weights=d, minlength=len(geoms))
    lengths = np.asarray(lengths, dtype=np.float64)
    keep = u != v  # loops never shorten a walk
    n = len(nodes)
    # zero-length edges would vanish from a sparse matrix: give them a hair of length
    w = np.maximum(lengths[keep], 1e-6)
    # Both directions are stored, so Dijkstra runs with directed=True (no per-call transpose).
    # Parallel edges: keep the shortest (a sparse constructor would add duplicates up).
    order = np.lexsort((np.r_[w, w], np.r_[v[keep], u[keep]], np.r_[u[keep], v[keep]]))
    rows, cols, vals = np.r_[u[keep], v[keep]][order], np.r_[v[keep], u[keep]][order], np.r_[w, w][order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    m = csr_matrix((vals[first], (rows[first], cols[first])), shape=(n, n))
    lat0 = float(nodes[:, 1].mean())
    g = WalkGraph(nodes[:, 0], nodes[:, 1], m, u, v, lengths, geoms, lat0, None)
    g.tree = cKDTree(g.xy(g.lon, g.lat))
    return g


def load_graph(engine: Engine) -> WalkGraph | None:
    """The network in the record as a WalkGraph (None when there is no network)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT length_m, ST_AsBinary(geom) AS wkb FROM network_edge ORDER BY id")).all()
    if not rows:
        return None
    return build_graph(shapely.from_wkb([bytes(r.wkb) for r in rows]), np.array([r.length_m for r in rows]))


@dataclass
class StationReach:
    """For every node, its nearest stations by walking (up to `k_max`), within `limit_m` of network."""

    graph: WalkGraph
    station_node: np.ndarray
    station_snap: np.ndarray
    top_station: np.ndarray   # (n_nodes, k_max) station index, -1 when fewer reachable
    top_dist: np.ndarray      # (n_nodes, k_max) metres from node to station (network + station snap)
    limit_m: float

    @classmethod
    def build(cls, graph: WalkGraph, lon, lat, k_max: int = 5, limit_m: float = 3000.0) -> "StationReach":
        """Every node's k_max nearest stations within `limit_m` of walking (bounded Dijkstra from every
        station once), the station's own snap included."""
        node, snap = graph.snap(lon, lat)
        n = graph.n
        if len(node) == 0:
            return cls(graph, node, snap, np.full((n, k_max), -1), np.full((n, k_max), np.inf), limit_m)
        parts = []
        for c in range(0, len(node), 32):  # 32 stations at a time bounds the dense distance block
            d = dijkstra(graph.graph, directed=True, indices=node[c:c + 32], limit=limit_m)
            si, ni = np.nonzero(np.isfinite(d))
            parts.append((si + c, ni, d[si, ni] + snap[c + si]))
        s_idx = np.concatenate([p[0] for p in parts])
        n_idx = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        within = dist <= limit_m  # the station's own snap counts towards the limit
        s_idx, n_idx, dist = s_idx[within], n_idx[within], dist[within]
        order = np.lexsort((dist, n_idx))
        s_idx, n_idx, dist = s_idx[order], n_idx[order], dist[order]
        start = np.searchsorted(n_idx, np.arange(n))
        rank = np.arange(len(n_idx)) - start[n_idx]
        keep = rank < k_max
        top_s = np.full((n, k_max), -1, dtype=np.int32)
        top_d = np.full((n, k_max), np.inf)
        top_s[n_idx[keep], rank[keep]] = s_idx[keep]
        top_d[n_idx[keep], rank[keep]] = dist[keep]
        return cls(graph, node, snap, top_s, top_d, limit_m)

    def nearest(self, lon, lat, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Station indices (-1 = none reachable) and walking metres (point snap included), k per point;
        a station whose whole walk (both snaps and the network) exceeds the limit is left out."""
        node, snap = self.graph.snap(lon, lat)
        k = min(k, self.top_station.shape[1])
        idx, dist = self.top_station[node, :k].copy(), self.top_dist[node, :k] + snap[:, None]
        beyond = dist > self.limit_m
        idx[beyond], dist[beyond] = -1, np.inf
        return idx, dist

    def why_none(self, lon: float, lat: float) -> str:
        """Why no station is within the walking limit of a point, in words (the snap to the network, or
        the walk on it, is too long)."""
        node, snap = self.graph.snap([lon], [lat])
        snap_m = float(snap[0])
        if snap_m > self.limit_m:
            return (f"no station within {self.limit_m:g} m of walking; the nearest walkable path is "
                    f"{snap_m:,.0f} m away")
        return f"no station within {self.limit_m:g} m of walking from here on the network"

    def nearest_one(self) -> tuple[np.ndarray, np.ndarray]:
        """Per node: the nearest station and its walking metres (inf if none within the limit)."""
        return self.top_station[:, 0], self.top_dist[:, 0]
