"""JSON API of people: citizens (profile, household, declarations, health QR), the public key
list of the health QR, and the officials' declarations, search and merge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from phongdich.accounts.models import Official
from phongdich.accounts.service import Principal
from phongdich.kit.clock import VN, fmt_local, utcnow
from phongdich.kit.errors import Invalid
from phongdich.kit.pagination import PageParams
from phongdich.kit.phone import mask
from phongdich.kit.text import mask_email
from phongdich.people import status
from phongdich.people.models import Declaration, Person
from phongdich.people.schemas import (
    DeclarationIn,
    DeclarationOut,
    DependantIn,
    MergeIn,
    PersonOut,
    ProfileIn,
    ReasonOut,
    StatusOut,
)
from phongdich.people.service import (
    OfficialPeopleService,
    PersonService,
    PersonStatus,
    key_ring,
)
from phongdich.web.deps import (
    AccountDep,
    LangDep,
    OfficialDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)
from phongdich.web.exports import csv_stream, xlsx_stream

router = APIRouter(tags=["people"], dependencies=[Depends(csrf_protect)])


# Public ---------------------------------------------------------------------------------------
@router.get("/health-qr/keys", summary="Public keys that verify personal health QR codes offline")
def health_qr_keys(settings: SettingsDep) -> dict[str, object]:
    return {
        "format": "PD1: + base45(version | kid | subject(8) | status | issued | expires | Ed25519)",
        "keys": key_ring(settings).public_keys(),
    }


# Citizens -------------------------------------------------------------------------------------
@router.get("/me", response_model=StatusOut, summary="My health status and QR")
def me(account: AccountDep, db: SessionDep, settings: SettingsDep, lang: LangDep) -> StatusOut:
    people = PersonService(db, settings)
    return status_out(people.status_of(people.for_account(account)), lang)


@router.put("/me/profile", response_model=PersonOut, summary="Fill in or correct my registry entry")
def update_profile(
    body: ProfileIn, account: AccountDep, db: SessionDep, settings: SettingsDep
) -> PersonOut:
    people = PersonService(db, settings)
    person = people.for_account(account)
    people.update_profile(person, body)
    return person_out(person, "self")


@router.get("/me/household", response_model=list[PersonOut], summary="My household")
def household(account: AccountDep, db: SessionDep, settings: SettingsDep) -> list[PersonOut]:
    return [person_out(p, m.relation) for m, p in PersonService(db, settings).household(account)]


@router.post(
    "/me/household",
    response_model=PersonOut,
    status_code=201,
    summary="Add a dependant (a child, an elderly person without a phone) to my household",
)
def add_dependant(
    body: DependantIn, account: AccountDep, db: SessionDep, settings: SettingsDep
) -> PersonOut:
    person, _alike = PersonService(db, settings).add_dependant(account, body)
    return person_out(person, body.relation)


@router.get(
    "/people/{person_id}/status",
    response_model=StatusOut,
    summary="Health status and QR of a household member",
)
def person_status(
    person_id: int, account: AccountDep, db: SessionDep, settings: SettingsDep, lang: LangDep
) -> StatusOut:
    people = PersonService(db, settings)
    return status_out(people.status_of(people.of_household(account, person_id)), lang)


@router.post(
    "/people/{person_id}/declarations",
    response_model=DeclarationOut,
    status_code=201,
    summary="Submit a declaration (universal, daily health, domestic movement); immutable",
)
def declare(
    person_id: int,
    body: DeclarationIn,
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
) -> DeclarationOut:
    return declaration_out(PersonService(db, settings).declare(account, person_id, body))


@router.get(
    "/people/{person_id}/declarations",
    response_model=list[DeclarationOut],
    summary="A household member's declarations, newest first",
)
def declarations(
    person_id: int, account: AccountDep, db: SessionDep, settings: SettingsDep
) -> list[DeclarationOut]:
    people = PersonService(db, settings)
    person = people.of_household(account, person_id)
    return [declaration_out(d) for d in people.repo.declarations_of(person.id)]


@router.get(
    "/people/{person_id}/card.pdf",
    response_class=Response,
    summary="A printable QR card (A6) for a household member without a phone",
)
def household_card(
    person_id: int, account: AccountDep, db: SessionDep, settings: SettingsDep
) -> Response:
    from phongdich.people.cards import render_card

    people = PersonService(db, settings)
    person = people.of_household(account, person_id)
    pdf = render_card(person.full_name, person.birth_year, people.card_pass(person))
    return Response(pdf, media_type="application/pdf")


# Officials ------------------------------------------------------------------------------------
def _dates(start: date | None, end: date | None) -> tuple[date, date]:
    today = utcnow().astimezone(VN).date()
    end = end or today
    return start or end - timedelta(days=6), end


@router.get("/officials/declarations/summary", summary="Declaration counts by colour per unit")
def declarations_summary(
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, object]:
    first, last = _dates(start, end)
    scope, rows = OfficialPeopleService(db, settings).summary(official, unit, first, last)
    return {"unit": scope, "start": first, "end": last, "units": rows}


@router.get("/officials/declarations", summary="Line list of declarations (identities audited)")
def declarations_list(
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str | None = None,
    start: date | None = None,
    end: date | None = None,
    assessed: str | None = None,
    kind: str | None = None,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=50, ge=1, le=200),
) -> dict[str, object]:
    first, last = _dates(start, end)
    result = OfficialPeopleService(db, settings).declarations(
        principal, official, unit, first, last, PageParams(page, size), assessed, kind, "api"
    )
    return {
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "items": [line(d, p) for d, p in result.items],
    }


@router.get(
    "/officials/declarations/export.{fmt}",
    response_class=StreamingResponse,
    summary="Line list export, CSV or XLSX (every exported person audited)",
)
def declarations_export(
    fmt: str,
    request: Request,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> StreamingResponse:
    if fmt not in ("csv", "xlsx"):
        raise Invalid("error.invalid_fields", fields="format")
    first, last = _dates(start, end)
    OfficialPeopleService(db, settings).scope(official, unit)  # refuse before streaming
    factory = request.app.state.sessionmaker
    official_id = official.id
    filename = f"to-khai-{first.isoformat()}-{last.isoformat()}.{fmt}"

    def batches() -> Iterator[list[dict[str, object]]]:
        # Its own session (the request's is closed when streaming starts); each batch's audit
        # rows are committed with it: this generator is the job boundary of the export.
        with factory() as session:
            service = OfficialPeopleService(session, settings)
            me = session.get(Official, official_id)
            assert me is not None
            who = Principal(kind="official", official=me)
            for rows in service.export_rows(who, me, unit, first, last, fmt):
                out = [line(d, p, full=True) for d, p in rows]
                session.commit()
                yield out

    if fmt == "csv":
        return StreamingResponse(
            csv_stream(EXPORT_COLUMNS, batches()),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return StreamingResponse(
        xlsx_stream(EXPORT_COLUMNS, "Tờ khai", batches()),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/officials/people", summary="Search people inside my jurisdiction (audited)")
def people_search(
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    q: str = Query(max_length=100),
    unit: str | None = None,
) -> list[PersonOut]:
    found = OfficialPeopleService(db, settings).search(principal, official, q, unit)
    return [person_out(p, None, reveal=True) for p in found]


@router.get("/officials/people/{person_id}", summary="One person (audited)")
def person_detail(
    person_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> dict[str, object]:
    person = OfficialPeopleService(db, settings).person(principal, official, person_id)
    people = PersonService(db, settings)
    current = people.status_of(person)
    return {
        "person": person_out(person, None, reveal=True).model_dump(mode="json"),
        "status": current.assessment.color,
        "reasons": [status.describe(r, lang) for r in current.assessment.reasons],
        "declarations": [
            declaration_out(d).model_dump(mode="json")
            for d in people.repo.declarations_of(person.id)
        ],
    }


@router.get("/officials/duplicates", summary="Records that look like the same person (audited)")
def duplicates(
    principal: PrincipalDep, official: OfficialDep, db: SessionDep, settings: SettingsDep
) -> list[object]:
    out: list[object] = []
    service = OfficialPeopleService(db, settings)
    for candidate, first, second in service.candidates(principal, official, "api"):
        out.append(
            {
                "id": candidate.id,
                "reason": candidate.reason,
                "people": [
                    person_out(first, None).model_dump(),
                    person_out(second, None).model_dump(),
                ],
            }
        )
    return out


@router.post("/officials/people/merge", summary="Merge a duplicate record into the surviving one")
def merge(
    body: MergeIn,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, object]:
    moved = OfficialPeopleService(db, settings).merge(
        principal, official, body.survivor_id, body.duplicate_id
    )
    return {"survivor_id": body.survivor_id, "moved": moved}


@router.post(
    "/officials/duplicates/{candidate_id}/dismiss", status_code=204, summary="Not the same person"
)
def dismiss(
    candidate_id: int,
    principal: PrincipalDep,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    OfficialPeopleService(db, settings).dismiss(principal, official, candidate_id)
    return Response(status_code=204)


# Shapes ---------------------------------------------------------------------------------------
def status_out(current: PersonStatus, lang: str) -> StatusOut:
    a = current.assessment
    return StatusOut(
        person_id=current.person.id,
        color=a.color,
        label=status.MESSAGES[lang if lang in status.MESSAGES else "vi"][f"status.color.{a.color}"],
        reasons=[ReasonOut(code=r.code, message=status.describe(r, lang)) for r in a.reasons],
        valid_until=a.valid_until,
        qr=current.qr,
        qr_expires_at=current.qr_expires_at,
    )


def person_out(person: Person, relation: str | None, reveal: bool = False) -> PersonOut:
    number = person.id_number
    return PersonOut(
        id=person.id,
        full_name=person.full_name,
        birth_date=person.birth_date,
        birth_year=person.birth_year,
        gender=person.gender,
        id_kind=person.id_kind,
        id_number_masked=(number if reveal else _mask_id(number)) if number else None,
        address=person.address,
        unit_code=person.unit_code,
        phone_masked=(person.phone if reveal else mask(person.phone)) if person.phone else None,
        email_masked=(person.email if reveal else mask_email(person.email))
        if person.email
        else None,
        language=person.language,
        relation=relation,
    )


def _mask_id(number: str) -> str:
    return "*" * (len(number) - 4) + number[-4:]


def declaration_out(d: Declaration) -> DeclarationOut:
    return DeclarationOut(
        id=d.id,
        person_id=d.person_id,
        kind=d.kind,
        submitted_at=d.submitted_at,
        corrects_id=d.corrects_id,
        assessed=d.assessed,
        symptoms=[s for s in d.symptoms.split(",") if s],
        contact_confirmed=d.contact_confirmed,
        contact_suspected=d.contact_suspected,
        outbreak_area=d.outbreak_area,
        travelled=d.travelled,
        details=json.loads(d.details or "{}"),
    )


EXPORT_COLUMNS = (
    ("submitted_at", "Thời gian khai"),
    ("kind", "Loại tờ khai"),
    ("assessed", "Đánh giá"),
    ("full_name", "Họ và tên"),
    ("birth", "Ngày/năm sinh"),
    ("gender", "Giới tính"),
    ("id_number", "Số giấy tờ"),
    ("phone", "Số điện thoại"),
    ("address", "Địa chỉ"),
    ("unit_code", "Mã đơn vị"),
    ("symptoms", "Triệu chứng"),
    ("contact", "Tiếp xúc ca bệnh/nghi ngờ"),
    ("outbreak_area", "Ở vùng dịch"),
    ("details", "Chi tiết"),
)


def line(d: Declaration, p: Person, full: bool = False) -> dict[str, object]:
    row: dict[str, object] = {
        "declaration_id": d.id,
        "person_id": p.id,
        "submitted_at": fmt_local(d.submitted_at),
        "kind": d.kind,
        "assessed": d.assessed,
        "full_name": p.full_name,
        "birth": p.birth_date.strftime("%d/%m/%Y") if p.birth_date else (p.birth_year or ""),
        "gender": p.gender or "",
        "id_number": p.id_number or "",
        "phone": p.phone or "",
        "address": p.address or "",
        "unit_code": d.unit_code or "",
        "symptoms": d.symptoms,
        "contact": "có" if d.contact_confirmed or d.contact_suspected else "",
        "outbreak_area": "có" if d.outbreak_area else "",
    }
    if full:
        row["details"] = d.details
    return row
