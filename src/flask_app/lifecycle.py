"""Process lifecycle as /readyz sees it: starting -> ready -> draining."""

from __future__ import annotations

import os
import threading

STARTING = "starting"
READY = "ready"
DRAINING = "draining"


class Lifecycle:
    """Thread-safe state of one process, plus the drain marker shared by gunicorn workers.

    gunicorn's master creates ``drain_file`` the moment it receives SIGTERM, so every
    worker answers 503 on /readyz at once while still serving other requests.
    """

    def __init__(self, drain_file: str = "") -> None:
        self._lock = threading.Lock()
        self._state = STARTING
        self.drain_file = drain_file

    def mark_ready(self) -> None:
        with self._lock:
            if self._state == STARTING:
                self._state = READY

    def begin_drain(self) -> None:
        with self._lock:
            self._state = DRAINING

    @property
    def state(self) -> str:
        with self._lock:
            state = self._state
        if state != DRAINING and self.drain_file and os.path.exists(self.drain_file):
            return DRAINING
        return state
