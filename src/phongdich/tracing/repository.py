from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import TextClause

from phongdich.accounts.models import PhoneAccount
from phongdich.checkpoints.models import Checkpoint, Entrance
from phongdich.db import bulk
from phongdich.db.raw import Pending, RawSql
from phongdich.geo.repository import subtree_codes
from phongdich.people.models import HouseholdMember, Person
from phongdich.tracing.models import (
    Case,
    Contact,
    ContactReport,
    ExposurePlace,
    TraceExposure,
    WarningJob,
)
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


@dataclass(frozen=True)
class CaseRange:
    """One stay of a case, ready for the bulk overlap statement: where, when (the case's
    presence inside its infectious window), and the resolved rule (``rules.for_type``)."""

    case_id: int
    case_person_id: int
    case_visit_id: int
    checkpoint_id: int
    entrance_id: int | None
    present_from: datetime
    present_to: datetime
    case_estimated_end: datetime | None  # the stay's end when it is an estimate, else None
    after_margin: timedelta
    min_overlap: timedelta
    same_entrance: bool
    risk_factor: float
    rule: str
    earliest_check_in: datetime  # present_from minus the longest visit at the checkpoint
    owner_person_id: int  # the case's own person: never their own contact
    checkpoint_name: str  # shown in the evidence


@dataclass(frozen=True)
class BulkExposure:
    """The strongest exposure of one person to one case, as the bulk statement finds it."""

    case_id: int
    person_id: int
    case_visit_id: int
    contact_visit_id: int
    checkpoint_id: int
    start: datetime
    end: datetime
    seconds: float
    certain_seconds: float
    rule: str
    risk: float


@dataclass(frozen=True)
class Trip:
    """Someone who declared the same trip as a case: the trip, both declarations."""

    key: str
    case_declaration_id: int
    person_id: int
    declaration_id: int


@dataclass(frozen=True)
class Nearby:
    """``TracingRepository.around``: by person id, their household, the people at their
    address and their fellow travellers; by case id, the contacts named for the case."""

    households: dict[int, list[int]]
    same_address: dict[int, list[int]]
    trips: dict[int, list[Trip]]
    reports: dict[int, list[ContactReport]]


@dataclass(frozen=True, slots=True)
class WarnRow:
    """A contact row as a warning reads it (``warn_rows``)."""

    id: int
    person_id: int
    level: int
    risk: float
    last_exposure: datetime
    status: str
    phone: str | None
    email: str | None
    language: str | None


# ``around``'s queries (``?`` placeholders, the id conditions from ``RawSql.in_``).
_HOUSEHOLDS = (
    "SELECT a.pid, m.person_id FROM ("
    " SELECT person_id AS pid, account_id FROM household_members WHERE {members}"
    " UNION SELECT id AS pid, account_id FROM people"
    "  WHERE {holders} AND account_id IS NOT NULL"
    ") AS a JOIN household_members m ON m.account_id = a.account_id"
    " WHERE m.person_id <> a.pid"
)
_SAME_ADDRESS = (
    "SELECT p.id, o.id FROM people p JOIN people o"
    " ON o.unit_code = p.unit_code AND o.address = p.address AND o.id <> p.id"
    " WHERE {where} AND p.address IS NOT NULL AND p.address <> '' AND o.merged_into IS NULL"
    " ORDER BY p.id, o.id"
)
_SAME_TRIP = (
    "SELECT d.person_id, d.id, o.person_id, o.id, d.trip_key FROM declarations d"
    " JOIN declarations o ON o.trip_key = d.trip_key AND o.person_id <> d.person_id"
    " WHERE {where} AND d.trip_key IS NOT NULL ORDER BY d.person_id, o.id"
)
_STAYS_AT_PLACES = (
    "SELECT v.id, v.person_id, v.checkpoint_id, v.entrance_id, v.check_in_at, v.check_out_at,"
    " v.auto_out_at, v.out_method, c.type, c.name, e.kind"
    " FROM visits v JOIN checkpoints c ON c.id = v.checkpoint_id"
    " LEFT JOIN checkpoint_entrances e ON e.id = v.entrance_id"
    " WHERE {where} AND v.check_in_at >= ? AND v.check_in_at < ?"
    " ORDER BY v.person_id, v.check_in_at"
)
_REPORTS = (
    "SELECT id, case_id, person_id, source, exposed_at, note, details, reported_by, created_at"
    " FROM contact_reports WHERE {where} ORDER BY id"
)


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


_CONTACTS: Table = Contact.__table__  # type: ignore[assignment]


# PostgreSQL: the visits overlapping each (checkpoint, start, end) range, bounded below (low) by
# the longest possible visit there; the (checkpoint, check-in) index carries the ends.
_PRESENT_AT_PG = text(
    "SELECT v.id, v.person_id, v.checkpoint_id, v.entrance_id, v.check_in_at, v.check_out_at,"
    " v.auto_out_at, v.out_method"
    " FROM unnest(CAST(:cps AS bigint[]), CAST(:starts AS timestamptz[]),"
    " CAST(:ends AS timestamptz[]), CAST(:lows AS timestamptz[])) AS r(cp, s, e, lo)"
    " CROSS JOIN LATERAL (SELECT * FROM visits"
    "  WHERE visits.checkpoint_id = r.cp AND visits.check_in_at >= r.lo"
    "  AND visits.check_in_at < r.e AND coalesce(visits.check_out_at, visits.auto_out_at) > r.s"
    " ) AS v"
).columns(*_VISIT_COLUMNS)


# The overlap arithmetic of ``rules.expose`` for many case stays at once, in the database: the
# F1 of a day's new cases in one statement. Tests hold it equal to the pure rules. ``inner`` is
# every exposure of a visit to a case stay (by dialect, below); ``_ROWS`` adds the risk. Its
# ``fence`` (PostgreSQL ``OFFSET 0``, SQLite ``LIMIT -1``) keeps the planner from pulling the
# exposures' subquery up into each use, which computed each overlap length again wherever
# ``span_s`` and ``certain_s`` appear (measured on 10 M visits, the million exposures of 1,000
# cases: PostgreSQL 1.40 → 1.21 s, SQLite 3.18 → 2.08 s).
_ROWS = """
  SELECT y.*,
         ROUND(CAST((y.certain_s + :estimated_factor * (y.span_s - y.certain_s)) / 60.0
                    / :risk_unit * y.risk_factor AS NUMERIC), 2) AS risk
  FROM (SELECT * FROM ({inner}) AS i {fence}) AS y
  WHERE y.span_s > 0 AND y.span_s >= y.min_s
"""

# Each person's exposures to a case ranked, strongest first: risk, then the latest, then the
# lower visit ids (what PostgreSQL stores).
_EXPOSED = """
  SELECT x.*,
         ROW_NUMBER() OVER (
           PARTITION BY x.case_id, x.person_id
           ORDER BY x.risk DESC, x.e DESC, x.contact_visit_id, x.case_visit_id) AS n
  FROM ({rows}) AS x
"""

# The strongest exposure per (case, person) in the same order (what ``find_many`` reads):
# PostgreSQL's DISTINCT ON sorts once, where the window sorts and then numbers every row.
_EXPOSURE_SELECT = """
SELECT DISTINCT ON (t.case_id, t.person_id)
       t.case_id, t.person_id, t.case_visit_id, t.contact_visit_id, t.checkpoint_id, t.s, t.e,
       t.span_s, t.certain_s, t.rule, t.risk
FROM ({rows}) AS t
ORDER BY t.case_id, t.person_id, t.risk DESC, t.e DESC, t.contact_visit_id, t.case_visit_id
"""

# How many (case, person) pairs: finding alone, nothing read or stored (the trace bench). No
# ranking: on 10 M visits, the 1,000 cases' pairs counted in 0.97 s (PostgreSQL) and 2.3 s
# (SQLite) against 2.06 s and 8.4 s through the ranking.
_COUNT_EXPOSED = (
    "SELECT count(*) FROM (SELECT DISTINCT t.case_id, t.person_id FROM ({rows}) AS t) AS d"
)

