"""Tracing rules: who is a contact of a confirmed case (F0), and how strongly. Pure, stdlib only.

This is the text to read when someone asks "why is this person F1?".

1. The infectious window (``infectious_window``)
   A case counts as infectious from 2 days before symptom onset. A case without symptoms counts
   from 2 days before the positive test. When symptoms began only after the test, the earlier of
   the two starts is used, because the positive test already shows the person was infected then.
   The window ends when the case was isolated; a case not yet isolated is still infectious, so
   the window runs until now. Obviously wrong dates are refused instead of guessed: a test in the
   future, symptoms more than 14 days after the test or more than 30 days before it, symptoms in
   the future, an isolation in the future or before the window starts, and times without a time
   zone. (Up to 5 minutes "in the future" is allowed for clock differences between devices.)

2. Being at the same place at the same time (``expose``)
   Only the part of the case's visit inside the infectious window counts. The air stays risky
   after the case leaves, so the case's stay is extended by 30 minutes (the "aerosol" margin, as
   in Germany's Corona-Warn-App), counted from when the case left or from the end of the window,
   whichever comes first. Somebody else who checked in at the same checkpoint and shared at least
   15 minutes with that extended stay is an exposure. Exactly 15 minutes counts; 14 minutes 59
   seconds does not. A visit made entirely before the window started is ignored.

   Some kinds of place have their own rules (``OverlapRules.per_type``):
   - meeting room: 5 minutes are enough, but only people who scanned the same room (entrance)
     count, and the risk is 1.5 times higher (small closed room);
   - event: risk 1.2 times higher (crowded);
   - traffic post: 1 minute counts, there is no aerosol margin (open air, people pass by), and
     the risk is 0.3 times the usual;
   - outdoor place, park: risk 0.5 times the usual.
   Every other kind of place uses the default rule. ``Exposure.rule`` names the rule that decided
   ("default" or "type:meeting_room", …).

3. Estimated check-out times
   Many people never scan out; their visit is then closed automatically (after the usual length
   of a visit at that kind of place) or when they check in somewhere else. Such an end is an
   estimate. Overlap that lies after the earliest estimated end of the two visits relies on that
   estimate and weighs half (``estimated_factor``). ``certain_minutes`` is the rest. In practice
   this is the aerosol margin added after a case's estimated check-out: the case may have left
   much earlier, so the margin is less sure.

4. Risk
   risk = (certain minutes + 0.5 × estimated minutes) / 15 × the place's risk factor.
   1.0 means "15 minutes together at an ordinary place"; 4.0 means an hour. Contacts from other
   sources get a fixed risk (``SOURCE_RISK``): living in the same household is 3.0, the
   strongest; the same address without a declared household 2.0; contacts named in an
   interview, travelling on the same trip (movement declarations), or from Bluetooth are 1.0.

5. F1, F2 and the strongest link (``strongest``)
   F1 is a contact of the case, F2 a contact of an F1, and so on. One person may be linked many
   times (several visits, the household, an interview). The link shown is the strongest: the
   closest level first (F1 beats F2 whatever the risks), then the highest risk, then the latest
   exposure. Every link is kept as evidence (``merge_evidence``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType

# --- The infectious window -------------------------------------------------------------------

# WindowError codes (stable: the web layer translates them into messages).
NAIVE = "naive"
TEST_FUTURE = "test_future"
ONSET_AFTER_TEST = "onset_after_test"
ONSET_TOO_EARLY = "onset_too_early"
ONSET_FUTURE = "onset_future"
ISOLATED_FUTURE = "isolated_future"
ISOLATED_BEFORE_START = "isolated_before_start"


class WindowError(ValueError):
    """The dates of a case cannot give an infectious window; ``code`` says why."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


