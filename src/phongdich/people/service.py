"""People: the registry (one identity per person), households, health declarations, the
personal health status and its signed QR pass, and the officials' views and merge."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session

from phongdich.accounts.models import Official, PhoneAccount
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.geo.service import UnitService
from phongdich.kit import signing
from phongdich.kit.clock import VN, utcnow
from phongdich.kit.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from phongdich.kit.i18n import LANGUAGES
from phongdich.kit.pagination import Page, PageParams
from phongdich.kit.phone import normalize_mobile
from phongdich.kit.text import clean, fold
from phongdich.people import healthqr, identity, status
from phongdich.people.models import Declaration, DuplicateCandidate, HouseholdMember, Person
from phongdich.people.repository import DeclarationFilter, PersonRepository
from phongdich.people.schemas import (
    DECLARATION_KINDS,
    RELATIONS,
    TRANSPORTS,
    DeclarationIn,
    DependantIn,
    ProfileIn,
)
from phongdich.tracing.rules import trip_key

# How far a movement declaration may look back or ahead.
TRAVEL_PAST = timedelta(days=14)
TRAVEL_AHEAD = timedelta(days=30)


@dataclass(frozen=True)
class PersonStatus:
    person: Person
    assessment: status.Assessment
    qr: str
    qr_expires_at: datetime


@lru_cache(maxsize=8)
def _ring(seeds: tuple[tuple[int, bytes], ...], active: int, public: tuple[tuple[int, bytes], ...]):  # type: ignore[no-untyped-def]
    return healthqr.KeyRing(dict(seeds), active, dict(public))


def key_ring(settings: Settings) -> healthqr.KeyRing:
    """The health QR key ring of these settings (built once: key objects are cached)."""
    seeds = tuple(sorted(settings.health_qr_seeds().items()))
    public = tuple(sorted(settings.health_qr_public().items()))
    active = settings.health_qr_active_key if settings.health_qr_keys else 1
    ring: healthqr.KeyRing = _ring(seeds, active, public)
    return ring


def read_pass(
    settings: Settings, text: str, now: datetime, scanned_at: datetime | None = None
) -> healthqr.HealthPass:
    """A scanned personal QR, checked offline (signature, key, validity): a clear error if not.

    A scan queued offline may arrive after its pass expired: a pass that was valid when it was
    scanned (``scanned_at``, earlier than now) is accepted."""
    ring = key_ring(settings)
    try:
        return ring.verify(text, now)
    except healthqr.QrError as exc:
        if exc.code == "expired" and scanned_at is not None and scanned_at < now:
            try:
                return ring.verify(text, scanned_at)
            except healthqr.QrError:
                pass
        key = "error.health_qr_expired" if exc.code == "expired" else "error.person_qr"
        raise Invalid(key) from exc


class PersonService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = PersonRepository(session)

    # Registry ---------------------------------------------------------------------------------
    def register(
        self,
        full_name: str,
        phone: str | None,
        birth_year: int | None = None,
        *,
        registered_by: PhoneAccount | None = None,
    ) -> Person:
        """A person as given by themselves or by staff; the same name + phone is the same person."""
        name = _name(full_name)
        normalized = _phone(phone)
        this_year = utcnow().astimezone(VN).year
        if birth_year is not None and not this_year - 120 <= birth_year <= this_year:
            raise Invalid("error.birth_year")
        if normalized is not None:
            existing = self.repo.by_phone_and_name(normalized, fold(name))
            if existing is not None:
                if birth_year and not existing.birth_year:
                    existing.birth_year = birth_year
                return existing
        person = Person(
            full_name=name,
            name_key=fold(name),
            phone=normalized,
            birth_year=birth_year,
            registered_by=registered_by.id if registered_by else None,
        )
        self.repo.add(person)
        return person

    def for_account(self, account: PhoneAccount) -> Person:
        """The person a phone account stands for, created on first use, in its own household."""
        person = self.repo.by_account(account.id)
        if person is None:
            key = fold(account.full_name or "")
            person = self.repo.by_phone_and_name(account.phone, key) if key else None
            if person is None:
                name = account.full_name or account.phone
                person = Person(full_name=name, name_key=fold(name), phone=account.phone)
                self.repo.add(person)
            person.account_id = account.id
        if self.repo.membership(account.id, person.id) is None:
            self.repo.add_member(
                HouseholdMember(account_id=account.id, person_id=person.id, relation="self")
            )
        return person

    def update_profile(self, person: Person, data: ProfileIn) -> list[tuple[Person, str]]:
        """Validate and store the registry fields; returns look-alike records flagged for the
        officials (same ID number, or same phone + name + birth year)."""
        _apply_profile(person, data, self._units(), keep_phone=person.account_id is not None)
        person.updated_at = utcnow()
        self.session.flush()
        return self._flag_look_alikes(person)

    def _flag_look_alikes(self, person: Person) -> list[tuple[Person, str]]:
        found = self.repo.look_alikes(person)
        for other, reason in found:
            self.repo.add_candidate(person.id, other.id, reason)
        return found

    def _units(self) -> UnitService:
        return UnitService(self.session)

    # Households -------------------------------------------------------------------------------
    def household(self, account: PhoneAccount) -> list[tuple[HouseholdMember, Person]]:
        self.for_account(account)
        return self.repo.household(account.id)

    def add_dependant(
        self, account: PhoneAccount, data: DependantIn
    ) -> tuple[Person, list[tuple[Person, str]]]:
        """A child or an elderly person without a phone, declared for by this account."""
        if data.relation not in RELATIONS or data.relation == "self":
            raise Invalid("error.relation")
        me = self.for_account(account)
        person = Person(full_name="", name_key="", registered_by=account.id)
        if not data.unit_code:
            data = data.model_copy(update={"unit_code": me.unit_code, "address": me.address})
        _apply_profile(person, data, self._units(), keep_phone=False)
        self.repo.add(person)
        self.repo.add_member(
            HouseholdMember(account_id=account.id, person_id=person.id, relation=data.relation)
        )
        return person, self._flag_look_alikes(person)

    def of_household(self, account: PhoneAccount, person_id: int) -> Person:
        """A person this account may declare for and check in, or 403."""
        self.for_account(account)
        membership = self.repo.membership(account.id, person_id)
        person = self.repo.get(person_id) if membership is not None else None
        if person is None or person.merged_into is not None:
            raise Forbidden("error.not_household")
        return person

    # Device token and health pass --------------------------------------------------------------
    def token(self, person: Person) -> str:
        """The opaque token a visitor's device keeps in a cookie (not a QR code)."""
        keys = self.settings.qr_key_bytes()
        kid = self.settings.qr_active_key if self.settings.qr_keys else 1
        return signing.sign(keys, kid, signing.KIND_PERSON, person.id)

    def person_id_from_token(self, token: str) -> int:
        return person_id_from_token(self.settings, token)

    def from_token(self, token: str) -> Person:
        """The person a device cookie remembers (the surviving one after a merge)."""
        person = self.repo.get(self.person_id_from_token(token))
        if person is not None and person.merged_into is not None:
            person = self.repo.get(person.merged_into)
        if person is None:
            raise Invalid("error.person_qr")
        return person

    def card_pass(self, person: Person, now: datetime | None = None) -> str:
        """The long-lived QR of a printed card: no status, the scanner asks the server."""
        now = (now or utcnow()).replace(microsecond=0)
        expires = now + timedelta(days=self.settings.health_card_days)
        return key_ring(self.settings).issue(bytes.fromhex(person.qr_subject), "card", now, expires)

    def from_pass(
        self, text: str, now: datetime | None = None
    ) -> tuple[Person, healthqr.HealthPass]:
        scanned = read_pass(self.settings, text, now or utcnow())
        found = self.repo.by_subjects([scanned.subject.hex()])
        if not found:
            raise Invalid("error.person_qr")
        person = self.repo.get(found[scanned.subject.hex()][0])
        assert person is not None
        return person, scanned

    # Declarations and status ------------------------------------------------------------------
    def declare(self, account: PhoneAccount, person_id: int, data: DeclarationIn) -> Declaration:
        """Submit a declaration for oneself or a household member; immutable once stored."""
        person = self.of_household(account, person_id)
        if data.kind not in DECLARATION_KINDS:
            raise Invalid("error.declaration_kind")
        if data.corrects_id is not None:
            earlier = self.repo.declaration(data.corrects_id)
            if earlier is None or earlier.person_id != person.id or earlier.kind != data.kind:
                raise Invalid("error.declaration_corrects")
        now = utcnow()
        symptoms = sorted(set(data.symptoms))
        for code in symptoms:
            if code not in status.SYMPTOMS:
                raise Invalid("error.symptom", code=code[:30])
        details: dict[str, object] = {}
        if data.kind == "movement":
            details = self._movement(data, now)
            symptoms = []
        else:
            details = {"travel_places": clean(data.travel_places), "notes": clean(data.notes)}
        declaration = Declaration(
            person_id=person.id,
            kind=data.kind,
            submitted_at=now,
            submitted_by=account.id,
            corrects_id=data.corrects_id,
            unit_code=person.unit_code,
            symptoms=",".join(symptoms),
            contact_confirmed=data.kind != "movement" and data.contact_confirmed,
            contact_suspected=data.kind != "movement" and data.contact_suspected,
            outbreak_area=data.kind != "movement" and data.outbreak_area,
            travelled=data.kind == "movement" or data.travelled,
            details=json.dumps(details, ensure_ascii=False, default=str),
            trip_key=trip_key(data.transport or "", data.vehicle_no, data.travel_date)
            if data.kind == "movement" and data.travel_date is not None
            else None,
        )
        declaration.assessed = (
            "green"
            if data.kind == "movement"
            else status.assess(
                status.StatusInputs(declaration=facts(declaration)), now, self.rules()
            ).color
        )
        self.repo.add_declaration(declaration)
        return declaration

    def _movement(self, data: DeclarationIn, now: datetime) -> dict[str, object]:
        units = self._units()
        if not (data.from_unit and data.to_unit and data.transport and data.travel_date):
            missing = [
                name
                for name in ("from_unit", "to_unit", "transport", "travel_date")
                if not getattr(data, name)
            ]
            raise Invalid("error.invalid_fields", fields=", ".join(missing))
        origin, destination = units.require(data.from_unit), units.require(data.to_unit)
        if data.transport not in TRANSPORTS:
            raise Invalid("error.transport")
        today = now.astimezone(VN).date()
        if not today - TRAVEL_PAST <= data.travel_date <= today + TRAVEL_AHEAD:
            raise Invalid("error.travel_date")
        return {
            "from_unit": origin.code,
            "from_unit_name": origin.name,
            "from_address": clean(data.from_address),
            "to_unit": destination.code,
            "to_unit_name": destination.name,
            "to_address": clean(data.to_address),
            "transport": data.transport,
            "travel_date": data.travel_date.isoformat(),
            "vehicle_no": clean(data.vehicle_no).upper(),
        }

    def rules(self) -> status.StatusRules:
        return status.StatusRules(
            declaration_valid=timedelta(days=self.settings.declaration_valid_days)
        )

    def status_of(self, person: Person, now: datetime | None = None) -> PersonStatus:
        """The person's colour with its reasons, and a fresh signed QR pass that expires when
        the colour could change (at most the pass lifetime)."""
        now = (now or utcnow()).replace(microsecond=0)
        rules = self.rules()
        latest = self.repo.latest_health([person.id]).get(person.id)
        # Tracing (F0/F1/F2) and quarantine orders feed in here once those modules exist.
        inputs = status.StatusInputs(declaration=facts(latest) if latest else None)
        assessment = status.assess(inputs, now, rules)
        expires = min(now + rules.pass_lifetime, assessment.valid_until)
        expires = max(expires, now + timedelta(minutes=1))
        qr = key_ring(self.settings).issue(
            bytes.fromhex(person.qr_subject), assessment.color, now, expires
        )
        return PersonStatus(person, assessment, qr, expires)

    def colors(self, person_ids: list[int], now: datetime | None = None) -> dict[int, str]:
        """Current colours (for printed cards scanned at a checkpoint: they carry none)."""
        now = now or utcnow()
        latest = self.repo.latest_health(person_ids)
        rules = self.rules()
        return {
            pid: status.assess(
                status.StatusInputs(declaration=facts(latest[pid]) if pid in latest else None),
                now,
                rules,
            ).color
            for pid in person_ids
        }


