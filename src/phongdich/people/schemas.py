from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

RELATIONS = ("self", "child", "parent", "grandparent", "spouse", "sibling", "other")
TRANSPORTS = ("car", "bus", "coach", "train", "plane", "boat", "motorbike", "bicycle", "other")
DECLARATION_KINDS = ("universal", "daily", "movement")


class PersonIn(BaseModel):
    full_name: str = Field(max_length=1000)
    phone: str | None = Field(default=None, max_length=40)
    birth_year: int | None = None


class ProfileIn(BaseModel):
    """A person's registry entry, as the person (or the household's declarer) gives it."""

    full_name: str = Field(max_length=1000)
    birth_date: date | None = None
    birth_year: int | None = None
    gender: str | None = Field(default=None, max_length=10)
    id_kind: str | None = Field(default=None, max_length=10)
    id_number: str | None = Field(default=None, max_length=40)
    insurance_no: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=1000)
    unit_code: str | None = Field(default=None, max_length=16)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    language: str | None = Field(default=None, max_length=10)


class DependantIn(ProfileIn):
    relation: str = Field(default="child", max_length=16)


class DeclarationIn(BaseModel):
    kind: str = Field(max_length=12)
    corrects_id: int | None = None
    # Health (universal and daily)
    symptoms: list[str] = Field(default_factory=list, max_length=20)
    contact_confirmed: bool = False
    contact_suspected: bool = False
    outbreak_area: bool = False
    travelled: bool = False
    travel_places: str = Field(default="", max_length=1000)
    notes: str = Field(default="", max_length=2000)
    # Movement
    from_unit: str | None = Field(default=None, max_length=16)
    from_address: str = Field(default="", max_length=300)
    to_unit: str | None = Field(default=None, max_length=16)
    to_address: str = Field(default="", max_length=300)
    transport: str | None = Field(default=None, max_length=12)
    travel_date: date | None = None
    vehicle_no: str = Field(default="", max_length=20)


class PersonOut(BaseModel):
    id: int
    full_name: str
    birth_date: date | None
    birth_year: int | None
    gender: str | None
    id_kind: str | None
    id_number_masked: str | None
    address: str | None
    unit_code: str | None
    phone_masked: str | None
    email_masked: str | None = None
    language: str | None = None
    relation: str | None = None


class ReasonOut(BaseModel):
    code: str
    message: str


class StatusOut(BaseModel):
    person_id: int
    color: str
    label: str
    reasons: list[ReasonOut]
    valid_until: datetime
    qr: str  # the signed pass text to encode in the QR (no name, no ID number)
    qr_expires_at: datetime


class DeclarationOut(BaseModel):
    id: int
    person_id: int
    kind: str
    submitted_at: datetime
    corrects_id: int | None
    assessed: str
    symptoms: list[str]
    contact_confirmed: bool
    contact_suspected: bool
    outbreak_area: bool
    travelled: bool
    details: dict[str, object]


class MergeIn(BaseModel):
    survivor_id: int
    duplicate_id: int
