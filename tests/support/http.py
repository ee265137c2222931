"""An HTTP test client that behaves like a browser with respect to the CSRF cookie."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from phongdich.notify.models import OutboxMessage


class Client(TestClient):
    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            if "pd_csrf" not in self.cookies:
                super().request("GET", "/healthz")
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.cookies.get("pd_csrf", ""))
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)


def last_code(session: Session, phone: str) -> str:
    """The one-time code from the newest SMS the outbox holds for ``phone``."""
    body = session.scalars(
        select(OutboxMessage.body)
        .where(OutboxMessage.recipient == phone, OutboxMessage.purpose == "otp")
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    ).one()
    match = re.search(r"\b(\d{6})\b", body)
    assert match, body
    return match.group(1)