class OfficialPeopleService:
    """What officials see of people: inside their jurisdiction only, every identity read
    audited (who, when, which person, from which page or export)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = PersonRepository(session)
        self.accounts = AccountService(session, settings)

    def scope(self, official: Official, unit_code: str | None) -> str | None:
        """The unit to look at: the one asked for (inside the jurisdiction) or the jurisdiction;
        None means the whole country (national administrators only)."""
        code = (unit_code or "").strip() or official.unit_code
        if code is None:
            if official.role != "admin":
                raise Forbidden("error.outside_jurisdiction")
            return None
        UnitService(self.session).require(code)
        self.accounts.require_unit_access(official, code)
        return code

    def can_see(self, official: Official, person: Person) -> bool:
        if official.unit_code is None:
            return official.role == "admin"
        return person.unit_code is not None and self.accounts.can_see_unit(
            official, person.unit_code
        )

    def summary(
        self, official: Official, unit_code: str | None, start: date, end: date
    ) -> tuple[str | None, dict[str, dict[str, int]]]:
        """Declaration counts by colour for each child unit of the scope."""
        scope = self.scope(official, unit_code)
        out: dict[str, dict[str, int]] = {}
        for code, colour, count in self.repo.declaration_rollup(_filter(scope, start, end)):
            row = out.setdefault(code, {"green": 0, "yellow": 0, "red": 0, "total": 0})
            row[colour] = row.get(colour, 0) + count
            row["total"] += count
        return scope, out

    def declarations(
        self,
        principal: Principal,
        official: Official,
        unit_code: str | None,
        start: date,
        end: date,
        page: PageParams,
        assessed: str | None = None,
        kind: str | None = None,
        source: str = "page",
    ) -> Page[tuple[Declaration, Person]]:
        scope = self.scope(official, unit_code)
        result = self.repo.declaration_page(_filter(scope, start, end, kind, assessed), page)
        self.accounts.repo.audit_many(
            principal.actor,
            "read_person",
            "person",
            sorted({p.id for _d, p in result.items}),
            f"declarations {source}",
        )
        return result

    def export_rows(
        self,
        principal: Principal,
        official: Official,
        unit_code: str | None,
        start: date,
        end: date,
        fmt: str,
    ) -> Iterator[list[tuple[Declaration, Person]]]:
        """Batches of the line list for an export; each batch's people audited as exported."""
        scope = self.scope(official, unit_code)
        for rows in self.repo.iter_declarations(_filter(scope, start, end)):
            self.accounts.repo.audit_many(
                principal.actor,
                "export_person",
                "person",
                sorted({p.id for _d, p in rows}),
                f"declarations export {fmt}",
            )
            yield rows

    def search(
        self, principal: Principal, official: Official, query: str, unit_code: str | None = None
    ) -> list[Person]:
        scope = self.scope(official, unit_code)
        query = clean(query)
        if len(query) < 2:
            raise Invalid("error.search_short")
        digits = query.replace(" ", "")
        phone = normalize_mobile(digits) if digits.lstrip("+").isdigit() else None
        id_number = digits if digits.isdigit() and len(digits) in (9, 12) else None
        if id_number is None and digits.isalnum() and any(c.isdigit() for c in digits):
            id_number = digits.upper() if not phone else None
        found = list(self.repo.search(scope, fold(query), phone, id_number, limit=50))
        self.accounts.repo.audit_many(
            principal.actor, "read_person", "person", [p.id for p in found], "people search"
        )
        return found

    def person(self, principal: Principal, official: Official, person_id: int) -> Person:
        person = self.repo.get(person_id)
        if person is None:
            raise NotFound()
        if person.merged_into is not None:
            person = self.repo.get(person.merged_into) or person
        if not self.can_see(official, person):
            raise Forbidden("error.outside_jurisdiction")
        self.accounts.audit(principal, "read_person", "person", person.id, "person page")
        return person

    def candidates(
        self, principal: Principal, official: Official, source: str = "page"
    ) -> list[tuple[DuplicateCandidate, Person, Person]]:
        """Open look-alike pairs inside the jurisdiction; the people shown are audited."""
        scope = self.scope(official, None)
        pairs = list(self.repo.open_candidates(scope))
        shown = sorted({p.id for _c, a, b in pairs for p in (a, b)})
        self.accounts.repo.audit_many(
            principal.actor, "read_person", "person", shown, f"duplicates {source}"
        )
        return pairs

    def merge(
        self, principal: Principal, official: Official, survivor_id: int, duplicate_id: int
    ) -> dict[str, int]:
        """Merge the duplicate record into the survivor: every record follows, the duplicate
        stays as a pointer so that its old QR codes and links still resolve."""
        if survivor_id == duplicate_id:
            raise Invalid("error.merge_same")
        survivor, duplicate = self.repo.get(survivor_id), self.repo.get(duplicate_id)
        if survivor is None or duplicate is None:
            raise NotFound()
        if survivor.merged_into is not None or duplicate.merged_into is not None:
            raise Conflict("error.merge_merged")
        for person in (survivor, duplicate):
            if not self.can_see(official, person):
                raise Forbidden("error.outside_jurisdiction")
        # The survivor keeps its own values and takes what only the duplicate knew.
        for field in (
            "phone",
            "birth_date",
            "birth_year",
            "gender",
            "id_kind",
            "id_number",
            "insurance_no",
            "address",
            "unit_code",
            "account_id",
        ):
            if getattr(survivor, field) is None and getattr(duplicate, field) is not None:
                setattr(survivor, field, getattr(duplicate, field))
                if field == "account_id":
                    duplicate.account_id = None
        survivor.updated_at = utcnow()
        self.session.flush()
        moved = self.repo.merge(survivor.id, duplicate.id)
        self.session.expire(duplicate)
        self.accounts.audit(
            principal,
            "merge_person",
            "person",
            survivor.id,
            json.dumps({"duplicate": duplicate_id, "moved": moved}),
        )
        return moved

    def dismiss(self, principal: Principal, official: Official, candidate_id: int) -> None:
        candidate = self.repo.candidate(candidate_id)
        if candidate is None or candidate.resolved is not None:
            raise NotFound()
        for pid in (candidate.person_id, candidate.other_id):
            person = self.repo.get(pid)
            if person is None or not self.can_see(official, person):
                raise Forbidden("error.outside_jurisdiction")
        candidate.resolved, candidate.resolved_by = "dismissed", official.id
        candidate.resolved_at = utcnow()
        self.accounts.audit(principal, "dismiss_duplicate", "person", candidate.person_id)