# What ``store_exposures`` runs: the same exposures, stored by the database itself as one
# contact row per (case, person) — the strongest exposure is the link, the strongest
# ``:evidence_limit`` exposures the evidence (the entries ``link_json`` writes) — so a busy
# venue's thousand contacts never travel to Python and back. A row this trace already wrote
# (``found_at`` = this trace's time: a closer level, or a link from a household or a report)
# keeps its link and gains the new exposures as evidence; a row of an earlier trace is
# replaced, keeping its follow-up status and assignment (``_UPSERT``).
_STALE = "(contacts.found_at IS NULL OR contacts.found_at < excluded.found_at)"
_UPSERT = """
ON CONFLICT (case_id, person_id) DO UPDATE SET
  level = CASE WHEN {stale} THEN excluded.level ELSE contacts.level END,
  source = CASE WHEN {stale} THEN excluded.source ELSE contacts.source END,
  via_person_id = CASE WHEN {stale} THEN excluded.via_person_id ELSE contacts.via_person_id END,
  risk = CASE WHEN {stale} THEN excluded.risk ELSE contacts.risk END,
  last_exposure = CASE WHEN {stale} THEN excluded.last_exposure ELSE contacts.last_exposure END,
  evidence = CASE WHEN {stale} THEN excluded.evidence ELSE {appended} END,
  updated_at = excluded.updated_at,
  found_at = excluded.found_at
"""
# The statement starts with INSERT, its CTEs inside: Python's sqlite3 opens the transaction
# before a statement only when its first word says it writes (a leading WITH would run it on
# its own, committed at once).
_STORE_EXPOSURES = """
INSERT INTO contacts (case_id, person_id, level, source, via_person_id, risk, last_exposure,
                      evidence, status, assigned_unit, created_at, updated_at, found_at)
WITH ranked AS ({exposed}),
best AS (
  SELECT t.case_id, t.person_id,
         MAX(t.via_person_id) FILTER (WHERE t.n = 1) AS via_person_id,
         MAX(t.risk) AS risk,
         MAX(t.e) FILTER (WHERE t.n = 1) AS last_exposure,
         {evidence} AS evidence
  FROM (SELECT * FROM ranked WHERE n <= :evidence_limit
        ORDER BY case_id, person_id, n) AS t
  GROUP BY t.case_id, t.person_id
)
SELECT best.case_id, best.person_id, :level, 'visit', best.via_person_id, best.risk,
       best.last_exposure, best.evidence, 'to_call', people.unit_code, :now, :now, :now
FROM best JOIN people ON people.id = best.person_id
WHERE true
{upsert}"""

# One evidence entry, as ``link_json`` writes it (times in ISO 8601, UTC).
_ENTRY_PG = """json_build_object(
    'level', CAST(:level AS integer), 'source', 'visit', 'via_person_id', t.via_person_id,
    'risk', t.risk, 'last_exposure', {e}, 'checkpoint_id', t.checkpoint_id,
    'checkpoint', t.cp_name, 'case_visit_id', t.case_visit_id,
    'contact_visit_id', t.contact_visit_id, 'start', {s}, 'end', {e},
    'minutes', t.span_s / 60.0, 'certain_minutes', t.certain_s / 60.0, 'rule', t.rule)""".format(
    s="to_char(t.s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
    e="to_char(t.e AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')",
)
_ENTRY_SQLITE = """json_object(
    'level', :level, 'source', 'visit', 'via_person_id', t.via_person_id,
    'risk', t.risk, 'last_exposure', {e}, 'checkpoint_id', t.checkpoint_id,
    'checkpoint', t.cp_name, 'case_visit_id', t.case_visit_id,
    'contact_visit_id', t.contact_visit_id, 'start', {s}, 'end', {e},
    'minutes', t.span_s / 60.0, 'certain_minutes', t.certain_s / 60.0, 'rule', t.rule)""".format(
    s="replace(t.s, ' ', 'T') || '+00:00'", e="replace(t.e, ' ', 'T') || '+00:00'"
)
# The row's evidence, then the new entries, at most ``:evidence_limit`` in all.
_APPENDED_PG = """(
    SELECT CAST(json_agg(a.value ORDER BY a.k, a.i) AS text) FROM (
      SELECT 0 AS k, o.i, o.value
      FROM json_array_elements(CAST(contacts.evidence AS json)) WITH ORDINALITY AS o(value, i)
      UNION ALL
      SELECT 1 AS k, o.i, o.value
      FROM json_array_elements(CAST(excluded.evidence AS json)) WITH ORDINALITY AS o(value, i)
      ORDER BY 1, 2 LIMIT :evidence_limit) AS a)"""
_APPENDED_SQLITE = """(
    SELECT json_group_array(json(a.value)) FROM (
      SELECT 0 AS k, o.key AS i, o.value FROM json_each(contacts.evidence) AS o
      UNION ALL
      SELECT 1 AS k, o.key AS i, o.value FROM json_each(excluded.evidence) AS o
      ORDER BY 1, 2 LIMIT :evidence_limit) AS a)"""

_INNER_PG = """
      SELECT r.case_id, v.person_id, r.case_visit_id, v.id AS contact_visit_id,
             r.checkpoint_id, r.rule, r.risk_factor, r.min_s,
             r.case_person_id AS via_person_id, r.cp_name,
             GREATEST(r.present_from, v.check_in_at) AS s,
             LEAST(r.present_to + r.margin, v.vend) AS e,
             date_part('epoch', LEAST(r.present_to + r.margin, v.vend)
                                - GREATEST(r.present_from, v.check_in_at)) AS span_s,
             GREATEST(date_part('epoch',
                 LEAST(r.present_to + r.margin, v.vend, r.case_end,
                       CASE WHEN v.estimated THEN v.vend END)
                 - GREATEST(r.present_from, v.check_in_at)), 0) AS certain_s
      FROM unnest(CAST(:case_id AS bigint[]), CAST(:case_person_id AS bigint[]),
                  CAST(:case_visit_id AS bigint[]), CAST(:checkpoint_id AS bigint[]),
                  CAST(:entrance_id AS bigint[]), CAST(:present_from AS timestamptz[]),
                  CAST(:present_to AS timestamptz[]), CAST(:case_end AS timestamptz[]),
                  CAST(:margin AS interval[]), CAST(:min_s AS double precision[]),
                  CAST(:same_entrance AS boolean[]), CAST(:risk_factor AS double precision[]),
                  CAST(:rule AS varchar[]), CAST(:low AS timestamptz[]),
                  CAST(:owner AS bigint[]), CAST(:cp_name AS text[]))
           AS r(case_id, case_person_id, case_visit_id, checkpoint_id, entrance_id,
                present_from, present_to, case_end, margin, min_s, same_entrance,
                risk_factor, rule, low, owner, cp_name)
      CROSS JOIN LATERAL (
        SELECT visits.id, visits.person_id, visits.entrance_id, visits.check_in_at,
               GREATEST(COALESCE(visits.check_out_at,
                                 LEAST(visits.auto_out_at, CAST(:now AS timestamptz))),
                        visits.check_in_at) AS vend,
               (visits.check_out_at IS NULL
                OR visits.out_method IN ('automatic', 'superseded')) AS estimated
        FROM visits
        WHERE visits.checkpoint_id = r.checkpoint_id AND visits.check_in_at >= r.low
          AND visits.check_in_at < r.present_to + r.margin
          AND COALESCE(visits.check_out_at, visits.auto_out_at) > r.present_from
      ) AS v
      WHERE v.person_id <> r.case_person_id AND v.person_id <> r.owner
        AND NOT (r.same_entrance AND r.entrance_id IS NOT NULL AND v.entrance_id IS NOT NULL
                 AND v.entrance_id <> r.entrance_id)
"""

