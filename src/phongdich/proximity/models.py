"""Bluezone key server: verification codes and tokens, published keys and export files.

Nothing here identifies a phone or its owner: a published key points at the verification code
it was certified with, and the code at the case an official issued it for (the link the
tracing domain follows when a citizen shares an exposure, with consent). Codes and tokens are
stored as keyed hashes only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base, BigId, UTCDateTime
from phongdich.kit.clock import utcnow


class VerificationCode(Base):
    """A one-time 8-digit code an official issues for a confirmed case (valid 1 h)."""

    __tablename__ = "proximity_verification_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    issued_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    report_type: Mapped[int] = mapped_column(Integer)  # 1 confirmed test, 2 clinical diagnosis
    symptom_onset: Mapped[date | None] = mapped_column(Date)
    test_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_proximity_verification_codes_case", "case_id"),
        Index("ix_proximity_verification_codes_created", "created_at"),
    )


class VerificationToken(Base):
    """What a phone gets for a code (valid 24 h); exchanged once for a certificate, whose id
    (the JWT's ``jti``) is kept so that the certificate publishes once."""

    __tablename__ = "proximity_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("proximity_verification_codes.id", ondelete="CASCADE")
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    certified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    certificate_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_proximity_tokens_code", "code_id"),)


class PublishedKey(Base):
    """A diagnosis key (TEK) of a confirmed case, exported once its embargo is over."""

    __tablename__ = "proximity_published_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_data: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    rolling_start: Mapped[int] = mapped_column(BigId)  # ENIntervalNumber (uint32)
    rolling_period: Mapped[int] = mapped_column(Integer)
    transmission_risk: Mapped[int] = mapped_column(Integer)
    report_type: Mapped[int] = mapped_column(Integer)
    days_since_onset: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Not exported before this: 2 h after a key that was still valid when published expires.
    visible_after: Mapped[datetime] = mapped_column(UTCDateTime)
    verification_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("proximity_verification_codes.id", ondelete="SET NULL")
    )
    batch_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("proximity_export_batches.id", ondelete="SET NULL")
    )

    __table_args__ = (
        Index("ix_proximity_published_keys_pending", "batch_id", "visible_after"),
        Index("ix_proximity_published_keys_created", "created_at"),
        Index("ix_proximity_published_keys_verification", "verification_id"),
    )


class ExportBatch(Base):
    """One export period [start, end): the keys that became visible in it, in zero or more
    files (at most 750,000 keys a file). Empty periods are recorded too (the cursor)."""

    __tablename__ = "proximity_export_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_count: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_proximity_export_batches_end", "end_at"),)


class ExportFile(Base):
    """A signed export zip, kept in the database so every server process serves the same
    files (750,000 keys make about 25 MB)."""

    __tablename__ = "proximity_export_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("proximity_export_batches.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64), unique=True)
    batch_num: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    key_count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_proximity_export_files_batch", "batch_id"),)
