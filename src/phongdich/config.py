"""Settings, read from the environment (prefix ``PHONGDICH_``) only when asked for."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "phongdich-dev-secret-do-not-use-in-production"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHONGDICH_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///phongdich.db"
    secret_key: str = DEV_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Ho_Chi_Minh"
    default_language: Literal["vi", "en"] = "vi"

    # QR signing keys: key id (0-255) -> secret. Posters signed with a key keep working as long
    # as its id stays here; new posters use ``qr_active_key``.
    # Empty: one key derived from secret_key.
    qr_keys: dict[int, str] = Field(default_factory=dict)
    qr_active_key: int = 1

    # Notifications: the outbox table is always written; this chooses how it is delivered.
    notifier: Literal["console", "file", "none"] = "console"
    notify_file: str = "phongdich-outbox.log"
    deliver_in_process: bool = True
    # Hourly retention purges inside the server; turn off and run `phongdich purge` from cron
    # when several server processes share one database.
    schedule_in_process: bool = True

    # One-time SMS codes and sessions.
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_requests_per_window: int = 3
    otp_window_seconds: int = 900
    otp_requests_per_day: int = 10
    otp_failures_per_day: int = 10
    otp_requests_per_ip_hour: int = 30
    session_ttl_hours: int = 12
    login_failures_per_window: int = 10
    secure_cookies: bool = False
    # Request bodies above this size are refused (413); a 500-scan batch is about 100 KB.
    max_body_bytes: int = 1_048_576

    # Visits: a rescan of the same checkpoint within this many seconds is the same visit;
    # visits and scans older than the retention period are purged.
    visit_dedupe_seconds: int = 600
    visit_retention_days: int = 30

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "PHONGDICH_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production"
                )
            if not self.qr_keys:
                raise ValueError("PHONGDICH_QR_KEYS must be set in production")
        if self.qr_keys and self.qr_active_key not in self.qr_keys:
            raise ValueError(f"PHONGDICH_QR_ACTIVE_KEY={self.qr_active_key} is not in QR_KEYS")
        for kid in self.qr_keys:
            if not 0 <= kid <= 255:
                raise ValueError("QR key ids must be between 0 and 255")
        return self

    def qr_key_bytes(self) -> dict[int, bytes]:
        """The QR signing keys as bytes; derives key 1 from the secret when none are configured."""
        if self.qr_keys:
            return {kid: secret.encode() for kid, secret in self.qr_keys.items()}
        derived = hmac.new(self.secret_key.encode(), b"phongdich-qr-key-1", hashlib.sha256).digest()
        return {1: derived}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
