from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from phongdich.tracing import rules
from phongdich.tracing.rules import (
    ContactLink,
    Exposure,
    OverlapRules,
    Stay,
    TypeRule,
    WindowError,
    WindowRules,
    expose,
    exposures,
    infectious_window,
    link_from_exposure,
    merge_evidence,
    strongest,
)

ICT = timezone(timedelta(hours=7))  # Vietnam
NOW = datetime(2021, 9, 27, 12, 0, tzinfo=UTC)
TEST_AT = datetime(2021, 9, 25, 9, 0, tzinfo=UTC)
# A window wide enough that only the rule under test decides.
WIDE = (datetime(2021, 9, 20, tzinfo=UTC), NOW)
T0 = datetime(2021, 9, 24, 8, 0, tzinfo=UTC)
CASE_PERSON, PLACE, OTHER_PLACE = 1, 10, 11


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stay(
    visit_id: int,
    person_id: int,
    start: float,
    end: float,
    *,
    checkpoint_id: int = PLACE,
    entrance_id: int | None = None,
    estimated: bool = False,
    checkpoint_type: str = "",
) -> Stay:
    """A stay from ``start`` to ``end`` minutes after T0."""
    return Stay(
        visit_id=visit_id,
        person_id=person_id,
        checkpoint_id=checkpoint_id,
        entrance_id=entrance_id,
        start=at(start),
        end=at(end),
        end_estimated=estimated,
        checkpoint_type=checkpoint_type,
    )


def case_stay(
    start: float = 0,
    end: float = 60,
    *,
    entrance_id: int | None = None,
    estimated: bool = False,
    checkpoint_type: str = "",
) -> Stay:
    """The case's visit (id 100) at PLACE."""
    return stay(
        100,
        CASE_PERSON,
        start,
        end,
        entrance_id=entrance_id,
        estimated=estimated,
        checkpoint_type=checkpoint_type,
    )


def contact_stay(
    start: float,
    end: float,
    person_id: int = 2,
    *,
    checkpoint_id: int = PLACE,
    entrance_id: int | None = None,
    estimated: bool = False,
    checkpoint_type: str = "",
) -> Stay:
    """Another person's visit (id 200 + person id)."""
    return stay(
        200 + person_id,
        person_id,
        start,
        end,
        checkpoint_id=checkpoint_id,
        entrance_id=entrance_id,
        estimated=estimated,
        checkpoint_type=checkpoint_type,
    )


# --- infectious_window -----------------------------------------------------------------------


def test_window_starts_two_days_before_onset_and_runs_until_now() -> None:
    onset = TEST_AT - timedelta(days=3)
    assert infectious_window(TEST_AT, onset, None, NOW) == (onset - timedelta(days=2), NOW)


def test_window_without_symptoms_starts_two_days_before_test() -> None:
    assert infectious_window(TEST_AT, None, None, NOW) == (TEST_AT - timedelta(days=2), NOW)


def test_onset_after_test_keeps_the_earlier_test_based_start() -> None:
    onset = TEST_AT + timedelta(days=1)
    start, _ = infectious_window(TEST_AT, onset, None, NOW)
    assert start == TEST_AT - timedelta(days=2)


def test_isolation_ends_the_window() -> None:
    isolated = TEST_AT + timedelta(hours=3)
    assert infectious_window(TEST_AT, None, isolated, NOW) == (
        TEST_AT - timedelta(days=2),
        isolated,
    )


def test_margins_are_configurable() -> None:
    window_rules = WindowRules(before_onset=timedelta(days=3), before_test=timedelta(days=1))
    onset = TEST_AT - timedelta(hours=6)
    assert infectious_window(TEST_AT, onset, None, NOW, window_rules)[0] == onset - timedelta(
        days=3
    )
    assert infectious_window(TEST_AT, None, None, NOW, window_rules)[0] == TEST_AT - timedelta(
        days=1
    )


def test_window_accepts_any_time_zone() -> None:
    start, end = infectious_window(TEST_AT.astimezone(ICT), None, None, NOW.astimezone(ICT))
    assert (start, end) == (TEST_AT - timedelta(days=2), NOW)


