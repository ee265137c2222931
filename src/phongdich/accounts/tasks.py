"""Retention: expired sessions, old one-time codes and old failure counters are purged."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts.repository import AccountRepository
from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow

# One-time codes and failed attempts are kept two days (the daily limits look back one day).
OTP_RETENTION = timedelta(days=2)
FAILURE_RETENTION = timedelta(days=2)


def purge(session: Session, now: datetime) -> dict[str, int]:
    return AccountRepository(session).purge(
        now=now, otp_before=now - OTP_RETENTION, failures_before=now - FAILURE_RETENTION
    )


def purge_job(factory: sessionmaker[Session], now: datetime | None = None) -> dict[str, int]:
    with unit_of_work(factory) as session:
        return purge(session, now or utcnow())