# SQLite: the ranges as one JSON parameter (json_each), times as stored (naive UTC text),
# lengths from julianday() rounded to the millisecond (a 15-minute overlap must not come out
# as 899.9999 s). Its scalar min()/max() return NULL when any argument is NULL, hence the
# COALESCEs.
# ``LIMIT -1`` (no limit) keeps SQLite from flattening the ranges' subquery into the join: a
# subquery with a LIMIT is never flattened into a join, so each range's fields are read from
# its JSON once, not again for every visit the range meets (measured on 10 M visits: one case
# 33.5 → 19.0 ms, 1,000 cases 42.6 → 26.4 s).
_INNER_SQLITE = """
      SELECT r.case_id, v.person_id, r.case_visit_id, v.id AS contact_visit_id,
             r.checkpoint_id, r.rule, r.risk_factor, r.min_s,
             r.case_person_id AS via_person_id, r.cp_name,
             MAX(r.present_from, v.check_in_at) AS s,
             MIN(r.hi, v.vend) AS e,
             ROUND((julianday(MIN(r.hi, v.vend))
                    - julianday(MAX(r.present_from, v.check_in_at))) * 86400.0, 3) AS span_s,
             MAX(ROUND((julianday(MIN(r.hi, v.vend, COALESCE(r.case_end, r.hi),
                                      CASE WHEN v.estimated THEN v.vend ELSE r.hi END))
                        - julianday(MAX(r.present_from, v.check_in_at))) * 86400.0, 3),
                 0) AS certain_s
      FROM (
        SELECT json_extract(j.value, '$[0]') AS case_id,
               json_extract(j.value, '$[1]') AS case_person_id,
               json_extract(j.value, '$[2]') AS case_visit_id,
               json_extract(j.value, '$[3]') AS checkpoint_id,
               json_extract(j.value, '$[4]') AS entrance_id,
               json_extract(j.value, '$[5]') AS present_from,
               json_extract(j.value, '$[6]') AS hi,
               json_extract(j.value, '$[7]') AS case_end,
               json_extract(j.value, '$[8]') AS min_s,
               json_extract(j.value, '$[9]') AS same_entrance,
               json_extract(j.value, '$[10]') AS risk_factor,
               json_extract(j.value, '$[11]') AS rule,
               json_extract(j.value, '$[12]') AS low,
               json_extract(j.value, '$[13]') AS owner,
               json_extract(j.value, '$[14]') AS cp_name
        FROM json_each(:ranges) AS j LIMIT -1
      ) AS r
      JOIN (
        SELECT visits.id, visits.person_id, visits.entrance_id, visits.checkpoint_id,
               visits.check_in_at, visits.check_out_at, visits.auto_out_at,
               MAX(COALESCE(visits.check_out_at, MIN(visits.auto_out_at, :now)),
                   visits.check_in_at) AS vend,
               (visits.check_out_at IS NULL
                OR visits.out_method IN ('automatic', 'superseded')) AS estimated
        FROM visits
      ) AS v
        ON v.checkpoint_id = r.checkpoint_id AND v.check_in_at >= r.low
       AND v.check_in_at < r.hi
       AND COALESCE(v.check_out_at, v.auto_out_at) > r.present_from
      WHERE v.person_id <> r.case_person_id AND v.person_id <> r.owner
        AND NOT (r.same_entrance AND r.entrance_id IS NOT NULL AND v.entrance_id IS NOT NULL
                 AND v.entrance_id <> r.entrance_id)
"""

# For the overlap statements, in the transaction only: thousands of short index scans, where
# compiling the expressions (JIT) costs more than it saves, and a ranking sort that should stay
# in memory.
_TUNE_PG = text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")

_ROWS_PG = _ROWS.format(inner=_INNER_PG, fence="OFFSET 0")
_EXPOSED_PG = _EXPOSED.format(rows=_ROWS_PG)
_EXPOSURES_PG = text(_EXPOSURE_SELECT.format(rows=_ROWS_PG))
_COUNT_EXPOSED_PG = text(_COUNT_EXPOSED.format(rows=_ROWS_PG))
_STORE_EXPOSURES_PG = text(
    _STORE_EXPOSURES.format(
        exposed=_EXPOSED_PG,
        evidence=f"CAST(json_agg({_ENTRY_PG} ORDER BY t.n) AS text)",
        upsert=_UPSERT.format(stale=_STALE, appended=_APPENDED_PG),
    )
)

# SQLite ranks without the window function. Its ROW_NUMBER costs about 5 µs per (case,
# person) partition, and nearly every partition holds a single row. A grouped query takes its
# bare columns from the row of its one max(): the strongest exposure is the row with the
# greatest ``_RANK_KEY_SQLITE`` (the order of ``_EXPOSED``). Measured on 10 M visits, the
# million pairs of 1,000 cases: the strongest rows 8.4 → 3.3 s.
# Times are fixed-width text ("%Y-%m-%d %H:%M:%S.%f"), ids below 10^12.
_RANK_KEY_SQLITE = (
    "max(printf('%012.2f %s %012d %012d', t.risk, t.e,"
    " 999999999999 - t.contact_visit_id, 999999999999 - t.case_visit_id))"
)
_GROUPED_SELECT = """
SELECT t.case_id, t.person_id, t.case_visit_id, t.contact_visit_id, t.checkpoint_id, t.s, t.e,
       t.span_s, t.certain_s, t.rule, t.risk, {rank_key} AS rank_key
FROM ({rows}) AS t GROUP BY t.case_id, t.person_id
"""
# Every exposure of a (case, person) is an evidence entry; the rare person exposed more than
# once is re-ranked in JSON and cut to ``:evidence_limit`` entries.
_STORE_GROUPED = """
INSERT INTO contacts (case_id, person_id, level, source, via_person_id, risk, last_exposure,
                      evidence, status, assigned_unit, created_at, updated_at, found_at)
WITH best AS (
  SELECT t.case_id, t.person_id, t.via_person_id, t.risk, t.e AS last_exposure,
         {rank_key} AS rank_key, count(*) AS k, json_group_array({entry}) AS evidence
  FROM ({rows}) AS t
  GROUP BY t.case_id, t.person_id
)
SELECT best.case_id, best.person_id, :level, 'visit', best.via_person_id, best.risk,
       best.last_exposure,
       CASE WHEN best.k = 1 THEN best.evidence ELSE (
         SELECT json_group_array(json(o.value)) FROM (
           SELECT j.value FROM json_each(best.evidence) AS j
           ORDER BY json_extract(j.value, '$.risk') DESC, json_extract(j.value, '$.end') DESC,
                    json_extract(j.value, '$.contact_visit_id'),
                    json_extract(j.value, '$.case_visit_id')
           LIMIT :evidence_limit) AS o) END,
       'to_call', people.unit_code, :now, :now, :now
FROM best JOIN people ON people.id = best.person_id
WHERE true
{upsert}"""
_ROWS_SQLITE = _ROWS.format(inner=_INNER_SQLITE, fence="LIMIT -1")
_EXPOSURES_SQLITE = text(_GROUPED_SELECT.format(rank_key=_RANK_KEY_SQLITE, rows=_ROWS_SQLITE))
_COUNT_EXPOSED_SQLITE = text(_COUNT_EXPOSED.format(rows=_ROWS_SQLITE))
_STORE_EXPOSURES_SQLITE = text(
    _STORE_GROUPED.format(
        rank_key=_RANK_KEY_SQLITE,
        entry=_ENTRY_SQLITE,
        rows=_ROWS_SQLITE,
        upsert=_UPSERT.format(stale=_STALE, appended=_APPENDED_SQLITE),
    )
)

