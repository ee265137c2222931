"""``phongdich bench trace``: how fast tracing finds the contacts of a confirmed case (F0).

A fresh database (a temporary SQLite file, or a throw-away PostgreSQL server) is migrated and
filled with synthetic data in bulk — never row by row through the ORM:

- active checkpoints of the platform's types in the communes of Hà Nội, one entrance each,
  one per 100 visits (1 M visits: 10,000; 10 M: 100,000, the layout of the reference
  measurements; 100 M: 1,000,000); popularity is skewed as real venues are (Zipf–Mandelbrot:
  the checkpoint of popularity rank r gets visits in proportion to 1 / (r + q), q = 50 at
  100,000 checkpoints and scaled with their number; the most popular 1 % are places crowds
  pass through — markets, supermarkets, stations, hospitals, restaurants, tourist and religious
  sites). A larger size is thus a larger province with as busy a market, and a case meets
  about as many people at every size. ``checkpoints=`` (``--checkpoints``) keeps a fixed
  number with q = 50 instead: the same venues ever more crowded;
- people making about 2 visits a day over the last 14 days (8 to 48 visits each), with
  check-in hours typical of each kind of place (Vietnam time), stays bounded by the type's
  automatic check-out (``DEFAULT_DURATIONS``): 75 % scanned out, the rest closed
  automatically, visits still running now left open; and on purpose a few hundred "case-like"
  people with exactly 20 visits in the 14 days (one a day, two on six days).

PostgreSQL loads with ``COPY`` through the raw psycopg connection, SQLite with ``executemany``
in big transactions (``synchronous=OFF``, ``journal_mode=OFF`` for the load only, then back to
WAL). On both the secondary indexes of ``visits`` are dropped during the load and rebuilt from
their own definitions afterwards, foreign-key checks are off for the load only (the generator
makes valid references), then the planner statistics are refreshed (PostgreSQL: ``VACUUM
ANALYZE``, as autovacuum would; SQLite: ``ANALYZE`` with ``analysis_limit``).

Each size is a province of its own, loaded into a fresh database (1 M visits, measured, then
10 M, measured; 100 M with ``--full``). At each size:

- ``f1``: 200 case-like people get a confirmed case (``TracingService.open_case``: window = the
  last 14 days) and ``TracingService.trace(case, depth=1)`` (found and stored by the database)
  is timed, each in its own
  transaction rolled back afterwards (contacts never accumulate);
- ``f1f2``: the same with ``depth=2`` (F1 + F2), as many cases as fit a time budget;
- ``bare_overlap``: the overlap queries alone for the same cases (``stays_of`` + ``present_at``,
  the ranges built as the service builds them), to show what the service adds;
- ``f1_find``: ``TracingService.find(case, depth=1)``, the same F1 found with its evidence by
  the pure rules in Python, not stored;
- ``f1_in_db``: ``TracingService.count_exposed([case])``, the F1 from visits found by the
  database and only counted there: what storing them adds to finding them;
- ``queue``: for two probe cases, the F1 a waiting tracer gets (``trace_waiting``: the F2 of
  more than ``TRACE_AT_ONCE`` F1 is left to the queue), then the tracing queue's steps of the
  F2 (``trace_deeper_step``), each committed as the queue commits it: the longest step is the
  longest the queue holds SQLite's write lock;
- ``bulk``: the F1 of 1,000 new cases at once (``TracingService.trace_many``: one overlap
  statement per 5,000 case stays), stored and rolled back; ``bulk_find``: ``find_many``, the same
  without storing; ``bulk_in_db``: ``count_exposed`` of the same cases.

The last line on stdout is one JSON object.
"""

from __future__ import annotations

import math
import os
import platform
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from phongdich.accounts.models import Official, PhoneAccount
from phongdich.accounts.service import AccountService, Principal
from phongdich.checkpoints.rules import ACTIVE, TIME_BOUNDED_TYPES, TYPES
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.repository import UnitRepository
from phongdich.geo.service import UnitService
from phongdich.kit.clock import utcnow
from phongdich.tracing.models import Case
from phongdich.tracing.repository import TracingRepository
from phongdich.tracing.service import TracingService, longest_visits
from phongdich.visits.models import Visit
from phongdich.visits.rules import DEFAULT_DURATIONS, LONGEST_VISIT, OUT_AUTOMATIC, OUT_SCANNED

SIZES = (1_000_000, 10_000_000)
FULL_SIZE = 100_000_000
DAYS = 14
# The reference layout (``performance-notes.md``): 10 M visits at 100,000 checkpoints over 14
# days, popularity 1 / (rank + 50), the 1,000 most popular places where crowds pass through.
# Each size is a province of its own with one checkpoint per 100 visits and the same shape of
# popularity (the offset and the busy ranks scaled with the checkpoints): a larger province has
# more markets, not a busier one, so a case meets about as many people at every size and the
# growth from 1 M to 10 M measures the tables. ``checkpoints=`` keeps that many checkpoints at
# every size with the reference's offset instead: the same venues, ever more crowded.
CHECKPOINTS = 100_000
VISITS_PER_CHECKPOINT = 100
PROBES = 200  # cases timed one by one at each size
CASE_VISITS = 20  # visits of a case-like person in the 14 days
VISITS_RANGE = (8, 48)  # visits of everyone else (mean 28: two a day)
ZIPF_Q = 50.0  # popularity of rank r ∝ 1 / (r + ZIPF_Q)
BUSY_RANKS = 1_000
SCANNED_OUT = 0.75
F1F2_BUDGET_S = 60.0  # F1 + F2 is timed on as many probe cases as fit this budget…
F1F2_MIN_CASES = 3  # …but at least on this many
F1F2_WALL_LIMIT_S = 120  # one F1 + F2 trace is stopped after this long (counted as failed)
F2_STATEMENT_TIMEOUT_S = 30  # PostgreSQL: one F1 + F2 query may run this long, then counts failed
QUEUE_CASES = 2  # cases whose deferred F2 the tracing queue's steps are timed on, at each size
WARMUP = 20
PROVINCE = "01"
LOCAL_OFFSET = 7 * 3600  # Vietnam time (UTC+7): check-in hours are local
TARGETS = {
    "f1_p50_ms_at_10m": 20.0,
    "growth_f1_p50_1m_to_10m_max": 2.0,
    "bulk_1000_f1_s_at_10m": 3.0,
}

