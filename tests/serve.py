"""`wangge serve` on a free loopback port for tests that need a real server (GDAL, the access log), stopped afterwards."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def serve(pg_url: str, home: Path, log: Path):
    """The base URL of a `wangge serve` (one worker) over the database at `pg_url`; stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url, WANGGE_HOME=str(home), WANGGE_ESCALATION_INTERVAL_S="0")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    if httpx.get(base + "/health", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"wangge serve exited: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
            else:
                raise RuntimeError("wangge serve did not answer /health within two minutes")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