# The queue's steps of a level too large for one transaction: first every exposure of the
# level, a few people of the level before per step, kept as ``trace_exposures`` rows (no
# ranking, no conflict between steps; the fields of the evidence entry, not the entry: the
# rows are a third of the size to write, read back and delete)…
_STAGE = """
INSERT INTO trace_exposures (case_id, found_at, level, person_id, via_person_id, case_visit_id,
                             contact_visit_id, checkpoint_id, checkpoint, risk, s, e, span_s,
                             certain_s, rule)
SELECT t.case_id, :now, :level, t.person_id, t.via_person_id, t.case_visit_id,
       t.contact_visit_id, t.checkpoint_id, t.cp_name, t.risk, t.s, t.e, t.span_s,
       t.certain_s, t.rule
FROM ({rows}) AS t"""
_STAGE_PG = text(_STAGE.format(rows=_ROWS_PG))
_STAGE_SQLITE = text(_STAGE.format(rows=_ROWS_SQLITE))
# …then the contacts, a range of people per step, by the statements that store a level at
# once, reading these rows instead of computing the overlaps: each person's exposures from
# every step ranked together, as one trace ranks them. PostgreSQL's risk comes back to the
# two-decimal numeric it was staged from, so the evidence JSON reads as one trace writes it.
_STAGED_ROWS = """
  SELECT g.case_id, g.person_id, g.via_person_id, {risk} AS risk, g.e, g.s, g.span_s,
         g.certain_s, g.rule, g.case_visit_id, g.contact_visit_id, g.checkpoint_id,
         g.checkpoint AS cp_name
  FROM trace_exposures AS g
  WHERE g.case_id = :case_id AND g.level = :level AND g.found_at = :now
    AND g.person_id > :after AND g.person_id <= :upto"""
_STORE_STAGED_PG = text(
    _STORE_EXPOSURES.format(
        exposed=_EXPOSED.format(rows=_STAGED_ROWS.format(risk="ROUND(CAST(g.risk AS NUMERIC), 2)")),
        evidence=f"CAST(json_agg({_ENTRY_PG} ORDER BY t.n) AS text)",
        upsert=_UPSERT.format(stale=_STALE, appended=_APPENDED_PG),
    )
)
_STORE_STAGED_SQLITE = text(
    _STORE_GROUPED.format(
        rank_key=_RANK_KEY_SQLITE,
        entry=_ENTRY_SQLITE,
        rows=_STAGED_ROWS.format(risk="g.risk"),
        upsert=_UPSERT.format(stale=_STALE, appended=_APPENDED_SQLITE),
    )
)


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _pg_range_params(ranges: Sequence[CaseRange], now: datetime) -> dict[str, Any]:
    return {
        "case_id": [r.case_id for r in ranges],
        "case_person_id": [r.case_person_id for r in ranges],
        "case_visit_id": [r.case_visit_id for r in ranges],
        "checkpoint_id": [r.checkpoint_id for r in ranges],
        "entrance_id": [r.entrance_id for r in ranges],
        "present_from": [r.present_from for r in ranges],
        "present_to": [r.present_to for r in ranges],
        "case_end": [r.case_estimated_end for r in ranges],
        "margin": [r.after_margin for r in ranges],
        "min_s": [r.min_overlap.total_seconds() for r in ranges],
        "same_entrance": [r.same_entrance for r in ranges],
        "risk_factor": [r.risk_factor for r in ranges],
        "rule": [r.rule for r in ranges],
        "low": [r.earliest_check_in for r in ranges],
        "owner": [r.owner_person_id for r in ranges],
        "cp_name": [r.checkpoint_name for r in ranges],
        "now": now,
    }


def _sqlite_range_params(ranges: Sequence[CaseRange], now: datetime) -> dict[str, Any]:
    rows = [
        [
            r.case_id,
            r.case_person_id,
            r.case_visit_id,
            r.checkpoint_id,
            r.entrance_id,
            _sqlite_time(r.present_from),
            _sqlite_time(r.present_to + r.after_margin),
            None if r.case_estimated_end is None else _sqlite_time(r.case_estimated_end),
            r.min_overlap.total_seconds(),
            r.same_entrance,
            r.risk_factor,
            r.rule,
            _sqlite_time(r.earliest_check_in),
            r.owner_person_id,
            r.checkpoint_name,
        ]
        for r in ranges
    ]
    return {"ranges": json.dumps(rows), "now": _sqlite_time(now)}


def _range_params(ranges: Sequence[CaseRange], now: datetime, postgresql: bool) -> dict[str, Any]:
    """The parameters of the overlap statements for these ranges, by dialect."""
    if postgresql:
        return _pg_range_params(ranges, now)
    return _sqlite_range_params(ranges, now)


