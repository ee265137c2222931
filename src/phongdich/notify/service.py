"""The notifier interface domain code calls. It only writes the outbox, inside the caller's
transaction: a request that fails sends nothing. ``Bounces`` reads back what mail servers
report about e-mail already sent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from phongdich.kit.text import mask_email
from phongdich.notify import bounces
from phongdich.notify.models import OutboxMessage
from phongdich.notify.repository import OutboxRepository


class Notifier:
    def __init__(self, session: Session) -> None:
        self.repo = OutboxRepository(session)

    def send(self, channel: str, recipient: str, body: str, purpose: str = "") -> OutboxMessage:
        """Queue one message on ``channel`` (sms | ott | email); its id tracks delivery."""
        message = OutboxMessage(channel=channel, recipient=recipient, body=body, purpose=purpose)
        self.repo.add(message)
        self.repo.session.flush()
        return message

    def send_many(self, messages: list[dict[str, str]]) -> dict[tuple[str, str], int]:
        """Queue many messages at once (each a dict of channel, recipient, body and purpose;
        one message per purpose and channel): their ids by (purpose, channel)."""
        return {(p, c): i for i, c, p in self.repo.add_many(messages)}

    def sms(self, phone: str, body: str, purpose: str = "") -> None:
        self.repo.add(OutboxMessage(channel="sms", recipient=phone, body=body, purpose=purpose))

    def email(self, address: str, body: str, purpose: str = "") -> None:
        self.repo.add(OutboxMessage(channel="email", recipient=address, body=body, purpose=purpose))


@dataclass
class BounceCounts:
    failed: int = 0  # e-mails now failed (the recipient's server refused them for good)
    delivered: int = 0  # e-mails now delivered (a report asked for on success)
    ignored: int = 0  # messages that report nothing final about an e-mail of ours


class Bounces:
    """Delivery status notifications (RFC 3464) that came back to the sender's address, read
    into the outbox: a warning e-mail whose mailbox does not exist shows as failed, with the
    server's answer (addresses masked), so that the tracer calls instead."""

    def __init__(self, session: Session, secret: str) -> None:
        self.repo = OutboxRepository(session)
        self.key = bounces.bounce_key(secret)

    def record(self, raw: bytes, counts: BounceCounts) -> None:
        """Read one inbound message into ``counts``; only a report about an e-mail of ours,
        named by its signed Message-ID and still matching its creation time, changes
        anything."""
        from phongdich.notify.tasks import scrub

        outcomes = bounces.read_report(self.key, raw)
        sent = self.repo.handed_on({o.message_id for o in outcomes}, "email")
        # One state per message: a failure reported for any of its recipients wins.
        states: dict[int, tuple[str, str]] = {}
        for o in outcomes:
            created, recipient = sent.get(o.message_id, (None, ""))
            if created is None or int(created.timestamp()) != o.created:
                continue
            if o.action == bounces.FAILED:
                # Servers quote the address, or only its mailbox name ("unknown user: …").
                error = scrub(o.error())
                local = recipient.rpartition("@")[0]
                if len(local) > 2:
                    error = error.replace(local, mask_email(recipient).rpartition("@")[0])
                states[o.message_id] = ("failed", error)
            else:
                states.setdefault(o.message_id, ("delivered", ""))
        if not states:
            counts.ignored += 1
            return
        self.repo.record_receipts([(mid, state, error) for mid, (state, error) in states.items()])
        for state, _error in states.values():
            if state == "failed":
                counts.failed += 1
            else:
                counts.delivered += 1
