from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from phongdich.geo.models import AdminUnit, UnitClosure


def subtree_codes(code: str) -> Select[str]:
    """A sub-select of the unit's code and every code below it (index on the closure): what
    "inside this unit" means in every jurisdiction filter."""
    return select(UnitClosure.descendant).where(UnitClosure.ancestor == code)


class UnitRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> AdminUnit | None:
        return self.session.get(AdminUnit, code)

    def names(self, codes: Iterable[str]) -> dict[str, str]:
        """The names of these units, by code (unknown codes are left out), in one query."""
        wanted = set(codes)
        if not wanted:
            return {}
        rows = self.session.execute(
            select(AdminUnit.code, AdminUnit.name).where(AdminUnit.code.in_(wanted))
        )
        return {code: name for code, name in rows}

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(AdminUnit)) or 0

    def parent_map(self) -> dict[str, str | None]:
        rows = self.session.execute(select(AdminUnit.code, AdminUnit.parent_code))
        return {code: parent for code, parent in rows}

    def children(self, code: str | None) -> Sequence[AdminUnit]:
        stmt = select(AdminUnit).where(
            AdminUnit.parent_code.is_(None) if code is None else AdminUnit.parent_code == code
        )
        return self.session.scalars(stmt.order_by(AdminUnit.code)).all()

    def ancestors(self, code: str) -> Sequence[AdminUnit]:
        """The unit's ancestors from the root down, the unit itself last."""
        stmt = (
            select(AdminUnit)
            .join(UnitClosure, UnitClosure.ancestor == AdminUnit.code)
            .where(UnitClosure.descendant == code)
            .order_by(UnitClosure.distance.desc())
        )
        return self.session.scalars(stmt).all()

    def search(self, folded: str, under: str | None, limit: int) -> Sequence[AdminUnit]:
        stmt = select(AdminUnit).where(AdminUnit.name_key.contains(folded, autoescape=True))
        if under is not None:
            stmt = stmt.where(AdminUnit.code.in_(subtree_codes(under)))
        return self.session.scalars(
            stmt.order_by(AdminUnit.depth, AdminUnit.code).limit(limit)
        ).all()

    def is_within(self, code: str, ancestor: str) -> bool:
        stmt = select(UnitClosure.distance).where(
            UnitClosure.ancestor == ancestor, UnitClosure.descendant == code
        )
        return self.session.scalar(stmt) is not None

    def upsert(self, rows: Iterable[dict[str, object]]) -> tuple[int, int]:
        """Insert new units and update changed ones; returns (created, updated)."""
        created = updated = 0
        existing = {u.code: u for u in self.session.scalars(select(AdminUnit))}
        for row in rows:
            unit = existing.get(str(row["code"]))
            if unit is None:
                self.session.add(AdminUnit(**row))
                created += 1
                continue
            changed = False
            for key, value in row.items():
                if getattr(unit, key) != value:
                    setattr(unit, key, value)
                    changed = True
            updated += changed
        self.session.flush()
        return created, updated

    def replace_closure(self, pairs: list[tuple[str, str, int]]) -> None:
        self.session.execute(delete(UnitClosure))
        if pairs:
            self.session.execute(
                insert(UnitClosure),
                [{"ancestor": a, "descendant": d, "distance": n} for a, d, n in pairs],
            )
        self.session.flush()
