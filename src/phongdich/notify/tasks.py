"""Delivering the outbox: ``phongdich notify deliver`` or the in-process loop of ``serve``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from phongdich.db.session import unit_of_work
from phongdich.kit.clock import utcnow
from phongdich.kit.phone import mask
from phongdich.kit.text import mask_email
from phongdich.notify.adapters import ChannelDown, DeliveryAdapter, Undeliverable, close_adapter
from phongdich.notify.repository import OutboxRepository
from phongdich.notify.service import BounceCounts, Bounces

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# How long a message waits after its first, second, … failed attempt: a gateway or mail server
# that is down for minutes does not use up a warning's attempts. A message refused five times
# fails about 2.6 hours after its first attempt; one that found its channel down goes on
# (``OUTAGE_LIMIT``).
RETRY_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# A channel found down: its other messages wait this long, no attempt counted.
CHANNEL_PAUSE = timedelta(seconds=30)
# A message whose last attempts found its channel down is not failed on its last attempt: it is
# tried again every ``RETRY_AFTER[-1]`` until it is this old, so an outage of hours (a gateway
# down overnight) loses no warning, and a channel that never comes back fails it in the end.
OUTAGE_LIMIT = timedelta(hours=48)
# A claimed message is due again after this if its delivery run never records the outcome
# (the process died): longer than any batch takes.
CLAIM_LEASE = timedelta(minutes=10)


def deliver_pending(
    factory: sessionmaker[Session],
    adapter: DeliveryAdapter,
    batch: int = 100,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Deliver the messages that are due; each batch commits; returns how many were sent.
    What the adapter holds open (an SMTP session) is closed at the end."""
    try:
        return _deliver(factory, adapter, batch, clock)
    finally:
        close_adapter(adapter)


def _deliver(
    factory: sessionmaker[Session],
    adapter: DeliveryAdapter,
    batch: int,
    clock: Callable[[], datetime],
) -> int:
    """Claim a batch, deliver it outside any transaction, record the outcomes; until no
    batch is full. Every claimed message ends sent, failed or due later, so the run ends.

    Claiming (``OutboxRepository.claim``) is one statement that also moves the messages'
    next attempt past ``CLAIM_LEASE``: two delivery loops (two server processes) never take
    the same message, and the database is not locked while an SMTP server or gateway
    answers. A run that dies between claim and record leaves its messages to come due again
    after the lease, their attempt counted; those that had no attempt left are failed at the
    start of the next run."""
    sent = 0
    down: set[str] = set()  # channels found down in this run
    with unit_of_work(factory) as session:
        OutboxRepository(session).give_up_unsettled(MAX_ATTEMPTS, clock())
    while True:
        now = clock()
        with unit_of_work(factory) as session:
            messages = OutboxRepository(session).claim(batch, MAX_ATTEMPTS, now, CLAIM_LEASE)
        outcomes: list[dict[str, object]] = []
        working: set[str] = set()  # channels that delivered a message of this batch
        for message in messages:
            if message.channel in down:  # not tried: the claim's attempt is given back
                outcomes.append(
                    {
                        "id": message.id,
                        "attempts": message.attempts - 1,
                        "next_attempt_at": now + CHANNEL_PAUSE,
                        "held": True,
                    }
                )
                continue
            try:
                adapter.deliver(message)
            except Exception as exc:  # an adapter failure must not stop the batch
                log.warning("delivery of message %s failed: %s", message.id, exc)
                outcome: dict[str, object] = {"id": message.id, "last_error": str(exc)[:500]}
                if isinstance(exc, ChannelDown):
                    down.add(message.channel)
                    outcome["held"] = True
                if isinstance(exc, Undeliverable):
                    outcome["status"] = "failed"
                elif message.attempts < MAX_ATTEMPTS:
                    wait = RETRY_AFTER[min(message.attempts, len(RETRY_AFTER)) - 1]
                    outcome["next_attempt_at"] = now + wait
                elif isinstance(exc, ChannelDown) and now - message.created_at < OUTAGE_LIMIT:
                    # Down, not refused: the last attempt is given back for a later one.
                    outcome["attempts"] = message.attempts - 1
                    outcome["next_attempt_at"] = now + RETRY_AFTER[-1]
                else:
                    outcome["status"], outcome["held"] = "failed", False
                outcomes.append(outcome)
                continue
            outcomes.append({"id": message.id, "status": "sent", "sent_at": clock()})
            working.add(message.channel)
            sent += 1
        released = 0
        with unit_of_work(factory) as session:
            repo = OutboxRepository(session)
            repo.settle(outcomes)
            back = working - down  # what an outage of these channels held back goes now
            if back:
                released = repo.release_held(back, now)
        if len(messages) < batch and not released:
            return sent