# Where crowds pass through: the most popular checkpoints are of these (short-stay) kinds.
BUSY_TYPES = (
    "market",
    "supermarket",
    "station",
    "hospital",
    "restaurant",
    "tourist_site",
    "religious_site",
)
# The mix of the long tail (relative weights); every platform type appears.
TYPE_WEIGHTS: dict[str, float] = {
    "restaurant": 25,
    "office": 12,
    "pharmacy": 10,
    "residential": 8,
    "market": 6,
    "supermarket": 5,
    "lodging": 5,
    "other": 5,
    "school": 4,
    "hospital": 3,
    "factory": 3,
    "construction": 3,
    "religious_site": 3,
    "tourist_site": 2,
    "traffic_post": 2,
    "meeting_hall": 2,
    "station": 1,
    "event": 1,
}

# Check-in hours (local time) by kind of place: relative weights of hours 0–23.
_DAYTIME = [0, 0, 0, 0, 0, 0, 1, 3, 4, 4, 4, 5, 5, 3, 3, 3, 4, 5, 6, 6, 4, 2, 1, 0]
_WORK = [0, 0, 0, 0, 0, 1, 3, 8, 6, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
_MEALS = [0, 0, 0, 0, 0, 0, 2, 3, 2, 1, 1, 6, 7, 2, 1, 1, 1, 3, 7, 7, 4, 2, 1, 0]
_EVENING = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 4, 6, 6, 5, 4, 3, 2]
_ALL_DAY = [0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 0]
HOURS: dict[str, list[int]] = {
    "office": _WORK,
    "school": _WORK,
    "factory": _WORK,
    "construction": _WORK,
    "meeting_hall": _WORK,
    "restaurant": _MEALS,
    "lodging": _EVENING,
    "residential": _EVENING,
    "traffic_post": _ALL_DAY,
    "station": _ALL_DAY,
}


def log(message: str) -> None:
    print(f"[bench trace] {message}", file=sys.stderr, flush=True)


def _hour_table(weights: Sequence[int]) -> list[int]:
    """Hours repeated by weight: ``table[int(random() * len(table))]`` draws one."""
    return [hour for hour, weight in enumerate(weights) for _ in range(weight * 4)]


