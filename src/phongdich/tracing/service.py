"""Tracing: open a confirmed case (F0), find its contacts F1 → F2 from visits, households and
reports, keep one entry per person with its strongest evidence, and follow them up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from phongdich.accounts.models import Official
from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.geo.service import UnitService
from phongdich.kit.clock import fmt_local, utcnow
from phongdich.kit.errors import Forbidden, Invalid, NotFound
from phongdich.kit.i18n import t
from phongdich.people.models import Person
from phongdich.tracing import rules
from phongdich.tracing.models import Case, Contact, ContactReport, ExposurePlace
from phongdich.tracing.repository import TracingRepository, VisitRow
from phongdich.visits.rules import OUT_AUTOMATIC, OUT_SUPERSEDED

CASE_SOURCES = ("community", "imported", "cluster", "unknown")
FOLLOW_UP = ("to_call", "notified", "quarantined", "tested", "cleared", "lost")
# An F1 may pass the virus on from the exposure on, for this long.
F1_INFECTIOUS = timedelta(days=14)


@dataclass(frozen=True)
class TraceSummary:
    case_id: int
    f1: int
    f2: int
    by_source: dict[str, int]
    seconds: float


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

    def case_for(self, official: Official, case_id: int) -> Case:
        case = self.repo.case(case_id)
        if case is None:
            raise NotFound()
        if not self.accounts.can_see_unit(official, case.unit_code):
            raise Forbidden("error.outside_jurisdiction")
        return case

    # Tracing ----------------------------------------------------------------------------------
    def trace(self, case: Case, depth: int | None = None) -> TraceSummary:
        """Find every contact of the case down to ``depth`` (1 = F1 only, 2 = F1 + F2…) and
        store one entry per person with its strongest link; follow-up status and assignment of
        people already listed are kept."""
        started = utcnow()
        depth = depth or self.settings.trace_depth
        now = started
        overlap = self.overlap_rules()
        window = (case.window_start, min(case.window_end, now))
        links: list[rules.ContactLink] = []
        case_links = self._visit_links({case.person_id: window}, level=1, overlap=overlap, now=now)
        links += case_links
        for member in self.repo.household_of(case.person_id):
            links.append(
                rules.ContactLink(
                    person_id=member,
                    level=1,
                    source="household",
                    via_person_id=case.person_id,
                    risk=rules.SOURCE_RISK["household"],
                    last_exposure=window[1],
                    evidence={"household": True},
                )
            )
        for report in self.repo.reports(case.id):
            links.append(
                rules.ContactLink(
                    person_id=report.person_id,
                    level=1,
                    source=report.source,
                    via_person_id=case.person_id,
                    risk=rules.SOURCE_RISK.get(report.source, 1.0),
                    last_exposure=report.exposed_at,
                    evidence={"report": report.id, "note": report.note},
                )
            )
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
            found = self._visit_links(windows, level=level, overlap=overlap, now=now)
            links += found
            if level >= depth:
                break  # the last level: nobody's contacts are looked for after it
            closer = {x.person_id for x in links if x.level < level}  # once, not per person
            frontier = {
                pid: link for pid, link in rules.strongest(found).items() if pid not in closer
            }
        evidence = rules.merge_evidence(x for x in links if x.person_id != case.person_id)
        best = rules.strongest(x for x in links if x.person_id != case.person_id)
        self._store(case, best, evidence)
        case.traced_at = utcnow()
        counts: dict[str, int] = {}
        for link in best.values():
            counts[link.source] = counts.get(link.source, 0) + 1
        return TraceSummary(
            case_id=case.id,
            f1=sum(1 for x in best.values() if x.level == 1),
            f2=sum(1 for x in best.values() if x.level == 2),
            by_source=counts,
            seconds=(utcnow() - started).total_seconds(),
        )

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
        candidates = self.repo.present_at(ranges)
        kinds = self.repo.checkpoint_types({r.checkpoint_id for r in sources})
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
                found.append(
                    rules.ContactLink(
                        person_id=exposure.contact_person_id,
                        level=level,
                        source="visit",
                        via_person_id=pid,
                        risk=exposure.risk,
                        last_exposure=exposure.end,
                        evidence={
                            "checkpoint_id": exposure.checkpoint_id,
                            "checkpoint": kinds.get(exposure.checkpoint_id, ("", ""))[1],
                            "case_visit_id": exposure.case_visit_id,
                            "contact_visit_id": exposure.contact_visit_id,
                            "start": exposure.start.isoformat(),
                            "end": exposure.end.isoformat(),
                            "minutes": exposure.minutes,
                            "certain_minutes": exposure.certain_minutes,
                            "rule": exposure.rule,
                        },
                    )
                )
        return found

    def _store(
        self,
        case: Case,
        best: dict[int, rules.ContactLink],
        evidence: dict[int, list[rules.ContactLink]],
    ) -> None:
        existing = self.repo.contacts(case.id)
        people = self.repo.people(set(best) - set(existing))
        stale = [pid for pid in existing if pid not in best]
        self.repo.remove_contacts(case.id, stale)
        new: list[Contact] = []
        now = utcnow()
        for pid, link in best.items():
            proof = json.dumps(
                [_link_json(x) for x in evidence.get(pid, [link])[:20]],
                ensure_ascii=False,
            )
            row = existing.get(pid)
            if row is None:
                person = people.get(pid)
                row = Contact(
                    case_id=case.id,
                    person_id=pid,
                    status="to_call",
                    assigned_unit=person.unit_code if person else None,
                )
                new.append(row)
            row.level, row.source, row.via_person_id = link.level, link.source, link.via_person_id
            row.risk, row.last_exposure, row.evidence = link.risk, link.last_exposure, proof
            row.updated_at = now
        self.repo.add_contacts(new)

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
        case = self.case_for(official, contact.case_id)
        del case
        contact.status, contact.updated_at = status, utcnow()
        return contact

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
        """Queue a templated warning to each matching contact through the notifier (outbox,
        retried, delivery state kept on the message). The text names the place and the day,
        never the case. People without a phone are reached through a phone of their household;
        nobody's e-mail is known, so e-mail is not offered."""
        for channel in channels:
            if channel not in ("sms", "ott"):
                raise Invalid("error.warn_channel")
        from phongdich.notify.service import Notifier

        notifier = Notifier(self.session)
        rows = self.repo.contact_list(case.id, level=level, limit=100_000)
        phones = self.repo.household_phones([p.id for c, p in rows if not p.phone])
        counts = {"warned": 0, "no_phone": 0, "skipped": 0}
        now = utcnow()
        for contact, person in rows:
            if contact.status not in statuses:
                counts["skipped"] += 1
                continue
            phone = person.phone or phones.get(person.id)
            if not phone:
                counts["no_phone"] += 1
                continue
            place, day = self._where_when(contact)
            message = None
            for channel in channels:
                text = t(f"{channel}.exposure", "vi", place=place, date=day)
                message = notifier.send(channel, phone, text, f"exposure:{contact.id}")
            contact.warned_at = now
            contact.warning_message_id = message.id if message else None
            if contact.status == "to_call":
                contact.status = "notified"
            counts["warned"] += 1
        self.accounts.audit(
            principal, "warn_contacts", "case", case.id, json.dumps(counts, ensure_ascii=False)
        )
        return counts

    def _where_when(self, contact: Contact) -> tuple[str, str]:
        evidence = json.loads(contact.evidence or "[]")
        visit = next((e for e in evidence if e.get("source") == "visit"), None)
        place = str(visit.get("checkpoint", "")) if visit else ""
        if not place:
            place = t("exposure.household", "vi")
        return place, fmt_local(contact.last_exposure).split(" ")[0]

    # Published exposure places ----------------------------------------------------------------
    def publish(self, principal: Principal, official: Official, case: Case) -> list[ExposurePlace]:
        """Publish where the case was while infectious (checkpoint and time, nothing else), for
        the public map and citizens' self-check; publishing again adds nothing twice."""
        margin = timedelta(minutes=self.settings.trace_after_margin_minutes)
        now = utcnow()
        window = (case.window_start, min(case.window_end, now))
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

    def my_exposures(self, person_id: int, days: int = 14) -> list[dict[str, object]]:
        """A citizen's own visits that overlap a published exposure place, each with why."""
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
                            "vi",
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


def _link_json(link: rules.ContactLink) -> dict[str, object]:
    return {
        "level": link.level,
        "source": link.source,
        "via_person_id": link.via_person_id,
        "risk": link.risk,
        "last_exposure": link.last_exposure.isoformat(),
        **dict(link.evidence),
    }
