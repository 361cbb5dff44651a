"""Benchmark: walking reach on the city demo, ours side by side with pandana and an osmnx-style
ego_graph, in one run:

    .venv/bin/wangge demo --scale city && .venv/bin/python bench/reach.py

1. nearest station for every network node (ours: one multi-source Dijkstra; pandana: Network +
   precompute + set_pois + nearest_pois, set-up included), and the 3 nearest per node (ours);
2. nearest station for every household (snap + lookup);
3. one station's 15-minute circle polygon (ours vs networkx ego_graph + buffered edges, as osmnx's
   make_iso_polys does);
4. full coverage of 780,000 households at 5/10/15 minutes by community.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.locate import machine  # noqa: E402
from gis.store.db import get_engine, session_scope  # noqa: E402
from gis.store.generations import active_id  # noqa: E402
from gis.locate.engine import build_engine  # noqa: E402
from gis.reach.network import StationReach  # noqa: E402
from gis.reach.service_area import circle, coverage_table, reach_m, walk_to_nearest  # noqa: E402
from sqlalchemy import text  # noqa: E402


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def pandana_nearest(g, st_lon, st_lat, limit):
    import pandana
    import pandas as pd

    k = np.cos(np.radians(g.lat0))
    t0 = time.perf_counter()
    nodes = pd.DataFrame({"x": g.lon * 111_320 * k, "y": g.lat * 111_320}, index=np.arange(g.n))
    keep = g.edge_u != g.edge_v
    edges = pd.DataFrame({"from": g.edge_u[keep], "to": g.edge_v[keep], "w": g.edge_len[keep]})
    net = pandana.Network(nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["w"]], twoway=True)
    net.precompute(limit)
    net.set_pois("station", limit, 1, st_lon * 111_320 * k, st_lat * 111_320)
    res = net.nearest_pois(limit, "station", num_pois=1)
    return time.perf_counter() - t0, res[1].to_numpy()


def ego_circle(G, g, node, limit, margin=40.0):
    """osmnx make_iso_polys style: ego_graph by length, buffer each reached edge, union them."""
    import networkx as nx

    sub = nx.ego_graph(G, node, radius=limit, distance="weight")
    nodes = set(sub.nodes)
    k = np.cos(np.radians(g.lat0))
    mask = np.fromiter(((u in nodes and v in nodes) for u, v in zip(g.edge_u, g.edge_v)), bool, len(g.edge_u))
    lines = shapely.transform(g.edge_geom[mask], lambda c: c * [111_320 * k, 111_320])
    return shapely.union_all(shapely.buffer(lines, margin, quad_segs=4))


def main():
    skip_pandana = "--skip-pandana" in sys.argv
    engine = get_engine()
    with session_scope(engine) as s:
        gen = active_id(s)
    print(f"machine: {machine()}")
    t_build, loc = timed(build_engine, engine, gen)
    g, st = loc.reach.graph, loc.stations
    print(f"generation {gen}: {g.n:,} nodes, {len(g.edge_u):,} edges, {len(st.ids)} stations "
          f"(engine incl. network and 5-nearest table built in {t_build:.1f} s)")
    limit = 3000.0
    # 1. nearest station for every node
    node_all = np.arange(g.n)
    t_ours, d_ours = timed(walk_to_nearest, g, loc.reach.station_node, loc.reach.station_snap, node_all,
                           np.zeros(g.n), limit)
    t_top3, _ = timed(StationReach.build, g, st.lon, st.lat, 3, limit)
    try:
        if skip_pandana:
            raise RuntimeError("--skip-pandana")
        t_pd, d_pd = pandana_nearest(g, st.lon, st.lat, limit)
        both = np.isfinite(d_ours) & (d_pd < limit)
        agree = np.median(np.abs(d_ours[both] - d_pd[both]))
        pd_line = f"pandana (Network+precompute+set_pois+nearest_pois) {t_pd:8.2f} s   ours x faster: {t_pd / t_ours:6.1f}"
        pd_note = (f"   (pandana snaps stations to nodes itself and keeps float32: median |Δ| {agree:.1f} m)")
    except Exception as exc:  # pandana missing or failing: say so
        pd_line, pd_note = f"pandana: not run ({exc})", ""
    print("\n1. nearest station for every node")
    print(f"   ours, one multi-source Dijkstra            {t_ours:8.3f} s")
    print(f"   ours, 3 nearest per node (table)           {t_top3:8.3f} s")
    print(f"   {pd_line}{pd_note}")
    # 2. every household
    with engine.connect() as c:
        rows = np.array(c.execute(text("SELECT ST_X(geom), ST_Y(geom), households FROM address")).all(), float)
    t_hh, _ = timed(loc.reach.nearest, rows[:, 0], rows[:, 1], 3)
    print(f"\n2. 3 nearest stations for {len(rows):,} addresses ({int(rows[:, 2].sum()):,} households): {t_hh:.3f} s")
    # 3. one circle
    lim15 = reach_m(15, 1.0)
    ours_ms, ego_ms = [], []
    import networkx as nx
    G = nx.Graph()
    G.add_weighted_edges_from((int(u), int(v), float(w)) for u, v, w in zip(g.edge_u, g.edge_v, g.edge_len) if u != v)
    for i in range(10):
        t, poly = timed(circle, g, float(st.lon[i]), float(st.lat[i]), lim15)
        ours_ms.append(t * 1000)
        node, _ = g.snap([st.lon[i]], [st.lat[i]])
        t, _ = timed(ego_circle, G, g, int(node[0]), lim15)
        ego_ms.append(t * 1000)
    print(f"\n3. one station's 15-minute circle polygon (median of 10 stations): ours {statistics.median(ours_ms):.1f} ms, "
          f"networkx ego_graph + buffer each edge + union {statistics.median(ego_ms):.1f} ms "
          f"(ours x faster: {statistics.median(ego_ms) / statistics.median(ours_ms):.1f}; ours also keeps the cut edges' "
          f"reachable part)")
    # 4. coverage
    t_cov, table = timed(coverage_table, loc, "community", rows[:, 0], rows[:, 1], rows[:, 2], 1.0)
    total = sum(r["households"] for r in table)
    share = sum(r["within_15_min"] for r in table) / total
    print(f"\n4. coverage of {total:,} households at 5/10/15 min by {len(table)} communities: {t_cov:.2f} s "
          f"(15-min share {share:.1%})")


if __name__ == "__main__":
    main()
