from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from phongdich.geo.models import AdminUnit, UnitClosure
from phongdich.geo.repository import subtree_codes
from phongdich.kit.pagination import Page, PageParams
from phongdich.people.models import Declaration, DuplicateCandidate, HouseholdMember, Person

HEALTH_KINDS = ("universal", "daily")  # the declarations a person's status is read from


@dataclass(frozen=True)
class DeclarationFilter:
    unit_code: str | None  # this unit and its sub-tree; None: everywhere (national admin)
    start: datetime
    end: datetime
    kind: str | None = None
    assessed: str | None = None


class PersonRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Persons ----------------------------------------------------------------------------------
    def get(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def get_many(self, ids: Collection[int]) -> dict[int, Person]:
        if not ids:
            return {}
        return {p.id: p for p in self.session.scalars(select(Person).where(Person.id.in_(ids)))}

    def names(self, ids: Collection[int]) -> dict[int, str]:
        """Full names by id, for the ids that exist (no ORM objects: the check-in path)."""
        if not ids:
            return {}
        stmt = select(Person.id, Person.full_name).where(Person.id.in_(ids))
        return {pid: name for pid, name in self.session.execute(stmt)}

    def by_subjects(self, subjects: Collection[str]) -> dict[str, tuple[int, str]]:
        """QR subject -> (person id, full name) of the person it stands for now: a merged
        record answers with the surviving person (the check-in path: one indexed query, a
        second one only for merged records)."""
        if not subjects:
            return {}
        stmt = select(Person.qr_subject, Person.id, Person.full_name, Person.merged_into).where(
            Person.qr_subject.in_(subjects)
        )
        return by_subject(self.session.execute(stmt), self.names)

    def add(self, person: Person) -> None:
        self.session.add(person)
        self.session.flush()

    def by_account(self, account_id: int) -> Person | None:
        """The person a phone account signed in as (the surviving one after a merge)."""
        stmt = select(Person).where(Person.account_id == account_id).order_by(Person.id).limit(1)
        person = self.session.scalar(stmt)
        if person is not None and person.merged_into is not None:
            return self.get(person.merged_into)
        return person

    def by_phone_and_name(self, phone: str, name_key: str) -> Person | None:
        stmt = (
            select(Person)
            .where(Person.phone == phone, Person.name_key == name_key, Person.merged_into.is_(None))
            .order_by(Person.id)
            .limit(1)
        )
        return self.session.scalar(stmt)

    def look_alikes(self, person: Person) -> list[tuple[Person, str]]:
        """Other live records with the same ID number, or the same phone + name + birth year
        (indexed lookups only)."""
        found: dict[int, tuple[Person, str]] = {}
        live = [Person.id != person.id, Person.merged_into.is_(None)]
        if person.id_number:
            stmt = select(Person).where(Person.id_number == person.id_number, *live).limit(20)
            for other in self.session.scalars(stmt):
                found.setdefault(other.id, (other, "id_number"))
        if person.phone and person.birth_year:
            stmt = (
                select(Person)
                .where(
                    Person.phone == person.phone,
                    Person.name_key == person.name_key,
                    Person.birth_year == person.birth_year,
                    *live,
                )
                .limit(20)
            )
            for other in self.session.scalars(stmt):
                found.setdefault(other.id, (other, "phone_name_year"))
        return list(found.values())

    def search(
        self,
        unit_code: str | None,
        name_key: str,
        phone: str | None,
        id_number: str | None,
        limit: int,
    ) -> Sequence[Person]:
        """Live people inside the unit's sub-tree by ID number, phone, or name prefix."""
        stmt = select(Person).where(Person.merged_into.is_(None))
        if unit_code is not None:
            stmt = stmt.where(Person.unit_code.in_(subtree_codes(unit_code)))
        if id_number:
            stmt = stmt.where(Person.id_number == id_number)
        elif phone:
            stmt = stmt.where(Person.phone == phone)
        else:
            stmt = stmt.where(Person.name_key.startswith(name_key, autoescape=True))
        return self.session.scalars(stmt.order_by(Person.name_key, Person.id).limit(limit)).all()

    # Households -------------------------------------------------------------------------------
    def household(self, account_id: int) -> list[tuple[HouseholdMember, Person]]:
        stmt = (
            select(HouseholdMember, Person)
            .join(Person, Person.id == HouseholdMember.person_id)
            .where(HouseholdMember.account_id == account_id)
            .order_by(HouseholdMember.added_at, Person.id)
        )
        return [(m, p) for m, p in self.session.execute(stmt)]

    def membership(self, account_id: int, person_id: int) -> HouseholdMember | None:
        return self.session.get(HouseholdMember, (account_id, person_id))

    def add_member(self, member: HouseholdMember) -> None:
        self.session.add(member)
        self.session.flush()

    # Declarations -----------------------------------------------------------------------------
    def add_declaration(self, declaration: Declaration) -> None:
        self.session.add(declaration)
        self.session.flush()

    def declaration(self, declaration_id: int) -> Declaration | None:
        return self.session.get(Declaration, declaration_id)

    def declarations_of(self, person_id: int, limit: int = 50) -> Sequence[Declaration]:
        stmt = (
            select(Declaration)
            .where(Declaration.person_id == person_id)
            .order_by(Declaration.submitted_at.desc(), Declaration.id.desc())
            .limit(limit)
        )
        return self.session.scalars(stmt).all()

    def latest_health(self, person_ids: Collection[int]) -> dict[int, Declaration]:
        """Each person's latest universal or daily declaration (one indexed lookup each)."""
        out: dict[int, Declaration] = {}
        for pid in person_ids:
            stmt = (
                select(Declaration)
                .where(Declaration.person_id == pid, Declaration.kind.in_(HEALTH_KINDS))
                .order_by(Declaration.submitted_at.desc(), Declaration.id.desc())
                .limit(1)
            )
            found = self.session.scalar(stmt)
            if found is not None:
                out[pid] = found
        return out

    def declaration_rollup(self, f: DeclarationFilter) -> list[tuple[str, str, int]]:
        """(child unit code, assessed colour, count): the declarations matching ``f`` rolled up
        to the direct children of ``f.unit_code`` (provinces when it is None) through the
        closure table; declarations placed on the unit itself are counted under its own code."""
        where = self._declaration_where(f)
        child = (
            AdminUnit.parent_code == f.unit_code
            if f.unit_code is not None
            else AdminUnit.parent_code.is_(None)
        )
        stmt = (
            select(UnitClosure.ancestor, Declaration.assessed, func.count())
            .join(UnitClosure, UnitClosure.descendant == Declaration.unit_code)
            .join(AdminUnit, AdminUnit.code == UnitClosure.ancestor)
            .where(*where, child)
            .group_by(UnitClosure.ancestor, Declaration.assessed)
        )
        rows = [(unit, colour, n) for unit, colour, n in self.session.execute(stmt)]
        if f.unit_code is not None:
            own = (
                select(Declaration.assessed, func.count())
                .where(*where, Declaration.unit_code == f.unit_code)
                .group_by(Declaration.assessed)
            )
            rows += [(f.unit_code, colour, n) for colour, n in self.session.execute(own)]
        return rows

    def declaration_page(
        self, f: DeclarationFilter, page: PageParams
    ) -> Page[tuple[Declaration, Person]]:
        where = self._declaration_where(f)
        total = self.session.scalar(select(func.count()).select_from(Declaration).where(*where))
        stmt = (
            select(Declaration, Person)
            .join(Person, Person.id == Declaration.person_id)
            .where(*where)
            .order_by(Declaration.submitted_at.desc(), Declaration.id.desc())
            .offset(page.offset)
            .limit(page.size)
        )
        rows = [(d, p) for d, p in self.session.execute(stmt)]
        return Page(items=rows, total=total or 0, page=page.page, size=page.size)

    def iter_declarations(
        self, f: DeclarationFilter, batch: int = 1000
    ) -> Iterator[list[tuple[Declaration, Person]]]:
        """Every matching declaration with its person, by batches in time order (exports)."""
        last_at, last_id = f.start, 0
        where = self._declaration_where(f)
        while True:
            stmt = (
                select(Declaration, Person)
                .join(Person, Person.id == Declaration.person_id)
                .where(
                    *where,
                    or_(
                        Declaration.submitted_at > last_at,
                        and_(Declaration.submitted_at == last_at, Declaration.id > last_id),
                    ),
                )
                .order_by(Declaration.submitted_at, Declaration.id)
                .limit(batch)
            )
            rows = [(d, p) for d, p in self.session.execute(stmt)]
            if not rows:
                return
            yield rows
            last_at, last_id = rows[-1][0].submitted_at, rows[-1][0].id

    def _declaration_where(self, f: DeclarationFilter) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [
            Declaration.submitted_at >= f.start,
            Declaration.submitted_at < f.end,
        ]
        if f.unit_code is not None:
            where.append(Declaration.unit_code.in_(subtree_codes(f.unit_code)))
        if f.kind:
            where.append(Declaration.kind == f.kind)
        if f.assessed:
            where.append(Declaration.assessed == f.assessed)
        return where

    def purge_declarations_before(self, before: datetime) -> int:
        # Corrections may point at a purged declaration: their link is cleared (SET NULL).
        self.session.execute(
            update(Declaration)
            .where(
                Declaration.corrects_id.in_(
                    select(Declaration.id).where(Declaration.submitted_at < before)
                )
            )
            .values(corrects_id=None)
        )
        result = self.session.execute(delete(Declaration).where(Declaration.submitted_at < before))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # Duplicates and merge ---------------------------------------------------------------------
    def add_candidate(self, person_id: int, other_id: int, reason: str) -> None:
        first, second = sorted((person_id, other_id))
        stmt = select(DuplicateCandidate.id).where(
            DuplicateCandidate.person_id == first,
            DuplicateCandidate.other_id == second,
            DuplicateCandidate.resolved.is_(None),
        )
        if self.session.scalar(stmt) is None:
            self.session.add(DuplicateCandidate(person_id=first, other_id=second, reason=reason))

    def open_candidates(
        self, unit_code: str | None, limit: int = 100
    ) -> list[tuple[DuplicateCandidate, Person, Person]]:
        first, second = aliased(Person), aliased(Person)
        stmt = (
            select(DuplicateCandidate, first, second)
            .join(first, first.id == DuplicateCandidate.person_id)
            .join(second, second.id == DuplicateCandidate.other_id)
            .where(DuplicateCandidate.resolved.is_(None))
        )
        if unit_code is not None:
            inside = subtree_codes(unit_code)
            stmt = stmt.where(first.unit_code.in_(inside), second.unit_code.in_(inside))
        stmt = stmt.order_by(DuplicateCandidate.found_at.desc()).limit(limit)
        return [(c, a, b) for c, a, b in self.session.execute(stmt)]

    def candidate(self, candidate_id: int) -> DuplicateCandidate | None:
        return self.session.get(DuplicateCandidate, candidate_id)

    def merge(self, survivor_id: int, duplicate_id: int) -> dict[str, int]:
        """Re-point every row that references the duplicate person to the survivor.

        Every foreign key to ``people.id`` in the schema is followed, so records added by later
        modules (tracing, quarantine…) follow a merge without changes here. Returns the number
        of rows moved per ``table.column``.
        """
        moved: dict[str, int] = {}
        # Candidates between the two are resolved by the caller; others follow the survivor.
        self.session.execute(
            delete(DuplicateCandidate).where(
                or_(
                    and_(
                        DuplicateCandidate.person_id == survivor_id,
                        DuplicateCandidate.other_id == duplicate_id,
                    ),
                    and_(
                        DuplicateCandidate.person_id == duplicate_id,
                        DuplicateCandidate.other_id == survivor_id,
                    ),
                ),
                DuplicateCandidate.resolved.is_(None),
            )
        )
        for table, column in person_references():
            if table.name == "people" and column.name == "merged_into":
                continue
            self._drop_colliding(table, column, survivor_id, duplicate_id)
            result = self.session.execute(
                update(table).where(column == duplicate_id).values({column.name: survivor_id})
            )
            count = result.rowcount  # type: ignore[attr-defined]
            if count:
                moved[f"{table.name}.{column.name}"] = count
        # Records merged into the duplicate earlier now point at the survivor directly.
        self.session.execute(
            update(Person).where(Person.merged_into == duplicate_id).values(merged_into=survivor_id)
        )
        self.session.execute(
            update(Person).where(Person.id == duplicate_id).values(merged_into=survivor_id)
        )
        return moved

    def _drop_colliding(
        self, table: Table, column: Column[Any], survivor_id: int, duplicate_id: int
    ) -> None:
        """Rows of the duplicate that would repeat one of the survivor's under a unique key
        (both records in one household, both contacts of one case…): the survivor's row stays."""
        for constraint in table.constraints:
            if not isinstance(constraint, (UniqueConstraint, PrimaryKeyConstraint)):
                continue
            names = [c.name for c in constraint.columns]
            if column.name not in names or len(names) < 2:
                continue
            other = table.alias("kept")
            same = [other.c[n] == table.c[n] for n in names if n != column.name]
            kept = select(other.c[column.name]).where(other.c[column.name] == survivor_id, *same)
            self.session.execute(delete(table).where(column == duplicate_id, kept.exists()))


def person_references() -> list[tuple[Table, Column[Any]]]:
    """(table, column) of every foreign key to ``people.id`` in the schema."""
    from phongdich.db.models import metadata  # every domain's tables, not just those imported

    found = []
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "people" and fk.column.name == "id":
                found.append((table, fk.parent))
    return found


def by_subject(
    rows: Iterable[Any], names: Callable[[set[int]], dict[int, str]]
) -> dict[str, tuple[int, str]]:
    """(qr_subject, id, full_name, merged_into) rows -> QR subject -> (person id, full name) of
    the person it stands for now: a merged record answers with the surviving person, whose
    name ``names`` looks up (only called when there are merged records)."""
    out: dict[str, tuple[int, str]] = {}
    merged: dict[str, int] = {}
    for subject, pid, name, merged_into in rows:
        if merged_into is None:
            out[subject] = (pid, name)
        else:
            merged[subject] = merged_into
    if merged:
        found = names(set(merged.values()))
        for subject, survivor in merged.items():
            if survivor in found:
                out[subject] = (survivor, found[survivor])
    return out
