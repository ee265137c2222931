"""Recording scans as visits. Never commits; the request boundary does, before answering."""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import Principal
from phongdich.checkpoints import rules as checkpoint_rules
from phongdich.checkpoints.models import Checkpoint, Entrance
from phongdich.checkpoints.service import CheckpointService
from phongdich.config import Settings
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from phongdich.kit.i18n import t
from phongdich.people.models import Person
from phongdich.people.service import PersonService
from phongdich.visits import rules
from phongdich.visits.models import Visit
from phongdich.visits.repository import PlaceRow, ScanRepository, VisitRepository, VisitRow

CLOCK_SKEW = timedelta(minutes=5)
# A visit as an ORM object (pages) or a plain row (the check-in path): the same fields.
V = TypeVar("V", Visit, VisitRow)


@dataclass(frozen=True)
class ScanCommand:
    scan_id: str
    entrance_id: int
    person_id: int
    direction: str  # in | out | auto
    at: datetime
    in_method: str
    # The staff member (phone account) scanning; None when visitors scan the poster themselves.
    staff_id: int | None = None
    # A scanned personal health QR: its pseudonymous subject (hex) stands for the person (the
    # batch resolves it; ``person_id`` is 0 until then) and its signed colour ("card": none).
    subject: str | None = None
    qr_status: str | None = None


@dataclass(frozen=True)
class ScanOutcome:
    scan_id: str
    action: str  # check_in | check_out | duplicate | offer_check_out
    visit: VisitRow | None
    checkpoint: PlaceRow
    replayed: bool = False  # the same scan id was seen before: nothing new was recorded
    person_name: str = ""
    health: str | None = None  # the person's colour shown to the guard (green/yellow/red)

    def message(self, lang: str, person_name: str = "") -> str:
        return t(f"visit.{self.action}", lang, name=self.checkpoint.name, person=person_name)


def parse_scan_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError, TypeError) as exc:
        raise Invalid("error.scan_id") from exc