@dataclass(frozen=True)
class WindowRules:
    # Infectious from this long before symptom onset…
    before_onset: timedelta = timedelta(days=2)
    # …or before the positive test when there are no symptoms.
    before_test: timedelta = timedelta(days=2)
    # An onset earlier than this before the test is bad input (a typo in the year, usually).
    max_onset_before_test: timedelta = timedelta(days=30)
    # Symptoms may start days after a positive test, not weeks or years.
    max_onset_after_test: timedelta = timedelta(days=14)
    # Device clocks differ a little: times up to this far "in the future" are accepted.
    clock_skew: timedelta = timedelta(minutes=5)


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def infectious_window(
    test_at: datetime,
    onset_at: datetime | None,
    isolated_at: datetime | None,
    now: datetime,
    rules: WindowRules = WindowRules(),
) -> tuple[datetime, datetime]:
    """(start, end) of the time the case could infect others; raises ``WindowError``."""
    moments = [test_at, now]
    moments += [m for m in (onset_at, isolated_at) if m is not None]
    if not all(_is_aware(m) for m in moments):
        raise WindowError(NAIVE)
    latest_acceptable = now + rules.clock_skew
    if test_at > latest_acceptable:
        raise WindowError(TEST_FUTURE)
    start = test_at - rules.before_test
    if onset_at is not None:
        if onset_at > test_at + rules.max_onset_after_test:
            raise WindowError(ONSET_AFTER_TEST)
        if onset_at < test_at - rules.max_onset_before_test:
            raise WindowError(ONSET_TOO_EARLY)
        if onset_at > latest_acceptable:
            raise WindowError(ONSET_FUTURE)
        # Onset usually precedes the test, making this the earlier start. When symptoms came
        # after a positive test, the test-based start is earlier and is kept (the person was
        # already infected at the test; starting later would miss contacts).
        start = min(start, onset_at - rules.before_onset)
    if isolated_at is None:
        return start, now
    if isolated_at > latest_acceptable:
        raise WindowError(ISOLATED_FUTURE)
    if isolated_at < start:
        raise WindowError(ISOLATED_BEFORE_START)
    return start, isolated_at


# --- Overlap of visits -----------------------------------------------------------------------

# Checkpoint types with their own overlap rule. NOTE: "meeting_room", "outdoor" and "park" are
# not checkpoint types of phongdich.checkpoints.rules.TYPES; the caller may set
# Stay.checkpoint_type = TYPE_MEETING_ROOM for visits scanned at an entrance of kind "room".
TYPE_MEETING_ROOM = "meeting_room"
TYPE_EVENT = "event"
TYPE_TRAFFIC_POST = "traffic_post"
TYPE_OUTDOOR = "outdoor"
TYPE_PARK = "park"

RULE_DEFAULT = "default"


@dataclass(frozen=True)
class Stay:
    """One visit as tracing sees it."""

    visit_id: int
    person_id: int
    checkpoint_id: int
    entrance_id: int | None
    start: datetime  # check-in (aware)
    end: datetime  # check-out, or the estimated one
    end_estimated: bool  # True when nobody scanned out (automatic or superseded check-out)
    checkpoint_type: str = ""


@dataclass(frozen=True)
class TypeRule:
    """Overrides for one checkpoint type; None keeps the default."""

    min_overlap: timedelta | None = None
    after_margin: timedelta | None = None
    same_entrance: bool | None = None  # rooms: only people in the same room/entrance count
    risk_factor: float | None = None


@dataclass(frozen=True)
class ResolvedRule:
    """The rule in force for one checkpoint type, defaults filled in."""

    name: str  # "default" or "type:<checkpoint type>"
    min_overlap: timedelta
    after_margin: timedelta
    same_entrance: bool
    risk_factor: float


DEFAULT_TYPE_RULES: Mapping[str, TypeRule] = MappingProxyType(
    {
        # Small closed room: short contact is enough, but another room is not a contact.
        TYPE_MEETING_ROOM: TypeRule(
            min_overlap=timedelta(minutes=5), same_entrance=True, risk_factor=1.5
        ),
        TYPE_EVENT: TypeRule(risk_factor=1.2),
        # People pass a traffic post in the open air: any shared minute is recorded, with a low
        # weight and no lingering air.
        TYPE_TRAFFIC_POST: TypeRule(
            min_overlap=timedelta(minutes=1), after_margin=timedelta(0), risk_factor=0.3
        ),
        TYPE_OUTDOOR: TypeRule(risk_factor=0.5),
        TYPE_PARK: TypeRule(risk_factor=0.5),
    }
)


@dataclass(frozen=True)
class OverlapRules:
    min_overlap: timedelta = timedelta(minutes=15)
    after_margin: timedelta = timedelta(minutes=30)  # the F0's stay is extended by this (aerosol)
    same_entrance: bool = False
    estimated_factor: float = 0.5  # risk weight of overlap that relies on an estimated check-out
    # hash=False keeps OverlapRules hashable (a mapping is not); equality still compares it.
    per_type: Mapping[str, TypeRule] = field(default_factory=lambda: DEFAULT_TYPE_RULES, hash=False)

    def for_type(self, checkpoint_type: str) -> ResolvedRule:
        """The effective rule at a checkpoint of this type (unknown types: the defaults)."""
        override = self.per_type.get(checkpoint_type)
        if override is None:
            return ResolvedRule(
                RULE_DEFAULT,
                self.min_overlap,
                self.after_margin,
                self.same_entrance,
                1.0,
            )
        return ResolvedRule(
            f"type:{checkpoint_type}",
            self.min_overlap if override.min_overlap is None else override.min_overlap,
            self.after_margin if override.after_margin is None else override.after_margin,
            self.same_entrance if override.same_entrance is None else override.same_entrance,
            1.0 if override.risk_factor is None else override.risk_factor,
        )


