"""The gateway's side of the notify domain: delivery receipts. Officials see delivery states
where the messages belong (a contact's warning); operators see the outbox with
``phongdich notify status``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Body, Request

from phongdich.config import Settings
from phongdich.kit.errors import NotFound, Unauthenticated
from phongdich.notify.repository import OutboxRepository
from phongdich.notify.schemas import BouncesOut, ReceiptsIn, ReceiptsOut
from phongdich.notify.service import BounceCounts, Bounces
from phongdich.web.deps import SessionDep, SettingsDep

# Machine to machine, with a bearer token: no session, so no CSRF cookie to check.
router = APIRouter(prefix="/notify", tags=["notify"])


@router.post(
    "/receipts",
    response_model=ReceiptsOut,
    summary="A gateway reports which messages reached the phone (or failed to)",
)
def receipts(
    body: ReceiptsIn, request: Request, db: SessionDep, settings: SettingsDep
) -> ReceiptsOut:
    """Up to 1,000 reports at once; a message takes the reported state (``delivered`` or
    ``failed``, with the gateway's error) once it was handed to the gateway. Ids of no such
    message come back in ``unknown``. Closed unless ``NOTIFY_RECEIPT_TOKEN`` is set."""
    _gateway_only(request, settings)
    updated, unknown = OutboxRepository(db).record_receipts(
        [(r.id, r.status, r.error) for r in body.receipts]
    )
    return ReceiptsOut(updated=updated, unknown=unknown)


@router.post(
    "/bounces",
    response_model=BouncesOut,
    summary="A mail service hands on one message sent back to the sender's address",
)
def bounce(
    raw: Annotated[bytes, Body(media_type="message/rfc822")],
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
) -> BouncesOut:
    """The whole message as received (RFC 5322). A delivery report about one of our e-mails
    marks it ``failed`` (or ``delivered``); anything else — an auto-reply, a report about
    somebody else's mail — is counted in ``ignored`` and changes nothing. Same token as the
    receipts."""
    _gateway_only(request, settings)
    counts = BounceCounts()
    Bounces(db, settings.secret_key).record(raw, counts)
    return BouncesOut(failed=counts.failed, delivered=counts.delivered, ignored=counts.ignored)


def _gateway_only(request: Request, settings: Settings) -> None:
    """Gateways and mail services only: the bearer token ``NOTIFY_RECEIPT_TOKEN`` (none set:
    these endpoints do not exist)."""
    expected = settings.notify_receipt_token
    if not expected:
        raise NotFound()
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
        raise Unauthenticated("error.gateway_token")
