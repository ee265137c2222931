from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from phongdich.db.base import Base, BigId, UTCDateTime
from phongdich.kit.clock import utcnow


class Case(Base):
    """A confirmed case (F0) and its infectious window."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    test_at: Mapped[datetime] = mapped_column(UTCDateTime)
    onset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    isolated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))  # community | imported | cluster | unknown
    unit_code: Mapped[str] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="RESTRICT")
    )
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    traced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The level the last trace did not go down to (none: it went as deep as asked), because
    # the level before had ``trace_stopped_people`` people, over ``trace_level_limit``.
    trace_stopped_level: Mapped[int | None] = mapped_column(Integer)
    trace_stopped_people: Mapped[int | None] = mapped_column(Integer)
    # Cases of a line list wait for the tracing queue (``traced_at`` empty, or
    # ``trace_deeper``): the time a worker took this one (a claim older than the lease is
    # taken over).
    trace_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A line-listed case whose deeper levels (F2…) the queue still has to trace, after its F1.
    trace_deeper: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The time the last trace marked its contacts with (their ``found_at``); the queue's steps
    # of the deeper levels mark theirs the same. How far the steps got: the level they trace
    # (none: the first below the F1) and the last person of the level before whose contacts
    # are stored (0: none yet).
    trace_found_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trace_next_level: Mapped[int | None] = mapped_column(Integer)
    trace_after_person_id: Mapped[int] = mapped_column(BigId, default=0, server_default=text("0"))
    # What the steps of that level do: none, finding the exposures of the level before's
    # people (``trace_after_person_id``: the last of them done); "store": storing the contacts
    # found (``trace_after_person_id``: the last contact stored).
    trace_step_phase: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_cases_person", "person_id"),
        Index("ix_cases_unit_created", "unit_code", "created_at"),
        Index(
            "ix_cases_waiting",
            "id",
            postgresql_where=text("traced_at IS NULL OR trace_deeper"),
            sqlite_where=text("traced_at IS NULL OR trace_deeper"),
        ),
    )


class Contact(Base):
    """A person exposed to a case, directly (F1) or through an F1 (F2): one row per person and
    case, keeping the strongest link; ``evidence`` lists every link found (JSON)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)  # 1 = F1, 2 = F2, …
    source: Mapped[str] = mapped_column(String(12))  # visit | household | manual | bluetooth
    via_person_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("people.id", ondelete="SET NULL")
    )
    risk: Mapped[float] = mapped_column(Float)
    last_exposure: Mapped[datetime] = mapped_column(UTCDateTime)
    evidence: Mapped[str] = mapped_column(Text, default="[]")
    # Follow-up: to_call | notified | quarantined | tested | cleared | lost
    status: Mapped[str] = mapped_column(String(12), default="to_call")
    # The commune health station that follows the contact up (their address's unit).
    assigned_unit: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("admin_units.code", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The start of the last trace that found the link (none: listed by other means, e.g. a
    # shared Bluetooth exposure): a trace keeps what it wrote itself and replaces the rest.
    found_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last warning sent (its delivery state is the outbox message's).
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warning_message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )

    __table_args__ = (
        UniqueConstraint("case_id", "person_id"),
        Index("ix_contacts_person", "person_id"),
        Index("ix_contacts_assigned", "assigned_unit", "status"),
    )


class TraceExposure(Base):
    """An exposure the tracing queue found for a level of a case traced in steps, kept until a
    later step stores that level's contacts: the steps that store rank each person's
    exposures from every step together, as one trace ranks them, and write each evidence
    entry from these fields. Rows go when stored, and with a new trace of the case."""

    __tablename__ = "trace_exposures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the case's ``trace_found_at``
    level: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(BigId)  # checked against people when stored
    via_person_id: Mapped[int] = mapped_column(BigId)
    case_visit_id: Mapped[int] = mapped_column(BigId)
    contact_visit_id: Mapped[int] = mapped_column(BigId)
    checkpoint_id: Mapped[int] = mapped_column(BigId)
    checkpoint: Mapped[str] = mapped_column(String(200))  # its name, as the evidence shows it
    risk: Mapped[float] = mapped_column(Float)
    s: Mapped[datetime] = mapped_column(UTCDateTime)  # the exposure: start, end, seconds
    e: Mapped[datetime] = mapped_column(UTCDateTime)
    span_s: Mapped[float] = mapped_column(Float)
    certain_s: Mapped[float] = mapped_column(Float)  # of those, not on an estimated check-out
    rule: Mapped[str] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_trace_exposures_case_level_person", "case_id", "level", "person_id"),
    )


class ContactReport(Base):
    """A contact named by hand (a tracer's interview) or shared from another source
    (Bluetooth exposures with consent); kept across re-tracing."""

    __tablename__ = "contact_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(BigId, ForeignKey("people.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(12))  # manual | bluetooth
    exposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    # Evidence of a shared source, JSON (Bluetooth: date, minutes, weighted minutes,
    # attenuation — the reporting person's own figures only); it becomes the link's evidence.
    details: Mapped[str] = mapped_column(Text, default="{}")
    reported_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_contact_reports_case", "case_id"),)


class ExposurePlace(Base):
    """A place and time a case was at while infectious, published for the public map and for
    citizens to check their own visits: no personal data, only the checkpoint and the window."""

    __tablename__ = "exposure_places"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id", ondelete="CASCADE"))
    checkpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("checkpoints.id", ondelete="CASCADE")
    )
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_exposure_places_checkpoint_start", "checkpoint_id", "start"),
        Index("ix_exposure_places_published", "published_at"),
        Index("ix_exposure_places_case", "case_id"),
    )


class WarningJob(Base):
    """A warning too large for one request (``Settings.warn_request_rows``): the selection as
    the tracer sent it, warned by the tracing queue in steps of people (``after_person_id`` is
    how far it got), each step in its own transaction, so a stopped worker loses one step at
    most."""

    __tablename__ = "warning_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    official_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("officials.id", ondelete="SET NULL")
    )
    case_ids: Mapped[str] = mapped_column(Text)  # JSON list of case ids
    channels: Mapped[str] = mapped_column(String(40))  # comma-separated: sms, ott, email
    level: Mapped[int | None] = mapped_column(Integer)  # none: every level
    statuses: Mapped[str] = mapped_column(String(120))  # comma-separated follow-up statuses
    rows: Mapped[int] = mapped_column(Integer)  # contact rows to warn, counted when asked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    after_person_id: Mapped[int] = mapped_column(BigId, default=0, server_default=text("0"))
    # Figures so far: people warned, rows marked, people without a phone, rows skipped.
    warned: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    contacts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    no_phone: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # A worker's claim (a claim older than the lease is taken over) and the end.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_warning_jobs_open",
            "id",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )
