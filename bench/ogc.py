"""OGC bench: ours against tipg (PyPI `tipg`, the anchor) serving the same PostGIS tables, side by side
in one run: features per second for a full `grids` and `units` download (limit=10,000 pages followed by
their next links) and tiles per second for a zoom-14 sweep of the units (cold once, then warm), on the
demo city of `--scale`. Prints the machine, each figure for both servers and our/tipg ratio.

tipg reads a view per level (`ogc_bench.<collection>`: generation_area ⨝ area of the active generation,
`id` = code) through asyncpg; ours reads the record through /ogc. Both run `--workers` uvicorn workers
on 127.0.0.1; the client is `--clients` threads with keep-alive connections.

    .venv/bin/pip install -e ".[bench]"          # tipg (or any venv with tipg: --tipg-python PATH)
    .venv/bin/python bench/ogc.py --scale small
    .venv/bin/python bench/ogc.py                 # the city (78,000 units)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.load import Server, ensure_demo, env_for, free_port, machine, wangge  # noqa: E402

LEVELS = {"grids": "grid", "units": "unit"}
VIEW_SQL = """
CREATE SCHEMA IF NOT EXISTS ogc_bench;
CREATE OR REPLACE VIEW ogc_bench.{name} AS
SELECT ga.code AS id, ga.code, a.name, ga.parent_code AS parent, a.households, a.geom
FROM generation_area ga JOIN area a ON a.id = ga.area_id
WHERE ga.generation_id = (SELECT generation_id FROM active_generation WHERE id = 1) AND ga.level = '{level}';
"""


def db_url(home: Path) -> str:
    """The bench database's URL (the embedded cluster under `home`)."""
    return wangge(home, "db", "url", timeout=300).strip().splitlines()[-1]


def make_views(url: str) -> None:
    """One view per level for tipg over the active generation (the same rows ours serves)."""
    import psycopg
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name, level in LEVELS.items():
            conn.execute(VIEW_SQL.format(name=name, level=level))


def asyncpg_url(url: str) -> str:
    """The URL for tipg (asyncpg): no driver suffix; a unix-socket folder (`?host=/dir`) moved into the
    host part, percent-encoded, since asyncpg prefers the URL's host to the query's."""
    from urllib.parse import parse_qs, quote, urlsplit
    u = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    q = parse_qs(u.query)
    if u.hostname or "host" not in q:
        return u.geturl()
    user = u.username or "postgres"
    port = q.get("port", ["5432"])[0]
    return f"postgresql://{user}@{quote(q['host'][0], safe='')}:{port}{u.path}"


class Tipg:
    """tipg under uvicorn on the loopback, its own process group, stopped on exit."""

    def __init__(self, python: str, url: str, workers: int, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DATABASE_URL=asyncpg_url(url), TIPG_DB_SCHEMAS='["ogc_bench"]',
                   TIPG_MAX_FEATURES_PER_QUERY="10000", TIPG_TILE_BUFFER="64")
        self.log = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen([python, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--workers", str(workers), "--log-level", "warning"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM to the group."""
        Server.stop(self)


def wait(base: str, path: str, headers: dict, proc, timeout_s: float = 300) -> None:
    """Until `path` answers 200 (a server that exits or never answers ends the bench)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{base} exited before answering")
        try:
            if httpx.get(base + path, headers=headers, timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base}{path} did not answer within {timeout_s:.0f} s")


def download(client: httpx.Client, url: str) -> tuple[int, float, int]:
    """Follow `next` links from `url`; (features, seconds, bytes)."""
    n, size, t = 0, 0, time.perf_counter()
    while url:
        r = client.get(url, timeout=600)
        r.raise_for_status()
        size += len(r.content)
        doc = r.json()
        n += len(doc["features"])
        url = next((link["href"] for link in doc.get("links", []) if link.get("rel") == "next"), None)
    return n, time.perf_counter() - t, size


def sweep_tiles(bounds: list[float], z: int) -> list[tuple[int, int]]:
    """Every (x, y) tile at zoom `z` over lon/lat `bounds`."""
    n = 2 ** z

    def tx(lon):
        return int((lon + 180) / 360 * n)

    def ty(lat):
        return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return [(x, y) for x in range(tx(bounds[0]), tx(bounds[2]) + 1) for y in range(ty(bounds[3]), ty(bounds[1]) + 1)]


def fetch_all(urls: list[str], headers: dict, clients: int) -> tuple[float, int, int]:
    """GET every URL with `clients` threads (keep-alive); (seconds, bytes, non-2xx answers)."""
    local = threading.local()
    size, bad, lock = [0], [0], threading.Lock()

    def one(url):
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = httpx.Client(headers=headers, timeout=120)
        r = c.get(url)
        with lock:
            size[0] += len(r.content)
            bad[0] += not (200 <= r.status_code < 300)
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, urls))
    return time.perf_counter() - t, size[0], bad[0]


def main() -> int:
    """Build (once) the demo, serve it by both, measure downloads and tile sweeps, print the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=("small", "city"), default="city")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads for the tile sweep")
    ap.add_argument("--zoom", type=int, default=14)
    ap.add_argument("--warm-requests", type=int, default=4000, help="tile requests in the warm phase (the "
                                                                    "sweep repeated)")
    ap.add_argument("--tipg-python", default=sys.executable, help="a Python with tipg and uvicorn installed")
    ap.add_argument("--home", type=Path, default=None, help="default: .wangge-bench/<scale> in the checkout")
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    home = (args.home or ROOT / ".wangge-bench" / args.scale).resolve()
    ensure_demo(home, args.scale)
    url = db_url(home)
    make_views(url)
    key = json.loads(wangge(home, "keys", "create", "--role", "consumer", "--json", timeout=300))["key"]
    hdr = {"X-API-Key": key}
    result = {"machine": machine(), "params": vars(args) | {"home": str(home), "tipg_python": args.tipg_python}}
    print(json.dumps(result["machine"], ensure_ascii=False))
    ours = Server(home, args.workers, home / "bench-ogc-ours.log")
    tipg = Tipg(args.tipg_python, url, args.workers, home / "bench-ogc-tipg.log")
    try:
        wait(ours.base, "/ogc/collections", hdr, ours.proc)
        wait(tipg.base, "/collections", {}, tipg.proc)
        bounds = httpx.get(f"{ours.base}/ogc/collections/units", headers=hdr, timeout=60).json()[
            "extent"]["spatial"]["bbox"][0]
        # -- full downloads
        for name in LEVELS:
            row = {}
            for who, base, h, path in (("ours", ours.base, hdr, f"/ogc/collections/{name}/items?limit=10000"),
                                       ("tipg", tipg.base, {}, f"/collections/ogc_bench.{name}/items?limit=10000")):
                with httpx.Client(headers=h) as c:
                    download(c, base + path)  # once to warm both (connections, plans, caches)
                    n, s, size = download(c, base + path)
                row[who] = {"features": n, "seconds": round(s, 3), "features_per_s": round(n / s), "mb": round(size / 1e6, 1)}
            row["ratio"] = round(row["ours"]["features_per_s"] / row["tipg"]["features_per_s"], 2)
            result[f"download_{name}"] = row
            print(f"download {name:6s}: ours {row['ours']['features_per_s']:>8} features/s, tipg "
                  f"{row['tipg']['features_per_s']:>8} features/s ({row['ours']['features']} / "
                  f"{row['tipg']['features']} features), ratio {row['ratio']}", flush=True)
        # -- zoom sweep: cold (ours cuts and keeps each tile), then warm (the sweep repeated)
        tiles = sweep_tiles(bounds, args.zoom)
        reps = max(1, args.warm_requests // len(tiles))
        gen = httpx.get(f"{ours.base}/ogc/collections/units/items?limit=1", headers=hdr, timeout=60).json()["generation"]
        for who, base, h, tmpl in (
                ("ours", ours.base, hdr, "/ogc/collections/units/tiles/WebMercatorQuad/{z}/{y}/{x}?generation=" + str(gen)),
                ("tipg", tipg.base, {}, "/collections/ogc_bench.units/tiles/WebMercatorQuad/{z}/{x}/{y}")):
            urls = [base + tmpl.format(z=args.zoom, x=x, y=y) for x, y in tiles]
            cold_s, cold_b, cold_bad = fetch_all(urls, h, args.clients)
            warm_s, warm_b, warm_bad = fetch_all(urls * reps, h, args.clients)
            result[f"tiles_{who}"] = {"tiles": len(urls), "cold_tiles_per_s": round(len(urls) / cold_s, 1),
                                      "warm_requests": len(urls) * reps,
                                      "warm_tiles_per_s": round(len(urls) * reps / warm_s, 1),
                                      "mean_kb": round(warm_b / (len(urls) * reps) / 1024, 1),
                                      "non_2xx": cold_bad + warm_bad}
        to, tt = result["tiles_ours"], result["tiles_tipg"]
        result["tiles_ratio_warm"] = round(to["warm_tiles_per_s"] / tt["warm_tiles_per_s"], 2)
        print(f"zoom-{args.zoom} sweep ({to['tiles']} tiles, {to['mean_kb']} KB mean): ours cold "
              f"{to['cold_tiles_per_s']}/s warm {to['warm_tiles_per_s']}/s; tipg cold {tt['cold_tiles_per_s']}/s "
              f"warm {tt['warm_tiles_per_s']}/s; warm ratio {result['tiles_ratio_warm']} "
              f"(non-2xx: ours {to['non_2xx']}, tipg {tt['non_2xx']})", flush=True)
    finally:
        ours.stop()
        tipg.stop()
        if not args.keep_db:
            subprocess.run([sys.executable, "-m", "api.cli", "db", "down"], cwd=ROOT, env=env_for(home),
                           capture_output=True, timeout=120)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False))
    return 1 if result["tiles_ours"]["non_2xx"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
