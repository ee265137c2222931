"""Scheduled visit jobs: automatic check-out of visits nobody closed, and retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.visits.repository import VisitRepository


def close_automatic_job(
    factory: sessionmaker[Session], now: datetime | None = None
) -> dict[str, int]:
    """Record the automatic check-out (method 'automatic') of visits past their default end."""
    with unit_of_work(factory) as session:
        return {"visits_auto_closed": VisitRepository(session).close_automatic(now or utcnow())}


def purge_job(
    factory: sessionmaker[Session], now: datetime | None = None, retention_days: int = 30
) -> dict[str, int]:
    now = now or utcnow()
    with unit_of_work(factory) as session:
        return VisitRepository(session).purge_before(now - timedelta(days=retention_days))
