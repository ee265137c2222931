from __future__ import annotations

from pydantic import BaseModel, Field


class PersonIn(BaseModel):
    full_name: str = Field(max_length=1000)
    phone: str | None = Field(default=None, max_length=40)
    birth_year: int | None = None


class PersonOut(BaseModel):
    id: int
    full_name: str
    phone_masked: str
    birth_year: int | None
    qr_token: str
