"""What a phone keeps for Bluezone, in a stdlib ``sqlite3`` file (or ``":memory:"``).

This is the device library's repository: all of its SQL lives here. A phone keeps, for 14 days,
its own Temporary Exposure Keys, the advertisements it heard (RPI, AEM, time, RSSI), the keys of
other people that matched, and the names of the exports it has processed. Nothing here ever
leaves the phone except through :mod:`phongdich.proximity.device`'s explicit upload and consent
calls. Every mutating method commits: the phone app is its own unit of work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

__all__ = ["DeviceStore", "MatchedKeyRow", "OwnKeyRow", "SightingRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS own_keys (
    key BLOB PRIMARY KEY,
    rolling_start INTEGER NOT NULL,
    rolling_period INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS own_keys_start ON own_keys (rolling_start);
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY,
    rpi BLOB NOT NULL,
    aem BLOB NOT NULL,
    at INTEGER NOT NULL,
    rssi INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sightings_at ON sightings (at);
CREATE TABLE IF NOT EXISTS matched_keys (
    key BLOB NOT NULL,
    rolling_start INTEGER NOT NULL,
    rolling_period INTEGER NOT NULL,
    transmission_risk INTEGER NOT NULL,
    report_type INTEGER NOT NULL,
    days_since_onset INTEGER,
    export_name TEXT NOT NULL,
    PRIMARY KEY (key, rolling_start)
);
CREATE TABLE IF NOT EXISTS processed_exports (
    name TEXT PRIMARY KEY,
    processed_at INTEGER NOT NULL,
    keys INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class OwnKeyRow:
    key: bytes
    rolling_start: int
    rolling_period: int


@dataclass(frozen=True)
class SightingRow:
    id: int
    rpi: bytes
    aem: bytes
    at: int
    rssi: int


@dataclass(frozen=True)
class MatchedKeyRow:
    key: bytes
    rolling_start: int
    rolling_period: int
    transmission_risk: int
    report_type: int
    days_since_onset: int | None
    export_name: str


class DeviceStore:
    """The phone's storage; ``path`` is a file name or ``":memory:"``."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> DeviceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ own keys

    def add_own_key(self, row: OwnKeyRow) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO own_keys (key, rolling_start, rolling_period) VALUES (?, ?, ?)",
            (row.key, row.rolling_start, row.rolling_period),
        )
        self._db.commit()

    def own_keys(self, since_interval: int = 0) -> list[OwnKeyRow]:
        """Own keys still valid at or after ``since_interval``, oldest first."""
        rows = self._db.execute(
            "SELECT key, rolling_start, rolling_period FROM own_keys "
            "WHERE rolling_start + rolling_period > ? ORDER BY rolling_start",
            (since_interval,),
        )
        return [OwnKeyRow(bytes(k), s, p) for k, s, p in rows]

    def own_key(self, rolling_start: int) -> OwnKeyRow | None:
        row = self._db.execute(
            "SELECT key, rolling_start, rolling_period FROM own_keys WHERE rolling_start = ?",
            (rolling_start,),
        ).fetchone()
        return OwnKeyRow(bytes(row[0]), row[1], row[2]) if row else None

    def latest_own_key(self) -> OwnKeyRow | None:
        row = self._db.execute(
            "SELECT key, rolling_start, rolling_period FROM own_keys "
            "ORDER BY rolling_start DESC LIMIT 1"
        ).fetchone()
        return OwnKeyRow(bytes(row[0]), row[1], row[2]) if row else None

    # ------------------------------------------------------------------ sightings

    def add_sightings(self, rows: Iterable[tuple[bytes, bytes, int, int]]) -> None:
        """(rpi, aem, unix seconds, rssi) tuples."""
        self._db.executemany("INSERT INTO sightings (rpi, aem, at, rssi) VALUES (?, ?, ?, ?)", rows)
        self._db.commit()

    def sightings(self, since: int = 0) -> list[SightingRow]:
        """Sightings at or after ``since`` (Unix seconds), in time order."""
        rows = self._db.execute(
            "SELECT id, rpi, aem, at, rssi FROM sightings WHERE at >= ? ORDER BY at, id", (since,)
        )
        return [SightingRow(i, bytes(r), bytes(a), t, s) for i, r, a, t, s in rows]

    def count_sightings(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM sightings").fetchone()[0])

    # ------------------------------------------------------------------ matches and exports

    def processed_exports(self) -> set[str]:
        return {name for (name,) in self._db.execute("SELECT name FROM processed_exports")}

    def record_export(self, name: str, processed_at: int, matched: Iterable[MatchedKeyRow]) -> int:
        """Remember the export and the keys of it that matched, in one transaction."""
        rows = [
            (
                m.key,
                m.rolling_start,
                m.rolling_period,
                m.transmission_risk,
                m.report_type,
                m.days_since_onset,
                m.export_name,
            )
            for m in matched
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO matched_keys (key, rolling_start, rolling_period, "
                "transmission_risk, report_type, days_since_onset, export_name) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute(
                "INSERT OR REPLACE INTO processed_exports (name, processed_at, keys) "
                "VALUES (?, ?, ?)",
                (name, processed_at, len(rows)),
            )
        return len(rows)

    def matched_keys(self, since_interval: int = 0) -> list[MatchedKeyRow]:
        rows = self._db.execute(
            "SELECT key, rolling_start, rolling_period, transmission_risk, report_type, "
            "days_since_onset, export_name FROM matched_keys "
            "WHERE rolling_start + rolling_period > ? ORDER BY rolling_start, key",
            (since_interval,),
        )
        return [MatchedKeyRow(bytes(k), s, p, t, r, d, e) for k, s, p, t, r, d, e in rows]

    # ------------------------------------------------------------------ settings

    def get_setting(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_setting(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value)
        )
        self._db.commit()

    # ------------------------------------------------------------------ retention

    def purge(self, before_unix: int, before_interval: int) -> int:
        """Delete what is older than the retention period; returns the rows removed."""
        with self._db:
            removed = self._db.execute("DELETE FROM sightings WHERE at < ?", (before_unix,))
            count = removed.rowcount
            for table in ("own_keys", "matched_keys"):
                removed = self._db.execute(
                    f"DELETE FROM {table} WHERE rolling_start + rolling_period <= ?",  # noqa: S608 - fixed table names
                    (before_interval,),
                )
                count += removed.rowcount
        return count
