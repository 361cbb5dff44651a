"""Headless Chromium as a person's browser: load a page with every outside host unreachable, and report
the DOM after scripts ran, every console message, the page's failed requests (from Chromium's net log)
and a screenshot."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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


def load_page(url: str, screenshot: Path | None = None, budget_ms: int = 8000) -> PageReport:
    """Load `url`, let scripts run for `budget_ms` of virtual time, and report what happened."""
    if not CHROMIUM:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        netlog = Path(profile) / "net.json"
        base = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}", "--net-log-capture-mode=Default"]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        # every console message counts: our pages log nothing when all is well
        errors = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
        failed = _failed_requests(netlog)
        if screenshot is not None:
            subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1200,900", url],
                           capture_output=True, text=True, timeout=120)
    return PageReport(dom.stdout, errors, failed, screenshot if screenshot and screenshot.exists() else None)


def _failed_requests(netlog: Path) -> list[str]:
    """URLs whose load failed, from Chromium's net log (the DNS rule makes every remote load fail)."""
    if not netlog.exists():
        return []
    text = netlog.read_text(errors="replace").rstrip()
    log = None
    for candidate in (text, text.rstrip(",") + "]}"):  # a log cut short lacks its closing brackets
        try:
            log = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    if log is None:
        return ["<unreadable net log>"]
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
    failed = []
    for src, err in outcome.items():
        # -3: aborted by the page; -400: a cache-only probe (a font's), followed by a real load
        if err < 0 and err not in (-3, -400) and src in urls:
            host = urlsplit(urls[src]).hostname or ""
            if not host.endswith(BROWSER_OWN_HOSTS):  # Chromium's own update/time/account pings
                failed.append(f"{urls[src]} (net error {err})")
    return sorted(set(failed))