# Helpers ----------------------------------------------------------------------------------------
def facts(declaration: Declaration) -> status.DeclarationFacts:
    return status.DeclarationFacts(
        submitted_at=declaration.submitted_at,
        symptoms=frozenset(s for s in declaration.symptoms.split(",") if s),
        contact_confirmed=declaration.contact_confirmed,
        contact_suspected=declaration.contact_suspected,
        outbreak_area=declaration.outbreak_area,
    )


def person_id_from_token(settings: Settings, token: str) -> int:
    """The person id a device cookie carries (signature checked, no database read)."""
    try:
        parsed = signing.verify(settings.qr_key_bytes(), token.strip())
    except signing.TokenError as exc:
        raise Invalid("error.person_qr") from exc
    if parsed.kind != signing.KIND_PERSON:
        raise Invalid("error.person_qr")
    return parsed.object_id


def _name(full_name: str) -> str:
    name = clean(full_name)
    if not 1 <= len(name) <= 200:
        raise Invalid("error.name_length")
    return name


def _phone(phone: str | None) -> str | None:
    if phone is None or not phone.strip():
        return None
    normalized = normalize_mobile(phone)
    if normalized is None:
        raise Invalid("error.phone")
    return normalized


# An address a mail server accepts: one @, no spaces, a dotted domain (RFC 5321's 254).
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def _email(email: str | None) -> str | None:
    """An e-mail address as typed, its domain in lower case; none for a blank."""
    value = (email or "").strip()
    if not value:
        return None
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise Invalid("error.email")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _identity_error(exc: identity.IdentityError) -> DomainError:
    error = Invalid(f"error.{exc.code}")
    error.params = dict(exc.params)
    return error


