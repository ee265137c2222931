"""What became of an e-mail after the SMTP server took it: delivery status notifications
(RFC 3464 "bounces") read back, and the signed Message-ID that ties one to its outbox message.

Pure: the standard library's e-mail parser and HMAC, no framework or database.

The SMTP adapter gives every e-mail the Message-ID ``<phongdich.ID.CREATED.SIG@domain>``: the
outbox message's id, its creation time (Unix seconds, so that an id reused by another database
never matches) and an HMAC of both under a key derived from the platform's secret. A report
names the message it is about by that Message-ID (in the returned headers, or the whole
returned message), and only a valid signature makes it count: anybody can send mail to the
bounce address, nobody else can name a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser

# Actions of RFC 3464 §2.3.3 that say something final about a recipient.
FAILED = "failed"
DELIVERED = "delivered"
# "delayed", "relayed" and "expanded" say the message is still on its way, or left the
# systems that report: nothing to record.
_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_SIG_BYTES = 12
_ID = re.compile(r"<phongdich\.(\d{1,19})\.(\d{1,12})\.([0-9a-f]{24})@[^<>\s]*>")
# The longest diagnostic kept with a failed message (operators read it; it is not the mail).
DIAGNOSTIC_LIMIT = 300


@dataclass(frozen=True)
class Outcome:
    """What one report says of one recipient of one of our e-mails."""

    message_id: int  # the outbox message's id
    created: int  # its creation time, Unix seconds, as signed
    action: str  # failed | delivered
    status: str  # the enhanced status code, e.g. 5.1.1
    diagnostic: str  # the remote server's answer, or the reporting server's reason

    def error(self) -> str:
        """The status and the server's answer (which may quote the recipient: the caller masks
        addresses before keeping it, ``notify.tasks.scrub``)."""
        said = f": {self.diagnostic}" if self.diagnostic else ""
        return f"bounce {self.status}{said}"[:DIAGNOSTIC_LIMIT]


def bounce_key(secret: str) -> bytes:
    """The signing key of Message-IDs, derived from the platform's secret (never the secret
    itself, which signs other things)."""
    return hmac.new(secret.encode(), b"phongdich/notify/message-id", hashlib.sha256).digest()


def _signature(key: bytes, message_id: int, created: int) -> str:
    mac = hmac.new(key, f"{message_id}.{created}".encode(), hashlib.sha256).digest()
    return mac[:_SIG_BYTES].hex()


def message_id_header(key: bytes, message_id: int, created: int, domain: str) -> str:
    """The Message-ID of outbox message ``message_id`` created at ``created`` (Unix s)."""
    sig = _signature(key, message_id, created)
    return f"<phongdich.{message_id}.{created}.{sig}@{domain}>"


def verify_message_id(key: bytes, header: str) -> tuple[int, int] | None:
    """(outbox id, created) named by a Message-ID of ours with a valid signature, else None."""
    found = _ID.search(header or "")
    if found is None:
        return None
    message_id, created, sig = int(found[1]), int(found[2]), found[3]
    if not hmac.compare_digest(sig, _signature(key, message_id, created)):
        return None
    return message_id, created


def _clean(value: object) -> str:
    """A header value on one line, without the "type;" prefix of RFC 3464 fields."""
    text = " ".join(str(value or "").split())
    kind, semicolon, rest = text.partition(";")
    if semicolon and kind.strip().lower() in ("smtp", "x-postfix", "x-unix", "rfc822", "dns"):
        return rest.strip()
    return text


def _original_headers(report: Message) -> Message | None:
    """The returned headers of the message a report is about (text/rfc822-headers, or the
    head of a returned message/rfc822)."""
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            raw = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            return HeaderParser(policy=policy.compat32).parsestr(raw)
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
    return None


def read_report(key: bytes, raw: bytes) -> list[Outcome]:
    """The final outcomes a delivery status notification reports about one of our e-mails:
    one per recipient whose action is ``failed`` or ``delivered``. Anything else — an
    auto-reply, a "delayed" notice, a report about mail that is not ours or whose
    Message-ID's signature is wrong, a message that is no report at all — gives none."""
    report = message_from_bytes(raw, policy=policy.compat32)
    if report.get_content_type() != "multipart/report":
        return []
    if (report.get_param("report-type") or "").lower() != "delivery-status":  # type: ignore[union-attr]
        return []
    original = _original_headers(report)
    if original is None:
        return []
    named = verify_message_id(key, str(original.get("Message-ID", "")))
    if named is None:
        return []
    outcomes: list[Outcome] = []
    for part in report.walk():
        if part.get_content_type() not in _STATUS_PARTS:
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        # The first block is about the message, the next ones one recipient each.
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            action = _clean(block.get("Action")).lower()
            if action not in (FAILED, DELIVERED):
                continue
            status = _clean(block.get("Status")).split(" ")[0]
            status = status or ("5.0.0" if action == FAILED else "2.0.0")
            diagnostic = _clean(block.get("Diagnostic-Code"))
            outcomes.append(Outcome(named[0], named[1], action, status, diagnostic))
    return outcomes
