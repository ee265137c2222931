"""Scheduled people jobs: retention of health declarations."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.people.repository import PersonRepository


def purge_job(
    factory: sessionmaker[Session], now: datetime | None = None, retention_days: int = 60
) -> dict[str, int]:
    """Delete declarations older than the retention period (the registry entries stay: they
    are the identity other records point at)."""
    now = now or utcnow()
    with unit_of_work(factory) as session:
        removed = PersonRepository(session).purge_declarations_before(
            now - timedelta(days=retention_days)
        )
        return {"declarations": removed}
