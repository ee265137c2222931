"""Sign-in for officials (password) and for phone accounts (SMS code)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from phongdich.accounts.schemas import Me, OfficialLogin, OtpRequest, OtpSent, OtpVerify
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.web.deps import (
    SESSION_COOKIE,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    csrf_protect,
)

router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(csrf_protect)])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_ttl_hours * 3600,
    )


def me_of(principal: Principal) -> Me:
    if principal.official is not None:
        o = principal.official
        return Me(
            kind="official", id=o.id, display_name=o.full_name, role=o.role, unit_code=o.unit_code
        )
    assert principal.account is not None
    a = principal.account
    return Me(kind="phone", id=a.id, display_name=a.full_name or a.phone, phone=a.phone)


@router.post("/login", response_model=Me, summary="Official sign-in with username and password")
def login(body: OfficialLogin, response: Response, db: SessionDep, settings: SettingsDep) -> Me:
    service = AccountService(db, settings)
    official = service.authenticate_official(body.username, body.password)
    set_session_cookie(response, service.start_session("official", official.id), settings)
    return me_of(Principal(kind="official", official=official))


@router.post("/otp/request", response_model=OtpSent, summary="Send a one-time SMS code")
def otp_request(
    body: OtpRequest, request: Request, db: SessionDep, settings: SettingsDep
) -> OtpSent:
    phone, _ = AccountService(db, settings).request_code(body.phone, client_ip(request))
    return OtpSent(phone=phone, expires_in=settings.otp_ttl_seconds)


@router.post("/otp/verify", response_model=Me, summary="Sign in (or sign up) with the SMS code")
def otp_verify(body: OtpVerify, response: Response, db: SessionDep, settings: SettingsDep) -> Me:
    service = AccountService(db, settings)
    account = service.verify_code(body.phone, body.code, body.full_name)
    set_session_cookie(response, service.start_session("phone", account.id), settings)
    return me_of(Principal(kind="phone", account=account))


@router.post("/logout", status_code=204, summary="End the session")
def logout(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    AccountService(db, settings).end_session(request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=Me, summary="Who is signed in")
def me(principal: PrincipalDep) -> Me:
    return me_of(principal)
