"""Delivery adapters. Each takes one message and raises on failure.

The default for development is the console; ``file`` appends one JSON line per message, which
is also what an SMS gateway bridge can tail. A real gateway adapter implements the same call.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Protocol

from phongdich.kit.clock import fmt_local
from phongdich.notify.models import OutboxMessage


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


def make_adapter(name: str, file_path: str) -> DeliveryAdapter:
    if name == "file":
        return FileAdapter(file_path)
    if name == "none":
        return NullAdapter()
    return ConsoleAdapter()