@pytest.mark.parametrize(
    ("test_at", "onset_at", "isolated_at", "now", "code"),
    [
        (TEST_AT.replace(tzinfo=None), None, None, NOW, "naive"),
        (TEST_AT, None, None, NOW.replace(tzinfo=None), "naive"),
        (TEST_AT, TEST_AT.replace(tzinfo=None), None, NOW, "naive"),
        (TEST_AT, None, NOW.replace(tzinfo=None), NOW, "naive"),
        (NOW + timedelta(minutes=6), None, None, NOW, "test_future"),
        # Years after the test: a typo, not symptoms.
        (TEST_AT, TEST_AT.replace(year=2023), None, NOW + timedelta(days=800), "onset_after_test"),
        (TEST_AT, TEST_AT + timedelta(days=14, seconds=1), None, NOW, "onset_after_test"),
        (TEST_AT, TEST_AT - timedelta(days=30, seconds=1), None, NOW, "onset_too_early"),
        (TEST_AT, NOW + timedelta(days=1), None, NOW, "onset_future"),
        (TEST_AT, None, NOW + timedelta(minutes=6), NOW, "isolated_future"),
        (TEST_AT, None, TEST_AT - timedelta(days=2, seconds=1), NOW, "isolated_before_start"),
    ],
)
def test_window_rejects_bad_dates(
    test_at: datetime,
    onset_at: datetime | None,
    isolated_at: datetime | None,
    now: datetime,
    code: str,
) -> None:
    with pytest.raises(WindowError) as raised:
        infectious_window(test_at, onset_at, isolated_at, now)
    assert raised.value.code == code
    assert isinstance(raised.value, ValueError)


def test_window_boundaries_that_are_still_accepted() -> None:
    # A test 5 minutes "in the future" is a clock difference; so is an isolation.
    soon = NOW + timedelta(minutes=5)
    assert infectious_window(soon, None, soon, NOW)[1] == soon
    # Exactly 14 days after / 30 days before the test are the limits, still accepted.
    assert infectious_window(
        TEST_AT, TEST_AT + timedelta(days=14), None, TEST_AT + timedelta(days=15)
    )[0] == TEST_AT - timedelta(days=2)
    early = TEST_AT - timedelta(days=30)
    assert infectious_window(TEST_AT, early, None, NOW)[0] == early - timedelta(days=2)
    # Isolated exactly at the start: an empty window, not an error.
    start = TEST_AT - timedelta(days=2)
    assert infectious_window(TEST_AT, None, start, NOW) == (start, start)


# --- for_type --------------------------------------------------------------------------------


def test_unknown_and_empty_types_use_the_defaults() -> None:
    for checkpoint_type in ("market", ""):
        rule = OverlapRules().for_type(checkpoint_type)
        assert rule.name == "default"
        assert (rule.min_overlap, rule.after_margin) == (
            timedelta(minutes=15),
            timedelta(minutes=30),
        )
        assert (rule.same_entrance, rule.risk_factor) == (False, 1.0)


def test_type_overrides_fill_in_the_defaults() -> None:
    room = OverlapRules().for_type(rules.TYPE_MEETING_ROOM)
    assert room.name == "type:meeting_room"
    assert room.min_overlap == timedelta(minutes=5)
    assert room.after_margin == timedelta(minutes=30)  # not overridden
    assert (room.same_entrance, room.risk_factor) == (True, 1.5)
    assert OverlapRules().for_type(rules.TYPE_PARK).risk_factor == 0.5
    custom = OverlapRules(per_type={"market": TypeRule(risk_factor=2.0)})
    assert custom.for_type("market").name == "type:market"
    assert custom.for_type(rules.TYPE_MEETING_ROOM).name == "default"
    assert hash(OverlapRules()) == hash(OverlapRules())


# --- expose: the default rule ----------------------------------------------------------------


def test_fifteen_minutes_counts_and_fourteen_fifty_nine_does_not() -> None:
    # The case leaves at 60; with the 30-min margin the air is risky until 90.
    exactly = expose(case_stay(), contact_stay(75, 120), WIDE)
    assert exactly is not None
    assert (exactly.start, exactly.end, exactly.minutes) == (at(75), at(90), 15.0)
    assert exactly.risk == 1.0
    assert exactly.rule == "default"
    assert expose(case_stay(), contact_stay(75 + 1 / 60, 120), WIDE) is None


def test_margin_creates_an_exposure_for_someone_arriving_after_the_case_left() -> None:
    case = case_stay(0, 60)
    contact = contact_stay(80, 200)  # arrives 20 minutes after the case left
    # The margin leaves 10 shared minutes: below the default minimum of 15…
    assert expose(case, contact, WIDE) is None
    # …an exposure as soon as the minimum allows it (as in a meeting room, 5 minutes).
    short_minimum = OverlapRules(min_overlap=timedelta(minutes=5))
    exposure = expose(case, contact, WIDE, short_minimum)
    assert exposure is not None
    assert (exposure.start, exposure.end, exposure.minutes) == (at(80), at(90), 10.0)
    # Without the margin there is nothing.
    no_margin = OverlapRules(min_overlap=timedelta(minutes=5), after_margin=timedelta(0))
    assert expose(case, contact, WIDE, no_margin) is None


def test_contact_after_the_margin_is_not_exposed() -> None:
    assert expose(case_stay(0, 60), contact_stay(90, 200), WIDE) is None


def test_stay_before_the_window_is_ignored() -> None:
    window = (at(120), NOW)
    # The case left an hour before becoming infectious; the contact stayed on.
    assert expose(case_stay(0, 60), contact_stay(0, 300), window) is None
    # Leaving exactly at the start of the window leaves nothing either.
    assert expose(case_stay(0, 120), contact_stay(0, 300), window) is None


def test_stay_is_clipped_at_the_window_start() -> None:
    window = (at(60), NOW)
    exposure = expose(case_stay(0, 120), contact_stay(0, 300), window)
    assert exposure is not None
    # Only 60..120 counts, extended to 150.
    assert (exposure.start, exposure.end, exposure.minutes) == (at(60), at(150), 90.0)
    # A contact who left before the window began shared nothing infectious.
    assert expose(case_stay(0, 120), contact_stay(0, 59), window) is None


def test_stay_is_clipped_at_isolation_then_extended() -> None:
    window = (WIDE[0], at(30))  # isolated while at the place
    exposure = expose(case_stay(0, 240), contact_stay(0, 240), window)
    assert exposure is not None
    assert (exposure.start, exposure.end) == (at(0), at(60))
    # A stay that begins after isolation is not infectious at all.
    assert expose(case_stay(30, 240), contact_stay(0, 240), window) is None


def test_the_case_is_never_their_own_contact() -> None:
    same_person = stay(300, CASE_PERSON, 0, 60)
    assert expose(case_stay(), same_person, WIDE) is None


def test_different_checkpoint_is_ignored() -> None:
    assert expose(case_stay(), contact_stay(0, 60, checkpoint_id=OTHER_PLACE), WIDE) is None


def test_entrances_do_not_matter_by_default() -> None:
    exposure = expose(case_stay(entrance_id=1), contact_stay(0, 60, entrance_id=2), WIDE)
    assert exposure is not None
    assert exposure.minutes == 60.0


# --- expose: per-type rules ------------------------------------------------------------------


def test_meeting_room_needs_the_same_room_and_five_minutes() -> None:
    room = rules.TYPE_MEETING_ROOM
    case = case_stay(0, 60, entrance_id=1, checkpoint_type=room)
    # Five minutes in the same room (inside the margin) counts, with risk 5/15 * 1.5.
    same_room = expose(case, contact_stay(85, 200, entrance_id=1, checkpoint_type=room), WIDE)
    assert same_room is not None
    assert (same_room.minutes, same_room.risk, same_room.rule) == (5.0, 0.5, "type:meeting_room")
    # Four minutes do not.
    assert expose(case, contact_stay(86, 200, entrance_id=1, checkpoint_type=room), WIDE) is None
    # The room next door does not count, however long.
    assert expose(case, contact_stay(0, 60, entrance_id=2, checkpoint_type=room), WIDE) is None
    # An unknown room (general checkpoint code) could have been this room: kept.
    assert (
        expose(case, contact_stay(0, 60, entrance_id=None, checkpoint_type=room), WIDE) is not None
    )


