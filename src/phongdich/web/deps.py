"""Request-scoped dependencies: the database session (the commit boundary), language,
the signed-in principal and CSRF protection."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from phongdich.accounts.models import Official, PhoneAccount
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.kit.errors import DomainError, Forbidden, Unauthenticated
from phongdich.kit.i18n import pick_language

SESSION_COOKIE = "pd_session"
CSRF_COOKIE = "pd_csrf"
LANG_COOKIE = "lang"


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """The request boundary: commit when the handler succeeds, roll back when it fails
    (except for refusals that must be recorded, such as failed sign-in attempts)."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except DomainError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def get_lang(request: Request) -> str:
    lang: str = request.state.lang
    return lang


LangDep = Annotated[str, Depends(get_lang)]


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as plain values for page headers (safe after the session closes)."""

    kind: str
    name: str


def get_principal(request: Request, db: SessionDep, settings: SettingsDep) -> Principal | None:
    principal = AccountService(db, settings).resolve_session(request.cookies.get(SESSION_COOKIE))
    request.state.principal = principal
    if principal is not None and principal.official is not None:
        request.state.viewer = Viewer("official", principal.official.full_name)
    elif principal is not None and principal.account is not None:
        account = principal.account
        request.state.viewer = Viewer("phone", account.full_name or account.phone)
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(get_principal)]


def require_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise Unauthenticated()
    return principal


def require_official(principal: OptionalPrincipal) -> Official:
    if principal is None:
        raise Unauthenticated()
    if principal.official is None:
        raise Forbidden()
    return principal.official


def require_account(principal: OptionalPrincipal) -> PhoneAccount:
    if principal is None:
        raise Unauthenticated()
    if principal.account is None:
        raise Forbidden()
    return principal.account


PrincipalDep = Annotated[Principal, Depends(require_principal)]
OfficialDep = Annotated[Official, Depends(require_official)]
AccountDep = Annotated[PhoneAccount, Depends(require_account)]


class CsrfError(DomainError):
    status_code = 403
    code = "csrf"


async def csrf_protect(request: Request) -> None:
    """Double-submit check on every unsafe request: the ``pd_csrf`` cookie must be echoed in
    the ``X-CSRF-Token`` header (API) or the ``csrf_token`` form field (pages)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else ""
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfError("error.csrf")


def language_of(request: Request, default: str) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        default,
    )


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)
