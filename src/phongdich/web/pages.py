"""Server-rendered pages. Handlers stay thin: the services hold the rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from phongdich.accounts.routes import client_ip, set_session_cookie
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints import rules
from phongdich.checkpoints.models import Checkpoint
from phongdich.checkpoints.repository import CheckpointFilter
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.checkpoints.service import CheckpointService, DuplicateCheckpoint, QrInvalid
from phongdich.geo.repository import UnitRepository
from phongdich.kit.clock import parse_local, utcnow
from phongdich.kit.errors import DomainError, Invalid
from phongdich.kit.i18n import t
from phongdich.kit.pagination import PageParams
from phongdich.kit.text import mask_name
from phongdich.visits.routes import (
    PERSON_COOKIE,
    check_direction,
    person_from_request,
    remember_person,
    resolve_entrance_token,
)
from phongdich.visits.service import ScanCommand, VisitService, parse_scan_id
from phongdich.web.deps import (
    SESSION_COOKIE,
    AccountDep,
    OfficialDep,
    OptionalPrincipal,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)
from phongdich.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def message_of(request: Request, exc: DomainError) -> str:
    return t(exc.message_key, request.state.lang, **exc.params)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: OptionalPrincipal) -> Response:
    return render(request, "home.html", {})


# Officials -----------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/officials/checkpoints") -> Response:
    return render(request, "login.html", {"next": next, "error": None, "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "/officials/checkpoints",
) -> Response:
    service = AccountService(db, settings)
    try:
        official = service.authenticate_official(username, password)
    except DomainError as exc:
        if exc.keep_changes:
            db.commit()
        return render(
            request,
            "login.html",
            {"next": next, "error": message_of(request, exc), "username": username},
            status_code=exc.status_code,
        )
    target = safe_next(next, "/")
    response = redirect(target)
    set_session_cookie(response, service.start_session("official", official.id), settings)
    return response


@router.post("/logout")
def logout(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    AccountService(db, settings).end_session(request.cookies.get(SESSION_COOKIE))
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


# Phone sign-in (venue owners and staff) --------------------------------------------------------
def safe_next(next: str, default: str) -> str:
    """Where to go after signing in: a path on this site only (``//host`` and ``/\\host``
    are other sites to a browser)."""
    if next.startswith("/") and not next.startswith(("//", "/\\")):
        return next
    return default


@router.get("/owner/signin", response_class=HTMLResponse)
def owner_signin_form(request: Request, next: str = Query(default="", max_length=500)) -> Response:
    return render(
        request,
        "owner_signin.html",
        {"step": "phone", "phone": "", "error": None, "next": safe_next(next, "")},
    )


@router.post("/owner/signin", response_class=HTMLResponse)
def owner_request_code(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    next = safe_next(next, "")
    try:
        normalized, _ = AccountService(db, settings).request_code(phone, client_ip(request))
    except DomainError as exc:
        return render(
            request,
            "owner_signin.html",
            {"step": "phone", "phone": phone, "error": message_of(request, exc), "next": next},
            status_code=exc.status_code,
        )
    return render(
        request,
        "owner_signin.html",
        {"step": "code", "phone": normalized, "error": None, "next": next},
    )


@router.post("/owner/verify", response_class=HTMLResponse)
def owner_verify(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    full_name: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    service = AccountService(db, settings)
    next = safe_next(next, "")
    try:
        account = service.verify_code(phone, code, full_name)
    except DomainError as exc:
        if exc.keep_changes:
            db.commit()
        return render(
            request,
            "owner_signin.html",
            {
                "step": "code",
                "phone": phone,
                "full_name": full_name,
                "error": message_of(request, exc),
                "next": next,
            },
            status_code=exc.status_code,
        )
    response = redirect(next or "/owner")
    set_session_cookie(response, service.start_session("phone", account.id), settings)
    return response


@router.get("/owner", response_class=HTMLResponse)
def owner_home(
    request: Request,
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
    page: int = Query(default=1, ge=1),
) -> Response:
    service = CheckpointService(db, settings)
    result = service.list_for_account(account, PageParams(page, 50))
    names = service.repo.unit_names({c.unit_code for c in result.items})
    return render(request, "owner_home.html", {"result": result, "unit_names": names})


def _register_context(db: SessionDep, form: dict[str, Any], error: str | None) -> dict[str, Any]:
    units = UnitRepository(db)
    province = str(form.get("province") or "")
    return {
        "form": form,
        "error": error,
        "provinces": units.children(None),
        "communes": units.children(province) if province else [],
    }


@router.get("/owner/checkpoints/new", response_class=HTMLResponse)
def register_form(
    request: Request,
    account: AccountDep,
    db: SessionDep,
    province: str = Query(default="", max_length=16),
) -> Response:
    form = {"province": province, "type": "office", "entrances": "Cổng chính"}
    return render(request, "checkpoint_new.html", _register_context(db, form, None))


@router.post("/owner/checkpoints/new", response_class=HTMLResponse)
def register(
    request: Request,
    account: AccountDep,
    db: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    type: Annotated[str, Form(max_length=30)] = "other",
    address: Annotated[str, Form(max_length=1000)] = "",
    province: Annotated[str, Form(max_length=16)] = "",
    unit_code: Annotated[str, Form(max_length=32)] = "",
    capacity: Annotated[str, Form(max_length=12)] = "",
    latitude: Annotated[str, Form(max_length=30)] = "",
    longitude: Annotated[str, Form(max_length=30)] = "",
    starts_at: Annotated[str, Form(max_length=30)] = "",
    ends_at: Annotated[str, Form(max_length=30)] = "",
    entrances: Annotated[str, Form(max_length=5000)] = "Cổng chính",
) -> Response:
    form = dict(
        name=name,
        type=type,
        address=address,
        province=province,
        unit_code=unit_code,
        capacity=capacity,
        latitude=latitude,
        longitude=longitude,
        starts_at=starts_at,
        ends_at=ends_at,
        entrances=entrances,
    )
    lang = request.state.lang
    try:
        data = CheckpointCreate(
            name=name,
            type=type,
            address=address,
            unit_code=unit_code,
            capacity=int(capacity) if capacity.strip() else None,
            latitude=float(latitude) if latitude.strip() else None,
            longitude=float(longitude) if longitude.strip() else None,
            starts_at=parse_local(starts_at) if starts_at.strip() else None,
            ends_at=parse_local(ends_at) if ends_at.strip() else None,
            entrances=[line for line in entrances.splitlines() if line.strip()],
        )
    except ValueError:
        return render(
            request,
            "checkpoint_new.html",
            _register_context(db, form, t("error.invalid", lang)),
            status_code=422,
        )
    service = CheckpointService(db, settings)
    try:
        cp = service.register(account, data)
    except DuplicateCheckpoint as exc:
        ctx = _register_context(db, form, message_of(request, exc))
        ctx["existing"] = {"id": exc.existing_id, "code": exc.existing_code}
        return render(request, "checkpoint_new.html", ctx, status_code=409)
    except DomainError as exc:
        return render(
            request,
            "checkpoint_new.html",
            _register_context(db, form, message_of(request, exc)),
            status_code=exc.status_code,
        )
    return redirect(f"/checkpoints/{cp.id}")


# Checkpoint detail, shared by owners, staff and officials ---------------------------------------
@router.get("/checkpoints/{checkpoint_id}", response_class=HTMLResponse)
def checkpoint_detail(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    error: str | None = None,
) -> Response:
    service = CheckpointService(db, settings)
    cp, role = service.get_for(principal, checkpoint_id)
    members = service.repo.members(cp.id) if role in ("owner", "official") else []
    if role == "official" and members:
        service.accounts.audit(principal, "read_members", "checkpoint", cp.id)
    entrances = [(e, service.qr_url(e)) for e in service.repo.entrances(cp.id)]
    return render(
        request,
        "checkpoint_detail.html",
        {
            "cp": cp,
            "role": role,
            "entrances": entrances,
            "members": members,
            "events": service.repo.events(cp.id),
            "unit_path": service.units.path(cp.unit_code),
            "actions": _actions_for(
                cp.status, role, principal.official.role if principal.official else ""
            ),
            "error": error,
        },
    )


def _actions_for(status: str, role: str, official_role: str) -> list[str]:
    actor = "health" if official_role == "health" else ("official" if role == "official" else role)
    return [
        action
        for action, (frm, _to, actors, _r) in rules.TRANSITIONS.items()
        if status in frm and actor in actors
    ]


def _on_checkpoint(
    request: Request,
    checkpoint_id: int,
    principal: Principal,
    db: SessionDep,
    settings: SettingsDep,
    do: Callable[[CheckpointService, Checkpoint], object],
) -> Response:
    """Run a form's action on a checkpoint: back to its page, or the page with the error (and
    nothing saved). Not signed in / not allowed / not found stay errors of their own."""
    service = CheckpointService(db, settings)
    try:
        do(service, service.get(checkpoint_id))
    except DomainError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        db.rollback()
        return checkpoint_detail(
            request, checkpoint_id, principal, db, settings, error=message_of(request, exc)
        )
    return redirect(f"/checkpoints/{checkpoint_id}")


@router.post("/checkpoints/{checkpoint_id}/action", response_class=HTMLResponse)
def checkpoint_action(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    action: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _on_checkpoint(
        request,
        checkpoint_id,
        principal,
        db,
        settings,
        lambda service, cp: service.apply(principal, cp, action, reason),
    )


@router.post("/checkpoints/{checkpoint_id}/entrances", response_class=HTMLResponse)
def checkpoint_add_entrance(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=10)] = "entrance",
) -> Response:
    return _on_checkpoint(
        request,
        checkpoint_id,
        principal,
        db,
        settings,
        lambda service, cp: service.add_entrance(principal, cp, name, kind),
    )


@router.post("/checkpoints/{checkpoint_id}/staff", response_class=HTMLResponse)
def checkpoint_add_staff(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    return _on_checkpoint(
        request,
        checkpoint_id,
        principal,
        db,
        settings,
        lambda service, cp: service.add_staff(principal, cp, phone),
    )


# Officials' list ----------------------------------------------------------------------------
@router.get("/officials/checkpoints", response_class=HTMLResponse)
def official_list(
    request: Request,
    official: OfficialDep,
    db: SessionDep,
    settings: SettingsDep,
    unit: str = Query(default="", max_length=16),
    status: str = Query(default="", max_length=12),
    type: str = Query(default="", max_length=20),
    q: str = Query(default="", max_length=200),
    page: int = Query(default=1, ge=1, le=100_000),
) -> Response:
    service = CheckpointService(db, settings)
    f = CheckpointFilter(
        unit_code=unit or None,
        status=status if status in rules.STATUSES else None,
        type=type if type in rules.TYPES else None,
        query=q or None,
    )
    result = service.list_for_official(official, f, PageParams(page, 50))
    names = service.repo.unit_names({c.unit_code for c in result.items})
    scope = unit or official.unit_code
    units = UnitRepository(db)
    return render(
        request,
        "official_list.html",
        {
            "result": result,
            "unit_names": names,
            "filters": {"unit": unit, "status": status, "type": type, "q": q},
            "scope": units.get(scope) if scope else None,
            "children": units.children(scope) if scope else units.children(None),
        },
    )


# Scanning a poster: the visitor's check-in page ----------------------------------------------
def _visit_page(
    request: Request,
    token: str,
    db: SessionDep,
    settings: SettingsDep,
    principal: OptionalPrincipal,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = request.state.lang
    service = VisitService(db, settings)
    try:
        result = service.checkpoints.resolve_token(token)
    except QrInvalid as exc:
        return render(
            request,
            "scan.html",
            {"result": None, "message": message_of(request, exc)},
            status_code=400,
        )
    if result.state != "ok":
        return render(
            request,
            "scan.html",
            {"result": result, "message": result.message(lang)},
            status_code=409,
        )
    person = person_from_request(request, principal, service.people)
    open_visit = service.open_visit(person) if person is not None else None
    done = request.query_params.get("r")
    return render(
        request,
        "visit.html",
        {
            "result": result,
            "token": token,
            "person": person,
            "person_name": mask_name(person.full_name) if person else "",
            "open_here": open_visit is not None and open_visit[1].id == result.checkpoint.id,
            "open_elsewhere": open_visit[1]
            if open_visit and open_visit[1].id != result.checkpoint.id
            else None,
            "open_visit": open_visit[0] if open_visit else None,
            "scan_id": str(uuid.uuid4()),
            "done": t(f"visit.{done}", lang, name=result.checkpoint.name)
            if done in ("check_in", "check_out", "duplicate")
            else None,
            "error": error,
            "form": form or {},
        },
        status_code=status_code,
    )


@router.get("/c/{token}", response_class=HTMLResponse)
def scan_landing(
    request: Request,
    token: str,
    db: SessionDep,
    settings: SettingsDep,
    principal: OptionalPrincipal,
) -> Response:
    return _visit_page(request, token, db, settings, principal)


@router.post("/c/{token}", response_class=HTMLResponse)
def scan_submit(
    request: Request,
    token: str,
    db: SessionDep,
    settings: SettingsDep,
    principal: OptionalPrincipal,
    scan_id: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(max_length=8)] = "in",
    full_name: Annotated[str, Form(max_length=1000)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    service = VisitService(db, settings)
    form = {"full_name": full_name, "phone": phone}
    try:
        parsed_id = parse_scan_id(scan_id)
        entrance, _cp = service.entrance(resolve_entrance_token(service, token))
        person = person_from_request(request, principal, service.people)
        if person is None:
            person = service.people.register(full_name, phone)
        outcome = service.scan(
            ScanCommand(
                scan_id=parsed_id,
                entrance_id=entrance.id,
                person_id=person.id,
                direction=check_direction(action),
                at=utcnow(),
                in_method="self",
            )
        )
    except QrInvalid:
        raise
    except DomainError as exc:
        db.rollback()
        return _visit_page(
            request,
            token,
            db,
            settings,
            principal,
            error=message_of(request, exc),
            form=form,
            status_code=exc.status_code,
        )
    response = redirect(f"/c/{token}?r={outcome.action}")
    remember_person(response, service.people.token(person), settings)
    return response


@router.post("/c/{token}/forget")
def scan_forget(token: str) -> Response:
    """On a shared phone: forget the remembered visitor."""
    response = redirect(f"/c/{token}")
    response.delete_cookie(PERSON_COOKIE)
    return response


# Live board and assisted check-in ---------------------------------------------------------------
@router.get("/checkpoints/{checkpoint_id}/visits", response_class=HTMLResponse)
def visit_board_page(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    hours: int = Query(default=12, ge=1, le=744),
) -> Response:
    service = VisitService(db, settings)
    cp = service.checkpoints.get(checkpoint_id)
    role = service.checkpoints.role_of(principal, cp)
    service.checkpoints.accounts.audit(principal, f"read_visits:{role}", "checkpoint", cp.id)
    now = utcnow()
    rows = service.repo.recent(cp.id, now - timedelta(hours=hours), 500)
    return render(
        request,
        "visit_board.html",
        {
            "cp": cp,
            "rows": rows,
            "now": now,
            "hours": hours,
            "occupancy": service.repo.occupancy(cp.id, now),
            "arrivals": sum(1 for v, _p in rows if v.check_in_at >= now - timedelta(hours=hours)),
            "departures": sum(1 for v, _p in rows if v.check_out_at and v.check_out_at <= now),
        },
    )


def _assist_context(
    service: VisitService, principal: Principal, checkpoint_id: int, **extra: Any
) -> dict[str, Any]:
    cp = service.checkpoints.get(checkpoint_id)
    service.require_staff(principal, cp)
    entrances = [e for e in service.checkpoints.repo.entrances(cp.id) if e.is_active]
    return {
        "cp": cp,
        "entrances": entrances,
        "scan_id": str(uuid.uuid4()),
        "result": None,
        "error": None,
        "step": "phone",
        "form": {},
        **extra,
    }


@router.get("/staff/assist/{checkpoint_id}", response_class=HTMLResponse)
def assist_page(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    return render(
        request,
        "staff_assist.html",
        _assist_context(VisitService(db, settings), principal, checkpoint_id),
    )


@router.post("/staff/assist/{checkpoint_id}", response_class=HTMLResponse)
def assist_submit(
    request: Request,
    checkpoint_id: int,
    principal: PrincipalDep,
    db: SessionDep,
    settings: SettingsDep,
    mode: Annotated[str, Form(max_length=10)] = "",
    scan_id: Annotated[str, Form(max_length=64)] = "",
    entrance_id: Annotated[int, Form()] = 0,
    phone: Annotated[str, Form(max_length=40)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    full_name: Annotated[str, Form(max_length=1000)] = "",
    birth_year: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    service = VisitService(db, settings)
    ctx = _assist_context(service, principal, checkpoint_id)
    ctx["form"] = {
        "phone": phone,
        "full_name": full_name,
        "birth_year": birth_year,
        "entrance_id": entrance_id,
    }
    lang = request.state.lang
    try:
        entrance, cp = service.entrance(entrance_id)
        if cp.id != checkpoint_id:
            raise Invalid("error.unknown_entrance")
        staff = service.require_staff(principal, cp)
        if mode == "code":
            normalized, _ = AccountService(db, settings).request_code(phone, client_ip(request))
            ctx.update(step="code", form={**ctx["form"], "phone": normalized})
            return render(request, "staff_assist.html", ctx)
        if mode == "verify":
            account = AccountService(db, settings).verify_code(phone, code, full_name)
            person = service.people.for_account(account)
            method = "assisted_sms"
        elif mode == "proxy":
            year = int(birth_year) if birth_year.strip().isdigit() else None
            if birth_year.strip() and year is None:
                raise Invalid("error.birth_year")
            person = service.people.register(full_name, phone or None, year, registered_by=staff)
            method = "assisted_proxy"
        else:
            raise Invalid("error.invalid_fields", fields="mode")
        outcome = service.staff_check_in(parse_scan_id(scan_id), entrance.id, person, staff, method)
    except DomainError as exc:
        if exc.status_code in (401, 403) and not exc.keep_changes:
            raise
        if exc.keep_changes:
            db.commit()
        else:
            db.rollback()
        ctx.update(error=message_of(request, exc), step="code" if mode == "verify" else "phone")
        return render(request, "staff_assist.html", ctx, status_code=exc.status_code)
    ctx["result"] = outcome.message(lang)
    if method == "assisted_proxy":
        ctx["card_url"] = f"/api/v1/visits/cards/{person.id}.pdf"
    return render(request, "staff_assist.html", ctx)
