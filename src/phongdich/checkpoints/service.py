"""Checkpoint rules: registration, staff, lifecycle, QR tokens, poster specs. Never commits."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from phongdich.accounts.models import Official, PhoneAccount
from phongdich.accounts.repository import AccountRepository
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints import rules
from phongdich.checkpoints.models import Checkpoint, CheckpointEvent, CheckpointMember, Entrance
from phongdich.checkpoints.posters import PosterSpec
from phongdich.checkpoints.repository import CheckpointFilter, CheckpointRepository
from phongdich.checkpoints.schemas import CheckpointCreate
from phongdich.config import Settings
from phongdich.geo.service import UnitService
from phongdich.kit import signing
from phongdich.kit.clock import fmt_local, utcnow
from phongdich.kit.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from phongdich.kit.i18n import t
from phongdich.kit.pagination import Page, PageParams
from phongdich.kit.phone import normalize_mobile
from phongdich.kit.text import clean, fold, sms_safe
from phongdich.notify.service import Notifier

_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


class DuplicateCheckpoint(Conflict):
    def __init__(self, existing: Checkpoint) -> None:
        super().__init__("error.duplicate_checkpoint", code=existing.code)
        # Plain values: the session is rolled back before the error is rendered.
        self.existing_id = existing.id
        self.existing_code = existing.code


@dataclass(frozen=True)
class ScanResult:
    state: str  # rules.scan_state, or "entrance_closed"
    checkpoint: Checkpoint
    entrance: Entrance

    def message(self, lang: str) -> str:
        cp = self.checkpoint
        key = "scan.entrance_closed" if self.state == "entrance_closed" else f"scan.{self.state}"
        return t(
            key,
            lang,
            name=cp.name,
            entrance=self.entrance.name,
            reason=cp.status_reason,
            end=fmt_local(cp.ends_at),
            start=fmt_local(cp.starts_at),
        )


class CheckpointService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = CheckpointRepository(session)
        self.units = UnitService(session)
        self.accounts = AccountService(session, settings)

    # Registration ---------------------------------------------------------------------------
    def register(self, owner: PhoneAccount, data: CheckpointCreate) -> Checkpoint:
        name = clean(data.name)
        address = clean(data.address)
        if not 1 <= len(name) <= 200:
            raise Invalid("error.name_length")
        if not 1 <= len(address) <= 300:
            raise Invalid("error.address_length")
        if data.type not in rules.TYPES:
            raise Invalid("error.checkpoint_type", type=data.type)
        unit = self.units.require(data.unit_code)
        if (data.latitude is None) != (data.longitude is None) or (
            data.latitude is not None
            and data.longitude is not None
            and not (-90 <= data.latitude <= 90 and -180 <= data.longitude <= 180)
        ):
            raise Invalid("error.coordinates")
        if data.capacity is not None and not 0 < data.capacity <= 10_000_000:
            raise Invalid("error.capacity")
        for moment in (data.starts_at, data.ends_at):
            if moment is not None and moment.tzinfo is None:
                raise Invalid("error.event_window")
        if data.type in rules.TIME_BOUNDED_TYPES and data.ends_at is None:
            raise Invalid("error.event_end_required")
        if data.ends_at is not None and (
            data.ends_at <= utcnow()
            or (data.starts_at is not None and data.starts_at >= data.ends_at)
        ):
            raise Invalid("error.event_window")
        entrance_names = [clean(n) for n in data.entrances]
        if not entrance_names or any(not 1 <= len(n) <= 120 for n in entrance_names):
            raise Invalid("error.entrances")
        name_key, address_key = fold(name), fold(address)
        existing = self.repo.find_duplicate(unit.code, name_key, address_key)
        if existing is not None:
            raise DuplicateCheckpoint(existing)
        checkpoint = Checkpoint(
            code=self._new_code(),
            name=name,
            type=data.type,
            address=address,
            unit_code=unit.code,
            latitude=data.latitude,
            longitude=data.longitude,
            capacity=data.capacity,
            owner_id=owner.id,
            status=rules.REGISTERED,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            name_key=name_key,
            address_key=address_key,
        )
        self.repo.add(checkpoint)
        for entrance_name in entrance_names:
            kind = "room" if fold(entrance_name).startswith(("phong", "hoi truong")) else "entrance"
            self.repo.add(Entrance(checkpoint_id=checkpoint.id, name=entrance_name, kind=kind))
        self.repo.add(
            CheckpointMember(checkpoint_id=checkpoint.id, account_id=owner.id, role="owner")
        )
        self._event(checkpoint, "register", "", rules.REGISTERED, "", f"phone:{owner.id}")
        return checkpoint

    def _new_code(self) -> str:
        for _ in range(20):
            code = "KD-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
            if not self.repo.code_exists(code):
                return code
        raise RuntimeError("could not allocate a checkpoint code")  # 31^8 codes: never in practice

    def _event(
        self, cp: Checkpoint, action: str, frm: str, to: str, reason: str, actor: str
    ) -> None:
        self.repo.add(
            CheckpointEvent(
                checkpoint_id=cp.id,
                action=action,
                from_status=frm,
                to_status=to,
                reason=reason,
                actor=actor,
            )
        )

    # Access ---------------------------------------------------------------------------------
    def get(self, checkpoint_id: int) -> Checkpoint:
        cp = self.repo.get(checkpoint_id)
        if cp is None:
            raise NotFound()
        return cp

    def role_of(self, principal: Principal, cp: Checkpoint) -> str:
        """official / owner / staff; raises Forbidden for anybody else."""
        if principal.official is not None:
            self.accounts.require_unit_access(principal.official, cp.unit_code)
            return "official"
        assert principal.account is not None
        member = self.repo.member(cp.id, principal.account.id)
        if member is None:
            raise Forbidden()
        return member.role

    def get_for(self, principal: Principal, checkpoint_id: int) -> tuple[Checkpoint, str]:
        cp = self.get(checkpoint_id)
        return cp, self.role_of(principal, cp)

    def list_for_official(
        self, official: Official, f: CheckpointFilter, page: PageParams
    ) -> Page[Checkpoint]:
        unit_code = f.unit_code or official.unit_code
        if unit_code is not None:
            self.units.require(unit_code)
            self.accounts.require_unit_access(official, unit_code)
        elif official.role != "admin":
            raise Forbidden("error.outside_jurisdiction")
        return self.repo.page(
            CheckpointFilter(
                unit_code=unit_code,
                status=f.status,
                type=f.type,
                query=fold(f.query) if f.query else None,
            ),
            page,
        )

    def list_for_account(self, account: PhoneAccount, page: PageParams) -> Page[Checkpoint]:
        return self.repo.page(CheckpointFilter(owner_id=account.id), page)

    # Lifecycle --------------------------------------------------------------------------------
    def apply(self, principal: Principal, cp: Checkpoint, action: str, reason: str) -> Checkpoint:
        role = self.role_of(principal, cp)
        actor_kind = "official" if role == "official" else ("owner" if role == "owner" else "staff")
        if principal.official is not None and principal.official.role == "health":
            actor_kind = "health"  # health officials read, the administration decides
        try:
            step = rules.transition(cp.status, action, actor_kind, reason)
        except rules.TransitionError as exc:
            if exc.message_key == "error.forbidden":
                raise Forbidden() from exc
            raise Conflict(exc.message_key) from exc
        cp.status = step.to_status
        cp.status_reason = step.reason
        cp.updated_at = utcnow()
        self._event(cp, action, step.from_status, step.to_status, step.reason, principal.actor)
        owner = AccountRepository(self.session).phone_account(cp.owner_id)
        if owner is not None and principal.official is not None:
            Notifier(self.session).sms(
                owner.phone,
                t(
                    "sms.status_changed",
                    "vi",
                    code=cp.code,
                    status=sms_safe(t(f"status.{cp.status}"), 40),
                    reason=sms_safe(step.reason, 120),
                ),
                purpose="checkpoint_status",
            )
        return cp

    # Entrances and staff ----------------------------------------------------------------------
    def add_entrance(self, principal: Principal, cp: Checkpoint, name: str, kind: str) -> Entrance:
        if self.role_of(principal, cp) not in ("owner", "official"):
            raise Forbidden()
        name = clean(name)
        if not 1 <= len(name) <= 120 or kind not in ("entrance", "room"):
            raise Invalid("error.entrances")
        if cp.status == rules.CLOSED:
            raise Conflict("error.bad_transition")
        entrance = Entrance(checkpoint_id=cp.id, name=name, kind=kind)
        self.repo.add(entrance)
        return entrance

    def set_entrance_active(
        self, principal: Principal, cp: Checkpoint, entrance_id: int, active: bool
    ) -> Entrance:
        if self.role_of(principal, cp) not in ("owner", "official"):
            raise Forbidden()
        entrance = self.repo.entrance(entrance_id)
        if entrance is None or entrance.checkpoint_id != cp.id:
            raise NotFound()
        entrance.is_active = active
        return entrance

    def add_staff(self, principal: Principal, cp: Checkpoint, raw_phone: str) -> CheckpointMember:
        if self.role_of(principal, cp) != "owner":
            raise Forbidden()
        phone = normalize_mobile(raw_phone)
        if phone is None:
            raise Invalid("error.phone")
        accounts = AccountRepository(self.session)
        account = accounts.phone_account_by_phone(phone)
        if account is None:
            account = PhoneAccount(phone=phone)
            accounts.add(account)
        if self.repo.member(cp.id, account.id) is not None:
            raise Conflict("error.already_member")
        member = CheckpointMember(checkpoint_id=cp.id, account_id=account.id, role="staff")
        self.repo.add(member)
        Notifier(self.session).sms(
            phone,
            t("sms.staff_added", "vi", name=sms_safe(cp.name, 60), code=cp.code),
            purpose="staff",
        )
        return member

    def remove_staff(self, principal: Principal, cp: Checkpoint, account_id: int) -> None:
        if self.role_of(principal, cp) != "owner":
            raise Forbidden()
        member = self.repo.member(cp.id, account_id)
        if member is None or member.role != "staff":
            raise NotFound()
        self.session.delete(member)

    # QR tokens ----------------------------------------------------------------------------------
    def qr_url(self, entrance: Entrance) -> str:
        keys = self.settings.qr_key_bytes()
        kid = self.settings.qr_active_key if self.settings.qr_keys else 1
        token = signing.sign(keys, kid, signing.KIND_ENTRANCE, entrance.id)
        return f"{self.settings.public_base_url.rstrip('/')}/c/{token}"

    def resolve_token(self, token: str) -> ScanResult:
        try:
            parsed = signing.verify(self.settings.qr_key_bytes(), token)
        except signing.TokenError as exc:
            raise QrInvalid() from exc
        if parsed.kind != signing.KIND_ENTRANCE:
            raise QrInvalid()
        entrance = self.repo.entrance(parsed.object_id)
        if entrance is None:
            raise QrInvalid()
        cp = self.get(entrance.checkpoint_id)
        state = rules.scan_state(cp.status, cp.starts_at, cp.ends_at, utcnow())
        if state == "ok" and not entrance.is_active:
            state = "entrance_closed"
        return ScanResult(state=state, checkpoint=cp, entrance=entrance)

    # Posters --------------------------------------------------------------------------------------
    def poster_specs(self, cp: Checkpoint) -> list[PosterSpec]:
        if cp.status != rules.ACTIVE:
            raise Conflict("error.not_active_for_posters")
        specs = [self._spec(cp, e) for e in self.repo.entrances(cp.id) if e.is_active]
        if not specs:
            raise Conflict("error.no_active_entrances")
        return specs

    def _spec(self, cp: Checkpoint, entrance: Entrance) -> PosterSpec:
        return PosterSpec(
            venue_name=cp.name,
            checkpoint_code=cp.code,
            entrance_name=entrance.name,
            address=cp.address,
            url=self.qr_url(entrance),
            valid_until=fmt_local(cp.ends_at) if cp.ends_at else None,
        )

    def count_printable(self, unit_code: str) -> int:
        return self.repo.count(CheckpointFilter(unit_code=unit_code, status=rules.ACTIVE))

    def poster_groups(self, unit_code: str) -> Iterator[tuple[str, list[PosterSpec]]]:
        """(file name, specs) for every active checkpoint under the unit, streamed."""
        f = CheckpointFilter(unit_code=unit_code, status=rules.ACTIVE)
        for cp, entrances in self.repo.iter_with_entrances(f):
            if entrances:
                yield f"{cp.code}.pdf", [self._spec(cp, e) for e in entrances]


class QrInvalid(DomainError):
    status_code = 400
    code = "qr_invalid"

    def __init__(self) -> None:
        super().__init__("error.qr_invalid")
