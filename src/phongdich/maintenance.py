"""Scheduled jobs: retention purges of every domain, run hourly by ``serve`` and on demand by
``phongdich purge`` (for a cron job when the in-process scheduler is turned off)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts import tasks as account_tasks
from phongdich.notify import tasks as notify_tasks

PURGES: list[Callable[[sessionmaker[Session], datetime | None], dict[str, int]]] = [
    account_tasks.purge_job,
    notify_tasks.purge_job,
]


def purge_all(factory: sessionmaker[Session], now: datetime | None = None) -> dict[str, int]:
    removed: dict[str, int] = {}
    for job in PURGES:
        removed.update(job(factory, now))
    return removed
