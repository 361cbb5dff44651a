"""Benchmark: the merge overlay (多网合一) at city scale, in memory (no database).

    .venv/bin/python bench/merge.py [--scale city] [--seed 0]

The demo city's grids (city scale: about 2,200) as three source networks: party-building = the grids;
governance = the grids with every 20th neighbouring pair merged and every 20th shared boundary moved
40 m; emergency = one area per community with every community's boundary moved 3 m. Times each step of
`gis.redraw.merge_overlay` (disagreements with the registry's households, agreement, shares) and prints
the counts per kind of disagreement, so a change that loses or invents disagreements shows.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.demo_city import build_city  # noqa: E402
from gis.planar import metric_crs  # noqa: E402
from gis.redraw import merge_overlay as ov  # noqa: E402


def sources(city):
    """Three layers (metric) and the registry points from the demo city's grids."""
    grids = city.areas[city.areas["level"] == "grid"].reset_index(drop=True)
    c = shapely.union_all(grids.geometry.values).centroid
    crs = metric_crs(c.x, c.y)
    gm = gpd.GeoSeries(list(grids.geometry.values), crs=4326).to_crs(crs).values
    codes, parents = grids["code"].tolist(), grids["parent_code"].tolist()
    tree = shapely.STRtree(gm)
    a, b = tree.query(gm, predicate="intersects")
    pairs = [(i, j) for i, j in zip(a, b) if i < j and parents[i] == parents[j]]
    gov = dict(zip([f"G{i}" for i in range(len(gm))], gm))
    used = set()
    for n, (i, j) in enumerate(pairs):
        if i in used or j in used or n % 20 not in (0, 10):
            continue
        used |= {i, j}
        if n % 20 == 0:  # merged
            gov[f"G{i}"] = shapely.union_all([gm[i], gm[j]])
            del gov[f"G{j}"]
        else:            # boundary moved 40 m
            grow = shapely.intersection(gm[j], shapely.buffer(gm[i], 40))
            gov[f"G{i}"] = shapely.union_all([gm[i], grow])
            gov[f"G{j}"] = ov.polygonal(shapely.difference(gm[j], grow))
    comm = {}
    for p, g in zip(parents, gm):
        comm.setdefault(p, []).append(g)
    emer = {f"E{k}": shapely.buffer(shapely.union_all(v), 3 if n % 2 else -3, join_style="mitre")
            for n, (k, v) in enumerate(comm.items())}
    layers = [ov.Layer("party", codes, gm),
              ov.Layer("governance", list(gov), np.array(list(gov.values()), dtype=object)),
              ov.Layer("emergency", list(emer), np.array(list(emer.values()), dtype=object))]
    addr = city.addresses
    pts_ll = np.c_[addr.geometry.x, addr.geometry.y]
    pts_m = gpd.GeoSeries(list(addr.geometry.values), crs=4326).to_crs(crs).values
    return layers, shapely.union_all(gm), pts_m, addr["households"].to_numpy(float), pts_ll


def main() -> None:
    """Build the city, make the three sources, time the overlay's steps."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="city")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    city = build_city(args.scale, seed=args.seed)
    layers, scope_m, pts_m, hh, pts_ll = sources(city)
    print(f"city {args.scale}: built in {time.perf_counter() - t:.1f} s; areas per source: "
          + ", ".join(f"{l.label} {len(l.codes)}" for l in layers) + f"; {len(pts_m):,} registry addresses")
    t = time.perf_counter()
    found = ov.disagreements(layers, scope_m, pts_m, hh, pts_ll)
    t_dis = time.perf_counter() - t
    t = time.perf_counter()
    agreed = ov.agreed(layers)
    t_agree = time.perf_counter() - t
    t = time.perf_counter()
    rows = sum(len(ov.shares(l.geoms, layers[0].geoms)[0]) for l in layers)
    t_share = time.perf_counter() - t
    print(f"disagreements: {len(found)} in {t_dis:.2f} s: "
          + ", ".join(f"{k} {n}" for k, n in sorted(Counter(d['kind'] for d in found).items())))
    print(f"agreed shapes: {len(agreed)} in {t_agree:.2f} s; crosswalk shares: {rows} in {t_share:.2f} s")


if __name__ == "__main__":
    main()
