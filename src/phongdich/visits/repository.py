from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from phongdich.people.models import Person
from phongdich.visits.models import Scan, Visit
from phongdich.visits.rules import LONGEST_VISIT, OUT_AUTOMATIC


class VisitRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def scans_by_ids(self, ids: Collection[str]) -> dict[str, Scan]:
        if not ids:
            return {}
        return {s.id: s for s in self.session.scalars(select(Scan).where(Scan.id.in_(ids)))}

    def visits_by_ids(self, ids: Collection[int]) -> dict[int, Visit]:
        if not ids:
            return {}
        return {v.id: v for v in self.session.scalars(select(Visit).where(Visit.id.in_(ids)))}

    def timelines(
        self, person_ids: Collection[int], start: datetime, end: datetime
    ) -> dict[int, list[Visit]]:
        """Each person's visits that began in [start, end], in check-in order."""
        out: dict[int, list[Visit]] = {pid: [] for pid in person_ids}
        if not person_ids:
            return out
        stmt = (
            select(Visit)
            .where(
                Visit.person_id.in_(person_ids),
                Visit.check_in_at >= start,
                Visit.check_in_at <= end,
            )
            .order_by(Visit.person_id, Visit.check_in_at, Visit.id)
        )
        for visit in self.session.scalars(stmt):
            out[visit.person_id].append(visit)
        return out

    def insert_visits(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert visits in one statement; their ids in the order of ``rows``."""
        stmt = insert(Visit).returning(Visit.id, sort_by_parameter_order=True)
        return list(self.session.scalars(stmt, rows))

    def insert_scans(self, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(Scan), rows)

    def occupancy(self, checkpoint_id: int, now: datetime) -> int:
        stmt = select(func.count()).where(*self._open_at(checkpoint_id, now))
        return self.session.scalar(stmt) or 0

    def _open_at(self, checkpoint_id: int, now: datetime) -> list[ColumnElement[bool]]:
        return [
            Visit.checkpoint_id == checkpoint_id,
            Visit.check_in_at <= now,
            Visit.check_in_at >= now - LONGEST_VISIT,
            or_(Visit.check_out_at.is_(None), Visit.check_out_at > now),
            Visit.auto_out_at > now,
        ]

    def recent(
        self, checkpoint_id: int, since: datetime, limit: int
    ) -> Sequence[tuple[Visit, Person]]:
        """Visits of the checkpoint that began or ended since ``since``, newest first."""
        stmt = (
            select(Visit, Person)
            .join(Person, Person.id == Visit.person_id)
            .where(
                Visit.checkpoint_id == checkpoint_id,
                Visit.check_in_at >= since - LONGEST_VISIT,
                or_(Visit.check_in_at >= since, Visit.check_out_at >= since),
            )
            .order_by(Visit.check_in_at.desc(), Visit.id.desc())
            .limit(limit)
        )
        return [(v, p) for v, p in self.session.execute(stmt)]

    def iter_for_export(
        self, checkpoint_id: int, start: datetime, end: datetime, batch: int = 1000
    ) -> Iterator[tuple[Visit, Person]]:
        """Every visit that began in [start, end), by batches, never all in memory."""
        last_in, last_id = start, 0
        while True:
            stmt = (
                select(Visit, Person)
                .join(Person, Person.id == Visit.person_id)
                .where(
                    Visit.checkpoint_id == checkpoint_id,
                    Visit.check_in_at < end,
                    or_(
                        Visit.check_in_at > last_in,
                        (Visit.check_in_at == last_in) & (Visit.id > last_id),
                    ),
                )
                .order_by(Visit.check_in_at, Visit.id)
                .limit(batch)
            )
            rows = self.session.execute(stmt).all()
            if not rows:
                return
            yield from ((visit, person) for visit, person in rows)
            last_in, last_id = rows[-1][0].check_in_at, rows[-1][0].id

    def close_automatic(self, now: datetime) -> int:
        stmt = (
            update(Visit)
            .where(Visit.check_out_at.is_(None), Visit.auto_out_at <= now)
            .values(check_out_at=Visit.auto_out_at, out_method=OUT_AUTOMATIC)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(stmt).rowcount  # type: ignore[attr-defined]

    def purge_before(self, before: datetime) -> dict[str, int]:
        scans = self.session.execute(delete(Scan).where(Scan.received_at < before)).rowcount  # type: ignore[attr-defined]
        visits = self.session.execute(delete(Visit).where(Visit.check_in_at < before)).rowcount  # type: ignore[attr-defined]
        return {"visit_scans": scans, "visits": visits}