# The states ``OutboxRepository.summary`` counts, in the order an operator reads them.
OUTBOX_STATES = ("due", "waiting", "retrying", "sent", "delivered", "failed")


@dataclass(frozen=True)
class OutboxStatus:
    """What an operator checks: messages by channel and state (``OutboxRepository.summary``)
    and the latest failures, recipients masked."""

    counts: list[tuple[str, str, int, datetime | None]]
    errors: list[tuple[int, str, str, int, str, str]]  # id, channel, to, attempts, status, error


def outbox_status(factory: sessionmaker[Session], errors: int = 10) -> OutboxStatus:
    with unit_of_work(factory) as session:
        repo = OutboxRepository(session)
        counts = repo.summary(utcnow())
        failures = [
            (
                m.id,
                m.channel,
                mask_recipient(m.recipient),
                m.attempts,
                m.status,
                scrub(m.last_error),
            )
            for m in repo.last_errors(errors)
        ]
    return OutboxStatus(counts, failures)


def requeue_failed(
    factory: sessionmaker[Session], since: datetime, channel: str | None = None
) -> int:
    """Failed messages since ``since`` tried again from now, five attempts anew: after an
    outage longer than ``OUTAGE_LIMIT``, or a refusal fixed since, once the channel works."""
    with unit_of_work(factory) as session:
        return OutboxRepository(session).requeue_failed(since, utcnow(), channel)


def record_bounces(
    factory: sessionmaker[Session], secret: str, raws: Iterable[bytes]
) -> BounceCounts:
    """Inbound messages (bounces, auto-replies, anything sent to the sender's address) read
    into the outbox in one transaction (``service.Bounces``)."""
    counts = BounceCounts()
    with unit_of_work(factory) as session:
        reader = Bounces(session, secret)
        for raw in raws:
            reader.record(raw, counts)
    return counts


# An e-mail address, or a Vietnamese phone number (0…, 84…, +84…) standing alone.
_ADDRESS = re.compile(
    r"[^\s<>()\[\]{}'\",;:]+@[^\s<>()\[\]{}'\",;:]+"
    r"|(?<!\d)(?:\+?84|0)\d{9,10}(?!\d)"
)


def scrub(error: str) -> str:
    """An error text with the addresses and phone numbers in it masked: servers and gateways
    often quote the recipient."""
    return _ADDRESS.sub(lambda m: mask_recipient(m.group(0)), error)


def mask_recipient(recipient: str) -> str:
    """A phone or e-mail address with most of it hidden: 0912***678, la***@example.vn."""
    return mask_email(recipient) if "@" in recipient else mask(recipient)


# Delivered or failed messages are kept 30 days for the operators' checks, then purged.
OUTBOX_RETENTION_DAYS = 30


def purge_job(factory: sessionmaker[Session], now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    with unit_of_work(factory) as session:
        removed = OutboxRepository(session).purge_sent_before(
            now - timedelta(days=OUTBOX_RETENTION_DAYS)
        )
    return {"outbox_messages": removed}
