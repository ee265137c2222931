"""JSON shapes of the Bluezone key server. Field names follow the Google exposure-notifications
reference API (camelCase) where phones already speak it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

MAX_PADDING = 100_000  # characters; the app refuses bodies over max_body_bytes anyway


class CodeIn(BaseModel):
    report_type: Literal[1, 2] = Field(
        default=1, description="1 = confirmed test, 2 = clinical diagnosis"
    )


class CodeOut(BaseModel):
    code: str
    expires_at: datetime
    report_type: int


class VerifyIn(BaseModel):
    code: str = Field(max_length=32)
    padding: str = Field(default="", max_length=MAX_PADDING)


class VerifyOut(BaseModel):
    token: str
    expires_at: datetime
    test_type: str
    symptom_date: date | None


class CertificateIn(BaseModel):
    token: str = Field(max_length=200)
    ekeyhmac: str = Field(max_length=200, description="base64 HMAC-SHA256 of the keys")
    padding: str = Field(default="", max_length=MAX_PADDING)


class CertificateOut(BaseModel):
    certificate: str


class ExposureKeyIn(BaseModel):
    key: str = Field(max_length=64, description="base64 of the 16-byte TEK")
    rollingStartNumber: int
    rollingPeriod: int = 144
    transmissionRisk: int = 0


class PublishIn(BaseModel):
    temporaryExposureKeys: list[ExposureKeyIn] = Field(default_factory=list, max_length=1000)
    hmacKey: str = Field(default="", max_length=400)
    verificationPayload: str = Field(default="", max_length=4096)
    padding: str = Field(default="", max_length=MAX_PADDING)
    chaff: bool = False


class PublishOut(BaseModel):
    insertedExposures: int


class ExportKeyOut(BaseModel):
    key_id: str
    key_version: str
    public_key_pem: str


class ExportKeysOut(BaseModel):
    region: str
    signature_algorithm: str
    keys: list[ExportKeyOut]


class SharedExposureIn(BaseModel):
    """One of the user's own matched exposures (nothing about anybody else)."""

    key: str = Field(max_length=64, description="base64 of the published key that matched")
    rollingStartNumber: int
    date: date
    minutes: float = Field(ge=0, le=1440)
    # Attenuation-weighted minutes: GAEN bucket weights may exceed 100 % (up to 250 %).
    weighted_minutes: float = Field(ge=0, le=3600)
    risk: Literal["high", "low"]
    min_attenuation: int = Field(ge=0, le=255, description="dB")


class SharedExposuresIn(BaseModel):
    exposures: list[SharedExposureIn] = Field(min_length=1, max_length=50)
    consent: bool = False


class SharedExposuresOut(BaseModel):
    shared: int = Field(description="exposures recorded now")
    already_shared: int = Field(description="exposures that had been shared before")
