from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SelfScanIn(BaseModel):
    id: str = Field(max_length=64, description="client-generated UUID; resending it is safe")
    token: str = Field(max_length=100, description="the entrance token from the poster's QR")
    direction: str = Field(default="auto", max_length=8)
    at: datetime | None = None
    full_name: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=40)


class StaffScanIn(BaseModel):
    id: str = Field(max_length=64)
    entrance_id: int
    person_token: str = Field(max_length=200, description="the personal health QR text (PD1:…)")
    direction: str = Field(default="auto", max_length=8)
    at: datetime | None = None
    method: str = Field(default="staff_scan", max_length=16)


class StaffScansIn(BaseModel):
    scans: list[StaffScanIn] = Field(max_length=500)


class AssistCodeRequest(BaseModel):
    entrance_id: int
    phone: str = Field(max_length=40)


class AssistCodeVerify(BaseModel):
    id: str = Field(max_length=64)
    entrance_id: int
    phone: str = Field(max_length=40)
    code: str = Field(max_length=20)
    full_name: str = Field(default="", max_length=1000)


class AssistProxy(BaseModel):
    id: str = Field(max_length=64)
    entrance_id: int
    full_name: str = Field(max_length=1000)
    birth_year: int | None = None
    phone: str | None = Field(default=None, max_length=40)


class ScanResult(BaseModel):
    id: str
    ok: bool
    status: int
    action: str | None = None
    message: str
    visit_id: int | None = None
    person: str | None = None  # masked name for the guard's feedback
    replayed: bool = False
    card_url: str | None = None
    health: str | None = None  # green / yellow / red: the colour to show the guard


class ScanResults(BaseModel):
    results: list[ScanResult]


class VisitOut(BaseModel):
    id: int
    person: str
    phone: str | None
    check_in_at: datetime
    check_out_at: datetime | None
    auto_out_at: datetime
    in_method: str
    out_method: str | None
    open: bool


class VisitBoard(BaseModel):
    checkpoint_id: int
    occupancy: int
    visits: list[VisitOut]
