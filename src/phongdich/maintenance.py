"""Scheduled jobs: automatic check-outs and the retention purges of every domain, run hourly
by ``serve`` and on demand by ``phongdich purge`` (for cron when the in-process scheduler is
off)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts import tasks as account_tasks
from phongdich.config import Settings
from phongdich.notify import tasks as notify_tasks
from phongdich.people import tasks as people_tasks
from phongdich.proximity import tasks as proximity_tasks
from phongdich.tracing import tasks as tracing_tasks
from phongdich.visits import tasks as visit_tasks


def purge_all(
    factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    done: dict[str, int] = {}
    done.update(visit_tasks.close_automatic_job(factory, now))
    done.update(visit_tasks.purge_job(factory, now, settings.visit_retention_days))
    done.update(account_tasks.purge_job(factory, now))
    done.update(notify_tasks.purge_job(factory, now))
    done.update(people_tasks.purge_job(factory, now, settings.declaration_retention_days))
    done.update(proximity_tasks.purge_job(factory, settings, now))
    done.update(tracing_tasks.purge_job(factory, now, settings.tracing_retention_days))
    return done