def _apply_profile(person: Person, data: ProfileIn, units: UnitService, keep_phone: bool) -> None:
    """Validate every field first, then assign: a refused profile changes nothing."""
    name = _name(data.full_name)
    today = utcnow().astimezone(VN).date()
    try:
        birth_year = identity.check_birth(data.birth_date, data.birth_year, today)
        gender = data.gender or None
        if gender is not None and gender not in identity.GENDERS:
            raise identity.IdentityError("gender")
        id_kind = data.id_kind or None
        id_number = None
        if data.id_number and data.id_number.strip():
            if id_kind is None:
                raise identity.IdentityError("id_kind")
            id_number = identity.normalize_id(id_kind, data.id_number)
            if id_kind == "cccd":
                identity.check_cccd(id_number, birth_year, gender)
        elif id_kind is not None:
            id_kind = None  # a kind without a number says nothing
        insurance = (
            identity.normalize_insurance(data.insurance_no)
            if data.insurance_no and data.insurance_no.strip()
            else None
        )
    except identity.IdentityError as exc:
        raise _identity_error(exc) from exc
    unit_code = units.require(data.unit_code).code if data.unit_code else None
    phone = person.phone if keep_phone else _phone(data.phone)
    email = _email(data.email)
    language = data.language or None
    if language is not None and language not in LANGUAGES:
        raise Invalid("error.language")
    address = clean(data.address or "")[:300] or None
    person.full_name, person.name_key = name, fold(name)
    person.birth_date, person.birth_year, person.gender = data.birth_date, birth_year, gender
    person.id_kind, person.id_number, person.insurance_no = id_kind, id_number, insurance
    person.unit_code, person.address, person.phone = unit_code, address, phone
    person.email, person.language = email, language


def _filter(
    scope: str | None,
    start: date,
    end: date,
    kind: str | None = None,
    assessed: str | None = None,
) -> DeclarationFilter:
    if end < start:
        raise Invalid("error.date_range")
    if (end - start).days > 366:
        raise Invalid("error.date_range")
    return DeclarationFilter(
        unit_code=scope,
        start=_vn_midnight(start),
        end=_vn_midnight(end + timedelta(days=1)),
        kind=kind or None,
        assessed=assessed or None,
    )


def _vn_midnight(day: date) -> datetime:
    from datetime import UTC
    from datetime import time as dtime

    return datetime.combine(day, dtime(0, 0), tzinfo=VN).astimezone(UTC)
