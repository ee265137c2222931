"""Driver-level statements for the few hot paths where SQLAlchemy's per-statement work shows.

A check-in batch runs about ten small statements; through the ORM each costs ~10 times what
the driver itself takes (statement caching keys, result processing, identity map, unit of
work). ``RawSql`` runs plain SQL text on the DBAPI connection of the session's current
transaction, so it commits or rolls back with everything else the session does.

SQL is written once with ``?`` placeholders; on PostgreSQL (psycopg) they become ``%s``. An id
list goes in with ``in_(column, values)``: ``column = ANY(?)`` with one array parameter on
PostgreSQL (one statement text, prepared once by psycopg), ``column IN (?, ?, ...)`` on SQLite.
Datetimes are timezone-aware UTC on the Python side on both; SQLite stores them as text in
SQLAlchemy's format (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC), so both layers read and
write the same rows. The caller converts with ``dt`` (to the driver) and ``read_dt`` (back).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


def _sqlite_dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_read_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _pg_dt(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _pg_read_dt(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def pg_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of ints, strings, timezone-aware datetimes and None, to be
    cast by the statement (``CAST(? AS bigint[])``): one text parameter, where the driver
    would adapt a Python list element by element."""
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif isinstance(value, bool):
            items.append("t" if value else "f")
        elif isinstance(value, int):
            items.append(str(value))
        else:
            if isinstance(value, datetime):
                if value.tzinfo is None:
                    raise ValueError("naive datetime given to a UTC column")
                value = value.isoformat()
            text = str(value).replace("\\", "\\\\").replace('"', '\\"')
            items.append(f'"{text}"')
    return "{" + ",".join(items) + "}"


class Pending(Generic[T]):
    """The answer of a query already sent (see ``RawSql.later``)."""

    def __init__(self, fetch: Callable[[], T]) -> None:
        self._fetch: Callable[[], T] | None = fetch
        self._value: T | None = None

    @classmethod
    def ready(cls, value: T) -> Pending[T]:
        pending: Pending[T] = cls(lambda: value)
        return pending

    def get(self) -> T:
        if self._fetch is not None:
            self._value, self._fetch = self._fetch(), None
        return self._value  # type: ignore[return-value]


class RawSql:
    """Plain SQL on the session's connection (and transaction)."""

    def __init__(self, session: Session) -> None:
        # Rows the ORM holds unflushed (a visitor registered a moment ago) must be seen.
        session.flush()
        connection = session.connection()
        self.postgresql = connection.dialect.name == "postgresql"
        self._driver: Any = connection.connection.driver_connection
        self.dt: Callable[[datetime | None], Any] = _pg_dt if self.postgresql else _sqlite_dt
        self.read_dt: Callable[[Any], datetime | None] = (
            _pg_read_dt if self.postgresql else _sqlite_read_dt
        )

    def in_(self, column: str, values: Collection[Any]) -> tuple[str, list[Any]]:
        """``column`` in ``values`` (all ints or all strings): the SQL fragment and its
        parameters."""
        if self.postgresql:
            kind = "bigint" if isinstance(next(iter(values)), int) else "text"
            return f"{column} = ANY(CAST(? AS {kind}[]))", [pg_array(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgresql else sql

    @contextmanager
    def together(self) -> Iterator[None]:
        """Statements sent with ``later`` inside this block travel together: on PostgreSQL in
        one pipeline (one network round trip for all of them instead of one each); SQLite
        runs each at once."""
        if self.postgresql:
            with self._driver.pipeline():
                yield
        else:
            yield

    def later(
        self, sql: str, params: Sequence[Any], convert: Callable[[list[tuple[Any, ...]]], T]
    ) -> Pending[T]:
        """Send a query now, read its rows (through ``convert``) when ``get`` is called."""
        cursor = self._driver.cursor()
        cursor.execute(self._sql(sql), params)

        def fetch() -> T:
            try:
                return convert(list(cursor.fetchall()))
            finally:
                cursor.close()

        return Pending(fetch)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.later(sql, params, lambda rows: rows).get()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        cursor = self._driver.cursor()
        try:
            cursor.execute(self._sql(sql), params)
        finally:
            cursor.close()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        cursor = self._driver.cursor()
        try:
            cursor.executemany(self._sql(sql), rows)
        finally:
            cursor.close()

    def insert_ids(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """SQLite: insert each row, its new rowid in order (one transaction, no round trips:
        a prepared statement stepped per row)."""
        assert not self.postgresql, "PostgreSQL inserts batches with unnest"
        cursor = self._driver.cursor()
        ids: list[int] = []
        try:
            for row in rows:
                cursor.execute(sql, row)
                ids.append(cursor.lastrowid)
        finally:
            cursor.close()
        return ids
