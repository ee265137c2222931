"""Delivering the outbox: ``phongdich notify deliver`` or the in-process loop of ``serve``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.notify.adapters import DeliveryAdapter, close_adapter
from phongdich.notify.repository import OutboxRepository

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def deliver_pending(
    factory: sessionmaker[Session], adapter: DeliveryAdapter, batch: int = 100
) -> int:
    """Deliver pending messages; each batch commits; returns how many were sent. What the
    adapter holds open (an SMTP session) is closed at the end."""
    try:
        return _deliver(factory, adapter, batch)
    finally:
        close_adapter(adapter)


def _deliver(factory: sessionmaker[Session], adapter: DeliveryAdapter, batch: int) -> int:
    sent = 0
    while True:
        with unit_of_work(factory) as session:
            messages = OutboxRepository(session).pending(batch, MAX_ATTEMPTS)
            for message in messages:
                message.attempts += 1
                try:
                    adapter.deliver(message)
                except Exception as exc:  # an adapter failure must not stop the batch
                    log.warning("delivery of message %s failed: %s", message.id, exc)
                    message.last_error = str(exc)[:500]
                    if message.attempts >= MAX_ATTEMPTS:
                        message.status = "failed"
                    continue
                message.status = "sent"
                message.sent_at = utcnow()
                sent += 1
        if len(messages) < batch:
            return sent


# Delivered or failed messages are kept 30 days for the operators' checks, then purged.
OUTBOX_RETENTION_DAYS = 30


def purge_job(factory: sessionmaker[Session], now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    with unit_of_work(factory) as session:
        removed = OutboxRepository(session).purge_sent_before(
            now - timedelta(days=OUTBOX_RETENTION_DAYS)
        )
    return {"outbox_messages": removed}
