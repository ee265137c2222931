"""Scheduled Bluezone jobs: the signed export batches (every minute the server checks for due
periods; a period is ``proximity_export_minutes`` long) and the 14-day retention purge (run
hourly with the other domains' purges by ``maintenance.purge_all``)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from phongdich.config import Settings
from phongdich.db.session import unit_of_work
from phongdich.proximity.service import ProximityService

log = logging.getLogger(__name__)

EXPORT_CHECK_SECONDS = 60.0


def export_job(
    factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """Make the due export batches in one transaction. Two server processes racing for the
    same period: the loser hits the unique period start, rolls back and leaves it to the
    winner."""
    try:
        with unit_of_work(factory) as session:
            made = ProximityService(session, settings).make_due_batches(now)
            if not made:
                return {}
            return {
                "proximity_batches_made": len(made),
                "proximity_keys_exported": sum(b.key_count for b in made),
            }
    except IntegrityError:
        log.info("another process is exporting the same period")
        return {}


def purge_job(
    factory: sessionmaker[Session], settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    with unit_of_work(factory) as session:
        return ProximityService(session, settings).purge(now)
