"""Bulk statements for repositories: many rows or many ids in one statement of a fixed shape.

On PostgreSQL a batch travels as one array per column (``unnest`` turns them back into rows)
and an id list as one array (``= ANY``): one statement and one parameter set however many rows,
so psycopg can prepare it once and the server plans it once. A row-per-parameter-set insert
or an ``IN`` list of a thousand placeholders costs the driver and the server per row.
Elsewhere (SQLite) the ordinary multi-row forms are used; ``IN`` lists are cut in chunks below
SQLite's limit on bound parameters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Integer,
    String,
    Table,
    Text,
    TextClause,
    any_,
    bindparam,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from phongdich.db.base import UTCDateTime

# Ids per IN list on SQLite (at most 32,766 bound parameters in one statement).
IN_CHUNK = 10_000


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def pg_type(column: Any) -> str:
    """The PostgreSQL element type of a column, for ``CAST(:x AS type[])``."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, BigInteger):
        return "bigint"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Float):
        return "double precision"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Text):
        return "text"
    if isinstance(kind, String):
        return "varchar"
    raise TypeError(f"no PostgreSQL array type for column {column.name} ({kind!r})")


def unnest_insert(table: Table, columns: Sequence[str], returning: str = "") -> TextClause:
    """PostgreSQL: ``INSERT INTO table (columns) SELECT * FROM unnest(arrays…)``; bind one
    list per column with ``as_arrays``."""
    casts = ", ".join(f"CAST(:{name} AS {pg_type(table.c[name])}[])" for name in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts})"  # noqa: S608 - names from the schema
    return text(sql + (f" RETURNING {returning}" if returning else ""))


def as_arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """One list per column, the parameters of ``unnest_insert``."""
    return {name: [row[name] for row in rows] for name in names}


def unnest_update(table: Table, key: str, columns: Sequence[str]) -> TextClause:
    """PostgreSQL: ``UPDATE table SET columns FROM unnest(arrays…) WHERE table.key = …``; bind
    one list per column (the key's included) with ``as_arrays``."""
    names = [key, *columns]
    casts = ", ".join(f"CAST(:{name} AS {pg_type(table.c[name])}[])" for name in names)
    sets = ", ".join(f"{name} = u.{name}" for name in columns)
    sql = (
        f"UPDATE {table.name} SET {sets} FROM unnest({casts}) AS u({', '.join(names)})"  # noqa: S608 - names from the schema
        f" WHERE {table.name}.{key} = u.{key}"
    )
    return text(sql)


def update_rows(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Update rows by ``key`` (dicts with the same keys, the key's included): one statement on
    PostgreSQL, an executemany elsewhere."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != key]
    if is_postgresql(session):
        session.execute(unnest_update(table, key, columns), as_arrays(rows, [key, *columns]))
        return
    stmt = (
        table.update()
        .where(table.c[key] == bindparam("_key"))
        .values({name: bindparam(name) for name in columns})
    )
    session.execute(stmt, [{**row, "_key": row[key]} for row in rows])


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys): ``COPY`` on PostgreSQL, a multi-row executemany
    elsewhere."""
    if not rows:
        return
    names = list(rows[0])
    if not is_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    # COPY in the session's own transaction: the fastest path into PostgreSQL, and free of
    # the per-character escaping an array parameter of long texts costs the driver.
    driver = session.connection().connection.driver_connection
    assert driver is not None
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def id_chunks(ids: Collection[int], postgresql: bool) -> Iterator[list[int]]:
    """The ids in chunks an ``IN`` list can take (one chunk on PostgreSQL, see ``id_in``)."""
    ordered = sorted(ids)
    if postgresql:
        if ordered:
            yield ordered
        return
    for first in range(0, len(ordered), IN_CHUNK):
        yield ordered[first : first + IN_CHUNK]


def id_in(column: Any, ids: list[int], postgresql: bool) -> ColumnElement[bool]:
    """``column IN ids``: one array parameter on PostgreSQL (``= ANY(:ids)``)."""
    if postgresql:
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger), unique=True))
    result: ColumnElement[bool] = column.in_(ids)
    return result
