"""Scheduled jobs: retention purges of every domain, run hourly by ``serve`` and on demand by
``phongdich purge`` (for a cron job when the in-process scheduler is turned off)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts import tasks as account_tasks
from phongdich.notify import tasks as notify_tasks

log = logging.getLogger(__name__)

PURGES: list[Callable[[sessionmaker[Session], datetime | None], dict[str, int]]] = [
    account_tasks.purge_job,
    notify_tasks.purge_job,
]


def purge_all(factory: sessionmaker[Session], now: datetime | None = None) -> dict[str, int]:
    removed: dict[str, int] = {}
    for job in PURGES:
        removed.update(job(factory, now))
    return removed


class Scheduler:
    """Runs ``purge_all`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, factory: sessionmaker[Session], interval: float = 3600.0) -> None:
        self.factory, self.interval = factory, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                log.info("retention purge: %s", purge_all(self.factory))
            except Exception:
                log.exception("retention purge failed")