def test_traffic_post_one_minute_and_no_margin() -> None:
    post = rules.TYPE_TRAFFIC_POST
    case = case_stay(0, 5, checkpoint_type=post)
    one_minute = expose(case, contact_stay(4, 10, checkpoint_type=post), WIDE)
    assert one_minute is not None
    assert (one_minute.minutes, one_minute.end, one_minute.rule) == (
        1.0,
        at(5),
        "type:traffic_post",
    )
    assert one_minute.risk == round(1 / 15 * 0.3, 2)
    # No lingering air: arriving as the case leaves is nothing.
    assert expose(case, contact_stay(5, 10, checkpoint_type=post), WIDE) is None
    assert expose(case, contact_stay(4.5, 10, checkpoint_type=post), WIDE) is None


def test_event_raises_the_risk() -> None:
    event = expose(
        case_stay(0, 60, checkpoint_type=rules.TYPE_EVENT),
        contact_stay(0, 60, checkpoint_type=rules.TYPE_EVENT),
        WIDE,
    )
    assert event is not None
    assert event.risk == 4.8  # 60 / 15 * 1.2


# --- expose: estimated check-outs ------------------------------------------------------------


def test_margin_after_an_estimated_case_end_is_uncertain_and_weighs_half() -> None:
    scanned = expose(case_stay(0, 60), contact_stay(30, 200), WIDE)
    estimated = expose(case_stay(0, 60, estimated=True), contact_stay(30, 200), WIDE)
    assert scanned is not None
    assert estimated is not None
    assert scanned.minutes == estimated.minutes == 60.0
    assert scanned.certain_minutes == 60.0
    # 30..60 before the estimated end is certain, the margin 60..90 is not.
    assert estimated.certain_minutes == 30.0
    assert estimated.risk == (30 + 0.5 * 30) / 15 == 3.0
    assert estimated.risk < scanned.risk == 4.0


def test_nothing_certain_when_the_whole_overlap_follows_an_estimated_end() -> None:
    exposure = expose(case_stay(0, 60, estimated=True), contact_stay(60, 200), WIDE)
    assert exposure is not None
    assert (exposure.minutes, exposure.certain_minutes) == (30.0, 0.0)
    assert exposure.risk == 1.0  # 0.5 * 30 / 15


def test_estimated_factor_is_configurable() -> None:
    full = OverlapRules(estimated_factor=1.0)
    exposure = expose(case_stay(0, 60, estimated=True), contact_stay(60, 200), WIDE, full)
    assert exposure is not None
    assert exposure.risk == 2.0


def test_estimated_contact_end_caps_nothing_the_overlap_does_not_pass() -> None:
    # The overlap cannot extend past the contact's own end, so an estimated contact end leaves
    # the overlap certain (stated rule: only the part after the earliest estimated end is not).
    exposure = expose(case_stay(0, 60), contact_stay(30, 50, estimated=True), WIDE)
    assert exposure is not None
    assert exposure.certain_minutes == exposure.minutes == 20.0
    # With both ends estimated, the earliest one (the case's, at 60) is the limit.
    both = expose(case_stay(0, 60, estimated=True), contact_stay(30, 120, estimated=True), WIDE)
    assert both is not None
    assert (both.minutes, both.certain_minutes) == (60.0, 30.0)


# --- exposures -------------------------------------------------------------------------------


