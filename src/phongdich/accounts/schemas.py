from __future__ import annotations

from pydantic import BaseModel, Field


class OfficialLogin(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class OtpRequest(BaseModel):
    phone: str = Field(max_length=40)


class OtpVerify(BaseModel):
    phone: str = Field(max_length=40)
    code: str = Field(max_length=20)
    full_name: str = Field(default="", max_length=1000)


class OtpSent(BaseModel):
    phone: str
    expires_in: int


class Me(BaseModel):
    kind: str
    id: int
    display_name: str
    role: str | None = None
    unit_code: str | None = None
    phone: str | None = None
