from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from phongdich.db.raw import Pending, RawSql, T, pg_array
from phongdich.people.models import Person
from phongdich.people.repository import by_subject
from phongdich.visits.models import Scan, Visit
from phongdich.visits.rules import LONGEST_VISIT, OUT_AUTOMATIC


class VisitRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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


@dataclass(slots=True, eq=False)
class VisitRow:
    """A visit as the check-in path handles it: a plain row, not an ORM object. ``id`` is
    None until the batch inserts it."""

    id: int | None
    checkpoint_id: int
    entrance_id: int | None
    person_id: int
    check_in_at: datetime
    check_out_at: datetime | None
    auto_out_at: datetime
    out_method: str | None
    in_method: str = ""
    recorded_by: int | None = None


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """What a scan needs of the checkpoint an entrance belongs to."""

    id: int
    name: str
    type: str
    status: str
    status_reason: str
    starts_at: datetime | None
    ends_at: datetime | None


class ScanRepository:
    """The check-in hot path's statements, at driver level (``db.raw``): every query a batch of
    scans needs, the tables of other domains it reads included (sessions, checkpoints and
    their entrances and staff, people), so that a batch costs a fixed handful of statements
    and no ORM objects. Everything runs in the session's transaction."""

    def __init__(self, session: Session) -> None:
        self.sql = RawSql(session)
        self.session = session

    def live_sessions(
        self, session_ids: Collection[str], now: datetime
    ) -> Pending[dict[str, tuple[str, int]]]:
        """Session id -> (kind, subject id) for those of the ids that have not expired."""
        if not session_ids:
            return Pending.ready({})
        where, params = self.sql.in_("id", session_ids)
        return self.sql.later(
            f"SELECT id, kind, subject_id FROM login_sessions WHERE {where} AND expires_at > ?",
            [*params, self.sql.dt(now)],
            lambda rows: {sid: (kind, subject) for sid, kind, subject in rows},
        )

    # The reads below send their query at once and answer with ``Pending``: inside
    # ``self.sql.together()`` several travel in one round trip on PostgreSQL.
    def scans(self, ids: Collection[str]) -> Pending[dict[str, tuple[int | None, str]]]:
        """Scan id -> (visit id, action) of the ids already recorded."""
        if not ids:
            return Pending.ready({})
        where, params = self.sql.in_("id", ids)
        return self.sql.later(
            f"SELECT id, visit_id, action FROM visit_scans WHERE {where}",
            params,
            lambda rows: {sid: (visit_id, action) for sid, visit_id, action in rows},
        )

    def visits(self, ids: Collection[int]) -> Pending[dict[int, VisitRow]]:
        if not ids:
            return Pending.ready({})
        where, params = self.sql.in_("id", ids)
        return self._visits(
            where, params, lambda visits: {v.id: v for v in visits if v.id is not None}
        )

    def timelines(
        self, person_ids: Collection[int], start: datetime, end: datetime
    ) -> Pending[dict[int, list[VisitRow]]]:
        """Each person's visits that began in [start, end], in check-in order."""

        def by_person(visits: list[VisitRow]) -> dict[int, list[VisitRow]]:
            out: dict[int, list[VisitRow]] = {pid: [] for pid in person_ids}
            for visit in visits:
                out[visit.person_id].append(visit)
            return out

        if not person_ids:
            return Pending.ready(by_person([]))
        where, params = self.sql.in_("person_id", person_ids)
        return self._visits(
            f"{where} AND check_in_at >= ? AND check_in_at <= ?"
            " ORDER BY person_id, check_in_at, id",
            [*params, self.sql.dt(start), self.sql.dt(end)],
            by_person,
        )

    def _visits(
        self, where: str, params: list[Any], convert: Callable[[list[VisitRow]], T]
    ) -> Pending[T]:
        read = self.sql.read_dt

        def rows_to_visits(rows: list[tuple[Any, ...]]) -> T:
            return convert(
                [
                    VisitRow(vid, cp, ent, person, read(at), read(out), read(auto), meth, inm, by)  # type: ignore[arg-type]
                    for vid, cp, ent, person, at, out, auto, meth, inm, by in rows
                ]
            )

        return self.sql.later(
            "SELECT id, checkpoint_id, entrance_id, person_id, check_in_at, check_out_at,"
            f" auto_out_at, out_method, in_method, recorded_by FROM visits WHERE {where}",
            params,
            rows_to_visits,
        )

    def places(self, entrance_ids: Collection[int]) -> Pending[dict[int, tuple[bool, PlaceRow]]]:
        """Entrance id -> (entrance open, its checkpoint)."""
        if not entrance_ids:
            return Pending.ready({})
        where, params = self.sql.in_("e.id", entrance_ids)
        read = self.sql.read_dt
        return self.sql.later(
            "SELECT e.id, e.is_active, c.id, c.name, c.type, c.status, c.status_reason,"
            " c.starts_at, c.ends_at FROM checkpoint_entrances e"
            f" JOIN checkpoints c ON c.id = e.checkpoint_id WHERE {where}",
            params,
            lambda rows: {
                eid: (
                    bool(active),
                    PlaceRow(cid, name, kind, status, reason, read(start), read(end)),
                )
                for eid, active, cid, name, kind, status, reason, start, end in rows
            },
        )

    def memberships(
        self, account_ids: Collection[int], checkpoint_ids: Collection[int]
    ) -> Pending[set[tuple[int, int]]]:
        """(checkpoint id, account id) of these accounts' memberships of these checkpoints."""
        if not account_ids or not checkpoint_ids:
            return Pending.ready(set())
        accounts, params = self.sql.in_("account_id", account_ids)
        checkpoints, more = self.sql.in_("checkpoint_id", checkpoint_ids)
        return self.sql.later(
            "SELECT checkpoint_id, account_id FROM checkpoint_members"
            f" WHERE {accounts} AND {checkpoints}",
            [*params, *more],
            lambda rows: {(c, a) for c, a in rows},
        )

    def names(self, person_ids: Collection[int]) -> Pending[dict[int, str]]:
        if not person_ids:
            return Pending.ready({})
        where, params = self.sql.in_("id", person_ids)
        return self.sql.later(
            f"SELECT id, full_name FROM people WHERE {where}",
            params,
            lambda rows: {pid: name for pid, name in rows},
        )

    def by_subjects(self, subjects: Collection[str]) -> Pending[dict[str, tuple[int, str]]]:
        """QR subject -> (person id, full name) of the person it stands for now: a merged
        record answers with the surviving person (a second query only for merged records)."""
        if not subjects:
            return Pending.ready({})
        where, params = self.sql.in_("qr_subject", subjects)

        return self.sql.later(
            f"SELECT qr_subject, id, full_name, merged_into FROM people WHERE {where}",
            params,
            lambda rows: by_subject(rows, lambda ids: self.names(ids).get()),
        )

    def insert_visits(self, visits: Sequence[VisitRow], now: datetime) -> None:
        """Insert new visits and give each its id."""
        if not visits:
            return
        dt = self.sql.dt
        rows = [
            (
                v.checkpoint_id,
                v.entrance_id,
                v.person_id,
                dt(v.check_in_at),
                dt(v.check_out_at),
                dt(v.auto_out_at),
                v.in_method,
                v.out_method,
                v.recorded_by,
                dt(now),
            )
            for v in visits
        ]
        if self.sql.postgresql:
            # One statement, one array per column; the ids come back with each row's natural
            # key (RETURNING promises no order).
            returned: dict[tuple[int, int | None, int, datetime], list[int]] = {}
            columns = [pg_array(column) for column in zip(*rows, strict=True)]
            for visit_id, *key in self.sql.rows(_PG_INSERT_VISITS, columns):
                returned.setdefault(_visit_key(*key), []).append(visit_id)
            ids = [
                returned[
                    _visit_key(v.checkpoint_id, v.entrance_id, v.person_id, v.check_in_at)
                ].pop(0)
                for v in visits
            ]
        else:
            ids = self.sql.insert_ids(_INSERT_VISIT, rows)
        for visit, visit_id in zip(visits, ids, strict=True):
            visit.id = visit_id

    def close_visits(self, visits: Sequence[VisitRow]) -> None:
        """Store the check-out of visits that were already in the database."""
        dt = self.sql.dt
        self.sql.execute_many(
            "UPDATE visits SET check_out_at = ?, out_method = ? WHERE id = ?",
            [(dt(v.check_out_at), v.out_method, v.id) for v in visits],
        )
        # ORM objects of these visits the session may hold are now stale.
        closed = {v.id for v in visits}
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Visit) and obj.id in closed:
                self.session.expire(obj)

    def insert_scans(self, rows: Sequence[tuple[str, int | None, str, datetime, datetime]]) -> None:
        """(scan id, visit id, action, scanned at, received at) rows."""
        if not rows:
            return
        if self.sql.postgresql:
            self.sql.execute(
                _PG_INSERT_SCANS, [pg_array(column) for column in zip(*rows, strict=True)]
            )
            return
        dt = self.sql.dt
        self.sql.execute_many(
            "INSERT INTO visit_scans (id, visit_id, action, scanned_at, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(sid, vid, action, dt(at), dt(received)) for sid, vid, action, at, received in rows],
        )


_INSERT_VISIT = (
    "INSERT INTO visits (checkpoint_id, entrance_id, person_id, check_in_at, check_out_at,"
    " auto_out_at, in_method, out_method, recorded_by, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PG_INSERT_VISITS = (
    "INSERT INTO visits (checkpoint_id, entrance_id, person_id, check_in_at, check_out_at,"
    " auto_out_at, in_method, out_method, recorded_by, created_at)"
    " SELECT * FROM unnest(CAST(? AS bigint[]), CAST(? AS bigint[]), CAST(? AS bigint[]),"
    " CAST(? AS timestamptz[]), CAST(? AS timestamptz[]), CAST(? AS timestamptz[]),"
    " CAST(? AS varchar[]), CAST(? AS varchar[]), CAST(? AS bigint[]), CAST(? AS timestamptz[]))"
    " RETURNING id, checkpoint_id, entrance_id, person_id, check_in_at"
)
_PG_INSERT_SCANS = (
    "INSERT INTO visit_scans (id, visit_id, action, scanned_at, received_at)"
    " SELECT * FROM unnest(CAST(? AS varchar[]), CAST(? AS bigint[]), CAST(? AS varchar[]),"
    " CAST(? AS timestamptz[]), CAST(? AS timestamptz[]))"
)
