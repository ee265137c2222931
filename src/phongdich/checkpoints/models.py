from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base, BigId, UTCDateTime
from phongdich.kit.clock import utcnow


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # public, e.g. KD-7QX2M4PA
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
    unit_code: Mapped[str] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="RESTRICT")
    )
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="registered")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Accent- and case-free name and address: search and duplicate detection.
    name_key: Mapped[str] = mapped_column(String(200))
    address_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("unit_code", "name_key", "address_key", name="uq_checkpoints_venue"),
        Index("ix_checkpoints_unit_id", "unit_code", "id"),
        Index("ix_checkpoints_status_id", "status", "id"),
    )


class Entrance(Base):
    """An entrance, gate or meeting room of a checkpoint; each has its own QR poster."""

    __tablename__ = "checkpoint_entrances"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("checkpoints.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10), default="entrance")  # entrance | room
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CheckpointMember(Base):
    """The owner and the staff who may scan visitors' QR codes at a checkpoint."""

    __tablename__ = "checkpoint_members"

    checkpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("checkpoints.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(10))  # owner | staff
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_checkpoint_members_account", "account_id"),)


class CheckpointEvent(Base):
    """The lifecycle history: who changed the status, when and why."""

    __tablename__ = "checkpoint_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("checkpoints.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
