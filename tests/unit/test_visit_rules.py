from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phongdich.visits import rules
from phongdich.visits.rules import Decision, OpenVisit, decide

T0 = datetime(2021, 9, 27, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
HERE, THERE = 1, 2


def open_at(checkpoint: int, minutes_ago: int) -> OpenVisit:
    return OpenVisit(
        visit_id=99, checkpoint_id=checkpoint, check_in=T0 - timedelta(minutes=minutes_ago)
    )


def test_first_scan_checks_in() -> None:
    assert decide(HERE, "auto", T0, None, WINDOW) == Decision("check_in")
    assert decide(HERE, "in", T0, None, WINDOW) == Decision("check_in")


def test_rescan_within_window_is_a_duplicate() -> None:
    for direction in ("in", "auto"):
        assert decide(HERE, direction, T0, open_at(HERE, 3), WINDOW) == Decision(
            "duplicate", existing_visit=99
        )
    # Staff rescanning within the window does not flip the person out either.
    assert decide(HERE, "auto", T0, open_at(HERE, 3), WINDOW, by_staff=True).action == "duplicate"


def test_rescan_later_offers_check_out_to_visitor_and_checks_out_for_staff() -> None:
    assert decide(HERE, "auto", T0, open_at(HERE, 45), WINDOW) == Decision(
        "offer_check_out", existing_visit=99
    )
    assert decide(HERE, "auto", T0, open_at(HERE, 45), WINDOW, by_staff=True) == Decision(
        "check_out", close_visit=99, close_method="staff"
    )


def test_explicit_out_checks_out_even_within_window() -> None:
    assert decide(HERE, "out", T0, open_at(HERE, 1), WINDOW) == Decision(
        "check_out", close_visit=99, close_method="scanned"
    )


def test_out_with_nothing_open_here() -> None:
    assert decide(HERE, "out", T0, None, WINDOW).action == "nothing_open"
    assert decide(HERE, "out", T0, open_at(THERE, 30), WINDOW).action == "nothing_open"


def test_check_in_elsewhere_supersedes_the_open_visit() -> None:
    assert decide(HERE, "auto", T0, open_at(THERE, 30), WINDOW) == Decision(
        "check_in", close_visit=99, close_method="superseded"
    )


def test_explicit_in_after_window_restarts_the_visit() -> None:
    assert decide(HERE, "in", T0, open_at(HERE, 45), WINDOW) == Decision(
        "check_in", close_visit=99, close_method="superseded"
    )


def test_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        decide(HERE, "sideways", T0, None, WINDOW)


def test_automatic_check_out_times() -> None:
    assert rules.auto_checkout_at("office", T0, None) == T0 + timedelta(hours=9)
    assert rules.auto_checkout_at("restaurant", T0, None) == T0 + timedelta(hours=2)
    assert rules.auto_checkout_at("market", T0, None) == T0 + timedelta(hours=1)
    assert rules.auto_checkout_at("traffic_post", T0, None) == T0 + timedelta(minutes=5)
    assert rules.auto_checkout_at("unknown-type", T0, None) == T0 + timedelta(hours=3)
    # An event ends the visit at its end when that comes first.
    end = T0 + timedelta(hours=1, minutes=30)
    assert rules.auto_checkout_at("event", T0, end) == end
    assert rules.auto_checkout_at("office", T0, T0 - timedelta(hours=1)) == T0 + timedelta(hours=9)
    assert rules.LONGEST_VISIT == timedelta(hours=14)


def test_every_checkpoint_type_has_a_duration() -> None:
    from phongdich.checkpoints.rules import TYPES

    assert set(TYPES) == set(rules.DEFAULT_DURATIONS)


def test_scan_time_problems() -> None:
    retention, skew = timedelta(days=30), timedelta(minutes=5)
    assert rules.scan_time_problem(T0, T0, retention, skew) is None
    assert rules.scan_time_problem(T0 + timedelta(minutes=4), T0, retention, skew) is None
    assert rules.scan_time_problem(T0 + timedelta(hours=1), T0, retention, skew) == "future"
    assert rules.scan_time_problem(T0 - timedelta(days=31), T0, retention, skew) == "too_old"
    assert rules.scan_time_problem(T0.replace(tzinfo=None), T0, retention, skew) == "naive"


def test_late_check_in_fits_before_the_next_visit() -> None:
    auto_out = T0 + timedelta(hours=1)
    later_elsewhere = OpenVisit(
        visit_id=7, checkpoint_id=THERE, check_in=T0 + timedelta(minutes=10)
    )
    later_here = OpenVisit(visit_id=8, checkpoint_id=HERE, check_in=T0 + timedelta(minutes=3))
    much_later = OpenVisit(visit_id=9, checkpoint_id=THERE, check_in=T0 + timedelta(hours=2))
    assert rules.fit_before_next(HERE, T0, auto_out, None, WINDOW) == ("check_in", None, None)
    assert rules.fit_before_next(HERE, T0, auto_out, much_later, WINDOW) == ("check_in", None, None)
    assert rules.fit_before_next(HERE, T0, auto_out, later_elsewhere, WINDOW) == (
        "check_in",
        None,
        T0 + timedelta(minutes=10),
    )
    assert rules.fit_before_next(HERE, T0, auto_out, later_here, WINDOW) == ("duplicate", 8, None)
