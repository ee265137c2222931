"""A daemon thread that runs a job every few seconds until stopped (in-process schedulers)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, job: Callable[[], object], interval: float) -> None:
        self.name, self.job, self.interval = name, job, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                result = self.job()
                if result:
                    log.info("%s: %s", self.name, result)
            except Exception:
                log.exception("%s failed", self.name)
