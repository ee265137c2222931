from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from phongdich.people.models import Person


class PersonRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def names(self, ids: Collection[int]) -> dict[int, str]:
        """Full names by id, for the ids that exist (no ORM objects: the check-in path)."""
        if not ids:
            return {}
        stmt = select(Person.id, Person.full_name).where(Person.id.in_(ids))
        return {pid: name for pid, name in self.session.execute(stmt)}

    def add(self, person: Person) -> None:
        self.session.add(person)
        self.session.flush()

    def by_account(self, account_id: int) -> Person | None:
        stmt = select(Person).where(Person.account_id == account_id).order_by(Person.id).limit(1)
        return self.session.scalar(stmt)

    def by_phone_and_name(self, phone: str, name: str) -> Person | None:
        stmt = (
            select(Person)
            .where(Person.phone == phone, Person.full_name == name)
            .order_by(Person.id)
            .limit(1)
        )
        return self.session.scalar(stmt)
