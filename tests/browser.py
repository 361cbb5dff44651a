"""Headless Chromium as a person's browser: load a page with every outside host unreachable, and report
the DOM after scripts ran, every console message, the page's requests and failed requests (from
Chromium's net log) and a screenshot.

A missing Chromium is an error, not a reason to skip: the browser tests then fail with MISSING, so CI
cannot pass without them. Only `WANGGE_SKIP_BROWSER=1`, set explicitly, lets them skip on a machine
without Chromium (the tests' `skipif(CHROMIUM is None)` is true only then)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MISSING = "Chromium is needed: scripts/setup.sh --test installs it (or set WANGGE_SKIP_BROWSER=1 to skip the browser tests)"
FOUND = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_ASKED = os.environ.get("WANGGE_SKIP_BROWSER", "") == "1"
# the path of the browser; "" when it is missing (the tests run and fail with MISSING); None only when
# it is missing and WANGGE_SKIP_BROWSER=1 asked to skip
CHROMIUM: str | None = FOUND or (None if SKIP_ASKED else "")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         # no outside world: every host but the loopback fails to resolve
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

BROWSER_OWN_HOSTS = ("google.com", "googleapis.com", "gstatic.com", "gvt1.com")


@contextmanager
def live_server(app, timeout_s: float = 60.0):
    """Serve `app` on a free loopback port in a thread (a real server: the browser loads over HTTP);
    yields its base URL and stops it afterwards."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + timeout_s
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@dataclass
class PageReport:
    dom: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    requests: list[str] = field(default_factory=list)  # every URL the page asked for (not Chromium's own)

    def remote_requests(self) -> list[str]:
        """Requests that went (or tried to go) anywhere but the loopback: an offline page has none."""
        return sorted(u for u in self.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
                      and urlsplit(u).hostname not in ("127.0.0.1", "localhost", "::1"))


def load_page(url: str, screenshot: Path | None = None, budget_ms: int = 8000) -> PageReport:
    """Load `url`, let scripts run for `budget_ms` of virtual time, and report what happened."""
    if not CHROMIUM:
        import pytest
        pytest.fail(MISSING, pytrace=False)
    with tempfile.TemporaryDirectory() as profile:
        netlog = Path(profile) / "net.json"
        base = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}", "--net-log-capture-mode=Default"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        # every console message counts: our pages log nothing when all is well
        errors = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
        failed, requested = _requests(netlog)
        if screenshot is not None:
            subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1200,900", url],
                           capture_output=True, text=True, timeout=120)
    return PageReport(dom.stdout, errors, failed, screenshot if screenshot and screenshot.exists() else None,
                      requested)


def _requests(netlog: Path) -> tuple[list[str], list[str]]:
    """URLs whose load failed (the DNS rule makes every remote load fail) and every URL asked for, from
    Chromium's net log; Chromium's own update/time/account pings left out."""
    if not netlog.exists():
        return [], []
    text = netlog.read_text(errors="replace").rstrip()
    log = None
    for candidate in (text, text.rstrip(",") + "]}"):  # a log cut short lacks its closing brackets
        try:
            log = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    if log is None:
        return ["<unreadable net log>"], []
    types = {v: k for k, v in log.get("constants", {}).get("logEventTypes", {}).items()}
    urls, outcome = {}, {}
    for ev in log.get("events", []):
        params, src = ev.get("params", {}), ev.get("source", {}).get("id")
        if "url" in params:
            urls.setdefault(src, params["url"])
        # a request's outcome is the error its REQUEST_ALIVE ends with (inner steps such as a cache
        # probe may fail on the way to a good answer)
        if types.get(ev.get("type")) == "REQUEST_ALIVE" and ev.get("phase") == 2:
            outcome[src] = params.get("net_error", 0)
    def own(url: str) -> bool:
        return (urlsplit(url).hostname or "").endswith(BROWSER_OWN_HOSTS)

    failed = []
    for src, err in outcome.items():
        # -3: aborted by the page; -400: a cache-only probe (a font's), followed by a real load
        if err < 0 and err not in (-3, -400) and src in urls and not own(urls[src]):
            failed.append(f"{urls[src]} (net error {err})")
    return sorted(set(failed)), sorted({u for u in urls.values() if not own(u)})