class VisitService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.repo = VisitRepository(session)
        self.checkpoints = CheckpointService(session, settings)
        self.people = PersonService(session, settings)

    def entrance(self, entrance_id: int) -> tuple[Entrance, Checkpoint]:
        entrance = self.checkpoints.repo.entrance(entrance_id)
        if entrance is None:
            raise NotFound("error.unknown_entrance")
        return entrance, self.checkpoints.get(entrance.checkpoint_id)

    def require_staff(self, principal: Principal, cp: Checkpoint) -> PhoneAccount:
        """The scanning account must be the owner or staff of this checkpoint."""
        if principal.account is None:
            raise Forbidden("error.not_staff")
        if self.checkpoints.repo.member(cp.id, principal.account.id) is None:
            raise Forbidden("error.not_staff")
        return principal.account

    def staff_check_in(
        self, scan_id: str, entrance_id: int, person: Person, staff: PhoneAccount, method: str
    ) -> ScanOutcome:
        """Staff record a person's arrival now (assisted check-in)."""
        return self.scan(
            ScanCommand(scan_id, entrance_id, person.id, "in", utcnow(), method, staff.id)
        )

    def scan(self, cmd: ScanCommand) -> ScanOutcome:
        """Record one scan; raises the DomainError that refused it."""
        [result] = self.scan_many([cmd])
        if isinstance(result, DomainError):
            raise result
        return result

    def scan_many(self, cmds: Sequence[ScanCommand]) -> list[ScanOutcome | DomainError]:
        """Record a batch of scans with a fixed number of queries, whatever its size.

        Each scan succeeds or is refused on its own (its DomainError is returned in its place,
        nothing stored for it); the caller's transaction commits the batch. Scans are applied in
        time order, so a batch queued offline replays as it happened.
        """
        if not cmds:
            return []
        hot = ScanRepository(self.session)
        # Two rounds of reads, each sent together (one round trip each on PostgreSQL).
        with hot.sql.together():
            found = hot.by_subjects({c.subject for c in cmds if c.subject})
            scanned = hot.scans({c.scan_id for c in cmds})
            located = hot.places({c.entrance_id for c in cmds})
            named = hot.names({c.person_id for c in cmds if c.subject is None})
        cmds, unknown, subject_names = _resolve_subjects(cmds, found.get())
        previous, places = scanned.get(), located.get()
        people = subject_names | named.get()
        now = utcnow()
        window = timedelta(seconds=self.settings.visit_dedupe_seconds)
        retention = timedelta(days=self.settings.visit_retention_days)
        times = [c.at for c in cmds if c.at.tzinfo is not None] or [now]
        with hot.sql.together():
            replayed = hot.visits({vid for vid, _action in previous.values() if vid})
            staffed = hot.memberships(
                {c.staff_id for c in cmds if c.staff_id}, {cp.id for _a, cp in places.values()}
            )
            lines = hot.timelines(
                set(people), min(times) - rules.LONGEST_VISIT, max(times) + rules.LONGEST_VISIT
            )
        earlier, members, timelines = replayed.get(), staffed.get(), lines.get()
        cards = {c.person_id for c in cmds if c.qr_status == "card" and c.person_id in people}
        card_colors = self.people.colors(sorted(cards), now) if cards else {}
        batch = _Batch(previous, earlier, timelines)
        results: list[ScanOutcome | DomainError | None] = [None] * len(cmds)
        order = sorted(range(len(cmds)), key=lambda i: cmds[i].at if cmds[i].at.tzinfo else now)
        for i in order:
            cmd = cmds[i]
            try:
                if i in unknown:
                    raise Invalid("error.person_qr")
                place = places.get(cmd.entrance_id)
                if place is None:
                    raise NotFound("error.unknown_entrance")
                entrance_active, cp = place
                replay = batch.replay(cmd.scan_id, cp)
                if replay is not None:
                    results[i] = replace(replay, person_name=people.get(cmd.person_id, ""))
                    continue
                if cmd.staff_id is not None and (cp.id, cmd.staff_id) not in members:
                    raise Forbidden("error.not_staff")
                if cmd.person_id not in people:
                    raise Invalid("error.person_qr")
                if cmd.direction not in rules.DIRECTIONS:
                    raise Invalid("error.direction")
                problem = rules.scan_time_problem(cmd.at, now, retention, CLOCK_SKEW)
                if problem is not None:
                    raise Invalid(f"error.scan_time_{problem}")
                state = checkpoint_rules.scan_state(cp.status, cp.starts_at, cp.ends_at, cmd.at)
                if state != "ok":
                    raise Conflict(
                        f"scan.{state}",
                        name=cp.name,
                        reason=cp.status_reason,
                        end=_fmt(cp.ends_at),
                        start=_fmt(cp.starts_at),
                    )
                if not entrance_active:
                    raise Conflict("scan.entrance_closed")
                outcome = self._apply(cmd, cp, batch, window, now)
                # A phone pass shows its signed colour; a printed card the current one.
                health = (
                    card_colors.get(cmd.person_id) if cmd.qr_status == "card" else cmd.qr_status
                )
                results[i] = replace(outcome, person_name=people[cmd.person_id], health=health)
            except DomainError as exc:
                results[i] = exc
        batch.store(hot, now)
        return [r for r in results if r is not None]

    def _apply(
        self, cmd: ScanCommand, cp: PlaceRow, batch: _Batch, window: timedelta, now: datetime
    ) -> ScanOutcome:
        timeline = batch.timelines.setdefault(cmd.person_id, [])
        open_visit = _open_at(timeline, cmd.at)
        decision = rules.decide(
            cp.id,
            cmd.direction,
            cmd.at,
            _for_rules(open_visit),
            window,
            by_staff=cmd.staff_id is not None,
        )
        if decision.action == "nothing_open":
            raise Conflict("error.nothing_to_check_out", name=cp.name)
        visit: VisitRow | None = open_visit if decision.existing_visit is not None else None
        if decision.close_visit is not None:
            assert open_visit is not None
            open_visit.check_out_at = cmd.at
            open_visit.out_method = decision.close_method
            if open_visit.id is not None:  # stored before this batch: an update
                batch.closed[open_visit.id] = open_visit
            if decision.action == "check_out":
                visit = open_visit
        action = decision.action
        if action == "check_in":
            auto_out = rules.auto_checkout_at(cp.type, cmd.at, cp.ends_at)
            following = _next_after(timeline, cmd.at)
            # A scan queued offline may arrive after later visits were recorded.
            action, _later, end = rules.fit_before_next(
                cp.id,
                cmd.at,
                auto_out,
                _for_rules(following),
                window,
            )
            if action == "duplicate":
                visit = following
            else:
                visit = VisitRow(
                    id=None,
                    checkpoint_id=cp.id,
                    entrance_id=cmd.entrance_id,
                    person_id=cmd.person_id,
                    check_in_at=cmd.at,
                    auto_out_at=auto_out,
                    check_out_at=end,
                    out_method=rules.OUT_SUPERSEDED if end else None,
                    in_method=cmd.in_method,
                    recorded_by=cmd.staff_id,
                )
                bisect.insort(timeline, visit, key=lambda v: v.check_in_at)
                batch.new_visits.append(visit)
        outcome = ScanOutcome(cmd.scan_id, action, visit, cp)
        batch.record(cmd, outcome, now)
        return outcome

    def open_visit(self, person: Person) -> tuple[Visit, Checkpoint] | None:
        """The person's visit open now, with its checkpoint (the same rule as scans use)."""
        now = utcnow()
        timeline = self.repo.timelines({person.id}, now - rules.LONGEST_VISIT, now)[person.id]
        visit = _open_at(timeline, now)
        return (visit, self.checkpoints.get(visit.checkpoint_id)) if visit else None


