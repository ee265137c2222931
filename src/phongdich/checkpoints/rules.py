"""Checkpoint types and the lifecycle state machine — pure, no framework or database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# key -> (Vietnamese, English)
TYPES: dict[str, tuple[str, str]] = {
    "office": ("Cơ quan, công sở", "Office / agency"),
    "meeting_hall": ("Hội trường, phòng họp", "Meeting hall"),
    "market": ("Chợ", "Market"),
    "supermarket": ("Siêu thị, trung tâm thương mại", "Supermarket / mall"),
    "school": ("Trường học", "School"),
    "hospital": ("Bệnh viện, phòng khám", "Hospital / clinic"),
    "pharmacy": ("Nhà thuốc", "Pharmacy"),
    "restaurant": ("Nhà hàng, quán ăn, cà phê", "Restaurant / café"),
    "lodging": ("Khách sạn, nhà nghỉ, nhà trọ", "Hotel / guesthouse / boarding house"),
    "station": ("Bến xe, nhà ga, bến tàu", "Bus / train / boat station"),
    "factory": ("Nhà máy, khu công nghiệp", "Factory / industrial park"),
    "construction": ("Công trường xây dựng", "Construction site"),
    "tourist_site": ("Điểm du lịch", "Tourist site"),
    "religious_site": ("Cơ sở tôn giáo, tín ngưỡng", "Religious site"),
    "traffic_post": ("Chốt kiểm soát giao thông", "Traffic control post"),
    "residential": ("Khu dân cư", "Residential area"),
    "event": ("Sự kiện, hội nghị, tập huấn", "Event / meeting / training"),
    "other": ("Khác", "Other"),
}

# Types that exist only for the length of an event: they need an end time.
TIME_BOUNDED_TYPES = frozenset({"event"})

REGISTERED, ACTIVE, SUSPENDED, CLOSED = "registered", "active", "suspended", "closed"
STATUSES = (REGISTERED, ACTIVE, SUSPENDED, CLOSED)

# action -> (allowed from, to, who may do it, reason required)
TRANSITIONS: dict[str, tuple[frozenset[str], str, frozenset[str], bool]] = {
    "approve": (frozenset({REGISTERED}), ACTIVE, frozenset({"official"}), False),
    "reject": (frozenset({REGISTERED}), CLOSED, frozenset({"official"}), True),
    "suspend": (frozenset({ACTIVE}), SUSPENDED, frozenset({"official"}), True),
    "reactivate": (frozenset({SUSPENDED}), ACTIVE, frozenset({"official"}), False),
    "close": (
        frozenset({REGISTERED, ACTIVE, SUSPENDED}),
        CLOSED,
        frozenset({"official", "owner"}),
        False,
    ),
}


class TransitionError(ValueError):
    def __init__(self, message_key: str) -> None:
        self.message_key = message_key
        super().__init__(message_key)


@dataclass(frozen=True)
class Transition:
    action: str
    from_status: str
    to_status: str
    reason: str


def transition(status: str, action: str, actor_kind: str, reason: str) -> Transition:
    """Validate ``action`` on a checkpoint in ``status`` by an ``actor_kind`` (official/owner)."""
    if action not in TRANSITIONS:
        raise TransitionError("error.unknown_action")
    allowed_from, to_status, actors, needs_reason = TRANSITIONS[action]
    if actor_kind not in actors:
        raise TransitionError("error.forbidden")
    if status not in allowed_from:
        raise TransitionError("error.bad_transition")
    reason = reason.strip()
    if needs_reason and not reason:
        raise TransitionError("error.reason_required")
    if len(reason) > 500:
        raise TransitionError("error.reason_length")
    return Transition(action, status, to_status, reason)


def scan_state(
    status: str, starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> str:
    """What a person scanning the QR should be told: ok / pending / suspended / closed /
    not_started / expired."""
    if status == REGISTERED:
        return "pending"
    if status in (SUSPENDED, CLOSED):
        return status
    if ends_at is not None and now >= ends_at:
        return "expired"
    if starts_at is not None and now < starts_at:
        return "not_started"
    return "ok"


def display_status(status: str, ends_at: datetime | None, now: datetime) -> str:
    """The status to show: an active checkpoint whose event has ended shows as expired."""
    if status == ACTIVE and ends_at is not None and now >= ends_at:
        return "expired"
    return status
