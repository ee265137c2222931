from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, text, update
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
        if not rows:
            return []
        if self._postgresql():
            return self._insert_visits_arrays(rows)
        stmt = insert(Visit).returning(Visit.id, sort_by_parameter_order=True)
        return list(self.session.scalars(stmt, rows))

    def insert_scans(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._postgresql():
            self.session.execute(_SCANS_FROM_ARRAYS, _columns(rows, _SCAN_ARRAYS))
            return
        self.session.execute(insert(Scan), rows)

    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _insert_visits_arrays(self, rows: list[dict[str, Any]]) -> list[int]:
        """PostgreSQL: one array per column and ``unnest`` — one statement and one parameter
        set for the whole batch, however many rows (a row-per-parameter-set insert costs the
        driver and the server per row). The ids come back with each row's natural key."""
        returned: dict[tuple[int, int | None, int, datetime], list[int]] = {}
        for visit_id, *key in self.session.execute(
            _VISITS_FROM_ARRAYS, _columns(rows, _VISIT_ARRAYS)
        ):
            returned.setdefault(_visit_key(*key), []).append(visit_id)
        return [
            returned[
                _visit_key(r["checkpoint_id"], r["entrance_id"], r["person_id"], r["check_in_at"])
            ].pop(0)
            for r in rows
        ]

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


def _visit_key(
    checkpoint_id: int, entrance_id: int | None, person_id: int, check_in_at: datetime
) -> tuple[int, int | None, int, datetime]:
    return checkpoint_id, entrance_id, person_id, check_in_at.astimezone(UTC)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


# PostgreSQL bulk inserts: one array per column, ``unnest`` turns them back into rows.
_VISIT_ARRAYS = (
    "checkpoint_id",
    "entrance_id",
    "person_id",
    "check_in_at",
    "check_out_at",
    "auto_out_at",
    "in_method",
    "out_method",
    "recorded_by",
    "created_at",
)
_VISITS_FROM_ARRAYS = text(
    "INSERT INTO visits (checkpoint_id, entrance_id, person_id, check_in_at, check_out_at,"
    " auto_out_at, in_method, out_method, recorded_by, created_at)"
    " SELECT * FROM unnest(CAST(:checkpoint_id AS bigint[]), CAST(:entrance_id AS bigint[]),"
    " CAST(:person_id AS bigint[]), CAST(:check_in_at AS timestamptz[]),"
    " CAST(:check_out_at AS timestamptz[]), CAST(:auto_out_at AS timestamptz[]),"
    " CAST(:in_method AS varchar[]), CAST(:out_method AS varchar[]),"
    " CAST(:recorded_by AS bigint[]), CAST(:created_at AS timestamptz[]))"
    " RETURNING id, checkpoint_id, entrance_id, person_id, check_in_at"
)
_SCAN_ARRAYS = ("id", "visit_id", "action", "scanned_at", "received_at")
_SCANS_FROM_ARRAYS = text(
    "INSERT INTO visit_scans (id, visit_id, action, scanned_at, received_at)"
    " SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:visit_id AS bigint[]),"
    " CAST(:action AS varchar[]), CAST(:scanned_at AS timestamptz[]),"
    " CAST(:received_at AS timestamptz[]))"
)
