"""Automatic redraw: group a parent's atoms (its ten-household units, or any tiling pieces) into K
contiguous grids with balanced households.

Seeds are spread by households (k-means++ on centroids); regions grow by always feeding the lightest
region its heaviest-bonded free neighbour; then boundary atoms move from heavy to light neighbours while
every region stays connected, until all are within the tolerance or nothing improves. Works on the
atoms' adjacency graph (shared edges), so grids are contiguous by construction.
"""
from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from gis.planar import metric_crs


STREET_BAND = 0.04  # boundaries are shortened only while every grid stays within ±4 % of the target


def shared_edges(geoms_m: np.ndarray, min_shared_m: float = 0.5):
    """(a, b, lines): pairs of atoms (a < b) sharing a boundary longer than `min_shared_m` (touching at
    a corner does not count), and the shared boundary of each pair."""
    tree = shapely.STRtree(geoms_m)
    a, b = tree.query(geoms_m, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    lines = shapely.intersection(shapely.boundary(geoms_m[a]), shapely.boundary(geoms_m[b]))
    ok = shapely.length(lines) > min_shared_m
    return a[ok], b[ok], lines[ok]


def _symmetric(a, b, w, n) -> csr_matrix:
    return csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))


def adjacency(geoms_m: np.ndarray, min_shared_m: float = 0.5) -> csr_matrix:
    """Atoms that share a boundary longer than `min_shared_m`; weights are the shared lengths."""
    a, b, lines = shared_edges(geoms_m, min_shared_m)
    return _symmetric(a, b, shapely.length(lines), len(geoms_m))


def off_street(geoms_m: np.ndarray, streets_m: np.ndarray | None, width_m: float = 4.0,
               min_shared_m: float = 0.5) -> csr_matrix:
    """Per pair of neighbouring atoms, the length of their shared boundary that does NOT run along a
    street (within `width_m` of one): what a grid boundary there would cut through a block."""
    a, b, lines = shared_edges(geoms_m, min_shared_m)
    length = shapely.length(lines)
    if streets_m is not None and len(streets_m):
        corridor = shapely.buffer(shapely.union_all(np.asarray(streets_m, dtype=object)), width_m)
        length = np.maximum(length - shapely.length(shapely.intersection(lines, corridor)), 0.0)
    return _symmetric(a, b, length, len(geoms_m))


def _keeps_band(load, h, r, q, target, band) -> bool:
    """Whether moving `h` households from region r to q leaves both within `band` of the target."""
    return abs(load[r] - h - target) <= band and abs(load[q] + h - target) <= band


def _move(adj, label, load, hh, m, q) -> bool:
    """Give atom m to region q when its own region stays connected without it; keeps `load` in step."""
    r = label[m]
    rest = np.flatnonzero(label == r)
    rest = rest[rest != m]
    if not (len(rest) and _connected(adj, rest)):
        return False
    label[m] = q
    load[r] -= hh[m]
    load[q] += hh[m]
    return True


def _shorten_cuts(adj, off, label, hh, k, target, tolerance, max_rounds):
    """Move boundary atoms to a neighbouring region when that shortens the weighted boundary between
    regions (`off`: shared lengths, street-free stretches weighted up), keeping every region connected
    and within the balance band: grids get more compact and end on streets."""
    indptr, indices = adj.indptr, adj.indices
    op, oi, ow = off.indptr, off.indices, off.data
    band = min(tolerance, STREET_BAND) * target
    load = np.bincount(label, weights=hh, minlength=k)
    for _ in range(max_rounds):
        moved = 0
        for m in range(len(label)):
            r = label[m]
            nb, w = oi[op[m]:op[m + 1]], ow[op[m]:op[m + 1]]
            own = w[label[nb] == r].sum()
            best_q, best_gain = -1, 1e-6
            for q in np.unique(label[indices[indptr[m]:indptr[m + 1]]]):
                if q == r:
                    continue
                gain = w[label[nb] == q].sum() - own  # boundary removed minus boundary added
                if gain > best_gain and _keeps_band(load, hh[m], r, q, target, band):
                    best_q, best_gain = q, gain
            if best_q >= 0 and _move(adj, label, load, hh, m, best_q):
                moved += 1
        if not moved:
            break
    return label


def on_street_share(geoms_m: np.ndarray, label: np.ndarray, streets_m: np.ndarray, width_m: float = 4.0) -> float:
    """Share of the boundary between regions (grids) that runs along a street."""
    a, b, lines = shared_edges(geoms_m)
    cut = label[a] != label[b]
    if not cut.any():
        return 1.0
    total = shapely.length(lines[cut]).sum()
    corridor = shapely.buffer(shapely.union_all(np.asarray(streets_m, dtype=object)), width_m)
    return float(shapely.length(shapely.intersection(lines[cut], corridor)).sum() / total)


def _connected(adj: csr_matrix, members: np.ndarray) -> bool:
    if len(members) <= 1:
        return True
    sub = adj[members][:, members]
    return connected_components(sub, directed=False)[0] == 1