def _pct(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _us(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1_000_000, 2)


# Synthetic data ------------------------------------------------------------------------------
class Synth:
    """Rows for bulk loading, as tuples of plain values; timestamps are pre-formatted text in
    the backend's own format (PostgreSQL: ``+00`` text; SQLite: what SQLAlchemy stores)."""

    def __init__(self, rng: random.Random, now: datetime, dialect: str) -> None:
        self.rng = rng
        self.now_s = int(now.timestamp())
        self.start_s = self.now_s - DAYS * 86400
        # Local midnight on or before the window start (UTC epoch seconds).
        self.local0 = (self.start_s + LOCAL_OFFSET) // 86400 * 86400 - LOCAL_OFFSET
        self._day0 = (self.local0 // 86400 - 60) * 86400
        self._days = [
            datetime.fromtimestamp(self._day0 + d * 86400, UTC).strftime("%Y-%m-%d")
            for d in range(120)
        ]
        self._suffix = "+00" if dialect == "postgresql" else ".000000"
        # Filled by checkpoints().
        self.cp_ids: list[int] = []
        self.ent_ids: list[int] = []
        self.by_rank: list[int] = []
        self.cum: list[float] = []
        self.dur: list[int] = []
        self.hours: list[list[int]] = []
        self.next_person = 1
        self.case_like: list[int] = []

    def ts(self, t: int) -> str:
        d, r = divmod(t - self._day0, 86400)
        h, r = divmod(r, 3600)
        m, s = divmod(r, 60)
        return f"{self._days[d]} {h:02d}:{m:02d}:{s:02d}{self._suffix}"

    def checkpoints(
        self,
        count: int,
        first_id: int,
        first_entrance: int,
        owner_id: int,
        communes: list[str],
        q: float = ZIPF_Q,
        busy: int = BUSY_RANKS,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """(checkpoint rows, entrance rows); also the popularity ranking used for visits: rank
        r gets visits in proportion to 1 / (r + q), the ``busy`` first ranks are of
        ``BUSY_TYPES``."""
        rng = self.rng
        by_rank = list(range(count))
        rng.shuffle(by_rank)  # by_rank[r] = index of the checkpoint of popularity rank r
        kinds = [""] * count
        names = list(TYPE_WEIGHTS)
        weights = [TYPE_WEIGHTS[n] for n in names]
        tail = rng.choices(names, weights=weights, k=count)
        for rank, index in enumerate(by_rank):
            kinds[index] = BUSY_TYPES[rank % len(BUSY_TYPES)] if rank < busy else tail[rank]
        total = 0.0
        cum = []
        for rank in range(count):
            total += 1.0 / (rank + q)
            cum.append(total)
        self.by_rank, self.cum = by_rank, cum
        self.cp_ids = [first_id + i for i in range(count)]
        self.ent_ids = [first_entrance + i for i in range(count)]
        self.dur = [int(DEFAULT_DURATIONS[k].total_seconds()) for k in kinds]
        tables = {k: _hour_table(HOURS.get(k, _DAYTIME)) for k in TYPES}
        self.hours = [tables[k] for k in kinds]
        created = self.ts(self.start_s - 30 * 86400)
        event_start = self.ts(self.start_s - 86400)
        event_end = self.ts(self.now_s + 30 * 86400)
        checkpoints = []
        entrances = []
        for i, kind in enumerate(kinds):
            cid = first_id + i
            code = f"BT-{cid:07d}"
            bounded = kind in TIME_BOUNDED_TYPES
            checkpoints.append(
                (
                    cid,
                    code,
                    f"Điểm thử {TYPES[kind][0]} {cid}",
                    kind,
                    f"Số {cid} phố Thử",
                    communes[i % len(communes)],
                    owner_id,
                    ACTIVE,
                    "",
                    event_start if bounded else None,
                    event_end if bounded else None,
                    f"diem thu {kind} {cid}",
                    f"so {cid} pho thu",
                    created,
                    created,
                )
            )
            entrances.append((first_entrance + i, cid, "Cổng chính", "entrance", True, created))
        return checkpoints, entrances

    def plan(self, visits: int, case_like: int) -> list[int]:
        """Visits per new person: ``case_like`` people with exactly 20, then 8–48 each."""
        counts = [CASE_VISITS] * min(case_like, visits // CASE_VISITS)
        total = sum(counts)
        low, high = VISITS_RANGE
        while total < visits:
            k = min(self.rng.randint(low, high), visits - total)
            counts.append(k)
            total += k
        return counts

    def people(self, counts: list[int], communes: list[str]) -> list[tuple[Any, ...]]:
        created = self.ts(self.start_s - 30 * 86400)
        rows = []
        rng = self.rng
        for n in range(len(counts)):
            pid = self.next_person + n
            rows.append(
                (
                    pid,
                    f"Người thử {pid}",
                    f"nguoi thu {pid}",
                    rng.randint(1940, 2015),
                    communes[pid % len(communes)],
                    f"{(pid * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}",
                    created,
                    created,
                )
            )
        return rows

    def visits(self, counts: list[int], case_like: int) -> Iterator[tuple[Any, ...]]:
        """The visits of the people of ``counts`` (ids from ``next_person``); the first
        ``case_like`` of them visit once a day and twice on six days."""
        rng = self.rng
        rnd = rng.random
        choices = rng.choices
        by_rank, cum = self.by_rank, self.cum
        cp_ids, ent_ids, dur, hours = self.cp_ids, self.ent_ids, self.dur, self.hours
        ts = self.ts
        local0, now_s, start_s = self.local0, self.now_s, self.start_s
        span = DAYS * 86400
        first = self.next_person
        for n, k in enumerate(counts):
            pid = first + n
            like = n < case_like
            if like:
                self.case_like.append(pid)
            shift = int(rnd() * 2)
            for v, i in enumerate(choices(by_rank, cum_weights=cum, k=k)):
                table = hours[i]
                if like:
                    if v < DAYS:
                        day = v + shift
                        hour = table[int(rnd() * len(table))]
                    else:  # a second visit on six of the days, in the evening
                        day = 2 * (v - DAYS) + 1 + shift
                        hour = 18 + int(rnd() * 3)
                else:
                    day = int(rnd() * (DAYS + 1))
                    hour = table[int(rnd() * len(table))]
                t = local0 + day * 86400 + hour * 3600 + int(rnd() * 3600)
                if t >= now_s:
                    t -= span
                elif t < start_s:
                    t += span
                auto = t + dur[i]
                if rnd() < SCANNED_OUT:
                    out: int | None = t + int(dur[i] * (0.15 + 0.8 * rnd()))
                    method: str | None = OUT_SCANNED
                else:
                    out, method = auto, OUT_AUTOMATIC
                if out is not None and out > now_s:  # still there: an open visit
                    out, method = None, None
                at = ts(t)
                yield (
                    cp_ids[i],
                    ent_ids[i],
                    pid,
                    at,
                    ts(out) if out is not None else None,
                    ts(auto),
                    "self" if rnd() < 0.7 else "staff_scan",
                    method,
                    at,
                )
        self.next_person = first + len(counts)


CHECKPOINT_COLUMNS = (
    "id",
    "code",
    "name",
    "type",
    "address",
    "unit_code",
    "owner_id",
    "status",
    "status_reason",
    "starts_at",
    "ends_at",
    "name_key",
    "address_key",
    "created_at",
    "updated_at",
)
ENTRANCE_COLUMNS = ("id", "checkpoint_id", "name", "kind", "is_active", "created_at")
PERSON_COLUMNS = (
    "id",
    "full_name",
    "name_key",
    "birth_year",
    "unit_code",
    "qr_subject",
    "created_at",
    "updated_at",
)
VISIT_COLUMNS = (
    "checkpoint_id",
    "entrance_id",
    "person_id",
    "check_in_at",
    "check_out_at",
    "auto_out_at",
    "in_method",
    "out_method",
    "created_at",
)


# Databases -------------------------------------------------------------------------------------
class Store:
    """One benchmark database: bulk loading and an engine for the measurements."""

    dialect = ""
    load_note = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def factory(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine())

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        bar: tqdm[Any] | None = None,
    ) -> int:
        raise NotImplementedError

    def drop_indexes(self, table: str) -> list[str]:
        """Drop the table's secondary indexes; their definitions, to rebuild them."""
        raise NotImplementedError

    def execute(self, statements: Sequence[str]) -> None:
        raise NotImplementedError

    def analyze(self) -> None:
        raise NotImplementedError

    def fix_sequences(self, tables: Sequence[str]) -> None:
        """Move id sequences past explicitly inserted ids (PostgreSQL)."""

    def version(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self.dispose()


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class SqliteStore(Store):
    dialect = "sqlite"
    load_note = (
        "SQLite: executemany in 1M-row transactions with synchronous=OFF, journal_mode=OFF and "
        "foreign_keys=OFF for the load only (WAL and foreign keys again for the measurements); "
        "visits' secondary indexes dropped during the load and rebuilt after it"
    )

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="pd-bench-trace-")
        self.path = Path(self.folder.name) / "trace.db"
        super().__init__(f"sqlite:///{self.path}")

    def _connect(self) -> sqlite3.Connection:
        self.dispose()  # journal_mode changes need the only connection
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        bar: tqdm[Any] | None = None,
    ) -> int:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        conn = self._connect()
        done = 0
        try:
            conn.execute("BEGIN")
            for chunk in _chunks(rows, 50_000):
                conn.executemany(sql, chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
                if done % 1_000_000 < len(chunk):
                    conn.execute("COMMIT")
                    conn.execute("BEGIN")
            conn.execute("COMMIT")
        finally:
            self._release(conn)
        return done

    def drop_indexes(self, table: str) -> list[str]:
        conn = self._connect()
        try:
            found = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            ).fetchall()
            for name, _sql in found:
                conn.execute(f'DROP INDEX "{name}"')
        finally:
            self._release(conn)
        return [sql for _name, sql in found]

    def execute(self, statements: Sequence[str]) -> None:
        conn = self._connect()
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            self._release(conn)

    def analyze(self) -> None:
        self.execute(["PRAGMA analysis_limit=10000", "ANALYZE"])

    def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def close(self) -> None:
        super().close()
        self.folder.cleanup()


class PgStore(Store):
    dialect = "postgresql"
    load_note = (
        "PostgreSQL: throw-away server with fsync/synchronous_commit/full_page_writes off (a read "
        "benchmark), shared_buffers=1GB; COPY through the raw psycopg connection with "
        "session_replication_role=replica (no foreign-key triggers) for the load only; visits' "
        "secondary indexes dropped during the load and rebuilt after it; VACUUM ANALYZE after"
    )

    def __init__(self) -> None:
        from phongdich.bench.pg import PgServer

        self.server = PgServer(
            durable=False,
            settings={
                "shared_buffers": "1GB",
                "maintenance_work_mem": "1GB",
                "max_wal_size": "16GB",
                "checkpoint_timeout": "30min",
            },
        )
        self.server.start()
        try:
            self.server.create_database("bench_trace")
        except BaseException:
            self.server.stop()
            raise
        super().__init__(self.server.url("bench_trace"))

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
        bar: tqdm[Any] | None = None,
    ) -> int:
        raw = self.engine().raw_connection()
        done = 0
        try:
            pg = raw.driver_connection
            assert pg is not None
            with pg.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = replica")
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        done += 1
                        if bar is not None and done % 50_000 == 0:
                            bar.update(50_000)
            raw.commit()
            if bar is not None:
                bar.update(done % 50_000)
        finally:
            raw.close()
        return done

    def drop_indexes(self, table: str) -> list[str]:
        with self.engine().begin() as conn:
            found = conn.exec_driver_sql(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.tablename = %(t)s AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)",
                {"t": table},
            ).all()
            for name, _sql in found:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [sql for _name, sql in found]

    def execute(self, statements: Sequence[str]) -> None:
        with self.engine().begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def analyze(self) -> None:
        with self.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")

    def fix_sequences(self, tables: Sequence[str]) -> None:
        self.execute(
            [
                f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "  # noqa: S608
                f"(SELECT coalesce(max(id), 0) + 1 FROM {t}), false)"
                for t in tables
            ]
        )

    def version(self) -> str:
        with self.engine().connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())

    def close(self) -> None:
        super().close()
        self.server.stop()


