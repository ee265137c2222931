"""Authentication and jurisdiction rules. Services flush but never commit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from phongdich.accounts.models import (
    ROLES,
    LoginFailure,
    LoginSession,
    Official,
    OtpChallenge,
    PhoneAccount,
)
from phongdich.accounts.passwords import burn_time, hash_password, verify_password
from phongdich.accounts.repository import AccountRepository
from phongdich.config import Settings
from phongdich.geo.repository import UnitRepository
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import Conflict, Forbidden, Invalid, TooManyRequests, Unauthenticated
from phongdich.kit.i18n import t
from phongdich.kit.phone import normalize_mobile
from phongdich.kit.text import clean
from phongdich.notify.service import Notifier


@dataclass(frozen=True)
class Principal:
    """Who is making the request."""

    kind: str  # "official" | "phone"
    official: Official | None = None
    account: PhoneAccount | None = None

    @property
    def actor(self) -> str:
        if self.official is not None:
            return f"official:{self.official.id}"
        assert self.account is not None
        return f"phone:{self.account.id}"


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = AccountRepository(session)
        self.units = UnitRepository(session)

    # Officials ------------------------------------------------------------------------------
    def create_official(
        self, username: str, password: str, full_name: str, role: str, unit_code: str | None
    ) -> Official:
        username = username.strip().lower()
        if not username or len(username) > 64:
            raise Invalid("error.username")
        if len(password) < 8:
            raise Invalid("error.password_short")
        if role not in ROLES:
            raise Invalid("error.role", role=role)
        if unit_code is None and role != "admin":
            raise Invalid("error.unit_required")
        if unit_code is not None and self.units.get(unit_code) is None:
            raise Invalid("error.unknown_unit", code=unit_code)
        if self.repo.official_by_username(username) is not None:
            raise Conflict("error.username_taken", username=username)
        official = Official(
            username=username,
            password_hash=hash_password(password),
            full_name=clean(full_name) or username,
            role=role,
            unit_code=unit_code,
        )
        self.repo.add(official)
        return official

    def authenticate_official(self, username: str, password: str) -> Official:
        username = (username or "").strip().lower()
        subject = f"pw:{username}"
        now = utcnow()
        window = now - timedelta(seconds=self.settings.otp_window_seconds)
        if self.repo.failures_since(subject, window) >= self.settings.login_failures_per_window:
            raise TooManyRequests("error.login_locked")
        official = self.repo.official_by_username(username)
        if official is None:
            burn_time(password)
        if (
            official is None
            or not official.is_active
            or not verify_password(official.password_hash, password)
        ):
            self.repo.add(LoginFailure(subject=subject))
            raise Unauthenticated("error.bad_credentials", keep_changes=True)
        return official

    def can_see_unit(self, official: Official, unit_code: str) -> bool:
        if official.unit_code is None:
            return official.role == "admin"
        return self.units.is_within(unit_code, official.unit_code)

    def require_unit_access(self, official: Official, unit_code: str) -> None:
        if not self.can_see_unit(official, unit_code):
            raise Forbidden("error.outside_jurisdiction")

    # Phone accounts and one-time codes ------------------------------------------------------
    def _code_hash(self, phone: str, code: str) -> str:
        key = self.settings.secret_key.encode()
        return hmac.new(key, f"otp:{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    def request_code(self, raw_phone: str, client_ip: str) -> tuple[str, OtpChallenge]:
        phone = normalize_mobile(raw_phone)
        if phone is None:
            raise Invalid("error.phone")
        s = self.settings
        now = utcnow()
        if (
            self.repo.otp_requests_since(phone, now - timedelta(seconds=s.otp_window_seconds))
            >= (s.otp_requests_per_window)
            or self.repo.otp_requests_since(phone, now - timedelta(days=1))
            >= s.otp_requests_per_day
        ):
            raise TooManyRequests("error.otp_too_many_requests")
        if (
            client_ip
            and self.repo.otp_requests_from_ip_since(client_ip, now - timedelta(hours=1))
            >= s.otp_requests_per_ip_hour
        ):
            raise TooManyRequests("error.otp_too_many_requests")
        if (
            self.repo.failures_since(f"otp:{phone}", now - timedelta(days=1))
            >= s.otp_failures_per_day
        ):
            raise TooManyRequests("error.otp_locked")
        self.repo.close_open_challenges(phone, now)
        code = f"{secrets.randbelow(1_000_000):06d}"
        challenge = OtpChallenge(
            phone=phone,
            code_hash=self._code_hash(phone, code),
            client_ip=client_ip[:64],
            created_at=now,
            expires_at=now + timedelta(seconds=s.otp_ttl_seconds),
        )
        self.repo.add(challenge)
        minutes = max(1, s.otp_ttl_seconds // 60)
        Notifier(self.session).sms(
            phone,
            t("sms.otp", "vi", code=code, minutes=minutes),
            purpose="otp",
        )
        return phone, challenge

    def verify_code(self, raw_phone: str, code: str, full_name: str = "") -> PhoneAccount:
        """Check the latest code; on success return the account, creating it on first sign-in.

        Wrong codes count against the challenge (``otp_max_attempts``, after which it is burnt)
        and against the phone for the day, so a 6-digit code cannot be brute-forced.
        """
        phone = normalize_mobile(raw_phone)
        if phone is None:
            raise Invalid("error.phone")
        code = (code or "").strip()
        now = utcnow()
        if self.repo.failures_since(f"otp:{phone}", now - timedelta(days=1)) >= (
            self.settings.otp_failures_per_day
        ):
            raise TooManyRequests("error.otp_locked")
        challenge = self.repo.latest_open_challenge(phone, now)
        if challenge is None:
            raise Invalid("error.otp_expired")
        if not (len(code) == 6 and code.isdigit()) or not hmac.compare_digest(
            challenge.code_hash, self._code_hash(phone, code)
        ):
            challenge.attempts += 1
            if challenge.attempts >= self.settings.otp_max_attempts:
                challenge.consumed_at = now
            self.repo.add(LoginFailure(subject=f"otp:{phone}"))
            # These counters must survive the failed request.
            raise Unauthenticated("error.otp_wrong", keep_changes=True)
        challenge.consumed_at = now
        account = self.repo.phone_account_by_phone(phone)
        name = clean(full_name)
        if len(name) > 200:
            raise Invalid("error.name_length")
        if account is None:
            account = PhoneAccount(phone=phone, full_name=name)
            self.repo.add(account)
        elif name and not account.full_name:
            account.full_name = name
        return account

    # Sessions ---------------------------------------------------------------------------------
    def start_session(self, kind: str, subject_id: int) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        self.repo.add(
            LoginSession(
                id=hash_session_token(token),
                kind=kind,
                subject_id=subject_id,
                created_at=now,
                expires_at=now + timedelta(hours=self.settings.session_ttl_hours),
            )
        )
        return token

    def resolve_session(self, token: str | None) -> Principal | None:
        if not token:
            return None
        record = self.repo.login_session(hash_session_token(token))
        if record is None or record.expires_at <= utcnow():
            return None
        if record.kind == "official":
            official = self.repo.official(record.subject_id)
            if official is None or not official.is_active:
                return None
            return Principal(kind="official", official=official)
        account = self.repo.phone_account(record.subject_id)
        return Principal(kind="phone", account=account) if account is not None else None

    def end_session(self, token: str | None) -> None:
        if token:
            self.repo.delete_login_session(hash_session_token(token))

    def audit(
        self,
        principal: Principal | None,
        action: str,
        object_type: str,
        object_id: object,
        detail: str = "",
    ) -> None:
        self.repo.audit(
            principal.actor if principal else "anonymous", action, object_type, object_id, detail
        )