def _resolve_subjects(
    cmds: Sequence[ScanCommand], found: dict[str, tuple[int, str]]
) -> tuple[list[ScanCommand], set[int], dict[int, str]]:
    """Scans of health QR passes get the person their subject stands for; returns the
    commands, the positions of unknown subjects, and the names found."""
    resolved: list[ScanCommand] = []
    unknown: set[int] = set()
    for i, cmd in enumerate(cmds):
        if cmd.subject:
            person = found.get(cmd.subject)
            if person is None:
                unknown.add(i)
            else:
                cmd = replace(cmd, person_id=person[0])
        resolved.append(cmd)
    return resolved, unknown, {pid: name for pid, name in found.values()}


def _for_rules(visit: VisitRow | None) -> rules.OpenVisit | None:
    """A visit as the pure rules see it. Visits made earlier in the same batch have no database
    id yet, so the handle is the object's identity; the service maps decisions back to the
    object it passed, never through this id."""
    if visit is None:
        return None
    return rules.OpenVisit(id(visit), visit.checkpoint_id, visit.check_in_at)


def _open_at(timeline: Sequence[V], at: datetime) -> V | None:
    """The visit of this (check-in ordered) timeline that is open at ``at``."""
    for visit in reversed(timeline):
        if visit.check_in_at <= at:
            ended = (visit.check_out_at is not None and visit.check_out_at <= at) or (
                visit.auto_out_at <= at
            )
            return None if ended else visit
    return None


def _next_after(timeline: Sequence[V], at: datetime) -> V | None:
    for visit in timeline:
        if visit.check_in_at > at:
            return visit
    return None


class _Batch:
    """What one scan_many call has loaded and what it will store."""

    def __init__(
        self,
        previous: dict[str, tuple[int | None, str]],
        earlier: dict[int, VisitRow],
        timelines: dict[int, list[VisitRow]],
    ) -> None:
        self.previous, self.earlier, self.timelines = previous, earlier, timelines
        self.new_visits: list[VisitRow] = []
        self.closed: dict[int, VisitRow] = {}  # stored visits this batch checked out
        self.recorded: dict[str, tuple[ScanOutcome, datetime]] = {}

    def replay(self, scan_id: str, cp: PlaceRow) -> ScanOutcome | None:
        """The earlier answer to a scan id already seen (stored, or earlier in this batch)."""
        stored = self.previous.get(scan_id)
        if stored is not None:
            visit_id, action = stored
            visit = self.earlier.get(visit_id) if visit_id else None
            return ScanOutcome(scan_id, action, visit, cp, replayed=True)
        seen = self.recorded.get(scan_id)
        if seen is not None:
            first = seen[0]
            return ScanOutcome(scan_id, first.action, first.visit, first.checkpoint, replayed=True)
        return None

    def record(self, cmd: ScanCommand, outcome: ScanOutcome, now: datetime) -> None:
        self.recorded[cmd.scan_id] = (outcome, cmd.at)

    def store(self, repo: ScanRepository, now: datetime) -> None:
        """New visits first (their ids are needed), then check-outs of stored visits, then one
        scan row per recorded scan id."""
        repo.insert_visits(self.new_visits, now)
        repo.close_visits(list(self.closed.values()))
        repo.insert_scans(
            [
                (scan_id, outcome.visit.id if outcome.visit else None, outcome.action, at, now)
                for scan_id, (outcome, at) in self.recorded.items()
            ]
        )


def _fmt(dt: datetime | None) -> str:
    from phongdich.kit.clock import fmt_local

    return fmt_local(dt)
