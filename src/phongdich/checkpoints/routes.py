"""JSON API for checkpoints: owners register and manage, officials review, anyone scans."""

from __future__ import annotations

import io
import os
import tempfile

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from phongdich.accounts.service import Principal
from phongdich.checkpoints import rules
from phongdich.checkpoints.models import Checkpoint
from phongdich.checkpoints.posters import render_posters, render_zip
from phongdich.checkpoints.repository import CheckpointFilter
from phongdich.checkpoints.schemas import (
    CheckpointCreate,
    CheckpointDetail,
    CheckpointOut,
    CheckpointPage,
    DuplicateOut,
    EntranceCreate,
    EntranceOut,
    EventOut,
    MemberOut,
    ScanOut,
    StaffAdd,
    TransitionIn,
)
from phongdich.checkpoints.service import CheckpointService
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import Invalid
from phongdich.kit.i18n import t
from phongdich.kit.pagination import PageParams
from phongdich.web.deps import (
    AccountDep,
    LangDep,
    OfficialDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)

router = APIRouter(tags=["checkpoints"], dependencies=[Depends(csrf_protect)])


def to_out(cp: Checkpoint, lang: str, unit_names: dict[str, str]) -> CheckpointOut:
    vi, en = rules.TYPES[cp.type]
    shown = rules.display_status(cp.status, cp.ends_at, utcnow())
    return CheckpointOut(
        id=cp.id,
        code=cp.code,
        name=cp.name,
        type=cp.type,
        type_label=en if lang == "en" else vi,
        address=cp.address,
        unit_code=cp.unit_code,
        unit_name=unit_names.get(cp.unit_code, ""),
        latitude=cp.latitude,
        longitude=cp.longitude,
        capacity=cp.capacity,
        status=cp.status,
        display_status=shown,
        status_label=t(f"status.{shown}", lang),
        status_reason=cp.status_reason,
        starts_at=cp.starts_at,
        ends_at=cp.ends_at,
        created_at=cp.created_at,
    )


def detail(
    service: CheckpointService, cp: Checkpoint, principal: Principal, lang: str
) -> CheckpointDetail:
    role = service.role_of(principal, cp)
    base = to_out(cp, lang, service.repo.unit_names({cp.unit_code}))
    members = service.repo.members(cp.id)
    if role == "official":
        # Officials see the owner's and staff's phone numbers: a read of personal data.
        service.accounts.audit(principal, "read_members", "checkpoint", cp.id)
    return CheckpointDetail(
        **base.model_dump(),
        entrances=[
            EntranceOut(
                id=e.id, name=e.name, kind=e.kind, is_active=e.is_active, qr_url=service.qr_url(e)
            )
            for e in service.repo.entrances(cp.id)
        ],
        members=[
            MemberOut(account_id=a.id, phone=a.phone, full_name=a.full_name, role=m.role)
            for m, a in members
        ]
        if role in ("official", "owner")
        else [],
        events=[
            EventOut(
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                reason=e.reason,
                actor=e.actor,
                at=e.at,
            )
            for e in service.repo.events(cp.id)
        ],
    )


@router.post(
    "/checkpoints",
    response_model=CheckpointDetail,
    status_code=201,
    responses={409: {"model": DuplicateOut, "description": "Venue already registered"}},
    summary="Register a checkpoint (venue owner)",
)
def register(
    body: CheckpointCreate,
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> CheckpointDetail:
    service = CheckpointService(db, settings)
    cp = service.register(account, body)
    return detail(service, cp, Principal(kind="phone", account=account), lang)


@router.get(
    "/checkpoints",
    response_model=CheckpointPage,
    summary="Checkpoints in the official's jurisdiction (filter, search, paginate)",
)
def list_checkpoints(
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
    unit: str | None = Query(default=None, max_length=16),
    status: str | None = Query(default=None, max_length=12),
    type: str | None = Query(default=None, max_length=20),
    q: str | None = Query(default=None, max_length=200),
    page: int = Query(default=1, ge=1, le=100_000),
    size: int = Query(default=50, ge=1, le=200),
) -> CheckpointPage:
    if status is not None and status not in rules.STATUSES:
        raise Invalid("error.invalid_fields", fields="status")
    if type is not None and type not in rules.TYPES:
        raise Invalid("error.checkpoint_type", type=type)
    service = CheckpointService(db, settings)
    result = service.list_for_official(
        official,
        CheckpointFilter(unit_code=unit, status=status, type=type, query=q),
        PageParams(page, size),
    )
    names = service.repo.unit_names({c.unit_code for c in result.items})
    return CheckpointPage(
        items=[to_out(c, lang, names) for c in result.items],
        total=result.total,
        page=result.page,
        size=result.size,
        pages=result.pages,
    )


@router.get(
    "/my/checkpoints",
    response_model=CheckpointPage,
    summary="Checkpoints the signed-in phone account owns or staffs",
)
def my_checkpoints(
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=50, ge=1, le=200),
) -> CheckpointPage:
    service = CheckpointService(db, settings)
    result = service.list_for_account(account, PageParams(page, size))
    names = service.repo.unit_names({c.unit_code for c in result.items})
    return CheckpointPage(
        items=[to_out(c, lang, names) for c in result.items],
        total=result.total,
        page=result.page,
        size=result.size,
        pages=result.pages,
    )


