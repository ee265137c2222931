from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phongdich.checkpoints import rules

NOW = datetime(2021, 9, 27, 8, 0, tzinfo=UTC)


def test_lifecycle_transitions() -> None:
    step = rules.transition("registered", "approve", "official", "")
    assert (step.from_status, step.to_status) == ("registered", "active")
    assert (
        rules.transition("active", "suspend", "official", "Không quét mã").to_status == "suspended"
    )
    assert rules.transition("suspended", "reactivate", "official", "").to_status == "active"
    assert rules.transition("active", "close", "owner", "").to_status == "closed"


@pytest.mark.parametrize(
    ("status", "action", "actor", "reason", "key"),
    [
        ("registered", "approve", "owner", "", "error.forbidden"),
        ("registered", "approve", "health", "", "error.forbidden"),
        ("active", "approve", "official", "", "error.bad_transition"),
        ("closed", "reactivate", "official", "", "error.bad_transition"),
        ("active", "suspend", "official", "   ", "error.reason_required"),
        ("registered", "reject", "official", "", "error.reason_required"),
        ("active", "suspend", "official", "x" * 501, "error.reason_length"),
        ("active", "explode", "official", "", "error.unknown_action"),
    ],
)
def test_refused_transitions(status: str, action: str, actor: str, reason: str, key: str) -> None:
    with pytest.raises(rules.TransitionError) as err:
        rules.transition(status, action, actor, reason)
    assert err.value.message_key == key


def test_scan_state() -> None:
    hour = timedelta(hours=1)
    assert rules.scan_state("active", None, None, NOW) == "ok"
    assert rules.scan_state("registered", None, None, NOW) == "pending"
    assert rules.scan_state("suspended", None, None, NOW) == "suspended"
    assert rules.scan_state("closed", None, None, NOW) == "closed"
    assert rules.scan_state("active", NOW - hour, NOW + hour, NOW) == "ok"
    assert rules.scan_state("active", NOW - 2 * hour, NOW - hour, NOW) == "expired"
    assert rules.scan_state("active", NOW + hour, NOW + 2 * hour, NOW) == "not_started"
    assert rules.scan_state("active", None, NOW, NOW) == "expired"


def test_every_type_has_both_languages() -> None:
    assert len(rules.TYPES) == 18
    for vi, en in rules.TYPES.values():
        assert vi
        assert en
        assert vi != en


def test_display_status_marks_ended_events() -> None:
    hour = timedelta(hours=1)
    assert rules.display_status("active", NOW - hour, NOW) == "expired"
    assert rules.display_status("active", NOW + hour, NOW) == "active"
    assert rules.display_status("suspended", NOW - hour, NOW) == "suspended"
    assert rules.display_status("active", None, NOW) == "active"
