from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base, BigId, UTCDateTime
from phongdich.kit.clock import utcnow


def new_subject() -> str:
    """The pseudonymous id a person's health QR carries (8 random bytes, hex)."""
    return secrets.token_hex(8)


class Person(Base):
    """One identity per person, used by check-in, declarations, tracing and quarantine."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Accent- and case-free name: duplicate detection and search by name.
    name_key: Mapped[str] = mapped_column(String(200), default="")
    # Not unique: a family may share one phone; people without phones have none.
    phone: Mapped[str | None] = mapped_column(String(15))
    email: Mapped[str | None] = mapped_column(String(254))  # for warnings by e-mail
    # The language of the messages sent to them: "vi" or "en" (none: Vietnamese).
    language: Mapped[str | None] = mapped_column(String(2))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_year: Mapped[int | None] = mapped_column(Integer)
    gender: Mapped[str | None] = mapped_column(String(8))  # male | female | other
    id_kind: Mapped[str | None] = mapped_column(String(10))  # cccd | cmnd | passport
    id_number: Mapped[str | None] = mapped_column(String(20))
    insurance_no: Mapped[str | None] = mapped_column(String(15))
    address: Mapped[str | None] = mapped_column(String(300))
    unit_code: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="SET NULL")
    )
    # The health QR's pseudonymous subject: random, not the row id, never a name or ID number.
    qr_subject: Mapped[str] = mapped_column(String(16), default=new_subject)
    # The phone account that signed in as this person, if any.
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="SET NULL")
    )
    # Who registered the person when staff did it on their behalf.
    registered_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="SET NULL")
    )
    # Set when an official merged this record into another: the row stays so that old QR
    # codes and links resolve to the surviving person.
    merged_into: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_people_phone_name", "phone", "name_key"),
        Index("ix_people_account_id", "account_id"),
        Index("ix_people_id_number", "id_number"),
        Index("ix_people_unit_name", "unit_code", "name_key"),
        # Tracing: people at the same address as a case (same commune, address as written).
        Index("ix_people_unit_address", "unit_code", "address"),
        Index("ix_people_qr_subject", "qr_subject", unique=True),
        Index("ix_people_merged_into", "merged_into"),
    )


class HouseholdMember(Base):
    """Whom a phone account may declare for and check in: itself and its dependants."""

    __tablename__ = "household_members"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    relation: Mapped[str] = mapped_column(String(16))  # self | child | parent | spouse | …
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_household_members_person", "person_id"),)


class Declaration(Base):
    """A submitted health or movement declaration. Immutable: a correction is a new row that
    points at the one it corrects."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))  # universal | daily | movement
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("phone_accounts.id", ondelete="SET NULL")
    )
    corrects_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("declarations.id", ondelete="SET NULL")
    )
    # The person's unit when they declared: officials' counts roll up by it.
    unit_code: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="SET NULL")
    )
    # This declaration's own answers judged alone (green / yellow); a person's status also
    # weighs the declaration's age, tracing and quarantine.
    assessed: Mapped[str] = mapped_column(String(8))
    symptoms: Mapped[str] = mapped_column(String(200), default="")  # comma-separated codes
    contact_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    outbreak_area: Mapped[bool] = mapped_column(Boolean, default=False)
    travelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The rest of the answers (places travelled, movement from / to, vehicle…) as JSON text.
    details: Mapped[str] = mapped_column(Text, default="{}")
    # Movement with a named vehicle: transport, vehicle and day (``tracing.rules.trip_key``),
    # so that tracing finds who travelled with a case.
    trip_key: Mapped[str | None] = mapped_column(String(48))

    __table_args__ = (
        Index("ix_declarations_trip", "trip_key"),
        Index("ix_declarations_person_at", "person_id", "submitted_at"),
        Index("ix_declarations_unit_at", "unit_code", "submitted_at"),
        Index("ix_declarations_at", "submitted_at"),
    )


class DuplicateCandidate(Base):
    """Two person records that look like one person, found on entry, for an official to merge
    or dismiss."""

    __tablename__ = "person_duplicates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(20))  # id_number | phone_name_year
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved: Mapped[str | None] = mapped_column(String(12))  # merged | dismissed
    resolved_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_person_duplicates_person", "person_id"),
        Index("ix_person_duplicates_other", "other_id"),
        Index("ix_person_duplicates_open", "resolved", "found_at"),
    )