def _sqlite_time(value: datetime) -> str:
    """A UTC time as SQLite stores it (``UTCDateTime``: naive, microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _case_filters(unit_code: str | None, waiting: bool) -> list[ColumnElement[bool]]:
    """Cases under ``unit_code`` (none: everywhere); ``waiting``: only those the tracing queue
    has still to trace (F1, or F2 and deeper; the predicate of ``ix_cases_waiting``)."""
    where: list[ColumnElement[bool]] = []
    if unit_code is not None:
        where.append(Case.unit_code.in_(subtree_codes(unit_code)))
    if waiting:
        where.append(or_(Case.traced_at.is_(None), Case.trace_deeper.is_(True)))
    return where


def _handed_filters(
    unit_code: str | None, status: str | None, by_rowid: bool = False
) -> list[ColumnElement[bool]]:
    """Contacts handed to a unit under ``unit_code`` (none: any unit); ``status``: only those.
    ``by_rowid``: the unit compared through an expression, which keeps SQLite off the unit
    index (``handed_to``)."""
    unit: Any = Contact.assigned_unit.concat("") if by_rowid else Contact.assigned_unit
    where: list[ColumnElement[bool]] = [unit.is_not(None)]
    if unit_code is not None:
        where.append(unit.in_(subtree_codes(unit_code)))
    if status:
        where.append(Contact.status == status)
    return where


class TracingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Cases ------------------------------------------------------------------------------------
    def add_case(self, case: Case) -> None:
        self.session.add(case)
        self.session.flush()

    def case(self, case_id: int) -> Case | None:
        return self.session.get(Case, case_id)

    # Visits -----------------------------------------------------------------------------------
    def stays_of(
        self, person_ids: Collection[int], start: datetime, end: datetime
    ) -> list[VisitRow]:
        """Visits of these people that may overlap [start, end): bounded below by the longest
        possible visit, so the index range scan stays short."""
        return self.stays_at_places(person_ids, start, end)[0]

    def stays_at_places(
        self, person_ids: Collection[int], start: datetime, end: datetime
    ) -> tuple[list[VisitRow], dict[int, tuple[str, str]], set[int]]:
        """``stays_of``, with the (type, name) of their checkpoints and which of their
        entrances are rooms: one driver-level query (every trace starts with it; an F2 reads
        the visits of a thousand F1)."""
        rows: list[VisitRow] = []
        places: dict[int, tuple[str, str]] = {}
        rooms: set[int] = set()
        if not person_ids:
            return rows, places, rooms
        sql = RawSql(self.session)
        read = sql.read_dt
        low, high = sql.dt(start - LONGEST_VISIT), sql.dt(end)
        for part in bulk.id_chunks(person_ids, sql.postgresql):
            where, params = sql.in_("v.person_id", part)
            query = _STAYS_AT_PLACES.format(where=where)
            for vid, pid, cid, eid, at, out, auto, method, kind, name, entrance in sql.rows(
                query, [*params, low, high]
            ):
                rows.append(
                    VisitRow(
                        vid,
                        pid,
                        cid,
                        eid,
                        cast(datetime, read(at)),
                        read(out),
                        cast(datetime, read(auto)),
                        method,
                    )
                )
                places[cid] = (kind, name)
                if entrance == "room":
                    rooms.add(eid)
        return rows, places, rooms

    def present_at(
        self,
        ranges: Sequence[tuple[int, datetime, datetime]],
        longest: Mapping[int, timedelta] | None = None,
        chunk: int = 64,
    ) -> list[VisitRow]:
        """Visits at checkpoint c that overlap [start, end), for each (c, start, end).

        Each range is an index range scan on (checkpoint, check-in) bounded below by the
        longest possible visit at that checkpoint (``longest``, by checkpoint id: its type's
        automatic check-out; the longest of any type when not given), and visits that ended
        before ``start`` are dropped in the database (PostgreSQL reads their ends from the
        index), not fetched. ``chunk`` ranges go to a query: one OR of thousands of ranges —
        the F2 of a large outbreak — makes a planner give up the index and test every row
        against every range."""
        seen: dict[int, VisitRow] = {}
        bounds = longest or {}
        ordered = sorted(set(ranges))
        if bulk.is_postgresql(self.session):
            # One statement of one shape for any number of ranges (prepared once): each range
            # a lateral index range scan.
            params = {
                "cps": [c for c, _s, _e in ordered],
                "starts": [s for _c, s, _e in ordered],
                "ends": [e for _c, _s, e in ordered],
                "lows": [s - bounds.get(c, LONGEST_VISIT) for c, s, _e in ordered],
            }
            for row in self.session.execute(_PRESENT_AT_PG, params).all():
                seen.setdefault(row[0], VisitRow(*row))
            return list(seen.values())
        ends = func.coalesce(Visit.check_out_at, Visit.auto_out_at)
        for first in range(0, len(ordered), chunk):
            part = ordered[first : first + chunk]
            stmt = select(*_VISIT_COLUMNS).where(
                or_(
                    *(
                        and_(
                            Visit.checkpoint_id == checkpoint_id,
                            Visit.check_in_at >= start - bounds.get(checkpoint_id, LONGEST_VISIT),
                            Visit.check_in_at < end,
                            ends > start,
                        )
                        for checkpoint_id, start, end in part
                    )
                )
            )
            for row in self.session.execute(stmt).all():
                seen.setdefault(row[0], VisitRow(*row))
        return list(seen.values())

    def strongest_exposures(
        self,
        ranges: Sequence[CaseRange],
        now: datetime,
        estimated_factor: float,
        risk_unit_minutes: float,
        chunk: int = 5_000,
    ) -> list[BulkExposure]:
        """For many case stays at once: everyone whose visit overlapped one under its rule,
        one row per (case, person) — the strongest exposure (highest risk, then latest).
        The arithmetic is ``rules.expose``'s, done by the database: one statement per
        ``chunk`` ranges (a person's exposures to one case may span chunks: ``merge`` keeps
        the strongest)."""
        found: dict[tuple[int, int], BulkExposure] = {}
        postgresql = bulk.is_postgresql(self.session)
        by_case = sorted(ranges, key=lambda r: (r.case_id, r.checkpoint_id, r.present_from))
        if postgresql and ranges:
            self.session.execute(_TUNE_PG)
        for first in range(0, len(by_case), chunk):
            part = by_case[first : first + chunk]
            stmt = _EXPOSURES_PG if postgresql else _EXPOSURES_SQLITE
            params = _range_params(part, now, postgresql)
            params |= {"estimated_factor": estimated_factor, "risk_unit": risk_unit_minutes}
            for row in self.session.execute(stmt, params).all():
                exposure = BulkExposure(
                    case_id=row[0],
                    person_id=row[1],
                    case_visit_id=row[2],
                    contact_visit_id=row[3],
                    checkpoint_id=row[4],
                    start=_aware(row[5]),
                    end=_aware(row[6]),
                    seconds=float(row[7]),
                    certain_seconds=float(row[8]),
                    rule=row[9],
                    risk=float(row[10]),
                )
                key = (exposure.case_id, exposure.person_id)
                kept = found.get(key)
                if kept is None or (exposure.risk, exposure.end) > (kept.risk, kept.end):
                    found[key] = exposure
        return list(found.values())

    def count_exposed(
        self,
        ranges: Sequence[CaseRange],
        now: datetime,
        estimated_factor: float,
        risk_unit_minutes: float,
    ) -> int:
        """How many (case, person) pairs these case stays expose (``_EXPOSED``'s strongest
        rows), counted in one statement: finding without reading or storing."""
        if not ranges:
            return 0
        stmt, postgresql = self._overlap_statement(_COUNT_EXPOSED_PG, _COUNT_EXPOSED_SQLITE)
        params = _range_params(ranges, now, postgresql)
        params |= {"estimated_factor": estimated_factor, "risk_unit": risk_unit_minutes}
        return int(self.session.execute(stmt, params).scalar_one())

    def store_exposures(
        self,
        ranges: Sequence[CaseRange],
        level: int,
        now: datetime,
        estimated_factor: float,
        risk_unit_minutes: float,
        evidence_limit: int,
        chunk: int = 5_000,
    ) -> None:
        """Find and store, in the database, everyone whose visit overlapped one of these case
        stays (``_STORE_EXPOSURES``: the arithmetic of ``rules.expose``): one contact row per
        (case, person) at ``level``, marked with ``now`` (``found_at``). One statement per
        ``chunk`` ranges, never splitting one case's ranges (a person's exposures to a case
        are ranked together)."""
        constants = {
            "estimated_factor": estimated_factor,
            "risk_unit": risk_unit_minutes,
            "evidence_limit": evidence_limit,
            "level": level,
        }
        self._over_ranges(
            _STORE_EXPOSURES_PG, _STORE_EXPOSURES_SQLITE, ranges, now, constants, chunk
        )

    def _over_ranges(
        self,
        pg: TextClause,
        sqlite: TextClause,
        ranges: Sequence[CaseRange],
        now: datetime,
        constants: dict[str, Any],
        chunk: int,
    ) -> None:
        """Run an overlap statement (``_overlap_statement``) over these case stays: one
        statement per ``chunk`` ranges, never splitting one case's ranges."""
        if not ranges:
            return
        stmt, postgresql = self._overlap_statement(pg, sqlite)
        by_case = sorted(ranges, key=lambda r: (r.case_id, r.checkpoint_id, r.present_from))
        first = 0
        while first < len(by_case):
            last = min(first + chunk, len(by_case))
            while last < len(by_case) and by_case[last].case_id == by_case[last - 1].case_id:
                last += 1
            part = by_case[first:last]
            self.session.execute(stmt, _range_params(part, now, postgresql) | constants)
            first = last

    def _overlap_statement(self, pg: TextClause, sqlite: TextClause) -> tuple[TextClause, bool]:
        """The overlap statement for this database (and whether it is PostgreSQL, whose
        transaction is tuned for it first)."""
        postgresql = bulk.is_postgresql(self.session)
        if postgresql:
            self.session.execute(_TUNE_PG)
        return (pg if postgresql else sqlite), postgresql

    def stage_exposures(
        self,
        ranges: Sequence[CaseRange],
        level: int,
        now: datetime,
        estimated_factor: float,
        risk_unit_minutes: float,
        chunk: int = 5_000,
    ) -> None:
        """Keep every exposure of these case stays at ``level`` as a ``trace_exposures`` row
        (marked ``now``, the case's trace), for ``store_staged`` to store later."""
        constants = {
            "estimated_factor": estimated_factor,
            "risk_unit": risk_unit_minutes,
            "level": level,
        }
        self._over_ranges(_STAGE_PG, _STAGE_SQLITE, ranges, now, constants, chunk)

    def staged_upto(
        self, case_id: int, level: int, now: datetime, after_person_id: int, rows: int
    ) -> int | None:
        """The person, by id after ``after_person_id``, at whom about ``rows`` exposures staged
        for the case's ``level`` by the trace marked ``now`` are reached (all of that
        person's count); none when fewer are left."""
        stmt = (
            select(TraceExposure.person_id)
            .where(
                TraceExposure.case_id == case_id,
                TraceExposure.level == level,
                TraceExposure.found_at == now,
                TraceExposure.person_id > after_person_id,
            )
            .order_by(TraceExposure.person_id)
            .offset(rows - 1)
            .limit(1)
        )
        return self.session.scalar(stmt)

    def store_staged(
        self,
        case_id: int,
        level: int,
        now: datetime,
        people: tuple[int, int],
        evidence_limit: int,
    ) -> None:
        """Store the contacts of the people (after, upto] from their staged exposures, as
        ``store_exposures`` stores them, and drop those exposures."""
        stmt, postgresql = self._overlap_statement(_STORE_STAGED_PG, _STORE_STAGED_SQLITE)
        after, upto = people
        params: dict[str, Any] = {
            "case_id": case_id,
            "level": level,
            "now": now if postgresql else _sqlite_time(now),
            "after": after,
            "upto": upto,
            "evidence_limit": evidence_limit,
        }
        self.session.execute(stmt, params)
        self.session.execute(
            delete(TraceExposure).where(
                TraceExposure.case_id == case_id,
                TraceExposure.level == level,
                TraceExposure.person_id > after,
                TraceExposure.person_id <= upto,
            )
        )

    def drop_staged(self, case_ids: Collection[int]) -> None:
        """Drop what the queue's steps staged for these cases (a new trace starts over)."""
        if case_ids:
            self.session.execute(
                delete(TraceExposure).where(TraceExposure.case_id.in_(sorted(case_ids)))
            )

    def touched(
        self, case_ids: Collection[int], level: int, now: datetime
    ) -> list[tuple[int, int, datetime]]:
        """(case id, person id, last exposure) of the contacts at ``level`` this trace (marked
        ``now``) wrote: whose own contacts make the next level."""
        if not case_ids:
            return []
        stmt = select(Contact.case_id, Contact.person_id, Contact.last_exposure).where(
            Contact.case_id.in_(case_ids), Contact.level == level, Contact.found_at == now
        )
        return [(c, p, at) for c, p, at in self.session.execute(stmt)]

    def touched_after(
        self, case_id: int, level: int, found_at: datetime, after_person_id: int, limit: int
    ) -> list[tuple[int, datetime]]:
        """(person id, last exposure) of the next ``limit`` contacts of the case at ``level``
        that the trace marked ``found_at`` wrote, after ``after_person_id`` by person id: the
        people whose own contacts one step of the queue traces."""
        stmt = (
            select(Contact.person_id, Contact.last_exposure)
            .where(
                Contact.case_id == case_id,
                Contact.person_id > after_person_id,
                Contact.level == level,
                Contact.found_at == found_at,
            )
            .order_by(Contact.person_id)
            .limit(limit)
        )
        return [(p, at) for p, at in self.session.execute(stmt)]

    def count_touched(
        self, case_id: int, level: int, found_at: datetime, upto_person_id: int | None = None
    ) -> int:
        """How many contacts of the case at ``level`` the trace marked ``found_at`` wrote (up
        to ``upto_person_id``, by person id: those whose contacts the queue's steps stored)."""
        where = [
            Contact.case_id == case_id,
            Contact.level == level,
            Contact.found_at == found_at,
            Contact.last_exposure < found_at,
        ]
        if upto_person_id is not None:
            where.append(Contact.person_id <= upto_person_id)
        stmt = select(func.count()).select_from(Contact).where(*where)
        return int(self.session.scalar(stmt) or 0)

    def lock_cases(self, cases: Sequence[Case]) -> None:
        """On PostgreSQL, lock these cases' rows until the transaction ends and read them again
        (another transaction may have changed them since they were read), so that a trace and
        a step of the queue on one case run one after the other. SQLite runs one writer at a
        time anyway."""
        if cases and bulk.is_postgresql(self.session):
            self.session.flush()  # this transaction's own changes stay
            stmt = (
                select(Case)
                .where(Case.id.in_(sorted(c.id for c in cases)))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            self.session.scalars(stmt).all()

    def contact_rows(
        self, case_ids: Collection[int], person_ids: Collection[int]
    ) -> list[tuple[int, int, int, datetime | None, str]]:
        """(id, case id, person id, found at, evidence) of these people's contact rows."""
        out: list[tuple[int, int, int, datetime | None, str]] = []
        if not case_ids or not person_ids:
            return out
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(person_ids, postgresql):
            stmt = select(
                Contact.id, Contact.case_id, Contact.person_id, Contact.found_at, Contact.evidence
            ).where(Contact.case_id.in_(case_ids), bulk.id_in(Contact.person_id, part, postgresql))
            out += [(i, c, p, at, ev) for i, c, p, at, ev in self.session.execute(stmt)]
        return out

    def finish_trace(
        self, case_ids: Collection[int], now: datetime
    ) -> dict[int, dict[tuple[int, str], int]]:
        """Remove the contacts of these cases that this trace (marked ``now``) did not find
        again; then count what is listed, by (level, source), by case. Both statements go
        together (one round trip on PostgreSQL)."""
        out: dict[int, dict[tuple[int, str], int]] = {}
        if not case_ids:
            return out
        sql = RawSql(self.session)
        counted = []
        with sql.together():
            for part in bulk.id_chunks(case_ids, sql.postgresql):
                where, params = sql.in_("case_id", part)
                sql.execute(
                    f"DELETE FROM contacts WHERE {where} AND (found_at IS NULL OR found_at < ?)",  # noqa: S608 - placeholders
                    [*params, sql.dt(now)],
                )
                count = (
                    f"SELECT case_id, level, source, count(*) FROM contacts WHERE {where}"  # noqa: S608 - placeholders
                    " GROUP BY case_id, level, source"
                )
                counted.append(sql.later(count, params, list))
        for pending in counted:
            for case_id, level, source, n in pending.get():
                out.setdefault(case_id, {})[(level, source)] = n
        return out

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
    def around(self, person_ids: Collection[int], case_ids: Collection[int]) -> Nearby:
        """Who is around these people without any overlap to compute — households, the same
        address, the same declared trip — and the contacts named for these cases: four
        driver-level queries sent together (one round trip on PostgreSQL), as every trace
        asks for them."""
        sql = RawSql(self.session)
        households: list[Pending[list[tuple[Any, ...]]]] = []
        neighbours: list[Pending[list[tuple[Any, ...]]]] = []
        trips: list[Pending[list[tuple[Any, ...]]]] = []
        reports: list[Pending[list[tuple[Any, ...]]]] = []
        with sql.together():
            for part in bulk.id_chunks(person_ids, sql.postgresql):
                members, members_params = sql.in_("person_id", part)
                holders, holders_params = sql.in_("id", part)
                households.append(
                    sql.later(
                        _HOUSEHOLDS.format(members=members, holders=holders),
                        [*members_params, *holders_params],
                        list,
                    )
                )
                where, params = sql.in_("p.id", part)
                neighbours.append(sql.later(_SAME_ADDRESS.format(where=where), params, list))
                where, params = sql.in_("d.person_id", part)
                trips.append(sql.later(_SAME_TRIP.format(where=where), params, list))
            for part in bulk.id_chunks(case_ids, sql.postgresql):
                where, params = sql.in_("case_id", part)
                reports.append(sql.later(_REPORTS.format(where=where), params, list))
        found = Nearby({}, {}, {}, {})
        together: dict[int, set[int]] = {}
        for pending in households:
            for pid, member in pending.get():
                together.setdefault(pid, set()).add(member)
        found.households.update({pid: sorted(members) for pid, members in together.items()})
        for pending in neighbours:
            for pid, neighbour in pending.get():
                found.same_address.setdefault(pid, []).append(neighbour)
        for pending in trips:
            for pid, own, companion, theirs, key in pending.get():
                found.trips.setdefault(pid, []).append(Trip(key, own, companion, theirs))
        for pending in reports:
            for rid, case_id, pid, source, exposed_at, note, details, by, created in pending.get():
                found.reports.setdefault(case_id, []).append(
                    ContactReport(
                        id=rid,
                        case_id=case_id,
                        person_id=pid,
                        source=source,
                        exposed_at=sql.read_dt(exposed_at),
                        note=note,
                        details=details,
                        reported_by=by,
                        created_at=sql.read_dt(created),
                    )
                )
        return found

    def people(self, ids: Collection[int]) -> dict[int, Person]:
        if not ids:
            return {}
        return {p.id: p for p in self.session.scalars(select(Person).where(Person.id.in_(ids)))}

    def people_by_id_number(self, numbers: Collection[str]) -> dict[str, list[int]]:
        """The registered (not merged) people holding each ID document number."""
        if not numbers:
            return {}
        stmt = (
            select(Person.id_number, Person.id)
            .where(Person.id_number.in_(numbers), Person.merged_into.is_(None))
            .order_by(Person.id)
        )
        out: dict[str, list[int]] = {}
        for number, pid in self.session.execute(stmt):
            if number is not None:
                out.setdefault(number, []).append(pid)
        return out

    # Contacts ---------------------------------------------------------------------------------
    def reports(self, case_id: int) -> Sequence[ContactReport]:
        return self.reports_of([case_id]).get(case_id, [])

    def reports_of(self, case_ids: Collection[int]) -> dict[int, list[ContactReport]]:
        """Contacts named for these cases (by hand, or shared), by case id (detached objects,
        to read)."""
        return self.around((), case_ids).reports

    def add_report(self, report: ContactReport) -> None:
        self.session.add(report)
        self.session.flush()

    def contacts(self, case_id: int) -> dict[int, Contact]:
        stmt = select(Contact).where(Contact.case_id == case_id)
        return {c.person_id: c for c in self.session.scalars(stmt)}

    def contact(self, contact_id: int) -> Contact | None:
        return self.session.get(Contact, contact_id)

    def contact_ids_of(self, case_ids: Collection[int]) -> dict[int, dict[int, int]]:
        """Contact row id by person id, by case id."""
        out: dict[int, dict[int, int]] = {}
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(case_ids, postgresql):
            stmt = select(Contact.case_id, Contact.person_id, Contact.id).where(
                bulk.id_in(Contact.case_id, part, postgresql)
            )
            for case_id, pid, cid in self.session.execute(stmt):
                out.setdefault(case_id, {})[pid] = cid
        return out

    def person_units(self, ids: Collection[int]) -> dict[int, str | None]:
        """The administrative unit of each person's address (driver level: a bulk trace asks
        for ~100,000 people, and SQLAlchemy's row processing cost more than the query)."""
        out: dict[int, str | None] = {}
        sql = RawSql(self.session)
        for part in bulk.id_chunks(ids, sql.postgresql):
            where, params = sql.in_("id", part)
            query = f"SELECT id, unit_code FROM people WHERE {where}"  # noqa: S608 - placeholders
            out.update({pid: unit for pid, unit in sql.rows(query, params)})
        return out

    def insert_contacts(self, rows: list[dict[str, object]]) -> None:
        """New contact rows in one statement (not one ORM object per row)."""
        bulk.insert_rows(self.session, _CONTACTS, rows)

    def update_contacts(self, rows: list[dict[str, object]]) -> None:
        """Changed links of contacts already listed, by id, in one statement; contact objects
        this session holds are expired so they reload the new values."""
        bulk.update_rows(self.session, _CONTACTS, "id", rows)
        if rows:
            for held in list(self.session.identity_map.values()):
                if isinstance(held, Contact):
                    self.session.expire(held)

    def household_addresses(
        self, person_ids: Collection[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        """For people without addresses of their own: (the phone of an account whose household
        lists them, the e-mail address of that account's holder), the earliest listing first.
        A child declared by a parent is reached at the parent's phone and mailbox."""
        phones: dict[int, str] = {}
        emails: dict[int, str] = {}
        holder = aliased(HouseholdMember)
        holder_person = aliased(Person)
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(person_ids, postgresql):
            stmt = (
                select(HouseholdMember.person_id, PhoneAccount.phone, holder_person.email)
                .join(PhoneAccount, PhoneAccount.id == HouseholdMember.account_id)
                .outerjoin(
                    holder,
                    and_(
                        holder.account_id == HouseholdMember.account_id,
                        holder.relation == "self",
                    ),
                )
                .outerjoin(holder_person, holder_person.id == holder.person_id)
                .where(bulk.id_in(HouseholdMember.person_id, part, postgresql))
                .order_by(HouseholdMember.added_at)
            )
            for pid, phone, email in self.session.execute(stmt):
                phones.setdefault(pid, phone)
                if email:
                    emails.setdefault(pid, email)
        return phones, emails

    def warn_rows(
        self,
        case_ids: Collection[int],
        level: int | None,
        people: tuple[int, int] | None = None,
    ) -> list[WarnRow]:
        """The contact rows of these cases (of ``level``, or all; of the people whose id is
        in ``people`` = (after, up to), or all) as a warning needs them, without their
        evidence: a line list's can be a million."""
        out: list[WarnRow] = []
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(case_ids, postgresql):
            stmt = (
                select(
                    Contact.id,
                    Contact.person_id,
                    Contact.level,
                    Contact.risk,
                    Contact.last_exposure,
                    Contact.status,
                    Person.phone,
                    Person.email,
                    Person.language,
                )
                .join(Person, Person.id == Contact.person_id)
                .where(bulk.id_in(Contact.case_id, part, postgresql))
            )
            if level is not None:
                stmt = stmt.where(Contact.level == level)
            if people is not None:
                stmt = stmt.where(Contact.person_id > people[0], Contact.person_id <= people[1])
            out += [WarnRow(*row) for row in self.session.execute(stmt)]
        return out

    def next_people(
        self, case_ids: Collection[int], level: int | None, after: int, limit: int
    ) -> list[int]:
        """The ``limit`` lowest ids, above ``after``, of people listed by these cases (at
        ``level``, or any): a warning job's next step."""
        found: set[int] = set()
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(case_ids, postgresql):
            stmt = (
                select(Contact.person_id)
                .where(bulk.id_in(Contact.case_id, part, postgresql), Contact.person_id > after)
                .distinct()
                .order_by(Contact.person_id)
                .limit(limit)
            )
            if level is not None:
                stmt = stmt.where(Contact.level == level)
            found.update(self.session.scalars(stmt))
        return sorted(found)[:limit]

    def add_warning_job(self, job: WarningJob) -> WarningJob:
        self.session.add(job)
        self.session.flush()
        return job

    def claim_warning_job(self, now: datetime, stale_before: datetime) -> int | None:
        """Claim (mark with ``now``) the oldest warning job not done that no worker claimed
        since ``stale_before``, in one statement: two workers never take the same job."""
        waiting = (
            select(WarningJob.id)
            .where(
                WarningJob.done_at.is_(None),
                or_(WarningJob.claimed_at.is_(None), WarningJob.claimed_at < stale_before),
            )
            .order_by(WarningJob.id)
            .limit(1)
        )
        claimed = self._claim(WarningJob, WarningJob.claimed_at, waiting, now)
        return claimed[0] if claimed else None

    def warning_jobs(self, official_id: int, since: datetime) -> list[WarningJob]:
        """This official's warning jobs not done, or done since ``since``, newest first."""
        stmt = (
            select(WarningJob)
            .where(
                WarningJob.official_id == official_id,
                or_(WarningJob.done_at.is_(None), WarningJob.done_at >= since),
            )
            .order_by(WarningJob.id.desc())
            .limit(20)
        )
        return list(self.session.scalars(stmt))

    def count_warn_rows(
        self, case_ids: Collection[int], level: int | None, statuses: Collection[str]
    ) -> int:
        """How many contact rows of these cases (of ``level``) have one of ``statuses``."""
        total = 0
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(case_ids, postgresql):
            stmt = (
                select(func.count())
                .select_from(Contact)
                .where(bulk.id_in(Contact.case_id, part, postgresql), Contact.status.in_(statuses))
            )
            if level is not None:
                stmt = stmt.where(Contact.level == level)
            total += int(self.session.scalar(stmt) or 0)
        return total

    def evidence_of(self, contact_ids: Collection[int]) -> dict[int, str]:
        """The evidence (JSON) of these contact rows."""
        out: dict[int, str] = {}
        postgresql = bulk.is_postgresql(self.session)
        for part in bulk.id_chunks(contact_ids, postgresql):
            stmt = select(Contact.id, Contact.evidence).where(
                bulk.id_in(Contact.id, part, postgresql)
            )
            out.update({i: ev for i, ev in self.session.execute(stmt)})
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
            stmt = stmt.where(Checkpoint.unit_code.in_(subtree_codes(unit_code)))
        stmt = stmt.order_by(ExposurePlace.start.desc()).limit(limit)
        return [(e, c) for e, c in self.session.execute(stmt)]

    # The tracing queue -----------------------------------------------------------------------
    @staticmethod
    def _waiting(deeper: bool) -> Any:
        """Cases waiting for their F1 or, with ``deeper``, F1 done and waiting for F2…"""
        if deeper:
            return and_(Case.trace_deeper.is_(True), Case.traced_at.is_not(None))
        return Case.traced_at.is_(None)

    def claim_waiting(
        self, now: datetime, stale_before: datetime, limit: int, deeper: bool = False
    ) -> list[int]:
        """Claim (mark with ``now``) up to ``limit`` waiting cases, oldest first, that no worker
        claimed since ``stale_before``: one statement, so that two workers never claim the same
        case. ``deeper``: cases whose F1 is done and whose deeper levels wait."""
        waiting = (
            select(Case.id)
            .where(
                self._waiting(deeper),
                or_(Case.trace_claimed_at.is_(None), Case.trace_claimed_at < stale_before),
            )
            .order_by(Case.id)
            .limit(limit)
        )
        return self._claim(Case, Case.trace_claimed_at, waiting, now)

    def _claim(
        self,
        model: type[Case] | type[WarningJob],
        column: InstrumentedAttribute[datetime | None],
        waiting: Select[int],
        now: datetime,
    ) -> list[int]:
        """Mark the rows ``waiting`` selects (ids of ``model``) as claimed at ``now``
        (``column``), in one statement, and return their ids."""
        # Most seconds nothing waits: a read first, so that an idle queue never takes SQLite's
        # write lock from check-ins.
        if self.session.scalar(waiting.limit(1)) is None:
            return []
        if self.session.get_bind().dialect.name == "postgresql":
            waiting = waiting.with_for_update(skip_locked=True)
        stmt = (
            update(model)
            .where(model.id.in_(waiting.scalar_subquery()))
            .values({column.key: now})
            .returning(model.id)
        )
        return sorted(self.session.scalars(stmt))

    def waiting_cases(self, ids: Collection[int], deeper: bool = False) -> list[Case]:
        """These cases, among those still waiting (another worker may have finished one)."""
        if not ids:
            return []
        stmt = select(Case).where(Case.id.in_(ids), self._waiting(deeper)).order_by(Case.id)
        if bulk.is_postgresql(self.session):
            stmt = stmt.with_for_update()  # a tracer's trace of the same case waits, or this
        return list(self.session.scalars(stmt))

    def queue_steps(self) -> int:
        """What the queue has left to do: an F1 per untraced case and a deeper trace per case
        marked for it."""
        untraced = self.session.scalar(
            select(func.count()).select_from(Case).where(Case.traced_at.is_(None))
        )
        deeper = self.session.scalar(
            select(func.count()).select_from(Case).where(Case.trace_deeper.is_(True))
        )
        return int(untraced or 0) + int(deeper or 0)

    def count_cases(self, unit_code: str | None, waiting: bool = False) -> int:
        """How many cases ``cases_in`` lists for these filters."""
        stmt = select(func.count()).select_from(Case).where(*_case_filters(unit_code, waiting))
        return int(self.session.scalar(stmt) or 0)

    def cases_in(
        self, unit_code: str | None, offset: int, limit: int, waiting: bool = False
    ) -> tuple[list[tuple[Case, Person]], int]:
        """Cases under ``unit_code`` (none: everywhere), newest first, with their people, and
        how many there are; ``waiting``: only those the tracing queue has not done with."""
        stmt = (
            select(Case, Person)
            .join(Person, Person.id == Case.person_id)
            .where(*_case_filters(unit_code, waiting))
            .order_by(Case.created_at.desc(), Case.id.desc())
            .offset(offset)
            .limit(limit)
        )
        rows = [(c, p) for c, p in self.session.execute(stmt)]
        return rows, self.count_cases(unit_code, waiting)

    def handed_to(
        self,
        unit_code: str | None,
        status: str | None,
        limit: int,
        offset: int = 0,
        before_id: int | None = None,
        total: int | None = None,
    ) -> list[tuple[Contact, Person]]:
        """Contacts whose follow-up is handed to a unit under ``unit_code`` (none: every unit),
        newest first, with their people; ``status``: only those; ``before_id``: older than
        that contact (keyset paging).

        ``total`` (``count_handed_to``) lets SQLite pick its plan. Through the unit index it
        sorts every matching row, and a province's million contacts took 1.9 s for one page of
        50 (10 M visits, scratch). When the matches are dense enough that walking the table
        newest first meets the page sooner, the table is walked by rowid instead."""
        by_rowid = False
        if total and not bulk.is_postgresql(self.session):
            newest = int(self.session.scalar(select(func.max(Contact.id))) or 0)
            by_rowid = total * total > (offset + limit) * newest
        where = _handed_filters(unit_code, status, by_rowid)
        if before_id is not None:
            where.append(Contact.id < before_id)
        stmt = (
            select(Contact, Person)
            .join(Person, Person.id == Contact.person_id)
            .where(*where)
            .order_by(Contact.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [(c, p) for c, p in self.session.execute(stmt)]

    def count_handed_to(self, unit_code: str | None, status: str | None) -> int:
        """How many contacts ``handed_to`` lists."""
        where = _handed_filters(unit_code, status)
        return int(
            self.session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0
        )

    def case_units(self, case_ids: Collection[int]) -> dict[int, str]:
        """The unit in charge of each of these cases."""
        if not case_ids:
            return {}
        stmt = select(Case.id, Case.unit_code).where(Case.id.in_(case_ids))
        return {i: u for i, u in self.session.execute(stmt)}

    # Retention -------------------------------------------------------------------------------
    def purge_cases_before(self, before: datetime, chunk: int = 500) -> dict[str, int]:
        """Delete the cases whose infectious window ended, and which were entered and last
        traced, before ``before``, with their contacts, hand-named or shared contacts and
        exposure places (rows of other domains that point at a case go by ON DELETE CASCADE),
        and the warning jobs done before it."""
        stmt = (
            select(Case.id)
            .where(
                Case.window_end < before,
                Case.created_at < before,
                or_(Case.traced_at.is_(None), Case.traced_at < before),
            )
            .order_by(Case.id)
            .with_for_update()
        )
        ids = list(self.session.scalars(stmt))
        removed = {"cases": 0, "contacts": 0, "contact_reports": 0, "exposure_places": 0}
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            for name, model in (
                ("contacts", Contact),
                ("contact_reports", ContactReport),
                ("exposure_places", ExposurePlace),
            ):
                result = self.session.execute(delete(model).where(model.case_id.in_(part)))
                removed[name] += result.rowcount  # type: ignore[attr-defined]
            result = self.session.execute(delete(Case).where(Case.id.in_(part)))
            removed["cases"] += result.rowcount  # type: ignore[attr-defined]
        # Warning jobs name cases: those done before the same cut go with them.
        result = self.session.execute(
            delete(WarningJob).where(WarningJob.done_at.is_not(None), WarningJob.done_at < before)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            removed["warning_jobs"] = result.rowcount  # type: ignore[attr-defined]
        return removed

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
