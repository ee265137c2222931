from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


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
