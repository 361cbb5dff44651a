"""Load bench: a mixed workload (locate 70 %, geocode 15 %, nearest stations 10 %, new requests 5 %)
against `wangge serve --workers 2` on 127.0.0.1, with locust headless (bench/locustfile.py), for
`--seconds` (default 600) on the demo city of `--scale` (city default; small for a quick run).

It prints the machine and the run's parameters; per route the throughput, p50/p99 and the non-2xx
answers by status (errors must be 0); each worker's RSS sampled every few seconds (start, max, end,
growth %); and the ceiling of the stack: the same server's constant route (`GET /health/live`) and
`GET /v1/locate` alone, each measured the same way, and their ratio (with wrk too when it is installed:
`apt-get install wrk`, a client light enough not to be the limit).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/load.py --scale small --seconds 60      # a quick run
    .venv/bin/python bench/load.py                                  # city, 10 minutes

The demo is built once into its own home (`.wangge-bench/<scale>`, an embedded cluster apart from
./.wangge); the bench starts the server there and always stops it, and stops the cluster unless
`--keep-db`. Exit status 1 when any answer was not 2xx or a worker grew beyond 10 %.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.locate import machine_facts  # noqa: E402
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MAX_GROWTH = 0.10  # a worker's RSS may grow at most 10 % over the mixed run


def machine() -> dict:
    """The machine (bench.locate.machine_facts) and its load average now: other users of it show there."""
    m = machine_facts()
    return {**m, "ram_gib": round(m["ram_gib"], 1), "load_avg": [round(x, 2) for x in os.getloadavg()]}


def env_for(home: Path) -> dict:
    """The environment of every child: this checkout's code, the bench's own home and database."""
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_DATABASE_URL"}
    env.update(WANGGE_HOME=str(home), PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def wangge(home: Path, *args: str, timeout: float) -> str:
    """Run one `wangge` command against the bench's home; its stdout (an error names the command)."""
    p = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env_for(home),
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"wangge {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return p.stdout


def ensure_demo(home: Path, scale: str) -> None:
    """Build the demo once into `home` (a marker file says it is there)."""
    marker = home / f"demo-{scale}.json"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    t = time.time()
    print(f"building the {scale} demo into {home} (once; the city takes a few minutes) ...", flush=True)
    out = wangge(home, "demo", "--scale", scale, "--json", timeout=3600)
    marker.write_text(out.strip().splitlines()[-1], encoding="utf-8")
    print(f"  built in {time.time() - t:.0f} s", flush=True)


def workload(home: Path, n_points: int = 20000, n_addresses: int = 5000, n_requests: int = 2000,
             seed: int = 7) -> dict:
    """A consumer key; random points in the city's extent; registry addresses with light noise; valid
    new-request bodies at registry addresses that lie in a grid of the active generation."""
    os.environ["WANGGE_HOME"] = str(home)
    os.environ.pop("WANGGE_DATABASE_URL", None)
    from sqlalchemy import text

    from gis.command.rules import load_rules
    from gis.settings import Settings
    from gis.store.db import get_engine
    from gis.store.generations import active_id

    settings = Settings()
    engine = get_engine(settings)
    key = json.loads(wangge(home, "keys", "create", "--role", "consumer", "--json", timeout=300))["key"]
    rng = random.Random(seed)
    with engine.connect() as conn:
        gen = active_id(conn)
        xmin, ymin, xmax, ymax = conn.execute(text("""
            SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
              SELECT ST_Extent(a.geom)::geometry e FROM generation_area ga JOIN area a ON a.id = ga.area_id
              WHERE ga.generation_id = :g AND ga.level = 'district') s"""), {"g": gen}).one()
        addresses = [r[0] for r in conn.execute(text(
            "SELECT address FROM address ORDER BY random() LIMIT :n"), {"n": n_addresses})]
        spots = conn.execute(text("""
            SELECT ST_X(ad.geom), ST_Y(ad.geom), ad.address FROM (
              SELECT * FROM address ORDER BY random() LIMIT :n) ad
            WHERE EXISTS (SELECT 1 FROM generation_area ga JOIN area a ON a.id = ga.area_id
                          WHERE ga.generation_id = :g AND ga.level = 'grid' AND ST_Covers(a.geom, ad.geom))
            """), {"n": n_requests, "g": gen}).all()
    engine.dispose()
    categories = sorted(load_rules(settings.request_rules).categories)
    points = [[round(rng.uniform(xmin, xmax), 6), round(rng.uniform(ymin, ymax), 6)] for _ in range(n_points)]
    bodies = [{"category": rng.choice(categories), "text": f"压测 load bench {i}", "lon": x, "lat": y,
               "important": rng.random() < 0.2, "urgent": rng.random() < 0.2}
              for i, (x, y, _) in enumerate(spots)]
    return {"key": key, "generation": gen, "extent": [xmin, ymin, xmax, ymax], "points": points,
            "addresses": [noisy(a, rng) for a in addresses], "requests": bodies}