def test_exposures_on_a_mixed_list() -> None:
    case_stays = [
        case_stay(0, 60),
        stay(101, CASE_PERSON, 120, 180, checkpoint_id=OTHER_PLACE),
    ]
    candidates = [
        contact_stay(10, 50, person_id=2),  # same place, 40 min: yes
        contact_stay(130, 170, person_id=3, checkpoint_id=OTHER_PLACE),  # second place: yes
        contact_stay(130, 170, person_id=4),  # first place, after the margin: no
        contact_stay(10, 50, person_id=5, checkpoint_id=99),  # elsewhere: no
        stay(300, CASE_PERSON, 0, 60),  # the case itself: no
        contact_stay(70, 200, person_id=6),  # margin, 20 min: yes
    ]
    found = exposures(case_stays, candidates, WIDE)
    assert all(isinstance(e, Exposure) for e in found)
    assert [(e.contact_person_id, e.case_visit_id, e.minutes) for e in found] == [
        (2, 100, 40.0),
        (6, 100, 20.0),
        (3, 101, 40.0),
    ]
    assert [e.start for e in found] == sorted(e.start for e in found)
    assert exposures(case_stays, [], WIDE) == []
    assert exposures([], candidates, WIDE) == []


# --- strongest and merge_evidence ------------------------------------------------------------


def link(
    person_id: int,
    level: int = 1,
    risk: float = 1.0,
    last: float = 0,
    source: str = rules.SOURCE_VISIT,
    via: int = CASE_PERSON,
    evidence: dict[str, object] | None = None,
) -> ContactLink:
    return ContactLink(person_id, level, source, via, risk, at(last), evidence or {})


def test_f1_beats_f2_whatever_the_risk() -> None:
    f1 = link(7, level=1, risk=0.2)
    f2 = link(7, level=2, risk=9.0, via=8)
    assert strongest([f2, f1]) == {7: f1}


def test_higher_risk_wins_among_f1_then_latest_exposure() -> None:
    low, high = link(7, risk=1.0, last=100), link(7, risk=2.5, last=0)
    assert strongest([low, high])[7] is high
    early, late = link(7, risk=1.0, last=0), link(7, risk=1.0, last=60)
    assert strongest([late, early])[7] is late


def test_household_outranks_a_short_visit() -> None:
    household = link(7, risk=rules.SOURCE_RISK["household"], source="household")
    visit = link(7, risk=1.33)
    assert strongest([visit, household])[7].source == "household"
    assert max(rules.SOURCE_RISK.values()) == rules.SOURCE_RISK["household"]


def test_ties_do_not_depend_on_input_order() -> None:
    ties = [
        link(7, source="manual"),
        link(7, source="visit", via=3),
        link(7, source="visit", via=2, evidence={"contact_visit_id": 9}),
        link(7, source="visit", via=2, evidence={"contact_visit_id": 4}),
    ]
    winners = {strongest(order)[7] for order in (ties, ties[::-1], ties[1:] + ties[:1])}
    assert winners == {ties[3]}  # visit before manual, then lowest via, then evidence


def test_merge_evidence_keeps_every_link_strongest_first() -> None:
    a1, a2, a3 = link(7, risk=1.0), link(7, level=2, risk=5.0, via=8), link(7, risk=3.0)
    b = link(9)
    merged = merge_evidence([a1, b, a2, a3])
    assert list(merged) == [7, 9]
    assert merged[7] == [a3, a1, a2]
    assert merged[9] == [b]
    assert strongest([a1, b, a2, a3]) == {7: a3, 9: b}
    assert merge_evidence([]) == {} == strongest([])


def test_link_from_exposure_records_the_evidence() -> None:
    exposure = expose(case_stay(0, 60), contact_stay(30, 200), WIDE)
    assert exposure is not None
    contact = link_from_exposure(exposure, via_person_id=CASE_PERSON)
    assert (contact.person_id, contact.level, contact.source) == (2, 1, "visit")
    assert (contact.risk, contact.last_exposure) == (exposure.risk, at(90))
    assert contact.evidence["contact_visit_id"] == 202
    assert contact.evidence["rule"] == "default"
    assert contact.evidence["minutes"] == 60.0
    assert replace(contact, level=2).level == 2
