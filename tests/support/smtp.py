"""A real SMTP server for the tests (aiosmtpd), and what it received."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from phongdich.config import Settings


class Inbox:
    """What a real SMTP server (aiosmtpd) received, and over which connections."""

    def __init__(self) -> None:
        self.mail: list[tuple[list[str], EmailMessage]] = []
        self.peers: list[Any] = []  # each message's client (host, port): one per session

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mail.append((list(envelope.rcpt_tos), parsed))
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_settings(settings: Settings, port: int, sms_file: Path, sender: str) -> Settings:
    """``settings`` delivering e-mail through the SMTP server on ``port`` and the other
    channels to ``sms_file`` (one JSON line each)."""
    return settings.model_copy(
        update={
            "notifier": "file",
            "notify_file": str(sms_file),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_from": sender,
        }
    )