def partition(geoms_m: np.ndarray, households: np.ndarray, k: int, tolerance: float = 0.10, seed: int = 0,
              max_rounds: int = 400, off: csr_matrix | None = None) -> np.ndarray:
    """Region label (0..k-1) for each atom: contiguous regions of about equal households; with `off`
    (off_street), boundaries are then moved onto streets where balance and contiguity allow."""
    n = len(geoms_m)
    hh = np.asarray(households, float)
    if k <= 1 or n <= k:
        return np.arange(n) % max(k, 1) if n <= k else np.zeros(n, int)
    adj = adjacency(geoms_m)
    cent = shapely.get_coordinates(shapely.centroid(geoms_m))
    rng = np.random.default_rng(seed)
    # k-means++ seeds weighted by households
    seeds = [int(rng.choice(n, p=(hh + 1e-9) / (hh + 1e-9).sum()))]
    for _ in range(1, k):
        d2 = np.min(((cent[:, None, :] - cent[seeds][None, :, :]) ** 2).sum(-1), axis=1)
        p = d2 * (hh + 1e-9)
        seeds.append(int(rng.choice(n, p=p / p.sum())))
    label = np.full(n, -1)
    label[seeds] = np.arange(k)
    load = np.array([hh[s] for s in seeds])
    target = hh.sum() / k
    indptr, indices, weights = adj.indptr, adj.indices, adj.data
    # grow: the lightest region takes the free neighbour nearest its centre (compact regions),
    # ties broken by the longer shared boundary
    sx = np.array([cent[s, 0] * max(hh[s], 1) for s in seeds])
    sy = np.array([cent[s, 1] * max(hh[s], 1) for s in seeds])
    sw = np.array([max(hh[s], 1) for s in seeds], float)
    while (label < 0).any():
        grew = False
        for r in np.argsort(load):
            members = np.flatnonzero(label == r)
            cx, cy = sx[r] / sw[r], sy[r] / sw[r]
            best, best_score = -1, np.inf
            for m in members:
                for j, w in zip(indices[indptr[m]:indptr[m + 1]], weights[indptr[m]:indptr[m + 1]]):
                    if label[j] < 0:
                        score = np.hypot(cent[j, 0] - cx, cent[j, 1] - cy) - 0.1 * w
                        if score < best_score:
                            best, best_score = j, score
            if best >= 0:
                label[best] = r
                load[r] += hh[best]
                wgt = max(hh[best], 1)
                sx[r] += cent[best, 0] * wgt
                sy[r] += cent[best, 1] * wgt
                sw[r] += wgt
                grew = True
                break
        if not grew:  # atoms not adjacent to anything labelled (islands): nearest region by distance
            free = np.flatnonzero(label < 0)
            lab = np.flatnonzero(label >= 0)
            for f in free:
                j = lab[np.argmin(((cent[lab] - cent[f]) ** 2).sum(1))]
                label[f] = label[j]
                load[label[j]] += hh[f]
    label = _balance(adj, label, hh, k, target, tolerance, max_rounds)
    label = _compact(adj, label, cent, hh, k, target, tolerance, max_rounds)
    label = _balance(adj, label, hh, k, target, tolerance, max_rounds)
    # shorter boundaries are more compact grids; stretches through blocks (off street) count 1.5 times
    cut = adj + 0.5 * off if off is not None else adj
    return _shorten_cuts(adj, cut.tocsr(), label, hh, k, target, tolerance, max_rounds)


def _balance(adj, label, hh, k, target, tolerance, max_rounds):
    """Move boundary atoms from heavier to lighter neighbours, keeping both connected, until every
    region is within 2 % (or nothing improves)."""
    indptr, indices = adj.indptr, adj.indices
    load = np.bincount(label, weights=hh, minlength=k)
    for _ in range(max_rounds):  # past the tolerance too: a tighter balance costs milliseconds
        dev = np.abs(load - target) / target
        if dev.max() <= min(tolerance, 0.02):
            break
        moved = False
        for r in np.argsort(-load):
            members = np.flatnonzero(label == r)
            options = []
            for m in members:
                for j in indices[indptr[m]:indptr[m + 1]]:
                    q = label[j]
                    if q != r and load[q] + hh[m] < load[r]:
                        # squared deviation: strictly convex, so every accepted move makes progress and
                        # a chain of moves can carry households across a region of the right size
                        gain = (load[r] - target) ** 2 + (load[q] - target) ** 2 - \
                            (load[r] - hh[m] - target) ** 2 - (load[q] + hh[m] - target) ** 2
                        if gain > 1e-9:
                            options.append((gain, m, q))
            for gain, m, q in sorted(options, reverse=True):
                rest = members[members != m]
                if len(rest) and _connected(adj, rest):
                    label[m] = q
                    load[r] -= hh[m]
                    load[q] += hh[m]
                    moved = True
                    break
            if moved:
                break
        if not moved:
            break
    return label


