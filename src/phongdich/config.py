"""Settings, read from the environment (prefix ``PHONGDICH_``) only when asked for."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from phongdich.db.session import SQLITE_CACHE_MB

DEV_SECRET = "phongdich-dev-secret-do-not-use-in-production"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHONGDICH_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///phongdich.db"
    # SQLite only: each connection's page cache, MiB (``db.session.SQLITE_CACHE_MB``).
    sqlite_cache_mb: int = Field(default=SQLITE_CACHE_MB, ge=2, le=4096)
    secret_key: str = DEV_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Ho_Chi_Minh"
    default_language: Literal["vi", "en"] = "vi"
    # The health hotline that warnings, the scan page and Bluetooth risk advice tell people to
    # call (the provinces' shared public-service number by default). Digits, spaces and dots,
    # an optional leading +: it goes into 7-bit SMS as it is.
    hotline: str = Field(default="1022", pattern=r"^\+?[0-9](?:[0-9 .]{0,16}[0-9])?$")

    # QR signing keys: key id (0-255) -> secret. Posters signed with a key keep working as long
    # as its id stays here; new posters use ``qr_active_key``.
    # Empty: one key derived from secret_key.
    qr_keys: dict[int, str] = Field(default_factory=dict)
    qr_active_key: int = 1

    # Notifications: the outbox table is always written; this chooses how it is delivered.
    notifier: Literal["console", "file", "none", "http"] = "console"
    notify_file: str = "phongdich-outbox.log"
    # ``http``: each message is posted as JSON to this gateway (``HttpGatewayAdapter``).
    notify_http_url: str = ""
    notify_http_token: str = ""
    notify_http_timeout_s: float = Field(default=10.0, gt=0)
    # The gateway reports what reached the phone at POST /api/v1/notify/receipts with this
    # bearer token (none: that endpoint is closed).
    notify_receipt_token: str = ""
    # E-mail goes through this SMTP server when a host is set (else as the other channels).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "PhongDich <khong-tra-loi@localhost>"
    smtp_timeout_s: float = Field(default=10.0, gt=0)
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
    # Threads per server process recording staff scans in group-committed batches; 0 = one on
    # SQLite (one writer at a time anyway), two on PostgreSQL (one records while the other
    # waits for its commit).
    scan_ingest_threads: int = Field(default=0, ge=0, le=8)
    # A batch waits at most this long for this many waiting requests before it is recorded:
    # larger batches cost less CPU per scan, for a few milliseconds more per answer (no
    # linger at all measured ~30 % fewer check-ins/s on PostgreSQL with 32 clients).
    scan_batch_linger_ms: float = Field(default=3.0, ge=0, le=50)
    scan_batch_target: int = Field(default=12, ge=1, le=2000)

    # Personal health QR (Ed25519): key id (1-255) -> base64url 32-byte private seed. Passes
    # signed with a key verify as long as its id stays here or in the public-only list; new
    # passes use ``health_qr_active_key``. Empty: key 1 derived from secret_key.
    health_qr_keys: dict[int, str] = Field(default_factory=dict)
    health_qr_active_key: int = 1
    # Retired keys that still verify old passes: key id -> base64url raw public key.
    health_qr_public_keys: dict[int, str] = Field(default_factory=dict)
    # A printed card (people without phones) carries no status and lasts this long.
    health_card_days: int = 365
    # A health declaration keeps a person green this long; then they must declare again.
    declaration_valid_days: int = 7
    # Declarations older than this are deleted by the hourly purge.
    declaration_retention_days: int = 60

    # Tracing: the default overlap rules (per checkpoint type overrides live in tracing.rules)
    # and how deep contacts of contacts go (2 = F1 and F2).
    trace_min_overlap_minutes: int = 15
    trace_after_margin_minutes: int = 30
    trace_depth: int = Field(default=2, ge=1, le=4)
    # A trace goes one level deeper only from at most this many people of the level before: the
    # contacts of a stadium's F1, or the F3 of a busy city, would run for minutes and list
    # millions. The case then shows which level was not traced and why.
    trace_level_limit: int = Field(default=20_000, ge=1)
    # A case entered or traced again by a tracer goes deeper while they wait only from at most
    # this many people of the level before; from more, the page shows the F1 at once and the
    # tracing queue adds the deeper levels in the background. The trace bench's F1 + F2 costs
    # about 5-6 ms per F1 where venues are as busy as its reference layout (1 M visits: 957
    # F1 in 4.9 s on PostgreSQL, 966 in 5.9 s on SQLite), so 150 F1 is under a second.
    trace_at_once: int = Field(default=150, ge=0)
    # The people of one level whose exposures one step of the tracing queue finds, each step a
    # transaction of its own (a larger level is found in several steps, then stored in steps
    # of ``tracing.service.STORE_STEP_ROWS`` exposures); 0: ``tracing.service.STEP_PEOPLE``
    # (50). SQLite's check-ins wait while the queue writes; on PostgreSQL at 100 M visits a
    # whole F2 in one transaction took 36 s, its steps 1.6 s at most.
    trace_step_people: int = Field(default=0, ge=0)
    # The most contact rows one warning request marks; a larger warning is queued and sent by
    # the tracing queue, this many people per transaction. Measured on 10 M visits with SQLite:
    # 98,483 rows in one request took 4.3 s and about 300 MB; 998,270 rows queued took 17
    # steps of at most 2.8 s, peak memory 279 MB (one request: 43.6 s and 1.9 GB).
    warn_request_rows: int = Field(default=100_000, ge=1)
    warn_step_people: int = Field(default=20_000, ge=1)
    # Cases whose infectious window ended more than this many days ago (and that nobody entered
    # or traced since) are deleted by the hourly purge with their contacts and exposure places:
    # follow-up lasts 14 days from the last exposure, so the period cannot be shorter.
    tracing_retention_days: int = Field(default=90, ge=14)

    # Bluezone key server. Exports are signed with an ECDSA P-256 key (PEM, PKCS#8) published
    # at /api/v1/proximity/export-keys, verification certificates (ES256 JWT) with another;
    # empty: each derived from secret_key. Keys are batched every few minutes, kept 14 days.
    proximity_region: str = "VN"
    proximity_export_key: str = ""
    proximity_export_key_id: str = "452"  # Vietnam's mobile country code, as GAEN apps use
    proximity_export_key_version: str = "v1"
    proximity_certificate_key: str = ""
    proximity_export_minutes: int = Field(default=15, ge=1, le=1440)
    proximity_retention_days: int = Field(default=14, ge=1, le=60)

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
        if self.health_qr_keys and self.health_qr_active_key not in self.health_qr_keys:
            raise ValueError(
                f"PHONGDICH_HEALTH_QR_ACTIVE_KEY={self.health_qr_active_key} is not in "
                "HEALTH_QR_KEYS"
            )
        for kid, seed in self.health_qr_keys.items():
            if not 1 <= kid <= 255:
                raise ValueError("health QR key ids must be between 1 and 255")
            if len(_b64(seed)) != 32:
                raise ValueError(f"health QR key {kid} must be 32 bytes (base64url)")
        if self.notifier == "http" and not self.notify_http_url.startswith(("http://", "https://")):
            raise ValueError(
                "PHONGDICH_NOTIFIER=http needs PHONGDICH_NOTIFY_HTTP_URL (http:// or https://)"
            )
        return self

    def health_qr_seeds(self) -> dict[int, bytes]:
        """Ed25519 private seeds by key id; key 1 derived from the secret when none are set."""
        if self.health_qr_keys:
            return {kid: _b64(seed) for kid, seed in self.health_qr_keys.items()}
        derived = hmac.new(
            self.secret_key.encode(), b"phongdich-health-qr-key-1", hashlib.sha256
        ).digest()
        return {1: derived}

    def health_qr_public(self) -> dict[int, bytes]:
        return {kid: _b64(key) for kid, key in self.health_qr_public_keys.items()}

    def qr_key_bytes(self) -> dict[int, bytes]:
        """The QR signing keys as bytes; derives key 1 from the secret when none are configured."""
        if self.qr_keys:
            return {kid: secret.encode() for kid, secret in self.qr_keys.items()}
        derived = hmac.new(self.secret_key.encode(), b"phongdich-qr-key-1", hashlib.sha256).digest()
        return {1: derived}

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("a health QR key is not valid base64url") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