@dataclass(frozen=True)
class Exposure:
    case_visit_id: int
    contact_visit_id: int
    contact_person_id: int
    checkpoint_id: int
    start: datetime  # of the overlap
    end: datetime
    minutes: float  # overlap length in minutes
    certain_minutes: float  # the part that does not rely on an estimated end (of either stay)
    rule: str  # which rule decided
    risk: float


# Risk 1.0 = this many minutes together at an ordinary place.
RISK_UNIT_MINUTES = 15.0


def _minutes(span: timedelta) -> float:
    return span.total_seconds() / 60


def expose(
    case: Stay,
    contact: Stay,
    window: tuple[datetime, datetime],
    rules: OverlapRules = OverlapRules(),
) -> Exposure | None:
    """The exposure of ``contact`` to the case during ``case``'s stay, or None."""
    if case.person_id == contact.person_id or case.checkpoint_id != contact.checkpoint_id:
        return None
    rule = rules.for_type(case.checkpoint_type or contact.checkpoint_type)
    return _expose(case, contact, window, rule, rules.estimated_factor)


def _expose(
    case: Stay,
    contact: Stay,
    window: tuple[datetime, datetime],
    rule: ResolvedRule,
    estimated_factor: float,
) -> Exposure | None:
    """``expose`` with the rule already resolved (same checkpoint, different people)."""
    # A room rule excludes another room only when both rooms are known: a scan of the
    # checkpoint's general code (no entrance) could have been in any room, so it is kept.
    if (
        rule.same_entrance
        and case.entrance_id is not None
        and contact.entrance_id is not None
        and case.entrance_id != contact.entrance_id
    ):
        return None
    window_start, window_end = window
    # The case's presence while infectious; nothing when the stay lies outside the window.
    present_from = max(case.start, window_start)
    present_to = min(case.end, window_end)
    if present_to <= present_from:
        return None
    # The air stays risky after the case leaves (or is isolated).
    risky_to = present_to + rule.after_margin
    start = max(present_from, contact.start)
    end = min(risky_to, contact.end)
    span = end - start
    if span <= timedelta(0) or span < rule.min_overlap:
        return None
    estimated_ends = [s.end for s in (case, contact) if s.end_estimated]
    if estimated_ends:
        certain_end = min(end, *estimated_ends)
        certain = max(certain_end - start, timedelta(0))
    else:
        certain = span
    minutes, certain_minutes = _minutes(span), _minutes(certain)
    weighted = certain_minutes + estimated_factor * (minutes - certain_minutes)
    return Exposure(
        case_visit_id=case.visit_id,
        contact_visit_id=contact.visit_id,
        contact_person_id=contact.person_id,
        checkpoint_id=case.checkpoint_id,
        start=start,
        end=end,
        minutes=minutes,
        certain_minutes=certain_minutes,
        rule=rule.name,
        risk=round(weighted / RISK_UNIT_MINUTES * rule.risk_factor, 2),
    )


def exposures(
    case_stays: Sequence[Stay],
    candidates: Sequence[Stay],
    window: tuple[datetime, datetime],
    rules: OverlapRules = OverlapRules(),
) -> list[Exposure]:
    """Every exposure of ``candidates`` to the case's stays, sorted by time.

    Candidates are grouped by checkpoint so each case stay is compared only with visits at the
    same place (the caller should already have narrowed them to the window by a range query).
    """
    by_checkpoint: dict[int, list[Stay]] = defaultdict(list)
    for stay in candidates:
        by_checkpoint[stay.checkpoint_id].append(stay)
    found: list[Exposure] = []
    resolved: dict[str, ResolvedRule] = {}
    for case in case_stays:
        here = by_checkpoint.get(case.checkpoint_id)
        if not here:
            continue
        for contact in here:
            if contact.person_id == case.person_id:
                continue
            kind = case.checkpoint_type or contact.checkpoint_type
            rule = resolved.get(kind)
            if rule is None:
                rule = resolved[kind] = rules.for_type(kind)
            exposure = _expose(case, contact, window, rule, rules.estimated_factor)
            if exposure is not None:
                found.append(exposure)
    found.sort(key=lambda e: (e.start, e.case_visit_id, e.contact_visit_id))
    return found


# --- Contacts, levels and the strongest link -------------------------------------------------

