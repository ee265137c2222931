from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CheckpointCreate(BaseModel):
    name: str = Field(max_length=1000)
    type: str = "other"
    address: str = Field(default="", max_length=1000)
    unit_code: str = Field(max_length=32)
    latitude: float | None = None
    longitude: float | None = None
    capacity: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    entrances: list[str] = Field(default_factory=lambda: ["Cổng chính"], max_length=100)


class EntranceCreate(BaseModel):
    name: str = Field(max_length=1000)
    kind: str = "entrance"


class StaffAdd(BaseModel):
    phone: str = Field(max_length=40)


class TransitionIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class EntranceOut(BaseModel):
    id: int
    name: str
    kind: str
    is_active: bool
    qr_url: str


class EventOut(BaseModel):
    action: str
    from_status: str
    to_status: str
    reason: str
    actor: str
    at: datetime


class MemberOut(BaseModel):
    account_id: int
    phone: str
    full_name: str
    role: str


class CheckpointOut(BaseModel):
    id: int
    code: str
    name: str
    type: str
    type_label: str
    address: str
    unit_code: str
    unit_name: str
    latitude: float | None
    longitude: float | None
    capacity: int | None
    status: str
    display_status: str  # status, or "expired" for an active event that has ended
    status_label: str
    status_reason: str
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime


class CheckpointDetail(CheckpointOut):
    entrances: list[EntranceOut]
    members: list[MemberOut]
    events: list[EventOut]


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    total: int
    page: int
    size: int
    pages: int


class DuplicateOut(BaseModel):
    error: str
    message: str
    existing_id: int
    existing_code: str


class ScanOut(BaseModel):
    state: str
    message: str
    checkpoint_code: str
    checkpoint_name: str
    entrance_name: str
