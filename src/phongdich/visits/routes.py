"""JSON API for check-in and check-out: visitors, staff scanners (batched, offline-safe),
assisted check-in, the live board and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from phongdich.accounts.routes import client_ip
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints.service import QrInvalid
from phongdich.config import Settings
from phongdich.kit import signing
from phongdich.kit.clock import fmt_local, utcnow
from phongdich.kit.errors import DomainError, Invalid, Unauthenticated
from phongdich.kit.i18n import t
from phongdich.kit.phone import mask
from phongdich.kit.text import mask_name
from phongdich.people.models import Person
from phongdich.people.service import PersonService, read_pass
from phongdich.visits.ingest import Ingestor
from phongdich.visits.repository import VisitRepository
from phongdich.visits.rules import DIRECTIONS
from phongdich.visits.schemas import (
    AssistCodeRequest,
    AssistCodeVerify,
    AssistProxy,
    ScanResult,
    ScanResults,
    SelfScanIn,
    StaffScansIn,
    VisitBoard,
    VisitOut,
)
from phongdich.visits.service import ScanCommand, ScanOutcome, VisitService, parse_scan_id
from phongdich.web.bodies import json_body_doc, parse_json_body
from phongdich.web.deps import (
    SESSION_COOKIE,
    LangDep,
    OptionalPrincipal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)

router = APIRouter(prefix="/visits", tags=["visits"], dependencies=[Depends(csrf_protect)])
board_router = APIRouter(tags=["visits"], dependencies=[Depends(csrf_protect)])

PERSON_COOKIE = "pd_person"


def remember_person(response: Response, token: str, settings: Settings) -> None:
    """The device remembers who checks in (an opaque signed token, no name or number)."""
    response.set_cookie(
        PERSON_COOKIE,
        token,
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def person_from_request(
    request: Request, principal: Principal | None, people: PersonService
) -> Person | None:
    if principal is not None and principal.account is not None:
        return people.for_account(principal.account)  # a signed-in citizen is who they are
    token = request.cookies.get(PERSON_COOKIE)
    if token:
        try:
            return people.from_token(token)
        except DomainError:
            pass  # a stale or foreign cookie: ask again
    return None


def resolve_entrance_token(service: VisitService, token: str) -> int:
    try:
        parsed = signing.verify(service.settings.qr_key_bytes(), token)
    except signing.TokenError as exc:
        raise QrInvalid() from exc
    if parsed.kind != signing.KIND_ENTRANCE:
        raise QrInvalid()
    return parsed.object_id


def outcome_result(outcome: ScanOutcome, lang: str, item_id: str | None = None) -> ScanResult:
    """The answer for one recorded scan; ``item_id`` echoes the id exactly as the client sent it
    (clients match their queue on it)."""
    return ScanResult(
        id=item_id if item_id is not None else outcome.scan_id,
        ok=True,
        status=200,
        action=outcome.action,
        message=outcome.message(lang, mask_name(outcome.person_name)),
        visit_id=outcome.visit.id if outcome.visit else None,
        person=mask_name(outcome.person_name),
        replayed=outcome.replayed,
        health=outcome.health,
    )


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise Invalid("error.direction")
    return direction


@router.post(
    "/self",
    response_model=ScanResult,
    summary="A visitor checks in or out with the poster's QR (idempotent by id)",
)
def self_scan(
    body: SelfScanIn,
    request: Request,
    response: Response,
    principal: OptionalPrincipal,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> ScanResult:
    service = VisitService(db, settings)
    scan_id = parse_scan_id(body.id)
    entrance, _cp = service.entrance(resolve_entrance_token(service, body.token))
    person = person_from_request(request, principal, service.people)
    if person is None:
        person = service.people.register(body.full_name or "", body.phone)
    outcome = service.scan(
        ScanCommand(
            scan_id=scan_id,
            entrance_id=entrance.id,
            person_id=person.id,
            direction=check_direction(body.direction),
            at=body.at or utcnow(),
            in_method="self",
        )
    )
    remember_person(response, service.people.token(person), settings)
    return outcome_result(outcome, lang)


@router.post(
    "/scans",
    response_model=ScanResults,
    summary="Staff scans of personal QR codes, live or queued offline (≤ 500 per call)",
    openapi_extra={"requestBody": json_body_doc(StaffScansIn)},
)
async def staff_scans(request: Request) -> Response:
    """The check-in hot path: parsed here, recorded by the process's ingest thread together
    with concurrent requests in one transaction, answered once committed.

    The body is validated straight from its bytes and the answer written straight to JSON
    (one pass each instead of the framework's parse, validate, validate-again and dump)."""
    body = parse_json_body(StaffScansIn, request.headers.get("content-type"), await request.body())
    settings: Settings = request.app.state.settings
    lang: str = request.state.lang
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated()
    results: list[ScanResult | None] = [None] * len(body.scans)
    commands: list[tuple[int, ScanCommand]] = []
    now = utcnow()
    for i, item in enumerate(body.scans):
        try:
            if item.method not in ("staff_scan", "reader"):
                raise Invalid("error.invalid_fields", fields="method")
            # The personal health QR is checked here, offline (Ed25519): no database read.
            # A queued offline scan counts if its pass was valid when scanned; the scan time
            # itself is checked by the visit rules.
            at = item.at if item.at is not None and item.at.tzinfo is not None else None
            scanned = read_pass(settings, item.person_token, now, at)
            commands.append(
                (
                    i,
                    ScanCommand(
                        scan_id=parse_scan_id(item.id),
                        entrance_id=item.entrance_id,
                        person_id=0,
                        direction=check_direction(item.direction),
                        at=item.at or now,
                        in_method=item.method,
                        subject=scanned.subject.hex(),
                        qr_status=scanned.status,
                    ),
                )
            )
        except DomainError as exc:
            results[i] = error_result(item.id, exc, lang)
    if commands:
        ingestor: Ingestor = request.app.state.ingestor
        answers = await asyncio.wrap_future(ingestor.submit(token, [c for _i, c in commands]))
        if all(isinstance(a, Unauthenticated) for a in answers):
            raise Unauthenticated()
        for (i, _cmd), answer in zip(commands, answers, strict=True):
            item_id = body.scans[i].id  # echo exactly what the client sent: it matches on it
            if isinstance(answer, DomainError):
                results[i] = error_result(item_id, answer, lang)
                continue
            results[i] = outcome_result(answer, lang, item_id)
    out = ScanResults.model_construct(results=[r for r in results if r is not None])
    return Response(out.model_dump_json(), media_type="application/json")


def error_result(item_id: str, exc: DomainError, lang: str) -> ScanResult:
    return ScanResult(
        id=item_id, ok=False, status=exc.status_code, message=t(exc.message_key, lang, **exc.params)
    )


@router.post(
    "/assist/code",
    status_code=202,
    summary="Assisted check-in: send the visitor an SMS code to read back",
)
def assist_code(
    body: AssistCodeRequest,
    request: Request,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
) -> dict[str, object]:
    service = VisitService(db, settings)
    _entrance, cp = service.entrance(body.entrance_id)
    service.require_staff(principal, cp)
    phone, _ = AccountService(db, settings).request_code(body.phone, client_ip(request))
    return {"phone": phone, "expires_in": settings.otp_ttl_seconds}


@router.post(
    "/assist/verify",
    response_model=ScanResult,
    summary="Assisted check-in: the code the visitor read back checks them in",
)
def assist_verify(
    body: AssistCodeVerify,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> ScanResult:
    service = VisitService(db, settings)
    scan_id = parse_scan_id(body.id)
    entrance, cp = service.entrance(body.entrance_id)
    staff = service.require_staff(principal, cp)
    account = AccountService(db, settings).verify_code(body.phone, body.code, body.full_name)
    person = service.people.for_account(account)
    outcome = service.staff_check_in(scan_id, entrance.id, person, staff, "assisted_sms")
    return outcome_result(outcome, lang)


@router.post(
    "/assist/proxy",
    response_model=ScanResult,
    summary="Staff check in a person without a phone (and can print their QR card)",
)
def assist_proxy(
    body: AssistProxy,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> ScanResult:
    service = VisitService(db, settings)
    scan_id = parse_scan_id(body.id)
    entrance, cp = service.entrance(body.entrance_id)
    staff = service.require_staff(principal, cp)
    person = service.people.register(
        body.full_name, body.phone, body.birth_year, registered_by=staff
    )
    outcome = service.staff_check_in(scan_id, entrance.id, person, staff, "assisted_proxy")
    result = outcome_result(outcome, lang)
    result.card_url = f"/api/v1/visits/cards/{person.id}.pdf"
    return result


@router.get(
    "/cards/{person_id}.pdf",
    response_class=Response,
    summary="A printable personal QR card for a person staff registered",
)
def person_card(
    person_id: int, principal: PrincipalDep, db: SessionDep, settings: SettingsDep
) -> Response:
    from phongdich.kit.errors import Forbidden, NotFound
    from phongdich.people.cards import render_card

    people = PersonService(db, settings)
    person = people.repo.get(person_id)
    if person is None:
        raise NotFound()
    if principal.account is None or person.registered_by != principal.account.id:
        raise Forbidden()
    pdf = render_card(person.full_name, person.birth_year, people.card_pass(person))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="the-qr-{person.id}.pdf"'},
    )


# Lists --------------------------------------------------------------------------------------
def _board_access(service: VisitService, principal: Principal, checkpoint_id: int) -> None:
    cp = service.checkpoints.get(checkpoint_id)
    role = service.checkpoints.role_of(principal, cp)
    service.checkpoints.accounts.audit(principal, f"read_visits:{role}", "checkpoint", cp.id)


@board_router.get(
    "/checkpoints/{checkpoint_id}/visits",
    response_model=VisitBoard,
    summary="Live arrivals, departures and occupancy (owner, staff, officials)",
)
def visit_board(
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    hours: int = Query(default=12, ge=1, le=24 * 31),
    limit: int = Query(default=200, ge=1, le=1000),
) -> VisitBoard:
    service = VisitService(db, settings)
    _board_access(service, principal, checkpoint_id)
    now = utcnow()
    rows = service.repo.recent(checkpoint_id, now - timedelta(hours=hours), limit)
    return VisitBoard(
        checkpoint_id=checkpoint_id,
        occupancy=service.repo.occupancy(checkpoint_id, now),
        visits=[
            VisitOut(
                id=v.id,
                person=p.full_name,
                phone=mask(p.phone) if p.phone else None,
                check_in_at=v.check_in_at,
                check_out_at=v.check_out_at,
                auto_out_at=v.auto_out_at,
                in_method=v.in_method,
                out_method=v.out_method,
                open=(v.check_out_at is None or v.check_out_at > now) and v.auto_out_at > now,
            )
            for v, p in rows
        ],
    )


@board_router.get(
    "/checkpoints/{checkpoint_id}/visits.csv",
    response_class=StreamingResponse,
    summary="CSV export of a checkpoint's visits (UTF-8 with BOM, Vietnam time)",
)
def visits_csv(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    days: int = Query(default=1, ge=1, le=31),
) -> StreamingResponse:
    service = VisitService(db, settings)
    _board_access(service, principal, checkpoint_id)
    end = utcnow()
    start = end - timedelta(days=days)
    factory = request.app.state.sessionmaker

    def rows() -> Iterator[bytes]:
        # Its own read-only session: the request's session is closed before streaming starts.
        with factory() as session:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(
                ["Họ và tên", "Số điện thoại", "Giờ vào", "Giờ ra", "Cách ra", "Cách vào"]
            )
            yield ("\ufeff" + out.getvalue()).encode()
            for v, p in VisitRepository(session).iter_for_export(checkpoint_id, start, end):
                left = v.check_out_at or (v.auto_out_at if v.auto_out_at <= end else None)
                out.seek(0)
                out.truncate()
                writer.writerow(
                    [
                        p.full_name,
                        p.phone or "",
                        fmt_local(v.check_in_at),
                        fmt_local(left),
                        v.out_method or ("automatic" if left else ""),
                        v.in_method,
                    ]
                )
                yield out.getvalue().encode()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="visits-{checkpoint_id}.csv"'},
    )
