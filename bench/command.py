"""Benchmark: the command center on the city demo (≥ 1,000,000 requests).

    .venv/bin/wangge demo --scale city && .venv/bin/python bench/command.py [--month 2026-10]

1. Hotspots for one month and all grids: ours (`gis.command.hotspots.hotspots`: counts from the grid code
   stored on each request, cached Queen weights, esda G_Local star with 999 permutations, FDR classes,
   and the trend against the month before) side by side with the same esda call on a geopandas frame
   loaded from PostGIS (read_postgis of the month's requests and the grids, sjoin, groupby, libpysal
   Queen.from_dataframe, esda.G_Local, esda.fdr). Answers compared: counts, z and classes.
2. Every map page from a live server: HTML size and time to serve, and the load time in headless
   Chromium (navigation start to the load event, read from <body data-loaded-ms>) with every outside
   host unreachable. Targets: ≤ 5 s and ≤ 15 MB per page.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.locate import machine  # noqa: E402
from gis.command import hotspots as hs
from gis.store.db import get_engine, session_scope  # noqa: E402
from gis.store.generations import active_id  # noqa: E402
from gis.locate.engine import build_engine  # noqa: E402
from gis.settings import get_settings  # noqa: E402
from gis.command.periods import TZ, month_window, shift_month  # noqa: E402


def peer(engine, gen, start, end, permutations, seed):
    """The same Gi* from a geopandas frame: what an analyst would write against PostGIS."""
    import esda
    import geopandas as gpd
    from libpysal.weights import Queen

    t0 = time.perf_counter()
    grids = gpd.read_postgis("""
        SELECT ga.code, a.geom FROM generation_area ga JOIN area a ON a.id = ga.area_id
        WHERE ga.generation_id = %(g)s AND ga.level = 'grid' ORDER BY ga.code COLLATE "C" """,
                             engine, geom_col="geom", params={"g": gen})
    pts = gpd.read_postgis("SELECT geom FROM request WHERE created_at >= %(s)s AND created_at < %(e)s",
                           engine, geom_col="geom", params={"s": start, "e": end})
    t_read = time.perf_counter() - t0
    joined = gpd.sjoin(pts, grids, predicate="within")
    counts = joined.groupby("code").size().reindex(grids["code"], fill_value=0).to_numpy().astype(float)
    t_join = time.perf_counter() - t0 - t_read
    w = Queen.from_dataframe(grids, use_index=False, silence_warnings=True)
    t_w = time.perf_counter() - t0 - t_read - t_join
    g = esda.G_Local(counts, w, transform="B", permutations=permutations, star=True, seed=seed, n_jobs=1)
    p = np.nan_to_num(g.p_z_sim * 2, nan=1.0)
    classes = hs.classify(np.asarray(g.z_sim), p)
    total = time.perf_counter() - t0
    return {"counts": counts, "z": np.asarray(g.z_sim), "classes": classes, "n_points": len(pts),
            "seconds": total, "parts": {"read_postgis": t_read, "sjoin+count": t_join, "queen": t_w,
                                        "g_local+fdr": total - t_read - t_join - t_w}}


def bench_hotspots(engine, loc, month, permutations, seed=12345):
    import esda  # noqa: F401  (both sides use the libraries: neither is timed importing them)
    import libpysal.weights  # noqa: F401

    start, end = month_window(month)
    prev = shift_month(start, -1)
    loc.levels["grid"].weights = None  # the first call builds them
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            ours = hs.hotspots(conn, loc, start, end, prev, None, "grid", permutations=permutations, seed=seed)
        runs.append(time.perf_counter() - t0)
    theirs = peer(engine, loc.generation, start, end, permutations, seed)
    codes = loc.levels["grid"].codes.tolist()
    by = {a["code"]: a for a in ours["areas"]}
    counts = np.array([by[c]["count"] for c in codes])
    z = np.array([by[c]["z"] for c in codes])
    classes = np.array([by[c]["class"] for c in codes])
    print(f"\n## Hotspots, {month}: {ours['total']:,} requests, {len(codes):,} grids, {permutations} permutations")
    print(f"ours, first call (weights built): {runs[0]:.2f} s; warm: {min(runs[1:]):.2f} s "
          f"(includes the previous month's counts and trend)")
    print(f"peer geopandas + esda: {theirs['seconds']:.2f} s ("
          + ", ".join(f"{k} {v:.2f} s" for k, v in theirs["parts"].items()) + ")")
    print(f"ratio peer/ours: {theirs['seconds'] / runs[0]:.1f}× cold, {theirs['seconds'] / min(runs[1:]):.1f}× warm")
    print(f"same counts: {bool((counts == theirs['counts']).all())} (points in peer's join {theirs['n_points']:,}, "
          f"in ours {int(counts.sum()):,}); max |z diff| {np.abs(z - theirs['z']).max():.2e}; "
          f"same classes: {int((classes == theirs['classes']).sum())}/{len(codes)}")
    print("classes: " + ", ".join(f"{k} {v}" for k, v in ours["summary"].items() if v))


def bench_pages(engine, settings, key_role="admin"):
    from api.app import create_app
    from gis import keys
    from tests.browser import live_server

    with session_scope(engine) as s:
        key = keys.create(s, key_role)
    with live_server(create_app(settings)) as base:
        _pages(base, key)


def _pages(base: str, key: str) -> None:
    from tests.browser import CHROMIUM, FLAGS

    print("\n## Map pages (served by the app, loaded in headless Chromium with no outside network)")
    print("| page | size | serve | browser load | Chromium wall |")
    print("|---|---|---|---|---|")
    for name in ("grids", "coverage", "heatmap", "hotspots", "overdue", "ranking"):
        url = f"{base}/maps/{name}?api_key={key}"
        t0 = time.perf_counter()
        size = len(urllib.request.urlopen(url, timeout=600).read())
        serve = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as profile:
            t0 = time.perf_counter()
            out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                                  "--dump-dom", url], capture_output=True, text=True, timeout=600)
            wall = time.perf_counter() - t0
        m = re.search(r'data-loaded-ms="(\d+)"', out.stdout)
        load = f"{int(m.group(1)) / 1000:.2f} s" if m else "no load event"
        print(f"| {name} | {size / 1e6:.1f} MB | {serve:.1f} s | {load} | {wall:.1f} s |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", default=None, help="YYYY-MM (default: the newest complete month of requests)")
    ap.add_argument("--permutations", type=int, default=999)
    ap.add_argument("--skip-pages", action="store_true")
    args = ap.parse_args()
    settings = get_settings()
    engine = get_engine(settings)
    with session_scope(engine) as s:
        gen = active_id(s)
        n = s.execute(__import__("sqlalchemy").text("SELECT count(*), max(created_at) FROM request")).one()
    print(f"# bench/command.py — {machine()}")
    print(f"requests in the record: {n[0]:,}; newest {n[1]}")
    month = args.month
    if month is None:
        newest = n[1].astimezone(TZ)
        month = f"{newest.year}-{newest.month:02d}" if newest.day >= 28 else \
            (f"{newest.year - 1}-12" if newest.month == 1 else f"{newest.year}-{newest.month - 1:02d}")
    t0 = time.perf_counter()
    loc = build_engine(engine, gen, settings.walk_speed_m_s, settings.reach_limit_m)
    print(f"locate engine for generation {gen}: {time.perf_counter() - t0:.1f} s")
    bench_hotspots(engine, loc, month, args.permutations)
    if not args.skip_pages:
        bench_pages(engine, settings)


if __name__ == "__main__":
    main()
