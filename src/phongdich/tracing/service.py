"""Tracing: open a confirmed case (F0), find its contacts F1 → F2 from visits, households and
reports, keep one entry per person with its strongest evidence, and follow them up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import orjson
from sqlalchemy.orm import Session

from phongdich.accounts.models import Official
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.geo.service import UnitService
from phongdich.kit.clock import VN, fmt_local, utcnow
from phongdich.kit.errors import DomainError, Forbidden, Invalid, InvalidRows, NotFound
from phongdich.kit.i18n import t
from phongdich.kit.pagination import Page, PageParams
from phongdich.kit.text import sms_safe
from phongdich.notify.models import CHANNELS
from phongdich.people.models import Person
from phongdich.tracing import rules
from phongdich.tracing.line_list import CaseEntry
from phongdich.tracing.models import Case, Contact, ContactReport, ExposurePlace, WarningJob
from phongdich.tracing.repository import CaseRange, TracingRepository, Trip, VisitRow, WarnRow
from phongdich.visits.rules import OUT_AUTOMATIC, OUT_SUPERSEDED, longest_visit

CASE_SOURCES = ("community", "imported", "cluster", "unknown")
FOLLOW_UP = ("to_call", "notified", "quarantined", "tested", "cleared", "lost")
# Links kept as a contact's evidence (strongest first).
EVIDENCE_LIMIT = 20
# An F1 may pass the virus on from the exposure on, for this long.
F1_INFECTIOUS = timedelta(days=14)
# The people of a level whose exposures one step of the tracing queue finds, unless
# ``Settings.trace_step_people`` says otherwise. Steps keep each transaction short: on SQLite
# check-ins wait while the queue writes; on PostgreSQL at 100 M visits one case's F2 of about
# 990,000 people took 36 s in one transaction, and 46 steps of at most 1.6 s (49 s in all).
STEP_PEOPLE = 50
# The exposures earlier steps of the tracing queue staged that one step stores as contacts
# (every exposure of the last person reached). A person's exposures are ranked together, and
# the ranking's cost follows the exposures, not the people: at 1 M visits an F2 reached nearly
# everyone, many times each, and a step of 20,000 people took 8.3 s; at 10 M, 1.6 s.
STORE_STEP_ROWS = 50_000
_LAST_ID = 2**63 - 1


@dataclass(frozen=True)
class TraceSummary:
    case_id: int
    f1: int
    f2: int
    by_source: dict[str, int]
    seconds: float
    # The level not traced because the level before had too many people (``stopped_people``,
    # over ``Settings.trace_level_limit``); none: traced as deep as asked.
    stopped_level: int | None = None
    stopped_people: int | None = None
    # The level left to the tracing queue (``trace_waiting``): the level before had more people
    # than are traced further while the tracer waits; none: nothing left for later.
    deferred_level: int | None = None


Link = rules.ContactLink

# The most cases one batch (a day's line list) may enter at once.
BATCH_LIMIT = 2_000
# How warnings reach contacts: every outbox channel, SMS and OTT at their phone, e-mail at
# their address (either their own, else their household's).
WARN_CHANNELS = CHANNELS
# An SMS names the place in at most this many characters: with the rest of the text, two
# 7-bit parts at most (``kit.text.sms_safe``).
SMS_PLACE_LIMIT = 60


@dataclass(frozen=True)
class DeeperProgress:
    """How far the tracing queue's steps got on a case's deeper levels."""

    level: int  # the level being traced
    done: int  # people of the level before whose exposures are found
    of: int  # people of the level before
    stored: int | None  # people of this level stored so far, once the steps store them


@dataclass(frozen=True)
class Around:
    """Who is known to be around a case without computing any overlap."""

    household: list[int]
    same_address: list[int]
    trips: list[Trip]
    reports: list[ContactReport]


@dataclass(frozen=True)
class Found:
    """Contacts found for a case: the strongest link per person, and all links per person."""

    best: dict[int, rules.ContactLink]
    evidence: dict[int, list[rules.ContactLink]]


def stay_of(
    row: VisitRow,
    kinds: dict[int, tuple[str, str]],
    now: datetime,
    rooms: frozenset[int] | set[int] = frozenset(),
) -> rules.Stay:
    """A visit as the rules see it: a missing or automatic check-out is an estimated end; a
    visit scanned at a room (not a gate) follows the room rule."""
    if row.check_out_at is not None:
        end = row.check_out_at
        estimated = row.out_method in (OUT_AUTOMATIC, OUT_SUPERSEDED)
    else:
        end = min(row.auto_out_at, now)
        estimated = True
    return rules.Stay(
        visit_id=row.id,
        person_id=row.person_id,
        checkpoint_id=row.checkpoint_id,
        entrance_id=row.entrance_id,
        start=row.check_in_at,
        end=max(end, row.check_in_at),
        end_estimated=estimated,
        checkpoint_type=rules.TYPE_MEETING_ROOM
        if row.entrance_id in rooms
        else kinds.get(row.checkpoint_id, ("", ""))[0],
    )


def longest_visits(kinds: dict[int, tuple[str, str]]) -> dict[int, timedelta]:
    """The longest possible visit at each checkpoint (by id), from its type: what bounds the
    overlap query's index range scan below."""
    return {cid: longest_visit(kind) for cid, (kind, _name) in kinds.items()}