@router.get("/checkpoints/{checkpoint_id}", response_model=CheckpointDetail)
def get_checkpoint(
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
) -> CheckpointDetail:
    service = CheckpointService(db, settings)
    return detail(service, service.get(checkpoint_id), principal, lang)


@router.post(
    "/checkpoints/{checkpoint_id}/status/{action}",
    response_model=CheckpointDetail,
    summary="approve / reject / suspend / reactivate / close",
)
def transition(
    checkpoint_id: int,
    action: str,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    lang: LangDep,
    body: TransitionIn | None = None,
) -> CheckpointDetail:
    if action not in rules.TRANSITIONS:
        raise Invalid("error.unknown_action")
    service = CheckpointService(db, settings)
    cp = service.apply(principal, service.get(checkpoint_id), action, body.reason if body else "")
    return detail(service, cp, principal, lang)


@router.post("/checkpoints/{checkpoint_id}/entrances", response_model=EntranceOut, status_code=201)
def add_entrance(
    checkpoint_id: int,
    body: EntranceCreate,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
) -> EntranceOut:
    service = CheckpointService(db, settings)
    e = service.add_entrance(principal, service.get(checkpoint_id), body.name, body.kind)
    return EntranceOut(
        id=e.id, name=e.name, kind=e.kind, is_active=e.is_active, qr_url=service.qr_url(e)
    )


@router.post("/checkpoints/{checkpoint_id}/staff", response_model=MemberOut, status_code=201)
def add_staff(
    checkpoint_id: int,
    body: StaffAdd,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
) -> MemberOut:
    service = CheckpointService(db, settings)
    m = service.add_staff(principal, service.get(checkpoint_id), body.phone)
    account = service.accounts.repo.phone_account(m.account_id)
    assert account is not None
    return MemberOut(
        account_id=account.id, phone=account.phone, full_name=account.full_name, role=m.role
    )


@router.get(
    "/checkpoints/{checkpoint_id}/posters.pdf",
    response_class=Response,
    summary="Printable A4 posters, one page per entrance",
)
def posters(
    checkpoint_id: int, principal: PrincipalDep, db: SessionDep, settings: SettingsDep
) -> Response:
    service = CheckpointService(db, settings)
    cp, _role = service.get_for(principal, checkpoint_id)
    buffer = io.BytesIO()
    render_posters(service.poster_specs(cp), buffer)
    return Response(
        buffer.getvalue(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{cp.code}.pdf"'},
    )


@router.get("/scan/{token}", response_model=ScanOut, summary="What a scanned QR code points to")
def scan(token: str, db: SessionDep, settings: SettingsDep, lang: LangDep) -> ScanOut:
    result = CheckpointService(db, settings).resolve_token(token)
    return ScanOut(
        state=result.state,
        message=result.message(lang),
        checkpoint_code=result.checkpoint.code,
        checkpoint_name=result.checkpoint.name,
        entrance_name=result.entrance.name,
    )


@router.get(
    "/posters.zip",
    response_class=Response,
    summary="Posters of every active checkpoint under a unit, one PDF per checkpoint",
)
def posters_zip(
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str = Query(max_length=16),
) -> Response:
    service = CheckpointService(db, settings)
    service.units.require(unit)
    service.accounts.require_unit_access(official, unit)
    fd, path = tempfile.mkstemp(prefix="posters-", suffix=".zip")
    try:
        with open(fd, "wb") as fh:
            render_zip(service.poster_groups(unit), fh)
    except BaseException:
        os.unlink(path)
        raise

    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"posters-{unit}.zip",
        background=BackgroundTask(os.unlink, path),
    )