SOURCE_VISIT = "visit"
SOURCE_HOUSEHOLD = "household"
SOURCE_ADDRESS = "address"  # the same address as written, in the same commune (no household)
SOURCE_DECLARED = "declared"  # the same trip in movement declarations (vehicle/flight, date)
SOURCE_MANUAL = "manual"
SOURCE_BLUETOOTH = "bluetooth"
# Also the tie-break order between links that are equal in level, risk and time.
SOURCES = (
    SOURCE_HOUSEHOLD,
    SOURCE_ADDRESS,
    SOURCE_VISIT,
    SOURCE_DECLARED,
    SOURCE_MANUAL,
    SOURCE_BLUETOOTH,
)

# Default risks of the non-visit sources (visits compute theirs from the overlap).
SOURCE_RISK: Mapping[str, float] = MappingProxyType(
    {
        SOURCE_HOUSEHOLD: 3.0,  # living together: the strongest contact
        SOURCE_ADDRESS: 2.0,  # the same dwelling, not declared as one household
        SOURCE_DECLARED: 1.0,
        SOURCE_MANUAL: 1.0,
        SOURCE_BLUETOOTH: 1.0,
    }
)


@dataclass(frozen=True)
class ContactLink:
    """One reason a person is a contact."""

    person_id: int
    level: int  # 1 = F1 (contact of the case), 2 = F2 (contact of an F1), …
    source: str  # "visit" | "household" | "declared" | "manual" | "bluetooth"
    via_person_id: int  # the case (for F1) or the F1 (for F2) this link comes from
    risk: float
    last_exposure: datetime
    # JSON-able: visit ids, overlap minutes, rule, checkpoint… Left out of the hash (a dict is
    # not hashable) so links can still go into sets; equality compares it.
    evidence: Mapping[str, object] = field(hash=False)


def link_from_exposure(exposure: Exposure, via_person_id: int, level: int = 1) -> ContactLink:
    """The contact link an exposure at a checkpoint gives (evidence in one agreed shape)."""
    return ContactLink(
        person_id=exposure.contact_person_id,
        level=level,
        source=SOURCE_VISIT,
        via_person_id=via_person_id,
        risk=exposure.risk,
        last_exposure=exposure.end,
        evidence={
            "checkpoint_id": exposure.checkpoint_id,
            "case_visit_id": exposure.case_visit_id,
            "contact_visit_id": exposure.contact_visit_id,
            "start": exposure.start.isoformat(),
            "end": exposure.end.isoformat(),
            "minutes": round(exposure.minutes, 1),
            "certain_minutes": round(exposure.certain_minutes, 1),
            "rule": exposure.rule,
        },
    )


def _strength_key(link: ContactLink) -> tuple[int, float, float, int, str, int, str]:
    """Sort key, strongest first. The last items only break exact ties, so the result never
    depends on the order links were found in."""
    rank = SOURCES.index(link.source) if link.source in SOURCES else len(SOURCES)
    return (
        link.level,
        -link.risk,
        -link.last_exposure.timestamp(),
        rank,
        link.source,
        link.via_person_id,
        json.dumps(link.evidence, sort_keys=True, default=str),
    )


def merge_evidence(links: Iterable[ContactLink]) -> dict[int, list[ContactLink]]:
    """Every link per person (by person id), strongest first — for the evidence panel."""
    per_person: dict[int, list[ContactLink]] = defaultdict(list)
    for link in links:
        per_person[link.person_id].append(link)
    return {
        person_id: found if len(found) == 1 else sorted(found, key=_strength_key)
        for person_id, found in sorted(per_person.items())
    }


def strongest(links: Iterable[ContactLink]) -> dict[int, ContactLink]:
    """One link per person: the lowest level, then the highest risk, then the latest exposure."""
    return strongest_of(merge_evidence(links))


def strongest_of(evidence: Mapping[int, list[ContactLink]]) -> dict[int, ContactLink]:
    """The strongest link per person of ``merge_evidence``'s result (its first)."""
    return {person_id: found[0] for person_id, found in evidence.items()}


# --- Trips in movement declarations ------------------------------------------------------------


def trip_key(transport: str, vehicle_no: str, travel_date: date) -> str | None:
    """What two movement declarations share when their authors travelled together: the means
    of transport, the vehicle (plate, flight or train number; spaces and dashes ignored,
    upper case) and the day. None when no vehicle is given (a trip by one's own means)."""
    vehicle = "".join(ch for ch in vehicle_no.upper() if ch.isalnum())
    if not vehicle:
        return None
    return f"{transport}:{vehicle}:{travel_date.isoformat()}"


def trip_day(key: str) -> date:
    """The travel day of a ``trip_key``."""
    return date.fromisoformat(key.rsplit(":", 1)[1])