class TracingService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = TracingRepository(session)
        self.accounts = AccountService(session, settings)

    def overlap_rules(self) -> rules.OverlapRules:
        return rules.OverlapRules(
            min_overlap=timedelta(minutes=self.settings.trace_min_overlap_minutes),
            after_margin=timedelta(minutes=self.settings.trace_after_margin_minutes),
        )

    # Cases ------------------------------------------------------------------------------------
    def open_case(
        self,
        principal: Principal,
        official: Official,
        person_id: int,
        test_at: datetime,
        onset_at: datetime | None = None,
        isolated_at: datetime | None = None,
        source: str = "community",
        unit_code: str | None = None,
        notes: str = "",
    ) -> Case:
        person = self.session.get(Person, person_id)
        if person is None or person.merged_into is not None:
            raise Invalid("error.unknown_person")
        if source not in CASE_SOURCES:
            raise Invalid("error.case_source")
        code = unit_code or person.unit_code
        if not code:
            raise Invalid("error.case_unit")
        UnitService(self.session).require(code)
        self.accounts.require_unit_access(official, code)
        now = utcnow()
        try:
            start, end = rules.infectious_window(test_at, onset_at, isolated_at, now)
        except rules.WindowError as exc:
            raise Invalid(f"error.case_{exc.code}") from exc
        case = Case(
            person_id=person.id,
            test_at=test_at,
            onset_at=onset_at,
            isolated_at=isolated_at,
            source=source,
            unit_code=code,
            window_start=start,
            window_end=end,
            created_by=official.id,
            notes=notes[:2000],
        )
        self.repo.add_case(case)
        self.accounts.audit(principal, "open_case", "person", person.id, f"case {case.id}")
        return case

    def open_cases(
        self,
        principal: Principal,
        official: Official,
        entries: Sequence[tuple[int, CaseEntry]],
    ) -> list[Case]:
        """Enter a line list of cases (row number, case), left untraced for the tracing queue
        (``tracing.tasks.trace_pending``: their F1 at once, then each case's deeper levels, in
        the background). Every row is checked as ``open_case`` checks one; one bad row refuses
        the whole list (``InvalidRows``) and the caller rolls back."""
        if not entries:
            raise Invalid("error.batch_empty")
        if len(entries) > BATCH_LIMIT:
            raise Invalid("error.batch_too_large", limit=BATCH_LIMIT)
        numbers = self.repo.people_by_id_number(
            {e.id_number for _row, e in entries if e.person_id is None and e.id_number}
        )
        cases: list[Case] = []
        errors: list[tuple[int, DomainError]] = []
        first_of: dict[int, int] = {}
        for row, entry in entries:
            try:
                person_id = _entry_person(entry, numbers)
                if person_id in first_of:
                    raise Invalid("error.batch_duplicate", row=first_of[person_id])
                first_of[person_id] = row
                case = self.open_case(
                    principal,
                    official,
                    person_id,
                    entry.test_at,
                    entry.onset_at,
                    entry.isolated_at,
                    entry.source,
                    entry.unit_code,
                    entry.notes,
                )
            except DomainError as exc:
                if exc.status_code == 401:
                    raise
                errors.append((row, exc))
                continue
            case.trace_deeper = self.settings.trace_depth > 1
            cases.append(case)
        if errors:
            raise InvalidRows(errors)
        return cases

    def recent_cases(
        self, principal: Principal, official: Official, page: PageParams, waiting: bool = False
    ) -> Page[tuple[Case, Person]]:
        """The cases of the official's jurisdiction, newest first (every person shown is
        audited); ``waiting``: only those the tracing queue has still to trace."""
        if not _sees_any_case(official):
            return Page([], 0, page.page, page.size)
        rows, total = self.repo.cases_in(official.unit_code, page.offset, page.size, waiting)
        self.audit_shown(principal, [person for _case, person in rows], "case list")
        return Page(rows, total, page.page, page.size)

    def count_waiting(self, official: Official) -> int:
        """Cases of the official's jurisdiction waiting for the tracing queue."""
        if not _sees_any_case(official):
            return 0
        return self.repo.count_cases(official.unit_code, waiting=True)

    def handed_rows(
        self,
        official: Official,
        status: str | None,
        limit: int,
        offset: int = 0,
        before_id: int | None = None,
        total: int | None = None,
        unit: str | None = None,
    ) -> list[tuple[Contact, Person]]:
        """The rows of ``handed_to`` (a follow-up status, or none for all; ``unit``: one unit
        of the jurisdiction), nothing audited: the caller audits what it shows.
        ``before_id``: older than that contact."""
        scope = self._handed_scope(official, status, unit)
        if not _sees_any_case(official):
            return []
        return self.repo.handed_to(scope, status, limit, offset, before_id, total)

    def count_handed(self, official: Official, status: str | None, unit: str | None = None) -> int:
        """How many contacts ``handed_rows`` lists in all."""
        scope = self._handed_scope(official, status, unit)
        if not _sees_any_case(official):
            return 0
        return self.repo.count_handed_to(scope, status)

    def _handed_scope(self, official: Official, status: str | None, unit: str | None) -> str | None:
        """The unit whose contacts a follow-up list shows: the one asked for, inside the
        official's jurisdiction, or the whole jurisdiction; ``status`` must be a follow-up
        status (or none for all)."""
        if status and status not in FOLLOW_UP:
            raise Invalid("error.follow_up_status")
        if unit is None:
            return official.unit_code
        self.accounts.require_unit_access(official, unit)
        return unit

    def case_for(self, official: Official, case_id: int) -> Case:
        case = self.repo.case(case_id)
        if case is None:
            raise NotFound()
        if not self.accounts.can_see_unit(official, case.unit_code):
            raise Forbidden("error.outside_jurisdiction")
        return case

    def cases_for(self, official: Official, case_ids: Sequence[int]) -> list[Case]:
        """These cases (each once, in the order given), every one of them inside the official's
        jurisdiction: one unknown or outside refuses them all."""
        return [self.case_for(official, case_id) for case_id in dict.fromkeys(case_ids)]

    # Tracing ----------------------------------------------------------------------------------
    def trace(self, case: Case, depth: int | None = None) -> TraceSummary:
        """Find every contact of the case down to ``depth`` (1 = F1 only, 2 = F1 + F2…) and
        store one entry per person with its strongest link; follow-up status and assignment of
        people already listed are kept (``_trace_stored``)."""
        return self._trace_stored([case], depth or self.settings.trace_depth)[0]

    def trace_waiting(self, case: Case, depth: int | None = None) -> TraceSummary:
        """``trace`` for a tracer waiting on the answer (a page, an API call): a level is
        traced now only from at most ``Settings.trace_at_once`` people of the level before;
        the deeper levels of a larger one are left to the tracing queue (``trace_deeper``),
        which traces them in the background within seconds."""
        depth = depth or self.settings.trace_depth
        return self._trace_stored([case], depth, self.settings.trace_at_once)[0]

    def find(self, case: Case, depth: int | None = None) -> Found:
        """The contacts of the case down to ``depth``, nothing stored: the strongest link and
        every link (strongest first) per person."""
        depth = depth or self.settings.trace_depth
        now = utcnow()
        overlap = self.overlap_rules()
        window = _window(case, now)
        links: list[rules.ContactLink] = []
        case_links = self._visit_links({case.person_id: window}, level=1, overlap=overlap, now=now)
        links += case_links
        links += self._known_links(case, window, self._around([case])[case.id])
        frontier = rules.strongest(links)
        level = 1
        while level < depth and frontier:
            level += 1
            # Contacts of the previous level, from their visits after their exposure.
            windows = {
                pid: (link.last_exposure, min(now, link.last_exposure + F1_INFECTIOUS))
                for pid, link in frontier.items()
                if pid != case.person_id and link.last_exposure < now
            }
            # Hundreds of people, thousands of stays: the overlap is computed in bulk, and
            # each person keeps their strongest exposure to each of the previous level.
            found = [
                link
                for group in self._overlap_links(
                    [(pid, pid, w) for pid, w in windows.items()], level, overlap, now
                ).values()
                for link in group
            ]
            links += found
            if level >= depth:
                break  # the last level: nobody's contacts are looked for after it
            closer = {x.person_id for x in links if x.level < level}  # once, not per person
            frontier = {
                pid: link for pid, link in rules.strongest(found).items() if pid not in closer
            }
        evidence = rules.merge_evidence(x for x in links if x.person_id != case.person_id)
        return Found(best=rules.strongest_of(evidence), evidence=evidence)

    def _around(self, cases: Sequence[Case]) -> dict[int, Around]:
        """The people known to be around each case without any overlap to compute."""
        nearby = self.repo.around({c.person_id for c in cases}, [c.id for c in cases])
        return {
            c.id: Around(
                household=nearby.households.get(c.person_id, []),
                same_address=nearby.same_address.get(c.person_id, []),
                trips=nearby.trips.get(c.person_id, []),
                reports=nearby.reports.get(c.id, []),
            )
            for c in cases
        }

    def _known_links(
        self, case: Case, window: tuple[datetime, datetime], around: Around
    ) -> list[rules.ContactLink]:
        """F1 links that need no overlap: the case's household, people at the same address,
        fellow travellers on a trip inside the infectious window (movement declarations), and
        contacts named for the case (by a tracer, or shared from Bluetooth)."""

        def link(pid: int, source: str, at: datetime, evidence: dict[str, object]) -> Link:
            return rules.ContactLink(
                person_id=pid,
                level=1,
                source=source,
                via_person_id=case.person_id,
                risk=rules.SOURCE_RISK.get(source, 1.0),
                last_exposure=at,
                evidence=evidence,
            )

        links = [
            link(m, rules.SOURCE_HOUSEHOLD, window[1], {"household": True})
            for m in around.household
        ]
        links += [
            link(m, rules.SOURCE_ADDRESS, window[1], {"same_address": True})
            for m in around.same_address
        ]
        first_day, last_day = window[0].astimezone(VN).date(), window[1].astimezone(VN).date()
        for trip in around.trips:
            day = rules.trip_day(trip.key)
            if not first_day <= day <= last_day:
                continue
            end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=VN)
            transport, vehicle, _ = trip.key.split(":", 2)
            evidence: dict[str, object] = {
                "trip": trip.key,
                "transport": transport,
                "vehicle_no": vehicle,
                "travel_date": day.isoformat(),
                "case_declaration_id": trip.case_declaration_id,
                "declaration_id": trip.declaration_id,
            }
            links.append(
                link(trip.person_id, rules.SOURCE_DECLARED, min(window[1], end_of_day), evidence)
            )
        links += [
            link(
                report.person_id,
                report.source,
                report.exposed_at,
                {"report": report.id, "note": report.note, **report_details(report)},
            )
            for report in around.reports
        ]
        return links

    def find_many(self, cases: Sequence[Case]) -> dict[int, Found]:
        """The F1 of many cases at once (a day's new cases), nothing stored: the overlap of
        every case stay with everyone's visits is computed by the database in one statement
        (``TracingRepository.strongest_exposures``, the arithmetic of ``rules.expose``), so
        each person's evidence is their strongest exposure to the case; households and named
        contacts as in ``find``. ``find`` (one case, every exposure as evidence) stays the
        reference."""
        if not cases:
            return {}
        now = utcnow()
        windows = {c.id: _window(c, now) for c in cases}
        links = self._overlap_links(
            [(c.id, c.person_id, windows[c.id]) for c in cases], 1, self.overlap_rules(), now
        )
        around = self._around(cases)
        found: dict[int, Found] = {}
        for c in cases:
            own = links.get(c.id, []) + self._known_links(c, windows[c.id], around[c.id])
            evidence = rules.merge_evidence(x for x in own if x.person_id != c.person_id)
            found[c.id] = Found(best=rules.strongest_of(evidence), evidence=evidence)
        return found

    def _overlap_links(
        self,
        sources: Sequence[tuple[int, int, tuple[datetime, datetime]]],
        level: int,
        overlap: rules.OverlapRules,
        now: datetime,
    ) -> dict[int, list[rules.ContactLink]]:
        """Links of everyone whose visits overlapped the sources' stays, computed by the
        database in bulk (``TracingRepository.strongest_exposures``, the arithmetic of
        ``rules.expose``): each source is (a key, the person, their window), and each
        person's link to a key is their strongest exposure to that person's stays."""
        if not sources:
            return {}
        ranges, kinds = self._ranges([(k, p, p, w) for k, p, w in sources], overlap, now)
        exposures = self.repo.strongest_exposures(
            ranges, now, overlap.estimated_factor, rules.RISK_UNIT_MINUTES
        )
        person_of = {key: person_id for key, person_id, _w in sources}
        links: dict[int, list[rules.ContactLink]] = {}
        for x in exposures:
            exposure = rules.Exposure(
                case_visit_id=x.case_visit_id,
                contact_visit_id=x.contact_visit_id,
                contact_person_id=x.person_id,
                checkpoint_id=x.checkpoint_id,
                start=x.start,
                end=x.end,
                minutes=x.seconds / 60,
                certain_minutes=x.certain_seconds / 60,
                rule=x.rule,
                risk=x.risk,
            )
            links.setdefault(x.case_id, []).append(
                _visit_link(exposure, level, person_of[x.case_id], kinds)
            )
        return links

    def _ranges(
        self,
        sources: Sequence[tuple[int, int, int, tuple[datetime, datetime]]],
        overlap: rules.OverlapRules,
        now: datetime,
    ) -> tuple[list[CaseRange], dict[int, tuple[str, str]]]:
        """The stays of the sources' people inside their windows, each with its resolved rule,
        ready for the bulk overlap statements; and the (type, name) of their checkpoints. A
        source is (a key, the person, the person never to list — the case's own —, window)."""
        by_person: dict[int, list[tuple[int, int, tuple[datetime, datetime]]]] = {}
        for key, person_id, owner, window in sources:
            by_person.setdefault(person_id, []).append((key, owner, window))
        start = min(w[0] for _k, _p, _o, w in sources)
        end = max(w[1] for _k, _p, _o, w in sources)
        rows, kinds, rooms = self.repo.stays_at_places(set(by_person), start, end)
        ranges: list[CaseRange] = []
        for row in rows:
            stay = stay_of(row, kinds, now, rooms)
            kind, name = kinds.get(row.checkpoint_id, ("", ""))
            for key, owner, w in by_person[row.person_id]:
                present_from, present_to = max(stay.start, w[0]), min(stay.end, w[1])
                if present_to <= present_from:
                    continue
                rule = overlap.for_type(stay.checkpoint_type)
                ranges.append(
                    CaseRange(
                        case_id=key,
                        case_person_id=row.person_id,
                        case_visit_id=row.id,
                        checkpoint_id=row.checkpoint_id,
                        entrance_id=row.entrance_id,
                        present_from=present_from,
                        present_to=present_to,
                        case_estimated_end=stay.end if stay.end_estimated else None,
                        after_margin=rule.after_margin,
                        min_overlap=rule.min_overlap,
                        same_entrance=rule.same_entrance,
                        risk_factor=rule.risk_factor,
                        rule=rule.name,
                        earliest_check_in=present_from - longest_visit(kind),
                        owner_person_id=owner,
                        checkpoint_name=name,
                    )
                )
        return ranges, kinds

    def _visit_links(
        self,
        windows: dict[int, tuple[datetime, datetime]],
        level: int,
        overlap: rules.OverlapRules,
        now: datetime,
    ) -> list[rules.ContactLink]:
        """Links of everyone who overlapped the given people's visits inside their windows."""
        if not windows:
            return []
        start = min(w[0] for w in windows.values())
        end = max(w[1] for w in windows.values())
        rows = [r for r in self.repo.stays_of(set(windows), start, end)]
        margin = overlap.after_margin
        ranges = []
        sources: list[VisitRow] = []
        for row in rows:
            w = windows[row.person_id]
            visit_end = row.check_out_at or row.auto_out_at
            if visit_end <= w[0] or row.check_in_at >= w[1]:
                continue
            sources.append(row)
            ranges.append(
                (row.checkpoint_id, max(row.check_in_at, w[0]), min(visit_end, w[1]) + margin)
            )
        kinds = self.repo.checkpoint_types({r.checkpoint_id for r in sources})
        candidates = self.repo.present_at(ranges, longest_visits(kinds))
        rooms = self.repo.room_entrances(
            {r.entrance_id for r in [*sources, *candidates] if r.entrance_id is not None}
        )
        found: list[rules.ContactLink] = []
        by_person: dict[int, list[rules.Stay]] = {}
        for row in sources:
            by_person.setdefault(row.person_id, []).append(stay_of(row, kinds, now, rooms))
        others = [stay_of(r, kinds, now, rooms) for r in candidates]
        for pid, stays in by_person.items():
            for exposure in rules.exposures(stays, others, windows[pid], overlap):
                found.append(_visit_link(exposure, level, pid, kinds))
        return found

    def count_exposed(self, cases: Sequence[Case]) -> int:
        """How many (case, person) pairs the visits expose for these cases under the overlap
        rules: what ``trace_many`` stores from visits, counted by the database with nothing
        listed or stored (the trace bench sets it beside the storing)."""
        if not cases:
            return 0
        now = utcnow()
        overlap = self.overlap_rules()
        sources = [(c.id, c.person_id, c.person_id, _window(c, now)) for c in cases]
        ranges, _kinds = self._ranges(sources, overlap, now)
        return self.repo.count_exposed(
            ranges, now, overlap.estimated_factor, rules.RISK_UNIT_MINUTES
        )

    def trace_many(self, cases: Sequence[Case]) -> list[TraceSummary]:
        """The F1 of many cases at once (a day's new cases), stored as ``trace`` stores."""
        return self._trace_stored(cases, 1)

    def _trace_stored(
        self, cases: Sequence[Case], depth: int, at_once: int | None = None
    ) -> list[TraceSummary]:
        """Trace and store, level by level. The database finds and stores the contacts from
        visits itself (``TracingRepository.store_exposures``: ``find``'s rules in SQL, every
        row marked with this trace's time), so a busy venue's thousand contacts never pass
        through Python; the few links that need no overlap (household, address, trips,
        reports) are merged in here; the next level starts from the rows this level wrote;
        rows of an earlier trace not found again are removed. ``find`` stays the reference
        the tests hold this to."""
        if not cases:
            return []
        self.repo.lock_cases(cases)
        self.repo.drop_staged([c.id for c in cases])  # what the queue's steps had found goes
        started = now = utcnow()
        overlap = self.overlap_rules()
        windows = {c.id: _window(c, now) for c in cases}
        sources = [(c.id, c.person_id, c.person_id, windows[c.id]) for c in cases]
        self._store_level(sources, 1, overlap, now)
        around = self._around(cases)
        known = {
            c.id: [
                link
                for link in self._known_links(c, windows[c.id], around[c.id])
                if link.person_id != c.person_id
            ]
            for c in cases
        }
        self._merge_known(known, now)
        owner = {c.id: c.person_id for c in cases}
        stopped: tuple[int, int] | None = None
        deferred: int | None = None
        for level in range(2, depth + 1):
            # Contacts of the previous level, from their visits after their exposure.
            sources = [
                (case_id, pid, owner[case_id], (at, min(now, at + F1_INFECTIOUS)))
                for case_id, pid, at in self.repo.touched(owner, level - 1, now)
                if at < now
            ]
            if not sources:
                break
            if len(sources) > self.settings.trace_level_limit:
                # Minutes of work and millions of rows: the tracer is told instead.
                stopped = (level, len(sources))
                break
            if at_once is not None and len(sources) > at_once:
                # Seconds of work or more: the queue does it, the tracer sees this level now.
                deferred = level
                break
            self._store_level(sources, level, overlap, now)
        counts = self.repo.finish_trace(owner, now)
        summaries = []
        for case in cases:
            _mark_traced(case, deferred, stopped)
            if depth > 1:
                case.trace_deeper = deferred is not None
            case.trace_found_at = now
            mine = counts.get(case.id, {})
            by_source: dict[str, int] = {}
            for (_level, source), n in mine.items():
                by_source[source] = by_source.get(source, 0) + n
            summaries.append(
                TraceSummary(
                    case_id=case.id,
                    f1=sum(n for (level, _s), n in mine.items() if level == 1),
                    f2=sum(n for (level, _s), n in mine.items() if level == 2),
                    by_source=by_source,
                    seconds=(utcnow() - started).total_seconds(),
                    stopped_level=case.trace_stopped_level,
                    stopped_people=case.trace_stopped_people,
                    deferred_level=deferred,
                )
            )
        return summaries

    def trace_deeper_step(self, case: Case) -> bool:
        """One step of the deeper levels the tracing queue traces for a case (``trace_deeper``),
        continuing from what the case's last trace stored and marking its rows as that trace
        did, so that the steps together store what one ``trace`` stores. The queue runs each
        step in a transaction of its own: at 10 M visits a thousand F1 have an F2 of
        170,000-300,000 people, seconds of writing that on SQLite would hold the write lock
        check-ins wait for, and at 100 M visits nearly a million, a transaction of over half
        a minute on PostgreSQL.

        A level whose people before it fit one step (``step_people``) is stored in that step. A
        larger one takes two phases: steps that find and stage the exposures of the next
        people of the level before (by person id), then steps that store the contacts of the
        people of about ``STORE_STEP_ROWS`` staged exposures at a time, each person's
        exposures ranked together. Returns whether steps are left (the case records how far
        they got)."""
        self.repo.lock_cases([case])
        found_at = case.trace_found_at
        if found_at is None:  # traced before the steps: trace it again, as deep as configured
            self.trace(case)
            return False
        depth = self.settings.trace_depth
        level = case.trace_next_level or 2
        after = case.trace_after_person_id
        if level > depth:
            return self._end_deeper(case, found_at, None)
        if case.trace_step_phase == "store":
            upto = self.repo.staged_upto(case.id, level, found_at, after, STORE_STEP_ROWS)
            people = (after, upto if upto is not None else _LAST_ID)
            self.repo.store_staged(case.id, level, found_at, people, EVIDENCE_LIMIT)
            if upto is not None:
                return self._next_step(case, level, upto, "store")
            return self._level_done(case, level, found_at)
        if after == 0:
            before = self.repo.count_touched(case.id, level - 1, found_at)
            if before > self.settings.trace_level_limit:
                return self._end_deeper(case, found_at, (level, before))
        limit = self.step_people()
        page = self.repo.touched_after(case.id, level - 1, found_at, after, limit)
        sources = [
            (case.id, pid, case.person_id, (at, min(found_at, at + F1_INFECTIOUS)))
            for pid, at in page
            if at < found_at
        ]
        overlap = self.overlap_rules()
        if after == 0 and len(page) < limit:  # the whole level in this step, as a trace does
            if sources:
                self._store_level(sources, level, overlap, found_at)
            return (
                self._level_done(case, level, found_at)
                if page
                else self._end_deeper(case, found_at, None)
            )
        if sources:
            ranges, _kinds = self._ranges(sources, overlap, found_at)
            self.repo.stage_exposures(
                ranges, level, found_at, overlap.estimated_factor, rules.RISK_UNIT_MINUTES
            )
        if len(page) == limit:  # more people of the level before
            return self._next_step(case, level, page[-1][0], None)
        return self._next_step(case, level, 0, "store")  # all found: store them next

    def step_people(self) -> int:
        """The people of a level whose exposures one step of the tracing queue finds:
        ``Settings.trace_step_people``, else ``STEP_PEOPLE``."""
        return self.settings.trace_step_people or STEP_PEOPLE

    @staticmethod
    def _next_step(case: Case, level: int, after: int, phase: str | None) -> bool:
        case.trace_next_level, case.trace_after_person_id = level, after
        case.trace_step_phase = phase
        case.trace_claimed_at = None  # the next step may start at once
        return True

    def _level_done(self, case: Case, level: int, found_at: datetime) -> bool:
        """A level stored: the next one, or the end."""
        if level < self.settings.trace_depth:
            return self._next_step(case, level + 1, 0, None)
        return self._end_deeper(case, found_at, None)

    def deeper_progress(self, case: Case) -> DeeperProgress | None:
        """How far the queue's steps got on the case's deeper levels; none when nothing waits
        or no step has run yet."""
        after, found_at = case.trace_after_person_id, case.trace_found_at
        if not (case.traced_at and case.trace_deeper and found_at):
            return None
        if not (after or case.trace_step_phase):  # no step has run yet
            return None
        level = case.trace_next_level or 2
        people = self.repo.count_touched(case.id, level - 1, found_at)
        if case.trace_step_phase == "store":
            stored = self.repo.count_touched(case.id, level, found_at)
            return DeeperProgress(level, people, people, stored)
        done = self.repo.count_touched(case.id, level - 1, found_at, after)
        return DeeperProgress(level, done, people, None)

    def _end_deeper(self, case: Case, found_at: datetime, stopped: tuple[int, int] | None) -> bool:
        """The last step of a case's deeper levels: the rows of an earlier trace that this one
        did not find again go, and the case is traced."""
        self.repo.finish_trace([case.id], found_at)
        self.repo.drop_staged([case.id])
        _mark_traced(case, None, stopped)
        case.trace_deeper = False
        return False

    def _store_level(
        self,
        sources: Sequence[tuple[int, int, int, tuple[datetime, datetime]]],
        level: int,
        overlap: rules.OverlapRules,
        now: datetime,
    ) -> None:
        ranges, _kinds = self._ranges(sources, overlap, now)
        self.repo.store_exposures(
            ranges, level, now, overlap.estimated_factor, rules.RISK_UNIT_MINUTES, EVIDENCE_LIMIT
        )

    def _merge_known(self, known: dict[int, list[Link]], now: datetime) -> None:
        """Add the links that need no overlap to what the visits gave this trace: per person,
        every link (strongest first) as evidence and the strongest as the link. A row of an
        earlier trace that the visits did not find again is replaced, keeping its follow-up
        status and assignment."""
        wanted = {(case_id, x.person_id) for case_id, links in known.items() for x in links}
        if not wanted:
            return
        rows = {
            (case_id, pid): (row_id, touched_at, evidence)
            for row_id, case_id, pid, touched_at, evidence in self.repo.contact_rows(
                known, {pid for _c, pid in wanted}
            )
            if (case_id, pid) in wanted
        }
        units = self.repo.person_units(
            {pid for case_id, pid in wanted if (case_id, pid) not in rows}
        )
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for case_id, links in known.items():
            for pid, own in rules.merge_evidence(links).items():
                row = rows.get((case_id, pid))
                found = list(own)
                if row is not None and row[1] == now:  # written by this trace
                    found += links_of_evidence(pid, row[2])
                merged = rules.merge_evidence(found)[pid]
                best = merged[0]
                values: dict[str, object] = {
                    "level": best.level,
                    "source": best.source,
                    "via_person_id": best.via_person_id,
                    "risk": best.risk,
                    "last_exposure": best.last_exposure,
                    "evidence": evidence_json(merged[:EVIDENCE_LIMIT]),
                    "updated_at": now,
                    "found_at": now,
                }
                if row is None:
                    inserts.append(
                        {
                            **values,
                            "case_id": case_id,
                            "person_id": pid,
                            "status": "to_call",
                            "assigned_unit": units.get(pid),
                            "created_at": now,
                        }
                    )
                else:
                    updates.append({**values, "id": row[0]})
        self.repo.insert_contacts(inserts)
        self.repo.update_contacts(updates)

    # Follow-up --------------------------------------------------------------------------------
    def report_contact(
        self,
        principal: Principal,
        official: Official,
        case: Case,
        person_id: int,
        exposed_at: datetime,
        note: str = "",
        source: str = "manual",
    ) -> ContactReport:
        if self.session.get(Person, person_id) is None:
            raise Invalid("error.unknown_person")
        if source not in ("manual", "bluetooth"):
            raise Invalid("error.contact_source")
        if exposed_at > utcnow() + timedelta(minutes=5):
            raise Invalid("error.exposure_future")
        report = ContactReport(
            case_id=case.id,
            person_id=person_id,
            source=source,
            exposed_at=exposed_at,
            note=note[:2000],
            reported_by=official.id,
        )
        self.repo.add_report(report)
        self.accounts.audit(principal, "report_contact", "person", person_id, f"case {case.id}")
        return report

    def set_status(self, official: Official, contact_id: int, status: str) -> Contact:
        if status not in FOLLOW_UP:
            raise Invalid("error.follow_up_status")
        contact = self.repo.contact(contact_id)
        if contact is None:
            raise NotFound()
        if not self.follows(official, contact):
            self.case_for(official, contact.case_id)  # NotFound, or outside the jurisdiction
        contact.status, contact.updated_at = status, utcnow()
        return contact

    def follows(self, official: Official, contact: Contact) -> bool:
        """Whether the contact's follow-up is handed to a unit of the official's jurisdiction
        (the commune health station of their address): that unit updates it, whoever's the
        case."""
        return contact.assigned_unit is not None and self.accounts.can_see_unit(
            official, contact.assigned_unit
        )

    def handed_to(
        self,
        principal: Principal,
        official: Official,
        status: str | None,
        page: PageParams,
        unit: str | None = None,
    ) -> Page[tuple[Contact, Person]]:
        """The contacts whose follow-up is handed to the units of the official's jurisdiction
        (or to ``unit``, one of them), newest first: the health stations' work list, across
        every case (entered anywhere). Every identity shown is audited."""
        total = self.count_handed(official, status, unit)
        rows = self.handed_rows(official, status, page.size, page.offset, total=total, unit=unit)
        shown = [person for _c, person in rows if self.visible(official, person)]
        self.audit_shown(principal, shown, "follow-up list")
        return Page(rows, total, page.page, page.size)

    def assign_to_stations(self, official: Official, case: Case) -> dict[str, int]:
        """Hand every contact to the commune health station of their address (contacts with no
        known address stay with the case's unit)."""
        contacts = self.repo.contacts(case.id)
        people = self.repo.people(set(contacts))
        counts: dict[str, int] = {}
        for pid, contact in contacts.items():
            person = people.get(pid)
            unit = (person.unit_code if person else None) or case.unit_code
            contact.assigned_unit = unit
            counts[unit] = counts.get(unit, 0) + 1
        return counts

    # Warnings ---------------------------------------------------------------------------------
    def warn(
        self,
        principal: Principal,
        official: Official,
        case: Case,
        channels: Sequence[str] = ("sms",),
        level: int | None = None,
        statuses: Sequence[str] = ("to_call",),
    ) -> dict[str, int]:
        """Queue a templated warning to each matching contact of the case (``warn_cases``)."""
        counts = self.warn_cases(principal, official, [case], channels, level, statuses)
        keys = ("warned", "no_phone", "skipped", "queued", "job")
        return {k: counts[k] for k in keys if k in counts}

    def warn_cases(
        self,
        principal: Principal,
        official: Official,
        cases: Sequence[Case],
        channels: Sequence[str] = ("sms",),
        level: int | None = None,
        statuses: Sequence[str] = ("to_call",),
    ) -> dict[str, int]:
        """Queue a templated warning to the matching contacts of these cases (a line list's)
        through the notifier (outbox, retried, delivery state kept on the message). A person
        listed by several of the cases gets one message, about their strongest link (the
        closest level, then the highest risk, then the latest), and every row of theirs is
        marked with it. The text names the place and the day, never the case, in the person's
        language (``Person.language``, Vietnamese when none). People without a phone or an
        e-mail address of their own are reached at their household's (the phone of an
        account that lists them, its holder's e-mail address). A channel named twice counts
        once. Counts people warned, people with no address on any of the channels
        (``no_phone``), rows marked (``contacts``) and rows skipped for their status. More
        than ``warn_request_rows`` rows are left to the tracing queue as a warning job
        (``warn_step``): then ``queued`` counts the rows and ``job`` names it, and nothing is
        sent yet."""
        if not channels or any(channel not in WARN_CHANNELS for channel in channels):
            raise Invalid("error.warn_channel")
        channels = list(dict.fromkeys(channels))
        if len(cases) > BATCH_LIMIT:
            raise Invalid("error.batch_too_large", limit=BATCH_LIMIT)
        case_ids = [c.id for c in cases]
        wanted = self.repo.count_warn_rows(case_ids, level, statuses)
        if wanted > self.settings.warn_request_rows:
            job = self.repo.add_warning_job(
                WarningJob(
                    official_id=official.id,
                    case_ids=json.dumps(case_ids),
                    channels=",".join(channels),
                    level=level,
                    statuses=",".join(statuses),
                    rows=wanted,
                )
            )
            counts = {"cases": len(cases), "queued": wanted, "job": job.id}
            detail = json.dumps(counts, ensure_ascii=False)
            for case in cases:
                self.accounts.audit(principal, "warn_contacts_queued", "case", case.id, detail)
            return {**counts, "warned": 0, "contacts": 0, "no_phone": 0, "skipped": 0}
        counts = {"cases": len(cases), **self._warn(case_ids, channels, level, statuses)}
        detail = json.dumps(counts, ensure_ascii=False)
        for case in cases:
            self.accounts.audit(principal, "warn_contacts", "case", case.id, detail)
        return counts

    def warn_step(self, job: WarningJob, people: int | None = None) -> bool:
        """Warn the next ``people`` (default ``Settings.warn_step_people``) people of a warning
        job as ``warn_cases`` would have, and record how far it got; done (``done_at``, audited
        as the official who asked) when none is left. Whether anything is left."""
        job.claimed_at = None  # released when this step commits
        case_ids = [int(i) for i in json.loads(job.case_ids)]
        after = job.after_person_id
        ids = self.repo.next_people(
            case_ids, job.level, after, people or self.settings.warn_step_people
        )
        if not ids:
            job.done_at = utcnow()
            official = self.session.get(Official, job.official_id) if job.official_id else None
            principal = Principal("official", official=official) if official else None
            detail = json.dumps(
                {
                    "job": job.id,
                    "warned": job.warned,
                    "contacts": job.contacts,
                    "no_phone": job.no_phone,
                    "skipped": job.skipped,
                },
                ensure_ascii=False,
            )
            for case_id in case_ids:
                self.accounts.audit(principal, "warn_contacts", "case", case_id, detail)
            return False
        counts = self._warn(
            case_ids,
            job.channels.split(","),
            job.level,
            job.statuses.split(","),
            (after, ids[-1]),
        )
        job.after_person_id = ids[-1]
        job.warned += counts["warned"]
        job.contacts += counts["contacts"]
        job.no_phone += counts["no_phone"]
        job.skipped += counts["skipped"]
        return True

    def warning_jobs(self, official: Official) -> list[WarningJob]:
        """The official's warning jobs still running or finished in the last day."""
        return self.repo.warning_jobs(official.id, utcnow() - timedelta(days=1))

    def _warn(
        self,
        case_ids: Sequence[int],
        channels: Sequence[str],
        level: int | None,
        statuses: Sequence[str],
        people: tuple[int, int] | None = None,
    ) -> dict[str, int]:
        """``warn_cases``' work: the rows of these cases (of the people with ids in
        ``people`` = (after, up to), or all), one message per person, rows marked."""
        from phongdich.notify.service import Notifier

        counts = {"warned": 0, "contacts": 0, "no_phone": 0, "skipped": 0}
        listed: dict[int, list[WarnRow]] = {}
        for row in self.repo.warn_rows(case_ids, level, people):
            if row.status in statuses:
                listed.setdefault(row.person_id, []).append(row)
            else:
                counts["skipped"] += 1
        # Their own phone and e-mail address, else their household's: a child declared by a
        # parent is reached at the parent's.
        want_phone = any(channel != "email" for channel in channels)
        want_email = "email" in channels
        first = {pid: rows[0] for pid, rows in listed.items()}
        phones = {pid: r.phone for pid, r in first.items() if want_phone and r.phone}
        emails = {pid: r.email for pid, r in first.items() if want_email and r.email}
        lacking = [
            pid
            for pid in listed
            if (want_phone and pid not in phones) or (want_email and pid not in emails)
        ]
        if lacking:
            home_phones, home_emails = self.repo.household_addresses(lacking)
            if want_phone:
                phones = home_phones | phones
            if want_email:
                emails = home_emails | emails
        # Each person's addresses on the channels asked for, in their order.
        to = {
            pid: [
                (channel, address)
                for channel in channels
                if (address := (emails if channel == "email" else phones).get(pid))
            ]
            for pid in listed
        }
        reached = {pid: addresses for pid, addresses in to.items() if addresses}
        counts["no_phone"] = len(listed) - len(reached)
        # Each person's strongest link: the closest level, then the highest risk, the latest.
        strongest = {
            pid: min(listed[pid], key=lambda r: (r.level, -r.risk, -r.last_exposure.timestamp()))
            for pid in reached
        }
        evidence = self.repo.evidence_of([r.id for r in strongest.values()])
        messages = []
        hotline = self.settings.hotline
        for pid, row in strongest.items():
            lang = row.language or "vi"
            place, day = _where_when(evidence.get(row.id, "[]"), row.last_exposure, lang)
            for channel, address in reached[pid]:
                where = sms_safe(place, SMS_PLACE_LIMIT) if channel == "sms" else place
                text = t(f"{channel}.exposure", lang, place=where, date=day, hotline=hotline)
                purpose = f"exposure:{row.id}"
                messages.append(
                    {"channel": channel, "recipient": address, "body": text, "purpose": purpose}
                )
        sent = Notifier(self.session).send_many(messages)
        now = utcnow()
        marks = [
            {
                "id": row.id,
                "warned_at": now,
                # The person's last message: its delivery state is the row's.
                "warning_message_id": sent[(f"exposure:{best.id}", reached[pid][-1][0])],
                "status": "notified" if row.status == "to_call" else row.status,
            }
            for pid, best in strongest.items()
            for row in listed[pid]
        ]
        self.repo.update_contacts(marks)
        counts["warned"], counts["contacts"] = len(strongest), len(marks)
        return counts

    # Published exposure places ----------------------------------------------------------------
    def publish(self, principal: Principal, official: Official, case: Case) -> list[ExposurePlace]:
        """Publish where the case was while infectious (checkpoint and time, nothing else), for
        the public map and citizens' self-check; publishing again adds nothing twice."""
        margin = timedelta(minutes=self.settings.trace_after_margin_minutes)
        now = utcnow()
        window = _window(case, now)
        known = {(e.checkpoint_id, e.start) for e in self.repo.exposure_places(case.id)}
        added: list[ExposurePlace] = []
        for row in self.repo.stays_of([case.person_id], window[0], window[1]):
            end = row.check_out_at or min(row.auto_out_at, now)
            start, stop = max(row.check_in_at, window[0]), min(end, window[1])
            if stop <= start or (row.checkpoint_id, start) in known:
                continue
            place = ExposurePlace(
                case_id=case.id,
                checkpoint_id=row.checkpoint_id,
                start=start,
                end=stop + margin,
                published_by=official.id,
            )
            known.add((row.checkpoint_id, start))
            added.append(place)
        self.repo.add_exposure_places(added)
        self.accounts.audit(principal, "publish_exposures", "case", case.id, str(len(added)))
        return added

    def my_exposures(
        self, person_id: int, days: int = 14, lang: str = "vi"
    ) -> list[dict[str, object]]:
        """A citizen's own visits that overlap a published exposure place, each with why (in
        ``lang``)."""
        now = utcnow()
        visits = self.repo.stays_of([person_id], now - timedelta(days=days), now)
        found: list[dict[str, object]] = []
        places = self.repo.published_at(
            {v.checkpoint_id for v in visits}, now - timedelta(days=days)
        )
        names = self.repo.checkpoint_types({v.checkpoint_id for v in visits})
        for v in visits:
            v_end = v.check_out_at or min(v.auto_out_at, now)
            for place in places.get(v.checkpoint_id, []):
                start, end = max(v.check_in_at, place.start), min(v_end, place.end)
                if end <= start:
                    continue
                minutes = int((end - start).total_seconds() // 60)
                name = names.get(v.checkpoint_id, ("", ""))[1]
                found.append(
                    {
                        "checkpoint": name,
                        "visit_start": v.check_in_at,
                        "visit_end": v_end,
                        "exposure_start": place.start,
                        "exposure_end": place.end,
                        "minutes": minutes,
                        "why": t(
                            "exposure.match",
                            lang,
                            place=name,
                            visit_start=fmt_local(v.check_in_at),
                            visit_end=fmt_local(v_end),
                            start=fmt_local(place.start),
                            end=fmt_local(place.end),
                            minutes=minutes,
                        ),
                    }
                )
        return found

    def visible(self, official: Official, person: Person) -> bool:
        """Identities of people living outside the official's jurisdiction are pseudonymised."""
        if official.unit_code is None:
            return official.role == "admin"
        return person.unit_code is not None and self.accounts.can_see_unit(
            official, person.unit_code
        )

    def audit_shown(self, principal: Principal, people: Sequence[Person], detail: str) -> None:
        self.accounts.repo.audit_many(
            principal.actor, "read_person", "person", [p.id for p in people], detail
        )


def report_details(report: ContactReport) -> dict[str, object]:
    """The evidence a shared report carries (Bluetooth: date, minutes, weighted minutes,
    attenuation), JSON in ``details``; nothing when there is none or it is unreadable."""
    try:
        details = json.loads(report.details or "{}")
    except ValueError:
        return {}
    return details if isinstance(details, dict) else {}


def _where_when(evidence: str, last_exposure: datetime, lang: str) -> tuple[str, str]:
    """What a warning names: the place of the link (the household when not a visit) and the
    day of the last exposure, Vietnam time."""
    try:
        entries = json.loads(evidence or "[]")
    except ValueError:
        entries = []
    visit = next((e for e in entries if isinstance(e, dict) and e.get("source") == "visit"), None)
    place = str(visit.get("checkpoint", "")) if visit else ""
    if not place:
        place = t("exposure.household", lang)
    return place, fmt_local(last_exposure).split(" ")[0]


def _mark_traced(case: Case, next_level: int | None, stopped: tuple[int, int] | None) -> None:
    """The case traced now, unclaimed (the queue's next step may take it at once): its steps
    start from the first person of ``next_level`` (none: no level left), and the level the
    trace stopped at for its size, if any, is kept."""
    case.traced_at = utcnow()
    case.trace_claimed_at = None
    case.trace_next_level = next_level
    case.trace_after_person_id = 0
    case.trace_step_phase = None
    case.trace_stopped_level, case.trace_stopped_people = stopped or (None, None)


def _sees_any_case(official: Official) -> bool:
    """Officials without a unit see the whole country's cases only as administrators (the
    rule of ``AccountService.can_see_unit``); the rest see their unit's."""
    return official.unit_code is not None or official.role == "admin"


def _window(case: Case, now: datetime) -> tuple[datetime, datetime]:
    """The case's infectious window as far as it has run (an open window ends now)."""
    return case.window_start, min(case.window_end, now)


def _visit_link(
    exposure: rules.Exposure, level: int, via: int, kinds: dict[int, tuple[str, str]]
) -> rules.ContactLink:
    """The contact link of an overlap at a checkpoint, with its evidence as stored."""
    return rules.ContactLink(
        person_id=exposure.contact_person_id,
        level=level,
        source=rules.SOURCE_VISIT,
        via_person_id=via,
        risk=exposure.risk,
        last_exposure=exposure.end,
        evidence={
            "checkpoint_id": exposure.checkpoint_id,
            "checkpoint": kinds.get(exposure.checkpoint_id, ("", ""))[1],
            "case_visit_id": exposure.case_visit_id,
            "contact_visit_id": exposure.contact_visit_id,
            # Times stay datetimes until stored (``link_json``): most links found are never
            # written (only each person's strongest twenty are).
            "start": exposure.start,
            "end": exposure.end,
            "minutes": exposure.minutes,
            "certain_minutes": exposure.certain_minutes,
            "rule": exposure.rule,
        },
    )


def _link_fields(link: rules.ContactLink) -> dict[str, object]:
    """A link's entry of ``contacts.evidence``, its times still datetimes."""
    return {
        "level": link.level,
        "source": link.source,
        "via_person_id": link.via_person_id,
        "risk": link.risk,
        "last_exposure": link.last_exposure,
        **link.evidence,
    }


def link_json(link: rules.ContactLink) -> dict[str, object]:
    """A link as tracing stores it in ``contacts.evidence`` (times in ISO 8601)."""
    return {
        k: v.isoformat() if isinstance(v, datetime) else v for k, v in _link_fields(link).items()
    }


def links_of_evidence(person_id: int, evidence: str) -> list[rules.ContactLink]:
    """The links of a stored ``contacts.evidence`` (the inverse of ``link_json``); entries
    that cannot be read are left out."""
    try:
        entries = json.loads(evidence or "[]")
    except ValueError:
        return []
    links = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        rest = dict(entry)
        try:
            links.append(
                rules.ContactLink(
                    person_id=person_id,
                    level=int(rest.pop("level")),
                    source=str(rest.pop("source")),
                    via_person_id=int(rest.pop("via_person_id")),
                    risk=float(rest.pop("risk")),
                    last_exposure=datetime.fromisoformat(str(rest.pop("last_exposure"))),
                    evidence=rest,
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return links


def evidence_json(links: Sequence[rules.ContactLink]) -> str:
    """The ``contacts.evidence`` text of these links: the list of ``link_json`` entries, written
    by orjson (datetimes in the same ISO 8601 form), ~10x faster than json for the thousand
    contacts a busy venue gives a case."""
    return orjson.dumps([_link_fields(link) for link in links]).decode()


def _entry_person(entry: CaseEntry, by_number: dict[str, list[int]]) -> int:
    """The registry number of a line-list row's person (``open_case`` checks it exists)."""
    if entry.person_id is not None:
        return entry.person_id
    if not entry.id_number:
        raise Invalid("error.batch_no_person")
    found = by_number.get(entry.id_number, [])
    if not found:
        raise Invalid("error.unknown_id_number", number=entry.id_number)
    if len(found) > 1:
        raise Invalid("error.ambiguous_id_number", number=entry.id_number)
    return found[0]
