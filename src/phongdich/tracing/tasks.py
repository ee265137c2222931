"""Scheduled tracing jobs: retention of cases and everything traced from them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.tracing.repository import TracingRepository


def purge_job(
    factory: sessionmaker[Session], now: datetime | None = None, retention_days: int = 90
) -> dict[str, int]:
    """Delete cases (with their contacts, named contacts and exposure places) whose infectious
    window ended more than ``retention_days`` ago and which nobody entered or traced since.
    The people stay: they are the registry other records point at."""
    now = now or utcnow()
    with unit_of_work(factory) as session:
        return TracingRepository(session).purge_cases_before(now - timedelta(days=retention_days))
