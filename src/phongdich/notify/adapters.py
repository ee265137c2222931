"""Delivery adapters. Each takes one message and raises on failure.

The default for development is the console; ``file`` appends one JSON line per message, which
is also what an SMS gateway bridge can tail. A real gateway adapter implements the same call.
E-mail goes through an SMTP server when one is configured (``SmtpAdapter``).
"""

from __future__ import annotations

import json
import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from phongdich.kit.clock import fmt_local
from phongdich.notify.models import OutboxMessage

if TYPE_CHECKING:
    from phongdich.config import Settings


class DeliveryAdapter(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...


class ConsoleAdapter:
    def deliver(self, message: OutboxMessage) -> None:
        print(
            f"[{message.channel.upper()} → {message.recipient} {fmt_local(message.created_at)}] "
            f"{message.body}",
            file=sys.stderr,
            flush=True,
        )


class FileAdapter:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def deliver(self, message: OutboxMessage) -> None:
        record = {
            "id": message.id,
            "channel": message.channel,
            "to": message.recipient,
            "purpose": message.purpose,
            "body": message.body,
            "created_at": message.created_at.isoformat(),
        }
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


class NullAdapter:
    """Leaves messages in the outbox as sent without showing them (tests read the table)."""

    def deliver(self, message: OutboxMessage) -> None:
        return None


def email_parts(body: str) -> tuple[str, str]:
    """An e-mail outbox message's subject (its body's first line) and text (the rest)."""
    subject, _, text = body.partition("\n")
    return subject.strip(), text.lstrip("\n")


class SmtpAdapter:
    """E-mail through an SMTP server: plain UTF-8 text, the subject from the body's first line
    (``email_parts``). One session carries the messages of a delivery run (``close`` ends
    it), so a warning to thousands does not open thousands of connections; a session the
    server dropped meanwhile is opened again once. A refusal raises, and the outbox tries
    again later."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        starttls: bool = False,
        user: str = "",
        password: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.user, self.password, self.timeout = starttls, user, password, timeout
        domain = parseaddr(sender)[1].rpartition("@")[2]
        self.domain = domain or "localhost"
        self._smtp: smtplib.SMTP | None = None

    def deliver(self, message: OutboxMessage) -> None:
        if message.channel != "email":
            raise ValueError(f"SMTP delivers e-mail, not {message.channel}")
        subject, text = email_parts(message.body)
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = subject
        mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
        mail["Message-ID"] = make_msgid(f"phongdich.{message.id}", domain=self.domain)
        mail.set_content(text, cte="quoted-printable")  # 7-bit: any server takes it
        reopened = self._smtp is None
        while True:
            smtp = self._session()
            try:
                smtp.send_message(mail)
                return
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                self.close()
                if reopened:
                    raise
                reopened = True  # an idle session the server closed: once more, anew
            except Exception:
                self.close()
                raise

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
            except Exception:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        """End the session, if one is open."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class ByChannel:
    """Each channel's adapter, or the default one."""

    def __init__(self, default: DeliveryAdapter, channels: dict[str, DeliveryAdapter]) -> None:
        self.default, self.channels = default, channels

    def deliver(self, message: OutboxMessage) -> None:
        self.channels.get(message.channel, self.default).deliver(message)

    def close(self) -> None:
        for adapter in (self.default, *self.channels.values()):
            close_adapter(adapter)


def close_adapter(adapter: DeliveryAdapter) -> None:
    """End what an adapter holds open between messages (an SMTP session), if anything."""
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def make_adapter(settings: Settings) -> DeliveryAdapter:
    """The configured delivery: ``notifier`` for every channel, and e-mail through
    ``smtp_host`` when it is set."""
    default: DeliveryAdapter
    if settings.notifier == "file":
        default = FileAdapter(settings.notify_file)
    elif settings.notifier == "none":
        default = NullAdapter()
    else:
        default = ConsoleAdapter()
    if not settings.smtp_host:
        return default
    smtp = SmtpAdapter(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_s,
    )
    return ByChannel(default, {"email": smtp})
