"""The gateway's side of the notify domain: delivery receipts. Officials see delivery states
where the messages belong (a contact's warning); operators see the outbox with
``phongdich notify status``."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request

from phongdich.kit.errors import NotFound, Unauthenticated
from phongdich.notify.repository import OutboxRepository
from phongdich.notify.schemas import ReceiptsIn, ReceiptsOut
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
    expected = settings.notify_receipt_token
    if not expected:
        raise NotFound()
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
        raise Unauthenticated("error.gateway_token")
    updated, unknown = OutboxRepository(db).record_receipts(
        [(r.id, r.status, r.error) for r in body.receipts]
    )
    return ReceiptsOut(updated=updated, unknown=unknown)
