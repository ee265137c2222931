"""Tracing API for health officials: cases, contacts with evidence, follow-up."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Depends, Query

from phongdich.kit.errors import NotFound
from phongdich.kit.pagination import MAX_PAGE_SIZE, PageParams
from phongdich.notify.repository import OutboxRepository
from phongdich.people.models import Person
from phongdich.tracing.line_list import CaseEntry
from phongdich.tracing.models import Case, Contact
from phongdich.tracing.schemas import (
    BatchCaseOut,
    CaseBatchIn,
    CaseBatchOut,
    CaseIn,
    CaseOut,
    ContactOut,
    HandedOut,
    ReportIn,
    StatusIn,
    TraceOut,
    WarnCasesIn,
    WarnIn,
    WarningJobOut,
)
from phongdich.tracing.service import DeeperProgress, TracingService
from phongdich.web.deps import (
    AccountDep,
    OfficialDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)

router = APIRouter(prefix="/tracing", tags=["tracing"], dependencies=[Depends(csrf_protect)])


@router.post("/cases", response_model=CaseOut, status_code=201, summary="Enter a confirmed case")
def open_case(
    body: CaseIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> CaseOut:
    service = TracingService(db, settings)
    case = service.open_case(
        principal,
        official,
        body.person_id,
        body.test_at,
        body.onset_at,
        body.isolated_at,
        body.source,
        body.unit_code,
        body.notes,
    )
    service.trace_waiting(case)
    return case_out(db.get(Person, case.person_id), case)


@router.get(
    "/cases",
    response_model=list[CaseOut],
    summary="Cases of the jurisdiction, newest first (audited)",
)
def list_cases(
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    waiting: bool = Query(default=False, description="only cases not traced yet"),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE_SIZE),
    page: int = Query(default=1, ge=1, le=100_000),
) -> list[CaseOut]:
    found = TracingService(db, settings).recent_cases(
        principal, official, PageParams(page, limit), waiting
    )
    return [case_out(person, case) for case, person in found.items]


@router.post(
    "/cases/batch",
    response_model=CaseBatchOut,
    status_code=201,
    summary="Enter a line list of cases (all or nothing); they are traced in the background",
)
def open_cases(
    body: CaseBatchIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> CaseBatchOut:
    entries = [(i, CaseEntry(**row.model_dump())) for i, row in enumerate(body.cases, start=1)]
    cases = TracingService(db, settings).open_cases(principal, official, entries)
    return CaseBatchOut(
        cases=[
            BatchCaseOut(row=row, case_id=case.id, person_id=case.person_id)
            for row, case in enumerate(cases, start=1)
        ]
    )


@router.get("/cases/{case_id}", response_model=CaseOut, summary="A case (audited)")
def get_case(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> CaseOut:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    person = db.get(Person, case.person_id)
    if person is not None:
        service.audit_shown(principal, [person], f"case {case.id}")
    return case_out(person, case, service.deeper_progress(case))


@router.post(
    "/cases/{case_id}/trace",
    response_model=TraceOut,
    summary="Trace (again); levels from more than TRACE_AT_ONCE people go to the tracing queue",
)
def trace(
    case_id: int,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    depth: int | None = Query(default=None, ge=1, le=4),
) -> TraceOut:
    service = TracingService(db, settings)
    summary = service.trace_waiting(service.case_for(official, case_id), depth)
    return TraceOut(**summary.__dict__)


@router.get(
    "/cases/{case_id}/contacts",
    response_model=list[ContactOut],
    summary="Contacts with their evidence; identities outside the jurisdiction pseudonymised",
)
def contacts(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    level: int | None = Query(default=None, ge=1, le=4),
    source: str | None = Query(default=None, max_length=12),
    status: str | None = Query(default=None, max_length=12),
    limit: int = Query(default=200, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[ContactOut]:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    rows = service.repo.contact_list(case.id, level, source, status, limit, offset)
    shown = [p for _c, p in rows if service.visible(official, p)]
    service.audit_shown(principal, shown, f"contacts of case {case.id}")
    delivery = OutboxRepository(db).statuses(
        [c.warning_message_id for c, _p in rows if c.warning_message_id]
    )
    out = []
    for c, p in rows:
        item = contact_out(c, p, service.visible(official, p))
        item.warned_at = c.warned_at
        item.warning = delivery.get(c.warning_message_id) if c.warning_message_id else None
        out.append(item)
    return out


@router.post(
    "/cases/{case_id}/contacts",
    response_model=TraceOut,
    status_code=201,
    summary="Name a contact by hand (interview); the case is traced again",
)
def report_contact(
    case_id: int,
    body: ReportIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> TraceOut:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    service.report_contact(
        principal, official, case, body.person_id, body.exposed_at, body.note, body.source
    )
    return TraceOut(**service.trace_waiting(case).__dict__)


@router.post(
    "/cases/{case_id}/assign",
    summary="Hand every contact to the commune health station of their address",
)
def assign(
    case_id: int, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> dict[str, int]:
    service = TracingService(db, settings)
    return service.assign_to_stations(official, service.case_for(official, case_id))


@router.get(
    "/cases/{case_id}/graph",
    summary="The transmission graph: the case, its contacts and who exposed whom (bounded)",
)
def graph(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    limit: int = Query(default=300, ge=1, le=2000),
) -> dict[str, object]:
    """At most ``limit`` contacts, the highest risk first (F1 before F2); the rest are only
    counted, by level, so that a huge outbreak answers at once instead of hanging."""
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    rows = service.repo.contact_list(case.id, limit=limit)
    totals = service.repo.contact_counts(case.id)
    index = db.get(Person, case.person_id)
    visible = [p for _c, p in rows if service.visible(official, p)]
    service.audit_shown(principal, visible, f"graph of case {case.id}")
    nodes: list[dict[str, object]] = [
        {
            "id": f"p{case.person_id}",
            "label": index.full_name if index else "F0",
            "level": 0,
            "kind": "case",
        }
    ]
    edges: list[dict[str, object]] = []
    shown = {case.person_id}
    for contact, person in rows:
        seen = service.visible(official, person)
        nodes.append(
            {
                "id": f"p{person.id}",
                "label": person.full_name if seen else pseudonym(person.id),
                "level": contact.level,
                "kind": contact.source,
                "risk": contact.risk,
                "status": contact.status,
                "contact_id": contact.id,
            }
        )
        shown.add(person.id)
    for contact, person in rows:
        via = contact.via_person_id
        if via in shown:
            edges.append({"from": f"p{via}", "to": f"p{person.id}", "source": contact.source})
    total = sum(totals.values())
    return {
        "case_id": case.id,
        "nodes": nodes,
        "edges": edges,
        "total_contacts": total,
        "by_level": {str(k): v for k, v in sorted(totals.items())},
        "truncated": total > len(rows),
    }


@router.post("/cases/{case_id}/warn", summary="Warn the case's contacts by SMS / OTT")
def warn(
    case_id: int,
    body: WarnIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, int]:
    service = TracingService(db, settings)
    case = service.case_for(official, case_id)
    return service.warn(principal, official, case, body.channels, body.level, body.statuses)


@router.post(
    "/warn",
    summary="Warn the contacts of several cases by SMS / OTT, one message per person; over "
    "100,000 rows the warning is queued (``queued`` rows, ``job``)",
)
def warn_cases(
    body: WarnCasesIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, int]:
    service = TracingService(db, settings)
    cases = service.cases_for(official, body.case_ids)
    return service.warn_cases(principal, official, cases, body.channels, body.level, body.statuses)


@router.get(
    "/warnings",
    response_model=list[WarningJobOut],
    summary="The official's queued warnings, running or done in the last day, newest first",
)
def warning_jobs(
    official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> list[WarningJobOut]:
    return [
        WarningJobOut(
            id=job.id,
            case_ids=json.loads(job.case_ids),
            channels=job.channels.split(","),
            level=job.level,
            rows=job.rows,
            created_at=job.created_at,
            warned=job.warned,
            contacts=job.contacts,
            no_phone=job.no_phone,
            skipped=job.skipped,
            done_at=job.done_at,
        )
        for job in TracingService(db, settings).warning_jobs(official)
    ]


@router.post(
    "/cases/{case_id}/publish",
    summary="Publish where and when the case was while infectious (no personal data)",
)
def publish(
    case_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, int]:
    service = TracingService(db, settings)
    added = service.publish(principal, official, service.case_for(official, case_id))
    return {"published": len(added)}


@router.get(
    "/follow-up",
    response_model=list[HandedOut],
    summary="Contacts handed to the health stations of the jurisdiction, newest first (audited)",
)
def follow_up(
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    status: str | None = Query(default=None, max_length=12),
    unit: str | None = Query(default=None, max_length=16, description="one unit inside"),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE_SIZE),
    page: int = Query(default=1, ge=1, le=100_000),
) -> list[HandedOut]:
    service = TracingService(db, settings)
    found = service.handed_to(principal, official, status, PageParams(page, limit), unit)
    return [
        HandedOut(
            case_id=c.case_id,
            **contact_out(c, p, service.visible(official, p)).model_dump(),
        )
        for c, p in found.items
    ]


@router.patch("/contacts/{contact_id}", summary="Follow-up status of a contact")
def set_status(
    contact_id: int, body: StatusIn, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> dict[str, object]:
    contact = TracingService(db, settings).set_status(official, contact_id, body.status)
    return {"id": contact.id, "status": contact.status}


def case_out(person: Person | None, case: Case, progress: DeeperProgress | None = None) -> CaseOut:
    if person is None:
        raise NotFound()
    return CaseOut(
        id=case.id,
        person_id=case.person_id,
        person=person.full_name,
        test_at=case.test_at,
        onset_at=case.onset_at,
        isolated_at=case.isolated_at,
        source=case.source,
        unit_code=case.unit_code,
        window_start=case.window_start,
        window_end=case.window_end,
        traced_at=case.traced_at,
        trace_stopped_level=case.trace_stopped_level,
        trace_stopped_people=case.trace_stopped_people,
        trace_deeper_pending=bool(case.traced_at and case.trace_deeper),
        trace_deeper_level=progress.level if progress else None,
        trace_deeper_done=progress.done if progress else None,
        trace_deeper_of=progress.of if progress else None,
        trace_deeper_stored=progress.stored if progress else None,
    )


def pseudonym(person_id: int) -> str:
    return "Ẩn danh " + hashlib.sha256(f"person:{person_id}".encode()).hexdigest()[:8].upper()


def contact_out(contact: Contact, person: Person, visible: bool) -> ContactOut:
    evidence = json.loads(contact.evidence or "[]")
    if not visible:
        # Outside the jurisdiction: no identity, no linkable ids; the responsible unit is shown.
        evidence = [
            {k: v for k, v in e.items() if k not in ("via_person_id", "note")} for e in evidence
        ]
    return ContactOut(
        id=contact.id,
        person_id=person.id if visible else None,
        person=person.full_name if visible else pseudonym(person.id),
        phone=person.phone if visible else None,
        unit_code=person.unit_code,
        level=contact.level,
        source=contact.source,
        risk=contact.risk,
        last_exposure=contact.last_exposure,
        status=contact.status,
        assigned_unit=contact.assigned_unit,
        evidence=evidence,
    )


# Public and citizens -----------------------------------------------------------------------
public_router = APIRouter(tags=["tracing"], dependencies=[Depends(csrf_protect)])


@public_router.get(
    "/exposures", summary="Published exposure places: checkpoint and time window, no personal data"
)
def public_exposures(
    db: SessionDep,
    settings: SettingsDep,
    unit: str | None = Query(default=None, max_length=16),
    days: int = Query(default=14, ge=1, le=30),
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[dict[str, object]]:
    from datetime import timedelta

    from phongdich.kit.clock import utcnow

    rows = TracingService(db, settings).repo.public_exposures(
        unit, utcnow() - timedelta(days=days), limit
    )
    return [
        {
            "checkpoint_code": cp.code,
            "checkpoint": cp.name,
            "address": cp.address,
            "unit_code": cp.unit_code,
            "start": place.start,
            "end": place.end,
        }
        for place, cp in rows
    ]


@public_router.get(
    "/me/exposures", summary="Did any of my visits overlap a published exposure place, and why"
)
def my_exposures(account: AccountDep, db: SessionDep, settings: SettingsDep) -> dict[str, object]:
    from phongdich.people.service import PersonService

    me = PersonService(db, settings).for_account(account)
    matches = TracingService(db, settings).my_exposures(me.id)
    return {"exposed": bool(matches), "matches": matches}
