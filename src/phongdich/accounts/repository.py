from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from phongdich.accounts.models import (
    AuditEvent,
    LoginFailure,
    LoginSession,
    Official,
    OtpChallenge,
    PhoneAccount,
)
from phongdich.kit.clock import utcnow


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Officials
    def official_by_username(self, username: str) -> Official | None:
        return self.session.scalar(select(Official).where(Official.username == username))

    def official(self, official_id: int) -> Official | None:
        return self.session.get(Official, official_id)

    def add(self, obj: object) -> None:
        self.session.add(obj)
        self.session.flush()

    def officials(self) -> Sequence[Official]:
        return self.session.scalars(select(Official).order_by(Official.id)).all()

    # Phone accounts
    def phone_account(self, account_id: int) -> PhoneAccount | None:
        return self.session.get(PhoneAccount, account_id)

    def phone_account_by_phone(self, phone: str) -> PhoneAccount | None:
        return self.session.scalar(select(PhoneAccount).where(PhoneAccount.phone == phone))

    # One-time codes
    def otp_requests_since(self, phone: str, since: datetime) -> int:
        stmt = select(func.count()).where(
            OtpChallenge.phone == phone, OtpChallenge.created_at >= since
        )
        return self.session.scalar(stmt) or 0

    def otp_requests_from_ip_since(self, ip: str, since: datetime) -> int:
        stmt = select(func.count()).where(
            OtpChallenge.client_ip == ip, OtpChallenge.created_at >= since
        )
        return self.session.scalar(stmt) or 0

    def latest_open_challenge(self, phone: str, now: datetime) -> OtpChallenge | None:
        stmt = (
            select(OtpChallenge)
            .where(
                OtpChallenge.phone == phone,
                OtpChallenge.consumed_at.is_(None),
                OtpChallenge.expires_at > now,
            )
            .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc())
            .limit(1)
        )
        return self.session.scalar(stmt)

    def close_open_challenges(self, phone: str, now: datetime) -> None:
        for ch in self.session.scalars(
            select(OtpChallenge).where(
                OtpChallenge.phone == phone, OtpChallenge.consumed_at.is_(None)
            )
        ):
            ch.consumed_at = now

    def failures_since(self, subject: str, since: datetime) -> int:
        stmt = select(func.count()).where(LoginFailure.subject == subject, LoginFailure.at >= since)
        return self.session.scalar(stmt) or 0

    # Sessions
    def login_session(self, session_id: str) -> LoginSession | None:
        return self.session.get(LoginSession, session_id)

    def delete_login_session(self, session_id: str) -> None:
        self.session.execute(delete(LoginSession).where(LoginSession.id == session_id))

    # Retention
    def purge(
        self, now: datetime, otp_before: datetime, failures_before: datetime
    ) -> dict[str, int]:
        counts = {}
        for name, stmt in (
            ("sessions", delete(LoginSession).where(LoginSession.expires_at < now)),
            ("otp_challenges", delete(OtpChallenge).where(OtpChallenge.created_at < otp_before)),
            ("login_failures", delete(LoginFailure).where(LoginFailure.at < failures_before)),
        ):
            counts[name] = self.session.execute(stmt).rowcount  # type: ignore[attr-defined]
        return counts

    # Audit
    def audit(
        self, actor: str, action: str, object_type: str, object_id: object, detail: str = ""
    ) -> None:
        self.session.add(
            AuditEvent(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=str(object_id),
                detail=detail[:2000],
            )
        )

    def audit_many(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_ids: Sequence[object],
        detail: str = "",
    ) -> None:
        """One audit row per object, in one statement (an export of many people)."""
        if not object_ids:
            return
        now = utcnow()
        self.session.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": action,
                    "object_type": object_type,
                    "object_id": str(object_id),
                    "detail": detail[:2000],
                }
                for object_id in object_ids
            ],
        )

    def audit_events(self, limit: int = 100) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        return self.session.scalars(stmt).all()
