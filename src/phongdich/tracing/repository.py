from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.checkpoints.models import Checkpoint, Entrance
from phongdich.geo.models import UnitClosure
from phongdich.people.models import HouseholdMember, Person
from phongdich.tracing.models import Case, Contact, ContactReport, ExposurePlace
from phongdich.visits.models import Visit
from phongdich.visits.rules import LONGEST_VISIT


@dataclass(frozen=True)
class VisitRow:
    """A visit as tracing reads it (plain values, no ORM objects: thousands per trace)."""

    id: int
    person_id: int
    checkpoint_id: int
    entrance_id: int | None
    check_in_at: datetime
    check_out_at: datetime | None
    auto_out_at: datetime
    out_method: str | None


_VISIT_COLUMNS = (
    Visit.id,
    Visit.person_id,
    Visit.checkpoint_id,
    Visit.entrance_id,
    Visit.check_in_at,
    Visit.check_out_at,
    Visit.auto_out_at,
    Visit.out_method,
)


class TracingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Cases ------------------------------------------------------------------------------------
    def add_case(self, case: Case) -> None:
        self.session.add(case)
        self.session.flush()

    def case(self, case_id: int) -> Case | None:
        return self.session.get(Case, case_id)

    def cases_of(self, person_id: int) -> Sequence[Case]:
        return self.session.scalars(select(Case).where(Case.person_id == person_id)).all()

    # Visits -----------------------------------------------------------------------------------
    def stays_of(
        self, person_ids: Collection[int], start: datetime, end: datetime
    ) -> list[VisitRow]:
        """Visits of these people that may overlap [start, end): bounded below by the longest
        possible visit, so the index range scan stays short."""
        if not person_ids:
            return []
        stmt = (
            select(*_VISIT_COLUMNS)
            .where(
                Visit.person_id.in_(person_ids),
                Visit.check_in_at >= start - LONGEST_VISIT,
                Visit.check_in_at < end,
            )
            .order_by(Visit.person_id, Visit.check_in_at)
        )
        return [VisitRow(*row) for row in self.session.execute(stmt)]

    def present_at(
        self, ranges: Sequence[tuple[int, datetime, datetime]], chunk: int = 64
    ) -> list[VisitRow]:
        """Visits at checkpoint c that may overlap [start, end), for each (c, start, end): each
        range an index range scan on (checkpoint, check-in) bounded below by the longest
        possible visit, ``chunk`` ranges to a query (one OR of thousands of ranges — the F2 of
        a large outbreak — makes a planner give up the index and test every row against every
        range)."""
        seen: dict[int, VisitRow] = {}
        ordered = sorted(set(ranges))
        for first in range(0, len(ordered), chunk):
            part = ordered[first : first + chunk]
            stmt = select(*_VISIT_COLUMNS).where(
                or_(
                    *(
                        and_(
                            Visit.checkpoint_id == checkpoint_id,
                            Visit.check_in_at >= start - LONGEST_VISIT,
                            Visit.check_in_at < end,
                        )
                        for checkpoint_id, start, end in part
                    )
                )
            )
            for row in self.session.execute(stmt):
                seen.setdefault(row[0], VisitRow(*row))
        return list(seen.values())

    def room_entrances(self, entrance_ids: Collection[int]) -> set[int]:
        """The entrances among these that are rooms (meeting rooms, halls of an event)."""
        if not entrance_ids:
            return set()
        stmt = select(Entrance.id).where(Entrance.id.in_(entrance_ids), Entrance.kind == "room")
        return set(self.session.scalars(stmt))

    def checkpoint_types(self, ids: Collection[int]) -> dict[int, tuple[str, str]]:
        """(type, name) by checkpoint id."""
        if not ids:
            return {}
        stmt = select(Checkpoint.id, Checkpoint.type, Checkpoint.name).where(Checkpoint.id.in_(ids))
        return {cid: (kind, name) for cid, kind, name in self.session.execute(stmt)}

    # People around a case ---------------------------------------------------------------------
    def household_of(self, person_id: int) -> list[int]:
        """Everyone declared in a household together with the person (both directions)."""
        accounts = select(HouseholdMember.account_id).where(HouseholdMember.person_id == person_id)
        own = select(Person.account_id).where(
            Person.id == person_id, Person.account_id.is_not(None)
        )
        stmt = select(HouseholdMember.person_id).where(
            or_(HouseholdMember.account_id.in_(accounts), HouseholdMember.account_id.in_(own)),
            HouseholdMember.person_id != person_id,
        )
        return sorted(set(self.session.scalars(stmt)))

    def people(self, ids: Collection[int]) -> dict[int, Person]:
        if not ids:
            return {}
        return {p.id: p for p in self.session.scalars(select(Person).where(Person.id.in_(ids)))}

    # Contacts ---------------------------------------------------------------------------------
    def reports(self, case_id: int) -> Sequence[ContactReport]:
        return self.session.scalars(
            select(ContactReport).where(ContactReport.case_id == case_id)
        ).all()

    def add_report(self, report: ContactReport) -> None:
        self.session.add(report)
        self.session.flush()

    def contacts(self, case_id: int) -> dict[int, Contact]:
        stmt = select(Contact).where(Contact.case_id == case_id)
        return {c.person_id: c for c in self.session.scalars(stmt)}

    def contact(self, contact_id: int) -> Contact | None:
        return self.session.get(Contact, contact_id)

    def add_contacts(self, contacts: list[Contact]) -> None:
        self.session.add_all(contacts)
        self.session.flush()

    def remove_contacts(self, case_id: int, person_ids: Collection[int]) -> None:
        if person_ids:
            self.session.execute(
                delete(Contact).where(Contact.case_id == case_id, Contact.person_id.in_(person_ids))
            )

    def household_phones(self, person_ids: Collection[int]) -> dict[int, str]:
        """For people without a phone: the phone of an account whose household lists them."""
        if not person_ids:
            return {}
        stmt = (
            select(HouseholdMember.person_id, PhoneAccount.phone)
            .join(PhoneAccount, PhoneAccount.id == HouseholdMember.account_id)
            .where(HouseholdMember.person_id.in_(person_ids))
            .order_by(HouseholdMember.added_at)
        )
        out: dict[int, str] = {}
        for pid, phone in self.session.execute(stmt):
            out.setdefault(pid, phone)
        return out

    def exposure_places(self, case_id: int) -> Sequence[ExposurePlace]:
        return self.session.scalars(
            select(ExposurePlace).where(ExposurePlace.case_id == case_id)
        ).all()

    def add_exposure_places(self, places: list[ExposurePlace]) -> None:
        self.session.add_all(places)
        self.session.flush()

    def published_at(
        self, checkpoint_ids: Collection[int], since: datetime
    ) -> dict[int, list[ExposurePlace]]:
        """Published, not withdrawn exposure places at these checkpoints ending after ``since``."""
        if not checkpoint_ids:
            return {}
        stmt = select(ExposurePlace).where(
            ExposurePlace.checkpoint_id.in_(checkpoint_ids),
            ExposurePlace.end > since,
            ExposurePlace.withdrawn_at.is_(None),
        )
        out: dict[int, list[ExposurePlace]] = {}
        for place in self.session.scalars(stmt):
            out.setdefault(place.checkpoint_id, []).append(place)
        return out

    def public_exposures(
        self, unit_code: str | None, since: datetime, limit: int
    ) -> list[tuple[ExposurePlace, Checkpoint]]:
        stmt = (
            select(ExposurePlace, Checkpoint)
            .join(Checkpoint, Checkpoint.id == ExposurePlace.checkpoint_id)
            .where(ExposurePlace.end > since, ExposurePlace.withdrawn_at.is_(None))
        )
        if unit_code:
            stmt = stmt.where(
                Checkpoint.unit_code.in_(
                    select(UnitClosure.descendant).where(UnitClosure.ancestor == unit_code)
                )
            )
        stmt = stmt.order_by(ExposurePlace.start.desc()).limit(limit)
        return [(e, c) for e, c in self.session.execute(stmt)]

    def counts_by_source(self, case_id: int) -> dict[int, dict[str, int]]:
        """Contacts of the case by level, then by source."""
        stmt = (
            select(Contact.level, Contact.source, func.count())
            .where(Contact.case_id == case_id)
            .group_by(Contact.level, Contact.source)
        )
        counts: dict[int, dict[str, int]] = {}
        for level, source, n in self.session.execute(stmt):
            counts.setdefault(level, {})[source] = n
        return counts

    def contact_counts(self, case_id: int) -> dict[int, int]:
        """Contacts of the case by level."""
        stmt = (
            select(Contact.level, func.count())
            .where(Contact.case_id == case_id)
            .group_by(Contact.level)
        )
        return {level: n for level, n in self.session.execute(stmt)}

    def contact_list(
        self,
        case_id: int,
        level: int | None = None,
        source: str | None = None,
        status: str | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[tuple[Contact, Person]]:
        stmt = (
            select(Contact, Person)
            .join(Person, Person.id == Contact.person_id)
            .where(Contact.case_id == case_id)
        )
        if level is not None:
            stmt = stmt.where(Contact.level == level)
        if source:
            stmt = stmt.where(Contact.source == source)
        if status:
            stmt = stmt.where(Contact.status == status)
        stmt = stmt.order_by(Contact.level, Contact.risk.desc(), Contact.id)
        return [(c, p) for c, p in self.session.execute(stmt.offset(offset).limit(limit))]


class SimulationRepository:
    """Bulk loading of a simulated province (``phongdich simulate``, the quality benchmark):
    plain multi-row inserts, never row-by-row ORM objects."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, table: Table, rows: list[dict[str, Any]], chunk: int = 5_000) -> None:
        for start in range(0, len(rows), chunk):
            self.session.execute(insert(table), rows[start : start + chunk])

    def next_id(self, table: Table) -> int:
        return int(self.session.scalar(select(func.max(table.c.id))) or 0) + 1

    def fix_sequences(self, tables: Sequence[Table]) -> None:
        """PostgreSQL: move each id sequence past the explicitly inserted ids."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        for table in tables:
            top = self.session.scalar(select(func.max(table.c.id))) or 0
            sequence = func.pg_get_serial_sequence(table.name, "id")
            self.session.execute(select(func.setval(sequence, top + 1, False)))