def _compact(adj, label, cent, hh, k, target, tolerance, max_rounds):
    """Move boundary atoms to the neighbouring region whose centre is nearer (less moment of inertia)
    while both regions stay connected and within the balance tolerance."""
    indptr, indices = adj.indptr, adj.indices
    w = np.maximum(hh, 1.0)
    band = 0.9 * tolerance * target
    for _ in range(max_rounds):
        load = np.bincount(label, weights=hh, minlength=k)
        wsum = np.bincount(label, weights=w, minlength=k)
        cx = np.bincount(label, weights=w * cent[:, 0], minlength=k) / wsum
        cy = np.bincount(label, weights=w * cent[:, 1], minlength=k) / wsum
        d_own = np.hypot(cent[:, 0] - cx[label], cent[:, 1] - cy[label])
        moved = 0
        for m in np.argsort(-d_own):  # the atoms farthest from their centre first
            r = label[m]
            best_q, best_d = -1, d_own[m]
            for j in indices[indptr[m]:indptr[m + 1]]:
                q = label[j]
                if q == r:
                    continue
                d = np.hypot(cent[m, 0] - cx[q], cent[m, 1] - cy[q])
                if d < best_d - 1e-9 and _keeps_band(load, hh[m], r, q, target, band):
                    best_q, best_d = q, d
            if best_q >= 0 and _move(adj, label, load, hh, m, best_q):
                moved += 1
        if not moved:
            break
    return label


def polsby_popper(geoms_m: np.ndarray) -> np.ndarray:
    """Compactness 4πA/P² of metric geometries (1 for a circle)."""
    return 4 * np.pi * shapely.area(geoms_m) / np.maximum(shapely.length(geoms_m) ** 2, 1e-12)


def best_partition(geoms_m: np.ndarray, households: np.ndarray, k: int, tolerance: float = 0.10,
                   restarts: int = 16, seed: int = 0, streets_m: np.ndarray | None = None) -> np.ndarray:
    """The most compact (mean Polsby–Popper) of several seeded partitions that meet the tolerance
    (the best-balanced one if none does)."""
    hh = np.asarray(households, float)
    target = hh.sum() / k
    best, best_key = None, None
    off = off_street(geoms_m, streets_m) if streets_m is not None and len(streets_m) else None
    for s in range(seed, seed + restarts):
        label = partition(geoms_m, hh, k, tolerance, s, off=off)
        loads = np.bincount(label, weights=hh, minlength=k)
        dev = np.abs(loads - target).max() / target
        polys = np.array([shapely.union_all(geoms_m[label == r]) for r in range(k)], dtype=object)
        key = (dev <= tolerance, polsby_popper(polys).mean() if dev <= tolerance else -dev)
        if best_key is None or key > best_key:
            best, best_key = label, key
    return best


def redraw_grids(atoms_ll: np.ndarray, households: np.ndarray, k: int, tolerance: float = 0.10, seed: int = 0,
                 streets_ll: np.ndarray | None = None):
    """Grid polygons (EPSG:4326) and their households from atoms in lon/lat (the atoms must tile the
    parent: merged with coverage union, so shared edges stay exact); boundaries follow `streets_ll`
    (lines in lon/lat) where they can."""
    import geopandas as gpd

    c = shapely.centroid(shapely.union_all(atoms_ll))
    crs = metric_crs(c.x, c.y)
    atoms_m = gpd.GeoSeries(list(atoms_ll), crs=4326).to_crs(crs).values
    streets_m = gpd.GeoSeries(list(streets_ll), crs=4326).to_crs(crs).values \
        if streets_ll is not None and len(streets_ll) else None
    label = best_partition(atoms_m, households, k, tolerance, seed=seed, streets_m=streets_m)
    polys, hh = [], []
    for r in range(k):
        members = np.flatnonzero(label == r)
        polys.append(shapely.coverage_union_all(np.asarray(atoms_ll, dtype=object)[members]))
        hh.append(int(np.asarray(households)[members].sum()))
    return np.array(polys, dtype=object), np.array(hh), label


def group_atoms(atoms_ll: np.ndarray, households, group: np.ndarray):
    """Atoms that must move together (the units of one estate) fused into one atom each: returns the
    fused atoms (lon/lat, coverage union: shared edges stay exact), their households, and for every
    original atom the index of the fused atom it went into. `group[i]` < 0: atom i stands alone."""
    group = np.asarray(group)
    hh = np.asarray(households, float)
    n = len(group)
    key = np.where(group >= 0, group, -1 - np.arange(n))  # a lone atom is its own group
    _uniq, first, member = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # fused atoms in the order of their first member
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    member = rank[member.ravel()]
    atoms = np.asarray(atoms_ll, dtype=object)
    fused = np.empty(len(order), dtype=object)
    sizes = np.bincount(member, minlength=len(order))
    single = sizes == 1
    fused[single] = atoms[np.flatnonzero(single[member])]
    for f in np.flatnonzero(~single):
        fused[f] = shapely.coverage_union_all(atoms[member == f])
    return fused, np.bincount(member, weights=hh, minlength=len(order)), member
