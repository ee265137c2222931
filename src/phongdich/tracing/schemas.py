from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class _CaseFacts(BaseModel):
    test_at: datetime
    onset_at: datetime | None = None
    isolated_at: datetime | None = None
    source: str = Field(default="community", max_length=20)
    unit_code: str | None = Field(default=None, max_length=16)
    notes: str = Field(default="", max_length=2000)


class CaseIn(_CaseFacts):
    person_id: int


class CaseRowIn(_CaseFacts):
    """A row of a line list: the person by registry number or by ID document number."""

    person_id: int | None = None
    id_number: str | None = Field(default=None, max_length=20)


class CaseBatchIn(BaseModel):
    # At most ``service.BATCH_LIMIT`` rows (refused with a clear message beyond it).
    cases: list[CaseRowIn]


class BatchCaseOut(BaseModel):
    row: int
    case_id: int
    person_id: int


class CaseBatchOut(BaseModel):
    """The cases entered, in the list's order. The tracing queue traces them in the
    background: the F1 of all of them at once, within seconds (a case's ``traced_at`` says
    when), then each case's F2."""

    cases: list[BatchCaseOut]


class CaseOut(BaseModel):
    id: int
    person_id: int
    person: str
    test_at: datetime
    onset_at: datetime | None
    isolated_at: datetime | None
    source: str
    unit_code: str
    window_start: datetime
    window_end: datetime
    traced_at: datetime | None
    # As in ``TraceOut``, from the last trace.
    trace_stopped_level: int | None = None
    trace_stopped_people: int | None = None
    # The F1 is traced and the deeper levels wait for the tracing queue (seconds, or minutes
    # for a large F1).
    trace_deeper_pending: bool = False
    # How far the queue's steps got (one case only, once a step has run): the level traced,
    # and of the people of the level before, how many are done and how many in all; once
    # every exposure is found, how many people of the level are stored so far.
    trace_deeper_level: int | None = None
    trace_deeper_done: int | None = None
    trace_deeper_of: int | None = None
    trace_deeper_stored: int | None = None


class TraceOut(BaseModel):
    case_id: int
    f1: int
    f2: int
    by_source: dict[str, int]
    seconds: float
    # The level left untraced: the level before had ``stopped_people`` people, more than the
    # platform traces further from (``TRACE_LEVEL_LIMIT``); none: traced as deep as asked.
    stopped_level: int | None = None
    stopped_people: int | None = None
    # The level the tracing queue traces next, in the background: the level before had more
    # people than a tracer waits for (``TRACE_AT_ONCE``); none: nothing left for later.
    deferred_level: int | None = None


class ContactOut(BaseModel):
    id: int
    person_id: int | None  # None when the person lives outside the official's jurisdiction
    person: str  # full name, or a pseudonym outside the jurisdiction
    phone: str | None
    unit_code: str | None
    level: int
    source: str
    risk: float
    last_exposure: datetime
    status: str
    assigned_unit: str | None
    evidence: list[dict[str, object]]
    warned_at: datetime | None = None
    # Delivery state of the last warning: pending | retrying | sent | delivered | failed.
    warning: str | None = None


class HandedOut(ContactOut):
    """A contact on a health station's follow-up list, with the case they were traced from."""

    case_id: int


class ReportIn(BaseModel):
    person_id: int
    exposed_at: datetime
    note: str = Field(default="", max_length=2000)
    source: str = Field(default="manual", max_length=12)


class StatusIn(BaseModel):
    status: str = Field(max_length=12)


class WarnIn(BaseModel):
    channels: list[str] = Field(default_factory=lambda: ["sms"], max_length=3)
    level: int | None = Field(default=None, ge=1, le=4)
    statuses: list[str] = Field(default_factory=lambda: ["to_call"], max_length=6)


class WarnCasesIn(WarnIn):
    """Warn the contacts of several cases (a line list's): one message per person."""

    case_ids: list[int] = Field(min_length=1, max_length=2_000)


class WarningJobOut(BaseModel):
    """A warning too large for one request, sent by the tracing queue in steps of people."""

    id: int
    case_ids: list[int]
    channels: list[str]
    level: int | None
    rows: int  # contact rows to warn, counted when asked
    created_at: datetime
    # So far: people warned, rows marked, people without a phone, rows skipped for status.
    warned: int
    contacts: int
    no_phone: int
    skipped: int
    done_at: datetime | None