def noisy(address: str, rng: random.Random) -> str:
    """An address as a person types it: as registered, one character dropped, a space added, or the
    leading city/district part left out."""
    kind = rng.random()
    if kind < 0.4 or len(address) < 6:
        return address
    if kind < 0.6:
        i = rng.randrange(len(address))
        return address[:i] + address[i + 1:]
    if kind < 0.8:
        i = rng.randrange(1, len(address))
        return address[:i] + " " + address[i:]
    m = re.match(r"^.{2,8}?[市区县]", address)
    return address[m.end():] if m and len(address) - m.end() >= 4 else address


def free_port() -> int:
    """A free TCP port on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`wangge serve --workers N` on the loopback in its own process group, always stopped on exit."""

    def __init__(self, home: Path, workers: int, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=env_for(home), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers_wanted = workers

    def wait_ready(self, key: str, point: list[float], timeout_s: float = 600) -> None:
        """Until both workers answer a located point, then until their start-up warm-ups settle
        (their CPU use falls below a fifth of a core), all within `timeout_s`."""
        deadline = time.time() + timeout_s
        url = f"{self.base}/v1/locate?lon={point[0]}&lat={point[1]}"
        ok = 0
        while ok < 20:
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the server did not start; see {self.log.name}")
            try:
                req = urllib.request.Request(url, headers={"X-API-Key": key})
                with urllib.request.urlopen(req, timeout=10) as r:
                    ok += r.status == 200
            except OSError:
                ok = 0
                time.sleep(1)
        while len(self.workers()) < self.workers_wanted and time.time() < deadline:
            time.sleep(1)
        last = cpu_seconds(self.workers())
        while time.time() < deadline:
            time.sleep(5)
            now = cpu_seconds(self.workers())
            if (now - last) / 5 < 0.2:
                return
            last = now
        print("  (start-up warm-ups still busy at the deadline; measuring anyway)", flush=True)

    def workers(self) -> list[int]:
        """The worker processes: the server's descendants that run the app (multiprocessing spawns)."""
        out = []
        for pid in descendants(self.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "spawn_main" in cmd:
                out.append(pid)
        return sorted(out)

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 30 s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.log.close()


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def rss_mb(pid: int) -> float | None:
    """Resident set size of `pid` in MB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of `pids`, in seconds."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class MemorySampler(threading.Thread):
    """Every `every_s` seconds, each worker's RSS, with the phase it was taken in."""

    def __init__(self, server: Server, every_s: float = 5.0):
        super().__init__(daemon=True)
        self.server, self.every_s, self.phase = server, every_s, "ready"
        self.samples: list[tuple[float, str, int, float]] = []  # (t, phase, pid, MB)
        self.halt = threading.Event()

    def run(self):
        t0 = time.time()
        while not self.halt.is_set():
            for pid in self.server.workers():
                mb = rss_mb(pid)
                if mb is not None:
                    self.samples.append((round(time.time() - t0, 1), self.phase, pid, round(mb, 1)))
            self.halt.wait(self.every_s)

    def summary(self, phase: str) -> dict:
        """Per worker over `phase`: start, max, end MB and growth % (end over start), with its RSS
        when the server had just become ready (before any phase) for reference."""
        out = {}
        for pid in sorted({p for _, ph, p, _ in self.samples if ph == phase}):
            mbs = [mb for _, ph, p, mb in self.samples if ph == phase and p == pid]
            ready = next((mb for _, ph, p, mb in self.samples if ph == "ready" and p == pid), None)
            out[pid] = {"ready_mb": ready, "start_mb": mbs[0], "max_mb": max(mbs), "end_mb": mbs[-1],
                        "samples": len(mbs), "growth_pct": round(100 * (mbs[-1] - mbs[0]) / mbs[0], 1)}
        return out


def run_locust(base: str, data_file: Path, mix: str, seconds: int, users: int, processes: int,
               out_dir: Path) -> dict:
    """One headless locust run; per route: requests, req/s, p50, p99, mean (ms) and failures by status."""
    prefix = out_dir / mix
    env = dict(os.environ, WANGGE_LOAD_DATA=str(data_file), WANGGE_LOAD_MIX=mix)
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if not locust:
        raise SystemExit("locust is not installed: .venv/bin/pip install -e '.[bench]'")
    cmd = [locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
           "--host", base, "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
           "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 180)
    if p.returncode != 0:
        raise SystemExit(f"locust failed ({p.returncode}):\n{p.stderr[-3000:]}")
    routes = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                name = "all"
            else:
                name = row["Name"]
            n = int(row["Request Count"])
            routes[name] = {"requests": n, "rps": float(row["Requests/s"]), "p50_ms": _num(row["50%"]),
                            "p99_ms": _num(row["99%"]), "mean_ms": round(float(row["Average Response Time"]), 1),
                            "errors": int(row["Failure Count"]), "by_status": {}}
    with open(f"{prefix}_failures.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m = re.search(r"status (\d+)", row["Error"])
            status = m.group(1) if m else row["Error"][:80]
            if status == "0":
                status = "no answer in 30 s or connection reset"
            for name in (row["Name"], "all"):
                by = routes.setdefault(name, {"by_status": {}})["by_status"]
                by[status] = by.get(status, 0) + int(row["Occurrences"])
    return routes


def _num(s: str):
    return None if s in ("", "N/A") else float(s)


def run_wrk(base: str, path: str, key: str, points: list, seconds: int, connections: int) -> dict | None:
    """wrk on one route (random points for /v1/locate): requests/s, p50, p99 and non-2xx; None without wrk."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        sample = random.Random(3).sample(points, min(2000, len(points)))
        lua.write("pts = {" + ",".join(f"{{{x},{y}}}" for x, y in sample) + "}\n"
                  "i = 0\n"
                  "request = function()\n"
                  "  i = i % #pts + 1\n")
        if path == "/v1/locate":
            lua.write(f"  return wrk.format('GET', '/v1/locate?lon=' .. pts[i][1] .. '&lat=' .. pts[i][2], "
                      f"{{['X-API-Key'] = '{key}'}})\n")
        else:
            lua.write(f"  return wrk.format('GET', '{path}')\n")
        lua.write("end\n")
    try:
        p = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name, base],
                           capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(lua.name)
    out = p.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(rps.group(1)) if rps else None, "p50": lat.get("50"), "p99": lat.get("99"),
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errs.group(1) if errs else None}


def print_routes(title: str, routes: dict, seconds: int) -> None:
    """One table: route, requests, req/s, p50, p99, mean, errors by status."""
    print(f"\n{title}")
    print(f"  {'route':<28}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}  errors")
    order = sorted((k for k in routes if k != "all"), key=lambda k: -routes[k].get("requests", 0)) + ["all"]
    for name in order:
        r = routes.get(name)
        if not r or "requests" not in r:
            continue
        errs = ", ".join(f"{s}: {n}" for s, n in sorted(r["by_status"].items())) or "0"
        print(f"  {name:<28}{r['requests']:>10}{r['rps']:>9.0f}{_ms(r['p50_ms']):>9}{_ms(r['p99_ms']):>9}"
              f"{r['mean_ms']:>9.1f}  {errs}")


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


def main() -> int:
    """Build (once) and serve the demo, run the ceiling, locate-only and mixed phases, print, clean up."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=600, help="the mixed workload's duration")
    ap.add_argument("--scale", choices=("small", "city"), default="city")
    ap.add_argument("--users", type=int, default=32, help="concurrent clients (closed loop, no think time)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--phase-seconds", type=int, default=60,
                    help="duration of the ceiling and locate-only phases (each; at most --seconds)")
    ap.add_argument("--locust-processes", type=int, default=1)
    ap.add_argument("--home", type=Path, default=None, help="default: .wangge-bench/<scale> in the checkout")
    ap.add_argument("--json-out", type=Path, default=None, help="also write every figure as JSON here")
    ap.add_argument("--keep-db", action="store_true", help="leave the bench's database running")
    args = ap.parse_args()
    home = (args.home or ROOT / ".wangge-bench" / args.scale).resolve()
    phase_s = max(5, min(args.phase_seconds, args.seconds))

    ensure_demo(home, args.scale)
    print("preparing the workload ...", flush=True)
    data = workload(home)
    out_dir = Path(tempfile.mkdtemp(prefix="wangge-load-"))
    data_file = out_dir / "workload.json"
    data_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    params = {"scale": args.scale, "seconds": args.seconds, "phase_seconds": phase_s, "users": args.users,
              "workers": args.workers, "locust_processes": args.locust_processes,
              "mix": "locate 70 %, geocode 15 %, nearest stations 10 %, new requests 5 %",
              "points": len(data["points"]), "addresses": len(data["addresses"]),
              "request_bodies": len(data["requests"]), "generation": data["generation"]}
    result = {"machine": machine(), "params": params}
    print(f"\nmachine: {json.dumps(result['machine'], ensure_ascii=False)}")
    print(f"params:  {json.dumps(params, ensure_ascii=False)}", flush=True)

    server = Server(home, args.workers, out_dir / "server.log")
    sampler = MemorySampler(server)
    try:
        print(f"starting wangge serve --workers {args.workers} on {server.base} ...", flush=True)
        t = time.time()
        first = data["requests"][0]
        server.wait_ready(data["key"], [first["lon"], first["lat"]])
        print(f"  ready in {time.time() - t:.0f} s (workers {server.workers()})", flush=True)
        sampler.start()
        time.sleep(1)  # the first sample: each worker just ready
        phases = {}
        for mix in ("ceiling", "locate"):
            sampler.phase = mix
            print(f"phase {mix}: {phase_s} s ...", flush=True)
            phases[mix] = run_locust(server.base, data_file, mix, phase_s, args.users, args.locust_processes, out_dir)
        wrk = {}
        if shutil.which("wrk"):
            for name, path in (("ceiling", "/health/live"), ("locate", "/v1/locate")):
                sampler.phase = f"wrk-{name}"
                print(f"phase wrk {path}: {min(phase_s, 30)} s ...", flush=True)
                wrk[name] = run_wrk(server.base, path, data["key"], data["points"], min(phase_s, 30), args.users)
        # first touches (the geocoder's index, caches, connection pools) before memory is watched
        sampler.phase = "warmup"
        print(f"phase mixed warm-up: {phase_s} s ...", flush=True)
        phases["warmup"] = run_locust(server.base, data_file, "mixed", phase_s, args.users,
                                      args.locust_processes, out_dir)
        sampler.phase = "mixed"
        time.sleep(sampler.every_s + 1)  # a first sample at the mixed run's start
        print(f"phase mixed: {args.seconds} s ...", flush=True)
        phases["mixed"] = run_locust(server.base, data_file, "mixed", args.seconds, args.users,
                                     args.locust_processes, out_dir)
        time.sleep(sampler.every_s + 1)  # and one after it
        sampler.phase = "after"
        time.sleep(1)
    finally:
        sampler.halt.set()
        server.stop()
        if not args.keep_db:
            try:
                wangge(home, "db", "down", timeout=120)
            except (SystemExit, subprocess.TimeoutExpired) as exc:
                print(f"(could not stop the bench database: {exc})")

    memory = sampler.summary("mixed")
    result.update(phases=phases, wrk=wrk, memory=memory,
                  memory_samples=[s for s in sampler.samples])
    print_routes(f"ceiling, GET /health/live alone ({phase_s} s, {args.users} users):", phases["ceiling"], phase_s)
    print_routes(f"GET /v1/locate alone ({phase_s} s, {args.users} users):", phases["locate"], phase_s)
    ceil_rps, loc_rps = phases["ceiling"]["all"]["rps"], phases["locate"]["all"]["rps"]
    print(f"\n  ratio locate / ceiling (locust): {loc_rps:.0f} / {ceil_rps:.0f} = {loc_rps / ceil_rps:.2f}")
    if wrk:
        c, l = wrk["ceiling"], wrk["locate"]
        print(f"  wrk -t2 -c{args.users}: ceiling {c['rps']:.0f} req/s (p50 {c['p50']}, p99 {c['p99']}, non-2xx "
              f"{c['non_2xx']}), locate {l['rps']:.0f} req/s (p50 {l['p50']}, p99 {l['p99']}, non-2xx "
              f"{l['non_2xx']}); ratio {l['rps'] / c['rps']:.2f}")
    print_routes(f"mixed warm-up ({phase_s} s, {args.users} users; not in the memory figures):",
                 phases["warmup"], phase_s)
    print_routes(f"mixed workload ({args.seconds} s, {args.users} users):", phases["mixed"], args.seconds)
    print("\nworker memory over the mixed run (RSS, sampled every 5 s; 'ready' = before any load):")
    for pid, m in memory.items():
        ready = "-" if m["ready_mb"] is None else f"{m['ready_mb']:.0f} MB"
        print(f"  worker {pid}: ready {ready}; start {m['start_mb']:.0f} MB, max {m['max_mb']:.0f} MB, "
              f"end {m['end_mb']:.0f} MB, growth {m['growth_pct']:+.1f} % ({m['samples']} samples)")
    started = [pid for pid in memory if memory[pid]["ready_mb"] is None]
    if started:
        print(f"  workers restarted by uvicorn during the run (dead or unresponsive): {len(started)}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (the machine's other users share these cores)")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    errors = sum(p["all"]["errors"] for p in phases.values()) + sum(
        (w or {}).get("non_2xx", 0) for w in wrk.values())
    grew = [pid for pid, m in memory.items() if m["growth_pct"] > 100 * MAX_GROWTH]
    if errors or grew or not memory:
        print(f"FAILED: {errors} answers not 2xx; workers grown beyond {MAX_GROWTH:.0%}: {grew or 'none'}"
              + ("; no memory samples" if not memory else ""))
        return 1
    print("OK: every answer 2xx, no worker grew beyond 10 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