# Measurements ----------------------------------------------------------------------------------
@dataclass
class Figures:
    f1: list[float] = field(default_factory=list)
    f1_find: list[float] = field(default_factory=list)
    f1_in_db: list[float] = field(default_factory=list)
    f1f2: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)
    f2: list[int] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)
    case_visits: list[int] = field(default_factory=list)
    f1f2_errors: list[str] = field(default_factory=list)
    # F1 + F2 traces that left F2 untraced (more F1 than ``trace_level_limit``).
    f1f2_stopped: int = 0
    f2_ranges: list[int] = field(default_factory=list)


def bench_settings(url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        notifier="none",
        deliver_in_process=False,
        schedule_in_process=False,
    )


def open_cases(
    factory: sessionmaker[Session], settings: Settings, admin_id: int, person_ids: list[int]
) -> list[int]:
    """A confirmed case for each person, infectious over the last 14 days (tested now, symptoms
    12 days ago: the window starts 2 days before the onset)."""
    now = utcnow()
    ids = []
    with unit_of_work(factory) as s:
        official = s.get(Official, admin_id)
        assert official is not None
        principal = Principal(kind="official", official=official)
        service = TracingService(s, settings)
        for pid in person_ids:
            case = service.open_case(
                principal, official, pid, now, onset_at=now - timedelta(days=DAYS - 2)
            )
            ids.append(case.id)
    return ids


def bare_overlap(session: Session, case: Case, margin: timedelta) -> tuple[int, int]:
    """The overlap queries of an F1 trace alone, ranges built as the service builds them;
    (the case's visits, candidate visits)."""
    repo = TracingRepository(session)
    start, end = case.window_start, min(case.window_end, utcnow())
    rows = repo.stays_of({case.person_id}, start, end)
    ranges = []
    for row in rows:
        visit_end = row.check_out_at or row.auto_out_at
        if visit_end <= start or row.check_in_at >= end:
            continue
        ranges.append(
            (row.checkpoint_id, max(row.check_in_at, start), min(visit_end, end) + margin)
        )
    kinds = repo.checkpoint_types({r[0] for r in ranges})
    return len(ranges), len(repo.present_at(ranges, longest_visits(kinds)))


class TooSlow(Exception):
    """A trace ran past its wall-clock limit."""


