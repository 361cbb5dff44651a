"""Start-up warm-ups: work a worker can do before anyone asks for it (service circles, hotspot
weights), run in a daemon thread so start-up and requests never wait on it."""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("wangge.warmup")


def in_background(name: str, fn, *args) -> threading.Thread:
    """Run a start-up warm-up off the request path; a failure is logged and only means the first
    request that needs the result computes it."""
    def run():
        try:
            fn(*args)
        except Exception:
            log.exception("warm-up %s failed", name)

    t = threading.Thread(target=run, name=f"wangge-{name}", daemon=True)
    t.start()
    return t
