"""Delivery adapters. Each takes one message and raises on failure: ``Undeliverable`` when
the message can never go (its address refused), ``ChannelDown`` when the channel's server
cannot be reached (the channel's other messages wait too), anything else for a failure worth
trying again later (``tasks``).

The default for development is the console; ``file`` appends one JSON line per message, which
is also what an SMS gateway bridge can tail; ``http`` posts each message to a gateway
(``HttpGatewayAdapter``). E-mail goes through an SMTP server when one is configured
(``SmtpAdapter``).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from phongdich.kit.clock import fmt_local
from phongdich.notify.bounces import bounce_key, message_id_header
from phongdich.notify.models import OutboxMessage

if TYPE_CHECKING:
    from phongdich.config import Settings


class Undeliverable(Exception):
    """The message can never be delivered as it is: its recipient or content was refused for
    good. It fails at once, with no further attempts."""


class ChannelDown(Exception):
    """The channel's server cannot be reached or refuses to work (down, wrong credentials):
    no fault of this message. It is tried again later, and the channel's other messages wait
    instead of each failing the same way."""


class DeliveryAdapter(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...


def message_record(message: OutboxMessage) -> dict[str, object]:
    """A message as the file and HTTP adapters hand it on: id, channel, to, purpose, body,
    created_at (ISO 8601)."""
    return {
        "id": message.id,
        "channel": message.channel,
        "to": message.recipient,
        "purpose": message.purpose,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


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
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(message_record(message), ensure_ascii=False) + "\n")


class NullAdapter:
    """Leaves messages in the outbox as sent without showing them (tests read the table)."""

    def deliver(self, message: OutboxMessage) -> None:
        return None


def email_parts(body: str) -> tuple[str, str]:
    """An e-mail outbox message's subject (its body's first line) and text (the rest)."""
    subject, _, text = body.partition("\n")
    return subject.strip(), text.lstrip("\n")


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer


def ascii_domain(address: str) -> str:
    """The address with its domain in ASCII (IDNA: ``thư.vn`` → ``xn--th-e0a.vn``), which
    every mail server routes; a mailbox name beyond ASCII is left for SMTPUTF8."""
    local, at, domain = address.rpartition("@")
    try:
        ascii_name = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise Undeliverable(f"not a mail domain: {domain}") from exc
    return f"{local}{at}{ascii_name}"


class SmtpAdapter:
    """E-mail through an SMTP server: plain UTF-8 text, the subject from the body's first line
    (``email_parts``). One session carries the messages of a delivery run (``close`` ends
    it), so a warning to thousands does not open thousands of connections; a session the
    server dropped meanwhile is opened again once. A server that cannot be reached, or refuses
    the sender, is ``ChannelDown``; a recipient or message refused for good (a 5xx answer) is
    ``Undeliverable``; a refusal for now (4xx: a full mailbox, greylisting) raises otherwise,
    for the outbox to try that message again later. A domain beyond ASCII goes out in its
    IDNA form. The Message-ID is signed with ``message_key``: a bounce that comes back later
    names the message by it (``notify.bounces``)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        starttls: bool = False,
        user: str = "",
        password: str = "",
        timeout: float = 10.0,
        message_key: bytes = b"",
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        # Signs each e-mail's Message-ID, by which its bounce finds it (``notify.bounces``).
        self.message_key = message_key
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
        mail["To"] = ascii_domain(message.recipient)
        mail["Subject"] = subject
        mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
        created = int(message.created_at.timestamp())
        mail["Message-ID"] = message_id_header(self.message_key, message.id, created, self.domain)
        mail.set_content(text, cte="quoted-printable")  # 7-bit: any server takes it
        reopened = self._smtp is None
        while True:
            smtp = self._session()
            try:
                smtp.send_message(mail)
                return
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self.close()
                if reopened:
                    raise ChannelDown(f"SMTP: {exc}") from exc
                reopened = True  # an idle session the server closed: once more, anew
            except smtplib.SMTPRecipientsRefused as exc:
                answers = list(exc.recipients.values())
                # The server's answer, not the address: errors are shown to operators.
                said = "; ".join(f"{code} {_text(text)}" for code, text in answers)
                if all(code >= 500 for code, _said in answers):
                    raise Undeliverable(f"SMTP: recipient refused: {said}") from exc
                raise smtplib.SMTPException(f"SMTP: recipient refused for now: {said}") from exc
            except smtplib.SMTPNotSupportedError as exc:
                # A mailbox name beyond ASCII, and a server without SMTPUTF8.
                raise Undeliverable(f"SMTP: {exc}") from exc
            except smtplib.SMTPSenderRefused as exc:
                self.close()
                raise ChannelDown(f"SMTP: sender refused ({exc.smtp_code})") from exc
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code >= 500:
                    raise Undeliverable(f"SMTP: message refused ({exc.smtp_code})") from exc
                raise
            except Exception:
                self.close()
                raise

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            except (OSError, smtplib.SMTPException) as exc:
                raise ChannelDown(f"SMTP {self.host}:{self.port}: {exc}") from exc
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
            except (OSError, smtplib.SMTPException) as exc:
                smtp.close()
                raise ChannelDown(f"SMTP {self.host}:{self.port}: {exc}") from exc
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


class HttpGatewayAdapter:
    """Messages through an HTTP gateway (an SMS brandname or OTT provider, or a bridge to
    one): one JSON POST per message to ``url`` — ``id``, ``channel``, ``to``, ``body``,
    ``purpose``, ``created_at`` — with ``Authorization: Bearer <token>`` when a token is set
    and ``Idempotency-Key: phongdich-<id>``, so a gateway can drop a retry of a message it
    already took. One kept-alive connection carries a delivery run (``close`` ends it); one
    the gateway dropped meanwhile is opened again once.

    A 2xx answer is sent (the gateway took it; ``delivered`` comes from its receipt); 408,
    429 and 5xx (busy, throttled, down) and a gateway that cannot be reached are
    ``ChannelDown``; another 4xx refuses the message for good (``Undeliverable``)."""

    def __init__(self, url: str, token: str = "", timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url, self.token, self.timeout = url, token, timeout
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def deliver(self, message: OutboxMessage) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": f"phongdich-{message.id}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(message_record(message), ensure_ascii=False).encode("utf-8")
        status, answer = self._post(body, headers)
        if 200 <= status < 300:
            return
        detail = f"gateway answered {status}: {answer[:200]}"
        if status in (408, 429) or status >= 500:
            raise ChannelDown(detail)
        raise Undeliverable(detail)

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        reopened = self._conn is None
        while True:
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reopened:
                    raise ChannelDown(f"gateway {self.url}: {exc}") from exc
                reopened = True  # a kept-alive connection the gateway closed: once more, anew
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ChannelDown(f"gateway {self.url}: {exc}") from exc
            if response.will_close:
                self.close()
            return response.status, answer

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = kind(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        """Close the kept-alive connection, if one is open."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


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
    if settings.notifier == "http":
        default = HttpGatewayAdapter(
            settings.notify_http_url,
            token=settings.notify_http_token,
            timeout=settings.notify_http_timeout_s,
        )
    elif settings.notifier == "file":
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
        message_key=bounce_key(settings.secret_key),
    )
    return ByChannel(default, {"email": smtp})
