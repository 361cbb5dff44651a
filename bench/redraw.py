"""Benchmark: automatic redraw of a 3,000-household community into grids of ~375 households (±10 %),
ours side by side with spopt (MaxPHeuristic with a household floor, and Skater with K clusters) on the
same atoms (the community's ten-household units) and the same adjacency:

    .venv/bin/python bench/redraw.py

Reports per method: grids, households min/max, the largest deviation from the target, mean
Polsby–Popper compactness, contiguity, and runtime.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.locate import machine  # noqa: E402
from data.demo_city import build_city  # noqa: E402
from gis.redraw.partition import adjacency, best_partition, on_street_share, polsby_popper  # noqa: E402

warnings.filterwarnings("ignore")
TARGET = 375


def report(name, labels, atoms_m, hh, secs):
    regions = np.unique(labels)
    loads = np.array([hh[labels == r].sum() for r in regions])
    polys = np.array([shapely.union_all(atoms_m[labels == r]) for r in regions], dtype=object)
    pp = polsby_popper(polys)
    contiguous = all(shapely.get_num_geometries(p) == 1 for p in polys)
    target = hh.sum() / len(regions)
    dev = np.abs(loads - TARGET).max() / TARGET
    print(f"{name:38s} {len(regions):6d} {loads.min():6.0f}–{loads.max():<6.0f} {dev:9.1%} "
          f"{np.abs(loads - target).max() / target:12.1%} {pp.mean():8.3f} {str(contiguous):>10s} {secs:9.2f}")


def main():
    print(f"machine: {machine()}")
    city = build_city("community3k", seed=0)
    units = city.areas[city.areas["level"] == "unit"].reset_index(drop=True)
    atoms_m = gpd.GeoSeries(list(units.geometry.values), crs=4326).to_crs(32650).values
    hh = units["households"].to_numpy().astype(float)
    k = int(round(hh.sum() / TARGET))
    print(f"{len(units)} units, {int(hh.sum()):,} households → {k} grids of ~{TARGET}")
    print(f"{'method':38s} {'grids':>6s} {'households':^13s} {'vs 375':>9s} {'vs own mean':>12s} {'PP mean':>8s} "
          f"{'contiguous':>10s} {'seconds':>9s}")
    streets = city.streets[city.streets["kind"] != "path"]
    streets_m = gpd.GeoSeries(list(streets.geometry.values), crs=4326).to_crs(32650).values
    streets_m = streets_m[shapely.intersects(streets_m, shapely.union_all(atoms_m).buffer(5))]
    t = time.perf_counter()
    ours = best_partition(atoms_m, hh, k, tolerance=0.10, restarts=16, seed=0)
    report("ours (16 seeds, grow+balance+compact)", ours, atoms_m, hh, time.perf_counter() - t)
    results = {"ours": ours}
    t = time.perf_counter()
    ours_st = best_partition(atoms_m, hh, k, tolerance=0.10, restarts=16, seed=0, streets_m=streets_m)
    report("ours + follow streets", ours_st, atoms_m, hh, time.perf_counter() - t)
    results["ours + follow streets"] = ours_st

    from libpysal.weights import W
    adj = adjacency(atoms_m)
    neighbors = {i: adj.indices[adj.indptr[i]:adj.indptr[i + 1]].tolist() for i in range(len(units))}
    w = W(neighbors, silence_warnings=True)
    cent = shapely.get_coordinates(shapely.centroid(atoms_m))
    gdf = gpd.GeoDataFrame({"households": hh, "cx": cent[:, 0], "cy": cent[:, 1]}, geometry=list(atoms_m))
    try:
        if "--skip-spopt" in sys.argv:
            raise RuntimeError("--skip-spopt")
        from spopt.region import MaxPHeuristic, Skater
        t = time.perf_counter()
        mp = MaxPHeuristic(gdf, w, ["cx", "cy"], "households", TARGET * 0.9, top_n=2, max_iterations_construction=99)
        mp.solve()
        report("spopt MaxPHeuristic (floor)", np.asarray(mp.labels_), atoms_m, hh, time.perf_counter() - t)
        results["spopt MaxP"] = np.asarray(mp.labels_)
        t = time.perf_counter()
        sk = Skater(gdf, w, ["cx", "cy"], n_clusters=k, floor=5)
        sk.solve()
        report("spopt Skater (K clusters)", np.asarray(sk.labels_), atoms_m, hh, time.perf_counter() - t)
        results["spopt Skater"] = np.asarray(sk.labels_)
    except Exception as exc:  # spopt missing or failing: say so
        print(f"spopt: not run ({type(exc).__name__}: {exc})")
    print("\nshare of the boundary between grids that runs along a street (local or arterial road):")
    for name, lab in results.items():
        print(f"  {name:28s} {on_street_share(atoms_m, lab, streets_m):.1%}")


if __name__ == "__main__":
    main()
