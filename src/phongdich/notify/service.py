"""The notifier interface domain code calls. It only writes the outbox, inside the caller's
transaction: a request that fails sends nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

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
