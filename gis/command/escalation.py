"""The deadline sweep in the background: each worker raises overdue requests to the street every
`interval` seconds (the sweep itself is safe to run in several workers at once)."""
from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from gis.store.db import session_scope
from gis.command.loop import escalate_overdue

log = logging.getLogger("wangge.escalation")


class Sweep:
    """The background deadline sweep of one process: escalates overdue requests every `interval` seconds."""
    def __init__(self, engine: Engine, interval: float):
        self._stop = threading.Event()
        self._thread = None
        if interval > 0:
            self._thread = threading.Thread(target=self._run, args=(engine, interval), daemon=True,
                                            name="wangge-escalation")
            self._thread.start()

    def _run(self, engine: Engine, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                with session_scope(engine) as session:
                    ids = escalate_overdue(session)
                if ids:
                    log.info("escalated %d overdue requests", len(ids))
            except Exception:  # keep sweeping: a failed round is retried next interval
                log.exception("escalation sweep failed")

    def stop(self) -> None:
        """Stop sweeping and wait (briefly) for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_escalation_sweep(engine: Engine, interval: float) -> Sweep:
    """Start the deadline sweep (none when `interval` is 0: the CLI escalates instead)."""
    return Sweep(engine, interval)
