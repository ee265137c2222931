"""Person rules: registering people (themselves or by staff) and their personal QR token."""

from __future__ import annotations

from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.config import Settings
from phongdich.kit import signing
from phongdich.kit.clock import VN, utcnow
from phongdich.kit.errors import Invalid
from phongdich.kit.phone import normalize_mobile
from phongdich.kit.text import clean
from phongdich.people.models import Person
from phongdich.people.repository import PersonRepository


class PersonService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.settings = settings
        self.repo = PersonRepository(session)

    def register(
        self,
        full_name: str,
        phone: str | None,
        birth_year: int | None = None,
        *,
        registered_by: PhoneAccount | None = None,
    ) -> Person:
        """A person as given by themselves or by staff; the same name + phone is the same person."""
        name = clean(full_name)
        if not 1 <= len(name) <= 200:
            raise Invalid("error.name_length")
        normalized = None
        if phone is not None and phone.strip():
            normalized = normalize_mobile(phone)
            if normalized is None:
                raise Invalid("error.phone")
        this_year = utcnow().astimezone(VN).year
        if birth_year is not None and not 1900 <= birth_year <= this_year:
            raise Invalid("error.birth_year")
        if normalized is not None:
            existing = self.repo.by_phone_and_name(normalized, name)
            if existing is not None:
                if birth_year and not existing.birth_year:
                    existing.birth_year = birth_year
                return existing
        person = Person(
            full_name=name,
            phone=normalized,
            birth_year=birth_year,
            registered_by=registered_by.id if registered_by else None,
        )
        self.repo.add(person)
        return person

    def for_account(self, account: PhoneAccount) -> Person:
        """The person a phone account stands for, created on first use."""
        person = self.repo.by_account(account.id)
        if person is None:
            person = self.repo.by_phone_and_name(account.phone, account.full_name)
            if person is None:
                person = Person(full_name=account.full_name or account.phone, phone=account.phone)
                self.repo.add(person)
            person.account_id = account.id
        return person

    # Personal QR ---------------------------------------------------------------------------
    def token(self, person: Person) -> str:
        keys = self.settings.qr_key_bytes()
        kid = self.settings.qr_active_key if self.settings.qr_keys else 1
        return signing.sign(keys, kid, signing.KIND_PERSON, person.id)

    def person_id_from_token(self, token: str) -> int:
        return person_id_from_token(self.settings, token)

    def from_token(self, token: str) -> Person:
        person = self.repo.get(self.person_id_from_token(token))
        if person is None:
            raise Invalid("error.person_qr")
        return person


def person_id_from_token(settings: Settings, token: str) -> int:
    """The person id a personal QR carries (signature checked, no database read)."""
    from phongdich.people.cards import strip_prefix

    try:
        parsed = signing.verify(settings.qr_key_bytes(), strip_prefix(token))
    except signing.TokenError as exc:
        raise Invalid("error.person_qr") from exc
    if parsed.kind != signing.KIND_PERSON:
        raise Invalid("error.person_qr")
    return parsed.object_id
