"""Recording scans as visits. Never commits; the request boundary does, before answering."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from phongdich.accounts.models import PhoneAccount
from phongdich.accounts.service import Principal
from phongdich.checkpoints import rules as checkpoint_rules
from phongdich.checkpoints.models import Checkpoint, Entrance
from phongdich.checkpoints.service import CheckpointService
from phongdich.config import Settings
from phongdich.kit.clock import utcnow
from phongdich.kit.errors import Conflict, Forbidden, Invalid, NotFound
from phongdich.kit.i18n import t
from phongdich.people.models import Person
from phongdich.people.service import PersonService
from phongdich.visits import rules
from phongdich.visits.models import Scan, Visit
from phongdich.visits.repository import VisitRepository

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ScanCommand:
    scan_id: str
    entrance: Entrance
    person: Person
    direction: str  # in | out | auto
    at: datetime
    in_method: str
    staff: PhoneAccount | None = None


@dataclass(frozen=True)
class ScanOutcome:
    scan_id: str
    action: str  # check_in | check_out | duplicate | offer_check_out
    visit: Visit | None
    checkpoint: Checkpoint
    replayed: bool = False  # the same scan id was seen before: nothing new was recorded

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

    def scan(self, cmd: ScanCommand) -> ScanOutcome:
        previous = self.repo.scan(cmd.scan_id)
        cp = self.checkpoints.get(cmd.entrance.checkpoint_id)
        if previous is not None:
            seen = self.repo.visit(previous.visit_id) if previous.visit_id else None
            return ScanOutcome(cmd.scan_id, previous.action, seen, cp, replayed=True)
        now = utcnow()
        problem = rules.scan_time_problem(
            cmd.at, now, timedelta(days=self.settings.visit_retention_days), CLOCK_SKEW
        )
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
        if not cmd.entrance.is_active:
            raise Conflict("scan.entrance_closed")
        open_visit = self.repo.open_visit_at(cmd.person.id, cmd.at)
        decision = rules.decide(
            cp.id,
            cmd.direction,
            cmd.at,
            open_visit,
            timedelta(seconds=self.settings.visit_dedupe_seconds),
            by_staff=cmd.staff is not None,
        )
        if decision.action == "nothing_open":
            raise Conflict("error.nothing_to_check_out", name=cp.name)
        visit: Visit | None = None
        if decision.close_visit is not None:
            closed = self.repo.visit(decision.close_visit)
            assert closed is not None
            closed.check_out_at = cmd.at
            closed.out_method = decision.close_method
            if decision.action == "check_out":
                visit = closed
        action = decision.action
        if action == "check_in":
            auto_out = rules.auto_checkout_at(cp.type, cmd.at, cp.ends_at)
            # A scan queued offline may arrive after later visits were recorded.
            action, later_visit, end = rules.fit_before_next(
                cp.id,
                cmd.at,
                auto_out,
                self.repo.next_visit_after(cmd.person.id, cmd.at),
                timedelta(seconds=self.settings.visit_dedupe_seconds),
            )
            if action == "duplicate":
                visit = self.repo.visit(later_visit) if later_visit else None
            else:
                visit = Visit(
                    checkpoint_id=cp.id,
                    entrance_id=cmd.entrance.id,
                    person_id=cmd.person.id,
                    check_in_at=cmd.at,
                    auto_out_at=auto_out,
                    check_out_at=end,
                    out_method=rules.OUT_SUPERSEDED if end else None,
                    in_method=cmd.in_method,
                    recorded_by=cmd.staff.id if cmd.staff else None,
                )
                self.repo.add(visit)
        elif decision.existing_visit is not None:
            visit = self.repo.visit(decision.existing_visit)
        self.repo.add(
            Scan(
                id=cmd.scan_id,
                visit_id=visit.id if visit else None,
                action=action,
                scanned_at=cmd.at,
                received_at=now,
            )
        )
        return ScanOutcome(cmd.scan_id, action, visit, cp)

    def open_visit(self, person: Person) -> tuple[Visit, Checkpoint] | None:
        found = self.repo.open_visit_at(person.id, utcnow())
        if found is None:
            return None
        visit = self.repo.visit(found.visit_id)
        assert visit is not None
        return visit, self.checkpoints.get(visit.checkpoint_id)


def _fmt(dt: datetime | None) -> str:
    from phongdich.kit.clock import fmt_local

    return fmt_local(dt)
