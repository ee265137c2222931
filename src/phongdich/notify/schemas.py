from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OutboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    recipient: str
    purpose: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class ReceiptIn(BaseModel):
    """A gateway's report on one message it took: ``id`` is the outbox message's."""

    id: int
    status: Literal["delivered", "failed"]
    error: str = Field(default="", max_length=500)


class ReceiptsIn(BaseModel):
    receipts: list[ReceiptIn] = Field(min_length=1, max_length=1000)


class ReceiptsOut(BaseModel):
    updated: int
    unknown: list[int]  # ids of no message handed to a gateway


class BouncesOut(BaseModel):
    failed: int  # e-mails now failed
    delivered: int  # e-mails now delivered
    ignored: int  # 1 when the message reported nothing final about an e-mail of ours
