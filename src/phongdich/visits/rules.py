"""Visit rules — pure, no framework or database.

Given a scan (who, where, when, which direction) and the person's visit that was open at that
moment, ``decide`` says what to record. Check-outs record how they happened, so tracing knows
which end times are estimates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Default visit length per checkpoint type, after which a visit is checked out automatically.
DEFAULT_DURATIONS: dict[str, timedelta] = {
    "office": timedelta(hours=9),
    "meeting_hall": timedelta(hours=4),
    "market": timedelta(hours=1),
    "supermarket": timedelta(hours=2),
    "school": timedelta(hours=9),
    "hospital": timedelta(hours=3),
    "pharmacy": timedelta(minutes=30),
    "restaurant": timedelta(hours=2),
    "lodging": timedelta(hours=14),
    "station": timedelta(hours=2),
    "factory": timedelta(hours=9),
    "construction": timedelta(hours=9),
    "tourist_site": timedelta(hours=4),
    "religious_site": timedelta(hours=2),
    "traffic_post": timedelta(minutes=5),
    "residential": timedelta(hours=12),
    "event": timedelta(hours=8),
    "other": timedelta(hours=3),
}
# No visit lasts longer than this: it bounds the range scans of tracing.
LONGEST_VISIT = max(DEFAULT_DURATIONS.values())

# How check-ins and check-outs happened.
IN_METHODS = ("self", "staff_scan", "reader", "assisted_sms", "assisted_proxy")
OUT_SCANNED, OUT_AUTOMATIC, OUT_SUPERSEDED, OUT_STAFF = (
    "scanned",
    "automatic",
    "superseded",
    "staff",
)
OUT_METHODS = (OUT_SCANNED, OUT_AUTOMATIC, OUT_SUPERSEDED, OUT_STAFF)

DIRECTIONS = ("in", "out", "auto")


def longest_visit(checkpoint_type: str) -> timedelta:
    """The longest a visit to a checkpoint of this type can last: its automatic check-out (a
    check-out or a check-in elsewhere only ends it earlier)."""
    return DEFAULT_DURATIONS.get(checkpoint_type, DEFAULT_DURATIONS["other"])


def auto_checkout_at(
    checkpoint_type: str, check_in: datetime, event_end: datetime | None
) -> datetime:
    """When a visit that nobody checks out ends: the type's default length, or the event's end."""
    end = check_in + longest_visit(checkpoint_type)
    if event_end is not None and check_in < event_end < end:
        return event_end
    return end


@dataclass(frozen=True)
class OpenVisit:
    """The person's visit that was open at the scan time (checked in, not yet out)."""

    visit_id: int
    checkpoint_id: int
    check_in: datetime


@dataclass(frozen=True)
class Decision:
    action: str  # check_in | check_out | duplicate | offer_check_out | nothing_open
    # The open visit this scan closes: at the same checkpoint (check_out), or elsewhere
    # (superseded by this check-in, closed at the new check-in time).
    close_visit: int | None = None
    close_method: str | None = None
    existing_visit: int | None = None


def decide(
    checkpoint_id: int,
    direction: str,
    at: datetime,
    open_visit: OpenVisit | None,
    dedupe_window: timedelta,
    by_staff: bool = False,
) -> Decision:
    """What a scan of ``checkpoint_id`` at ``at`` should record.

    - ``in`` / ``auto`` with nothing open: check in.
    - Open at this checkpoint, scanned again within ``dedupe_window``: a duplicate, nothing new.
    - Open at this checkpoint, later: ``auto`` from a visitor offers a check-out (the page asks),
      ``auto`` from staff checks out, ``out`` checks out, ``in`` closes the old visit (the person
      left without checking out) and starts a new one.
    - Open elsewhere: a check-in here closes it at this check-in's time (superseded).
    - ``out`` with nothing open here: nothing to check out.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    here = open_visit is not None and open_visit.checkpoint_id == checkpoint_id
    out_method = OUT_STAFF if by_staff else OUT_SCANNED
    if open_visit is not None and here:
        within = at - open_visit.check_in < dedupe_window
        if direction == "out":
            return Decision("check_out", close_visit=open_visit.visit_id, close_method=out_method)
        if within:
            return Decision("duplicate", existing_visit=open_visit.visit_id)
        if direction == "auto":
            if by_staff:
                return Decision(
                    "check_out", close_visit=open_visit.visit_id, close_method=out_method
                )
            return Decision("offer_check_out", existing_visit=open_visit.visit_id)
        return Decision("check_in", close_visit=open_visit.visit_id, close_method=OUT_SUPERSEDED)
    if direction == "out":
        return Decision("nothing_open")
    if open_visit is not None:
        return Decision("check_in", close_visit=open_visit.visit_id, close_method=OUT_SUPERSEDED)
    return Decision("check_in")


def fit_before_next(
    checkpoint_id: int,
    at: datetime,
    auto_out: datetime,
    next_visit: OpenVisit | None,
    dedupe_window: timedelta,
) -> tuple[str, int | None, datetime | None]:
    """A check-in that arrives late (queued offline) may predate visits already recorded.

    Returns ("duplicate", visit_id, None) when the next visit is this same checkpoint within the
    window (the late scan is the same arrival), ("check_in", None, end) when the next visit
    starts before this one would end automatically (this visit ends there, superseded), and
    ("check_in", None, None) otherwise.
    """
    if next_visit is None or next_visit.check_in >= auto_out:
        return "check_in", None, None
    if next_visit.checkpoint_id == checkpoint_id and next_visit.check_in - at < dedupe_window:
        return "duplicate", next_visit.visit_id, None
    return "check_in", None, next_visit.check_in


def scan_time_problem(
    at: datetime, now: datetime, retention: timedelta, clock_skew: timedelta
) -> str | None:
    """None when ``at`` is acceptable; else why not (a future time, or older than retention)."""
    if at.tzinfo is None:
        return "naive"
    if at > now + clock_skew:
        return "future"
    if at < now - retention:
        return "too_old"
    return None
