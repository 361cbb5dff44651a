"""Fuzz the running API with schemathesis 4 (every check), then its stateful phase alone, and print the
failures per check class and how far the stateful phase got (request moves and redraw commits it made):

    .venv/bin/python bench/fuzz.py                      # small demo in this checkout's database, 400 per operation
    .venv/bin/python bench/fuzz.py --url http://127.0.0.1:8000 --key wg_... --examples 400

Without --url it builds the small demo (`wangge demo --scale small`), serves it on a free port of
127.0.0.1 and stops it afterwards. Operations whose rules cross fields (`x-rules` in the OpenAPI
document, e.g. `start` before `end`) may refuse schema-valid input with 422: only there is 422 an
expected status of the positive-data check; everything else is checked as schemathesis ships it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCEPTED = ["200", "201", "202", "204", "301", "302", "304", "307", "308", "401", "403", "404", "409", "429"]
FAILURE_LINE = re.compile(r"(ST\d{3}) ([^:\n]+): (\d+)")


def schemathesis_config(spec: dict, timed: bool = True) -> str:
    """A schemathesis.toml that lets the positive-data check accept 422 only on operations whose
    OpenAPI entry lists `x-rules` (rules a schema cannot express), each named by method and path;
    without `timed`, no response-time limit (tests assert outcomes, never timings)."""
    lines = [] if timed else ["checks.max_response_time = 3600", ""]  # longer than any request may take
    for path, ops in sorted(spec.get("paths", {}).items()):
        for method, op in sorted(ops.items()):
            if isinstance(op, dict) and op.get("x-rules"):
                lines += ["[[operations]]", f"include-path = {json.dumps(path)}",
                          f"include-method = {json.dumps(method.upper())}",
                          f"checks.positive_data_acceptance.expected-statuses = {json.dumps(ACCEPTED + ['422'])}",
                          ""]
    return "\n".join(lines)


def failure_counts(output: str) -> dict[str, int]:
    """{"ST108 Response violates schema": n, ...} from the summary of `st run`."""
    summary = output.split("Failures:", 1)[1].split("\n\n", 1)[0] if "Failures:" in output else ""
    return {f"{code} {name.strip()}": int(n) for code, name, n in FAILURE_LINE.findall(summary)}


def run_schemathesis(url: str, key: str, examples: int, phases: str, max_time: float | None = None,
                     seed: int | None = None, timeout: float = 3600, timed: bool = True) -> tuple[int, str, dict[str, int]]:
    """Run `st run --checks all` against url/openapi.json; (exit code, output, failures per check)."""
    spec = json.load(urllib.request.urlopen(f"{url}/openapi.json", timeout=30))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(schemathesis_config(spec, timed), encoding="utf-8")
        cmd = [str(Path(sys.executable).parent / "st"), "--no-color", "--config-file", str(config), "run",
               f"{url}/openapi.json", "--checks", "all", "-H", f"X-API-Key: {key}", "-n", str(examples),
               "--phases", phases, "-w", "1", "--request-timeout", "60"]
        if max_time:
            cmd += ["--max-time", str(int(max_time))]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp)
    out = p.stdout + p.stderr
    return p.returncode, out, failure_counts(out)


def progress(engine, key: str) -> dict[str, int]:
    """What the fuzzer's key has done so far: requests created, moves made, redraws proposed and committed."""
    from sqlalchemy import text

    actor = f"%:{key[:10]}%"
    with engine.connect() as conn:
        moves = conn.execute(text("SELECT count(*) FROM request_event WHERE actor LIKE :a AND from_status IS NOT NULL "
                                  "AND from_status <> to_status"), {"a": actor}).scalar()
        created = conn.execute(text("SELECT count(*) FROM request_event WHERE actor LIKE :a AND from_status IS NULL"),
                               {"a": actor}).scalar()
        redraws = conn.execute(text("SELECT count(*), count(committed_at) FROM redraw")).one()
    return {"requests_created": created, "moves": moves, "redraws": redraws[0], "redraws_committed": redraws[1]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict) -> tuple[subprocess.Popen, str]:
    """`wangge serve` on a free local port with `env`; (server process, base url) once /health answers."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return server, url
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the server stopped while starting")
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start within 120 s")


def serve_demo(env: dict) -> tuple[subprocess.Popen, str, str]:
    """Build the small demo and serve it on a free local port; (server process, base url, admin key)."""
    report = json.loads(subprocess.run([sys.executable, "-m", "api.cli", "demo", "--scale", "small", "--json"],
                                       capture_output=True, text=True, env=env, check=True, timeout=900).stdout)
    server, url = serve(env)
    return server, url, report["keys"]["admin"]


def main() -> None:
    """Run the long fuzz (default 400 examples per operation) and print the counts per check class."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (default: serve the small demo)")
    ap.add_argument("--key", help="an admin key for --url")
    ap.add_argument("--examples", type=int, default=400, help="examples per operation")
    ap.add_argument("--max-time", type=float, default=None, help="seconds per schemathesis run")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    # the fuzzer sends many wrong keys on purpose: the per-client throttle (429) would hide the answers
    env = dict(os.environ, PYTHONPATH=str(ROOT), WANGGE_KEY_FAILURES_MAX="1000000")
    server = None
    if args.url:
        if not args.key:
            raise SystemExit("--key is needed with --url")
        url, key = args.url.rstrip("/"), args.key
    else:
        server, url, key = serve_demo(env)
    from gis.settings import get_settings
    from gis.store.db import get_engine

    engine = get_engine(get_settings())
    try:
        t0 = time.perf_counter()
        rc1, out1, fails1 = run_schemathesis(url, key, args.examples, "examples,coverage,fuzzing", args.max_time,
                                             args.seed)
        t1 = time.perf_counter()
        before = progress(engine, key)
        rc2, out2, fails2 = run_schemathesis(url, key, args.examples, "stateful", args.max_time, args.seed)
        t2 = time.perf_counter()
        after = progress(engine, key)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    cases = re.findall(r"(\d+) generated", out1 + out2)
    print(f"schemathesis --checks all, {args.examples} examples per operation against {url}")
    print(f"  examples+coverage+fuzzing: {t1 - t0:.0f} s, stateful: {t2 - t1:.0f} s, test cases generated: "
          f"{' + '.join(cases) or '?'}")
    for phase, fails in (("examples+coverage+fuzzing", fails1), ("stateful", fails2)):
        print(f"  {phase}: " + (", ".join(f"{k}: {v}" for k, v in sorted(fails.items())) or
                                "0 failures in every check class"))
    print("  stateful phase made: " + ", ".join(f"{k} {after[k] - before[k]}" for k in after))
    for out in (out1, out2):
        if failure_counts(out):
            print(out[-20000:])
    sys.exit(1 if (rc1 or rc2) else 0)


if __name__ == "__main__":
    main()