def _raise_too_slow(_signum: int, _frame: object) -> None:
    raise TooSlow()


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise ``TooSlow`` inside the block after ``seconds`` (main thread only; no limit
    elsewhere): an F1 + F2 trace of a large outbreak can run for many minutes."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise_too_slow)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _failure(exc: BaseException) -> str:
    """One line on why an F1 + F2 trace failed."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, TooSlow):
        return f"stopped after {F1F2_WALL_LIMIT_S} s"
    lines = str(cause).splitlines()
    return (lines[0] if lines else type(cause).__name__)[:200]


def f2_ranges(session: Session, case: Case) -> int:
    """Visits of the case's (just stored) contacts since their exposure, bounded like the
    service bounds its scans: about the number of ranges an F2 overlap query gets."""
    contacts = TracingRepository(session).contacts(case.id)
    if not contacts:
        return 0
    since = {pid: c.last_exposure for pid, c in contacts.items()}
    first = min(since.values()) - LONGEST_VISIT
    stmt = select(Visit.person_id, Visit.check_in_at, Visit.check_out_at, Visit.auto_out_at)
    stmt = stmt.where(Visit.person_id.in_(list(since)), Visit.check_in_at >= first)
    return sum(1 for pid, _at, out, auto in session.execute(stmt) if (out or auto) > since[pid])


def _limit_statements(session: Session) -> None:
    """PostgreSQL: no statement of this transaction may run longer than the F2 limit."""
    session.execute(text(f"SET LOCAL statement_timeout = '{F2_STATEMENT_TIMEOUT_S}s'"))


def timed_queue(
    factory: sessionmaker[Session], settings: Settings, case_id: int, dialect: str
) -> list[float]:
    """The F1 a waiting tracer gets (``trace_waiting``), committed; then, when it left the F2 to
    the tracing queue, the seconds of each of the queue's steps (``trace_deeper_step``), each
    committed as the queue commits it (none: nothing was left to the queue)."""
    with unit_of_work(factory) as s:
        case = s.get(Case, case_id)
        assert case is not None
        if TracingService(s, settings).trace_waiting(case).deferred_level is None:
            return []
    steps: list[float] = []
    more = True
    while more:
        with unit_of_work(factory) as s:
            if dialect == "postgresql":
                _limit_statements(s)
            case = s.get(Case, case_id)
            assert case is not None
            t0 = time.perf_counter()
            with _deadline(F1F2_WALL_LIMIT_S):
                more = TracingService(s, settings).trace_deeper_step(case)
                s.flush()
        steps.append(time.perf_counter() - t0)  # with the commit
    return steps


def measure(
    store: Store,
    settings: Settings,
    admin_id: int,
    pool: list[int],
    probes: int,
    cases: int,
    rng: random.Random,
    f1f2_budget_s: float = F1F2_BUDGET_S,
) -> dict[str, Any]:
    factory = store.factory()
    chosen = rng.sample(pool, min(probes, len(pool)))
    taken = set(chosen)
    rest = [p for p in pool if p not in taken] or pool
    margin = timedelta(minutes=settings.trace_after_margin_minutes)
    bulk_people = [rest[i % len(rest)] for i in range(cases)]
    rng.shuffle(bulk_people)
    probe_ids = open_cases(factory, settings, admin_id, chosen)
    bulk_ids = open_cases(factory, settings, admin_id, bulk_people)
    figures = Figures()

    def timed(case_id: int, call: Callable[[TracingService, Case], object]) -> float:
        """Seconds of one call on the case, in its own transaction rolled back."""
        with factory() as s:
            case = s.get(Case, case_id)
            assert case is not None
            t0 = time.perf_counter()
            call(TracingService(s, settings), case)
            elapsed = time.perf_counter() - t0
            s.rollback()
        return elapsed

    def find_f1(service: TracingService, case: Case) -> object:
        """The F1 with their evidence by the pure rules, nothing stored."""
        return service.find(case, depth=1)

    def count_f1(service: TracingService, case: Case) -> object:
        """The F1 from visits found by the database and counted there: nothing read into
        Python or stored."""
        return service.count_exposed([case])

    def timed_trace(case_id: int, depth: int) -> tuple[float, int, int, int, bool]:
        """(seconds, F1, F2, visits of the F1 after their exposure: the ranges an F2 query
        would get — counted after the timing, for depth 1 only —, whether a level was left
        untraced)."""
        with factory() as s:
            case = s.get(Case, case_id)
            assert case is not None
            if depth > 1 and store.dialect == "postgresql":
                _limit_statements(s)
            t0 = time.perf_counter()
            with _deadline(F1F2_WALL_LIMIT_S if depth > 1 else None):
                summary = TracingService(s, settings).trace(case, depth=depth)
                s.flush()
            elapsed = time.perf_counter() - t0
            ranges = f2_ranges(s, case) if depth == 1 else 0
            s.rollback()
        return elapsed, summary.f1, summary.f2, ranges, summary.stopped_level is not None

    def timed_bare(case_id: int) -> tuple[float, int, int]:
        with factory() as s:
            case = s.get(Case, case_id)
            assert case is not None
            t0 = time.perf_counter()
            visits, candidates = bare_overlap(s, case, margin)
            elapsed = time.perf_counter() - t0
            s.rollback()
        return elapsed, visits, candidates

    for case_id in probe_ids[:WARMUP]:  # caches and prepared plans, as a running server has
        timed_bare(case_id)
        timed_trace(case_id, 1)
    f1f2_spent = 0.0
    with tqdm(total=len(probe_ids), desc="probe cases", unit="case", file=sys.stderr) as bar:
        for case_id in probe_ids:
            seconds, visits, candidates = timed_bare(case_id)
            figures.bare.append(seconds)
            figures.case_visits.append(visits)
            figures.candidates.append(candidates)
            figures.f1_find.append(timed(case_id, find_f1))
            figures.f1_in_db.append(timed(case_id, count_f1))
            seconds, f1, _f2, ranges, _stopped = timed_trace(case_id, 1)
            figures.f1.append(seconds)
            figures.contacts.append(f1)
            figures.f2_ranges.append(ranges)
            attempted = len(figures.f1f2) + len(figures.f1f2_errors)
            within_budget = attempted < F1F2_MIN_CASES or f1f2_spent < f1f2_budget_s
            if within_budget:
                t0 = time.perf_counter()
                try:
                    seconds, _f1, f2, _, stopped = timed_trace(case_id, 2)
                except (SQLAlchemyError, TooSlow) as exc:  # a failure is a finding, not the end
                    figures.f1f2_errors.append(_failure(exc))
                else:
                    figures.f1f2.append(seconds)
                    figures.f2.append(f2)
                    figures.f1f2_stopped += stopped
                f1f2_spent += time.perf_counter() - t0
            bar.update(1)

    log(f"bulk: F1 of {len(bulk_ids):,} cases at once, found, then found and stored")
    with factory() as s:
        bulk_cases = list(s.scalars(select(Case).where(Case.id.in_(bulk_ids))))
        t0 = time.perf_counter()
        bulk_in_db = TracingService(s, settings).count_exposed(bulk_cases)
        bulk_in_db_s = time.perf_counter() - t0
        s.rollback()
    with factory() as s:
        bulk_cases = list(s.scalars(select(Case).where(Case.id.in_(bulk_ids))))
        t0 = time.perf_counter()
        found = TracingService(s, settings).find_many(bulk_cases)
        bulk_find_s = time.perf_counter() - t0
        bulk_found = sum(len(f.best) for f in found.values())
        del found
        s.rollback()
    with factory() as s:
        bulk_cases = list(s.scalars(select(Case).where(Case.id.in_(bulk_ids))))
        t0 = time.perf_counter()
        summaries = TracingService(s, settings).trace_many(bulk_cases)
        s.flush()
        bulk_s = time.perf_counter() - t0
        bulk_contacts = sum(x.f1 for x in summaries)
        s.rollback()

    log(f"queue: the F2 of {QUEUE_CASES} cases in the tracing queue's steps")
    queue_steps: list[float] = []  # every step's seconds
    queue_totals: list[float] = []  # each case's steps in all
    queue_counts: list[int] = []  # each case's steps
    queue_errors: list[str] = []
    with factory() as s:
        step_people = TracingService(s, settings).step_people()
    for case_id in probe_ids[:QUEUE_CASES]:
        try:
            steps = timed_queue(factory, settings, case_id, store.dialect)
        except (SQLAlchemyError, TooSlow) as exc:
            queue_errors.append(_failure(exc))
            continue
        if steps:
            queue_steps += steps
            queue_totals.append(sum(steps))
            queue_counts.append(len(steps))

    def median(values: Sequence[float]) -> float | None:
        return _pct(values, 0.5)

    find_p50, bare_p50 = median(figures.f1_find), median(figures.bare)
    return {
        "f1_p50_ms": _ms(median(figures.f1)),
        "f1_p99_ms": _ms(_pct(figures.f1, 0.99)),
        # Each case's stored F1 time over its number of F1: what a contact costs, whatever
        # the size of the tables (the 10 M data gives a case ten times the F1 of 1 M's).
        "f1_us_per_contact_p50": _us(
            median([t / n for t, n in zip(figures.f1, figures.contacts, strict=True) if n])
        ),
        "f1_find_p50_ms": _ms(find_p50),
        "f1_find_p99_ms": _ms(_pct(figures.f1_find, 0.99)),
        "f1_in_db_p50_ms": _ms(median(figures.f1_in_db)),
        "f1f2_p50_ms": _ms(median(figures.f1f2)),
        "f1f2_p99_ms": _ms(_pct(figures.f1f2, 0.99)),
        "f1f2_cases": len(figures.f1f2),
        "f1f2_failed": len(figures.f1f2_errors),
        # Of the F1 + F2 timed, how many left F2 untraced (too many F1): their times are F1's.
        "f1f2_f2_untraced": figures.f1f2_stopped,
        "f1f2_errors": sorted(set(figures.f1f2_errors)),
        # The median with every failure counted as slower than any success (null: a failure).
        "f1f2_p50_ms_failures_as_slowest": _ms(
            _finite(_pct(figures.f1f2 + [math.inf] * len(figures.f1f2_errors), 0.5))
        ),
        "f2_ranges_per_case_p50": median(figures.f2_ranges),
        "f2_ranges_per_case_max": max(figures.f2_ranges, default=None),
        "bare_overlap_p50_ms": _ms(bare_p50),
        "bare_overlap_p99_ms": _ms(_pct(figures.bare, 0.99)),
        # What the pure rules add in Python to the queries ``find`` runs.
        "find_adds_p50_ms": _ms(find_p50 - bare_p50)
        if find_p50 is not None and bare_p50 is not None
        else None,
        "probe_cases": len(probe_ids),
        "case_visits_p50": median(figures.case_visits),
        "candidate_visits_p50": median(figures.candidates),
        "contacts_per_case_p50": median(figures.contacts),
        "contacts_per_case_p99": _pct(figures.contacts, 0.99),
        "f2_per_case_p50": median(figures.f2),
        # The F2 the queue traces in steps of a transaction each (``queue`` in the method).
        "queue_cases": len(queue_totals),
        "queue_step_people": step_people,
        "queue_steps_per_case_p50": median(queue_counts),
        "queue_step_max_s": _s(max(queue_steps, default=None)),
        "queue_step_p50_s": _s(median(queue_steps)),
        "queue_f2_s_p50": _s(median(queue_totals)),
        "queue_errors": sorted(set(queue_errors)),
        "bulk_cases": len(bulk_ids),
        "bulk_f1_s": round(bulk_s, 3),
        "bulk_contacts": bulk_contacts,
        "bulk_find_s": round(bulk_find_s, 3),
        "bulk_found": bulk_found,
        "bulk_in_db_s": round(bulk_in_db_s, 3),
        "bulk_in_db_pairs": bulk_in_db,
    }


# The run ---------------------------------------------------------------------------------------
def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def plan_sizes(visits: int, sizes: Sequence[int] | None, full: bool) -> list[int]:
    wanted = list(sizes) if sizes else [*SIZES, *((FULL_SIZE,) if full else ())]
    if full and not sizes:
        visits = max(visits, FULL_SIZE)
    planned = sorted({s for s in wanted if 0 < s <= visits})
    if not planned or (sizes is None and planned[-1] < visits):
        planned.append(visits)
    return sorted(set(planned))


@dataclass(frozen=True)
class Layout:
    """The checkpoints of one size and the shape of their popularity."""

    checkpoints: int
    zipf_q: float
    busy_ranks: int


def layout(size: int, fixed: int | None = None) -> Layout:
    """One checkpoint per ``VISITS_PER_CHECKPOINT`` visits, the popularity offset and the busy
    ranks scaled with them from the reference layout (at least 1 each); or ``fixed``
    checkpoints with the reference's offset and busy ranks."""
    if fixed is not None:
        if fixed < 1:
            raise ValueError("checkpoints must be at least 1")
        return Layout(fixed, ZIPF_Q, min(BUSY_RANKS, fixed))
    count = max(1, size // VISITS_PER_CHECKPOINT)
    scale = count / CHECKPOINTS
    return Layout(count, max(1.0, ZIPF_Q * scale), max(1, round(BUSY_RANKS * scale)))


def run(
    db: str = "sqlite",
    visits: int = 1_000_000,
    sizes: Sequence[int] | None = None,
    full: bool = False,
    cases: int = 1000,
    checkpoints: int | None = None,
    probes: int = PROBES,
    seed: int = 2021,
    f1f2_budget_s: float = F1F2_BUDGET_S,
) -> dict[str, Any]:
    """Measure each planned size on a province of its own (a fresh database)."""
    if db not in ("sqlite", "postgresql"):
        raise ValueError(f"db must be sqlite or postgresql, not {db!r}")
    started = time.monotonic()
    planned = plan_sizes(visits, sizes, full)
    layouts = [layout(size, checkpoints) for size in planned]
    log(
        f"{db}: sizes {', '.join(f'{s:,}' for s in planned)} visits at "
        f"{', '.join(f'{x.checkpoints:,}' for x in layouts)} checkpoints"
    )
    # A terminated run (``timeout``, a CI job) still stops its PostgreSQL server: SIGTERM
    # unwinds like Ctrl-C, through the ``finally`` below.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    results: list[dict[str, Any]] = []
    version = load_note = ""
    try:
        for size, shape in zip(planned, layouts, strict=True):
            store: Store = PgStore() if db == "postgresql" else SqliteStore()
            try:
                results.append(province(store, db, size, shape, cases, probes, seed, f1f2_budget_s))
                version, load_note = store.version(), store.load_note
            finally:
                store.close()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return summarize(db, results, checkpoints, version, load_note, started, f1f2_budget_s)


def province(
    store: Store,
    db: str,
    size: int,
    shape: Layout,
    cases: int,
    probes: int,
    seed: int,
    f1f2_budget_s: float = F1F2_BUDGET_S,
) -> dict[str, Any]:
    """Fill a fresh database with one province of ``size`` visits and measure it."""
    rng = random.Random(seed)
    upgrade(store.url)
    settings = bench_settings(store.url)
    factory = store.factory()
    with unit_of_work(factory) as s:
        UnitService(s).load_default()
        communes = [u.code for u in UnitRepository(s).children(PROVINCE)]
        owner = PhoneAccount(phone="0912000099", full_name="Chủ cơ sở thử truy vết")
        s.add(owner)
        admin = AccountService(s, settings).create_official(
            "bench-trace", "mat-khau-bench-trace", "Quản trị thử truy vết", "admin", None
        )
        s.flush()
        owner_id, admin_id = owner.id, admin.id
    synth = Synth(rng, utcnow(), db)
    t0 = time.perf_counter()
    cp_rows, ent_rows = synth.checkpoints(
        shape.checkpoints, 1, 1, owner_id, communes, shape.zipf_q, shape.busy_ranks
    )
    store.insert("checkpoints", CHECKPOINT_COLUMNS, cp_rows)
    store.insert("checkpoint_entrances", ENTRANCE_COLUMNS, ent_rows)
    del cp_rows, ent_rows
    checkpoints_s = time.perf_counter() - t0
    like = min(probes + cases, max(1, size // (2 * DAYS) // 3))
    counts = synth.plan(size, like)
    t0 = time.perf_counter()
    store.insert("people", PERSON_COLUMNS, synth.people(counts, communes))
    definitions = store.drop_indexes("visits")
    with tqdm(
        total=size, desc=f"visits → {size:,}", unit="visit", file=sys.stderr, miniters=1
    ) as bar:
        store.insert("visits", VISIT_COLUMNS, synth.visits(counts, like), bar)
    insert_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    log(f"rebuilding {len(definitions)} visits indexes")
    store.execute(definitions)
    index_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    store.fix_sequences(["people", "checkpoints", "checkpoint_entrances"])
    store.analyze()
    analyze_s = time.perf_counter() - t2
    load_s = time.perf_counter() - t0
    log(
        f"{size:,} visits at {shape.checkpoints:,} checkpoints in {load_s:.1f} s (insert "
        f"{insert_s:.1f}, indexes {index_s:.1f}, statistics {analyze_s:.1f}); measuring"
    )
    load_before = os.getloadavg()[0]
    figures = measure(store, settings, admin_id, synth.case_like, probes, cases, rng, f1f2_budget_s)
    log(
        f"{size:,}: F1 p50 {figures['f1_p50_ms']} ms (found "
        f"{figures['f1_find_p50_ms']} ms, in the database "
        f"{figures['f1_in_db_p50_ms']} ms), F1+F2 p50 {figures['f1f2_p50_ms']} ms, bare "
        f"{figures['bare_overlap_p50_ms']} ms, bulk {figures['bulk_f1_s']} s (found "
        f"{figures['bulk_find_s']} s, in the database {figures['bulk_in_db_s']} s); queue F2 "
        f"p50 {figures['queue_f2_s_p50']} s in {figures['queue_steps_per_case_p50']} steps, "
        f"the longest {figures['queue_step_max_s']} s"
    )
    return {
        "visits": size,
        "checkpoints": shape.checkpoints,
        "zipf_q": shape.zipf_q,
        "busy_ranks": shape.busy_ranks,
        "people": len(counts),
        "load_s": round(load_s + checkpoints_s, 1),
        "load_visits_per_s": round(size / load_s) if load_s else None,
        "load_breakdown_s": {
            "checkpoints": round(checkpoints_s, 1),
            "generate_and_insert": round(insert_s, 1),
            "rebuild_indexes": round(index_s, 1),
            "statistics": round(analyze_s, 1),
        },
        **figures,
        "loadavg_1m_before": round(load_before, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }


def _growth(by_size: dict[int, dict[str, Any]], key: str) -> float | None:
    """``key`` at 10 M over ``key`` at 1 M (none: a size or a figure missing)."""
    if 1_000_000 not in by_size or 10_000_000 not in by_size:
        return None
    a, b = by_size[1_000_000][key], by_size[10_000_000][key]
    return round(b / a, 2) if a and b is not None else None


def _met(
    at_10m: dict[str, Any] | None, growth: float | None, f1_key: str, bulk_key: str
) -> dict[str, bool | None]:
    """The targets against these figures (none: not measured)."""
    return {
        "f1_p50_ms_at_10m": at_10m[f1_key] <= TARGETS["f1_p50_ms_at_10m"] if at_10m else None,
        "growth_f1_p50_1m_to_10m_max": growth <= TARGETS["growth_f1_p50_1m_to_10m_max"]
        if growth is not None
        else None,
        "bulk_1000_f1_s_at_10m": at_10m[bulk_key] <= TARGETS["bulk_1000_f1_s_at_10m"]
        if at_10m and at_10m["bulk_cases"] >= 1000
        else None,
    }


def summarize(
    db: str,
    results: list[dict[str, Any]],
    checkpoints: int | None,
    version: str,
    load_note: str,
    started: float,
    f1f2_budget_s: float = F1F2_BUDGET_S,
) -> dict[str, Any]:
    by_size = {r["visits"]: r for r in results}
    growth = _growth(by_size, "f1_p50_ms")
    find_growth = _growth(by_size, "f1_find_p50_ms")
    per_contact_growth = _growth(by_size, "f1_us_per_contact_p50")
    at_10m = by_size.get(10_000_000)
    met = _met(at_10m, growth, "f1_p50_ms", "bulk_f1_s")
    # The same targets for finding the contacts alone (nothing written to the contacts table).
    met_found_only = _met(at_10m, find_growth, "f1_find_p50_ms", "bulk_find_s")
    cores = os.cpu_count()
    return {
        "bench": "trace",
        "db": db,
        "db_version": version,
        "sizes": results,
        "growth_f1_p50_1m_to_10m": growth,
        "growth_f1_find_p50_1m_to_10m": find_growth,
        "growth_f1_us_per_contact_1m_to_10m": per_contact_growth,
        "targets": {**TARGETS, "met": met, "met_found_only": met_found_only},
        "data": {
            "checkpoints": f"{checkpoints:,} at every size, popularity 1/(rank+{ZIPF_Q:g})"
            if checkpoints is not None
            else f"each size a province of its own: one checkpoint per "
            f"{VISITS_PER_CHECKPOINT} visits, popularity 1/(rank+q) with q = {ZIPF_Q:g} × "
            f"checkpoints / {CHECKPOINTS:,} (at least 1) and busy ranks {BUSY_RANKS:,} × "
            f"checkpoints / {CHECKPOINTS:,} (see each size's checkpoints, zipf_q, busy_ranks)",
            "days": DAYS,
            "busy_types": ", ".join(BUSY_TYPES),
            "visits_per_person": f"{VISITS_RANGE[0]}–{VISITS_RANGE[1]} (mean 28); "
            f"case-like people: exactly {CASE_VISITS}",
            "scanned_out": SCANNED_OUT,
            "stays": "0.15–0.95 × the type's automatic check-out when scanned out, else the "
            "full automatic check-out; visits still running now are open",
        },
        "method": {
            "f1": "TracingService.trace(case, depth=1): found and stored by the database "
            "(one statement per level), one case per transaction, rolled back",
            "f1_find": "TracingService.find(case, depth=1): the F1 with all their evidence "
            "by the pure rules in Python, nothing stored",
            "f1f2": f"trace(depth=2) on as many probe cases as fit {f1f2_budget_s:g} s "
            f"(at least {F1F2_MIN_CASES}); percentiles over the cases that succeeded, failures "
            f"(errors; on PostgreSQL a statement over {F2_STATEMENT_TIMEOUT_S} s; a trace over "
            f"{F1F2_WALL_LIMIT_S} s, stopped) counted apart",
            "f1_in_db": "TracingService.count_exposed([case]): the F1 from visits found by "
            "the database and only counted there (one statement), nothing read into Python or "
            "stored: what storing adds to finding",
            "bare_overlap": "TracingRepository.stays_of + present_at for the same case: the "
            "overlap queries find runs, their rows read into Python",
            "bulk": "TracingService.trace_many(1,000 cases): the contacts of every case stay "
            "found and stored by the database, one statement per 5,000 stays, rolled back; "
            "bulk_find: find_many, each person's strongest exposure read into Python, "
            "nothing stored; bulk_in_db: count_exposed of the same cases, one statement, "
            "nothing read or stored",
            "queue": f"{QUEUE_CASES} probe cases: trace_waiting committed, then the "
            "tracing queue's steps of the F2 (trace_deeper_step, TRACE_STEP_PEOPLE people of "
            "the F1 a step: by default 50), each "
            "committed and timed with its commit; they are measured last and stay stored",
            "warmup_cases": WARMUP,
        },
        "machine_note": f"{cores} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {version}; {load_note}; the load generator runs in "
        "this process (Python) next to the database on the same cores",
        "seconds": round(time.monotonic() - started, 1),
    }
