from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone

import pytest

from phongdich.checkpoints.rules import TYPES
from phongdich.kit.phone import normalize_mobile
from phongdich.tracing.simulate import (
    CHECKPOINT_TYPES,
    PLATFORM_TYPES,
    ROOM_TYPES,
    VN_TZ,
    SimConfig,
    Simulation,
    TrueStay,
    simulate,
    stats,
)
from phongdich.visits.rules import DEFAULT_DURATIONS

CODES = ("00001", "00004", "00007", "00010")
SMALL = SimConfig(people=600, days=5, seed=7)
# Enough transmission that a small province has an outbreak with every kind of infection.
OUTBREAK = SimConfig(people=2000, days=10, seed=11, p_venue_transmission_per_15min=0.1)


@pytest.fixture(scope="module")
def small() -> Simulation:
    return simulate(SMALL, CODES)


@pytest.fixture(scope="module")
def outbreak() -> Simulation:
    return simulate(OUTBREAK, CODES)


def stays_by_person(sim: Simulation) -> dict[int, list[TrueStay]]:
    out: dict[int, list[TrueStay]] = defaultdict(list)
    for s in sim.stays:
        out[s.person_id].append(s)
    return out


def test_same_seed_same_simulation(small: Simulation) -> None:
    again = simulate(SMALL, CODES)
    assert again.people == small.people
    assert again.checkpoints == small.checkpoints
    assert again.stays == small.stays
    assert again.visits == small.visits
    assert again.infections == small.infections
    assert again.households == small.households
    other = simulate(dataclasses.replace(SMALL, seed=8), CODES)
    assert other.stays != small.stays


def test_start_is_vietnam_midnight_in_utc(small: Simulation) -> None:
    assert small.start == datetime(2021, 7, 4, 17, 0, tzinfo=UTC)
    given = simulate(
        dataclasses.replace(SMALL, people=50, days=1),
        CODES,
        start=datetime(2021, 9, 1, 3, 0, tzinfo=UTC),  # 10:00 in Vietnam
    )
    assert given.start == datetime(2021, 8, 31, 17, 0, tzinfo=UTC)
    assert given.start.tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        simulate(SMALL, CODES, start=datetime(2021, 9, 1))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError, match="unit code"):
        simulate(SMALL, [])


def test_people_households_and_checkpoints(small: Simulation) -> None:
    assert [p.id for p in small.people] == list(range(1, SMALL.people + 1))
    members = sorted(m for ms in small.households.values() for m in ms)
    assert members == list(range(1, SMALL.people + 1))
    year = small.start.astimezone(VN_TZ).year
    phones = [p.phone for p in small.people if p.phone is not None]
    assert len(phones) == len(set(phones))
    for p in small.people:
        assert p.id in small.households[p.household]
        assert p.unit_code in CODES
        assert len(p.name.split()) == 3
        if year - p.birth_year < 12:
            assert not p.has_phone
        assert (p.phone is not None) == p.has_phone
        if p.phone is not None:
            assert p.phone.startswith("09")
            assert len(p.phone) == 10
            assert normalize_mobile(p.phone) == p.phone
    names = " ".join(p.name for p in small.people)
    assert any(ch in names for ch in "ễầăđơưịọ")  # Vietnamese, with diacritics
    elders = [p for p in small.people if year - p.birth_year > 70]
    assert elders
    assert any(p.has_phone for p in elders)
    # every unit lives somewhere; household members share a unit
    for ms in small.households.values():
        assert len({small.people[m - 1].unit_code for m in ms}) == 1
    assert [c.id for c in small.checkpoints] == list(range(1, len(small.checkpoints) + 1))
    assert {c.type for c in small.checkpoints} == set(CHECKPOINT_TYPES)
    assert len({c.name for c in small.checkpoints}) == len(small.checkpoints)
    for c in small.checkpoints:
        assert 1 <= c.entrances <= 3
        assert c.auto_minutes == CHECKPOINT_TYPES[c.type][2]


def test_types_map_to_the_platform() -> None:
    assert set(PLATFORM_TYPES) == set(CHECKPOINT_TYPES)
    for sim_type, (weight, (lo, hi), auto) in CHECKPOINT_TYPES.items():
        platform = PLATFORM_TYPES[sim_type]
        assert platform in TYPES
        assert DEFAULT_DURATIONS[platform] == timedelta(minutes=auto)
        assert weight > 0
        assert 0 < lo <= hi
    common = ("market", "supermarket", "restaurant")
    weights = sorted((w for w, _, _ in CHECKPOINT_TYPES.values()), reverse=True)
    assert all(CHECKPOINT_TYPES[t][0] >= weights[3] for t in common)


def test_stays_are_daytime_in_vietnam_and_never_overlap(small: Simulation) -> None:
    entrances = {c.id: c.entrances for c in small.checkpoints}
    for s in small.stays:
        assert s.start.tzinfo is UTC
        assert small.start <= s.start < s.end <= small.end
        local_start, local_end = s.start.astimezone(VN_TZ), s.end.astimezone(VN_TZ)
        assert local_start.date() == local_end.date()
        assert 5 * 60 <= local_start.hour * 60 + local_start.minute
        assert local_end.hour * 60 + local_end.minute <= 21 * 60 + 30
        assert 1 <= s.entrance <= entrances[s.checkpoint_id]
    for stays in stays_by_person(small).values():
        stays.sort(key=lambda s: s.start)
        for before, after in itertools.pairwise(stays):
            assert before.end <= after.start


def test_weekdays_have_work_and_school(small: Simulation) -> None:
    kinds = {c.id: c.type for c in small.checkpoints}
    by_day: dict[int, set[str]] = defaultdict(set)
    for s in small.stays:
        by_day[(s.start - small.start) // timedelta(days=1)].add(kinds[s.checkpoint_id])
    # 2021-07-05 is a Monday: days 0-4 are working days
    for day in range(5):
        assert {"office", "school", "factory"} <= by_day[day]


def test_every_recorded_visit_matches_a_true_stay(small: Simulation) -> None:
    truth = {(s.person_id, s.checkpoint_id, s.entrance, s.start): s for s in small.stays}
    phones = {p.id: p.has_phone for p in small.people}
    for v in small.visits:
        stay = truth[(v.person_id, v.checkpoint_id, v.entrance, v.check_in)]
        assert v.check_out is None or v.check_out == stay.end
        assert v.method in ("staff_scan", "self", "staff")
        if not phones[v.person_id]:
            assert v.method == "staff"
    keys = [(v.person_id, v.checkpoint_id, v.check_in) for v in small.visits]
    assert len(keys) == len(set(keys))
    assert len(small.visits) < len(small.stays)


def test_shares_follow_the_configuration() -> None:
    config = SimConfig(people=3000, days=7, seed=3)
    sim = simulate(config, CODES)
    s = stats(sim)
    assert s["stays"] == len(sim.stays) > 30_000
    assert s["recorded_visits"] == len(sim.visits)
    unscanned = 1 - len(sim.visits) / len(sim.stays)
    forgotten = sum(1 for v in sim.visits if v.check_out is None) / len(sim.visits)
    assert unscanned == pytest.approx(config.p_no_scan, abs=0.01)
    assert forgotten == pytest.approx(config.p_forget_checkout, abs=0.015)
    assert s["share_unscanned"] == pytest.approx(unscanned, abs=1e-4)
    assert s["share_forgot_checkout"] == pytest.approx(forgotten, abs=1e-4)
    with_phone = [v for v in sim.visits if sim.people[v.person_id - 1].has_phone]
    staff = sum(1 for v in with_phone if v.method == "staff") / len(with_phone)
    assert staff == pytest.approx(config.p_staff_checkin, abs=0.01)
    lo, hi = config.visits_per_day
    assert lo * 0.6 < s["stays_per_person_day"] < hi


def test_infections_form_a_tree(outbreak: Simulation) -> None:
    infections = {i.person_id: i for i in outbreak.infections}
    assert len(infections) == len(outbreak.infections)  # nobody is infected twice
    sources = [i.source for i in outbreak.infections]
    assert sources.count("seed") == OUTBREAK.initial_cases
    assert sources.count("venue") > 20
    assert sources.count("household") > 5
    assert [i.infected_at for i in outbreak.infections] == sorted(
        i.infected_at for i in outbreak.infections
    )
    household_of = {m: h for h, ms in outbreak.households.items() for m in ms}
    stays = stays_by_person(outbreak)
    for i in outbreak.infections:
        assert i.infected_at <= i.infectious_from < i.test_at
        if i.onset_at is not None:
            assert i.infectious_from < i.onset_at <= i.test_at
            assert i.onset_at - i.infected_at >= timedelta(days=OUTBREAK.incubation_days[0])
        local_test = i.test_at.astimezone(VN_TZ)
        assert 7 <= local_test.hour <= 17
        if i.source == "seed":
            assert i.infector_id is None
            assert i.checkpoint_id is None
            continue
        assert i.infected_at < outbreak.end
        assert i.infector_id is not None
        infector = infections[i.infector_id]
        assert infector.infected_at < i.infected_at
        assert infector.infectious_from <= i.infected_at < infector.test_at
        if i.source == "household":
            assert i.checkpoint_id is None
            assert household_of[i.person_id] == household_of[i.infector_id]
        else:
            assert i.checkpoint_id is not None
            for person in (i.person_id, i.infector_id):
                assert any(
                    s.checkpoint_id == i.checkpoint_id and s.start <= i.infected_at <= s.end
                    for s in stays[person]
                )


def test_people_isolate_after_their_test(outbreak: Simulation) -> None:
    stays = stays_by_person(outbreak)
    tested = [i for i in outbreak.infections if i.test_at < outbreak.end]
    assert len(tested) > 20
    for i in outbreak.infections:
        for s in stays[i.person_id]:
            assert s.end <= i.test_at
    # and they had stays before: isolation, not people who never go out
    assert any(stays[i.person_id] for i in tested)


Key = tuple[int, int | None, datetime, datetime]


def brute_force(
    sim: Simulation,
    case_id: int,
    window: tuple[datetime, datetime],
    at_checkpoint: dict[int, list[TrueStay]],
) -> set[Key]:
    """Every pair of stays of the case and another person, compared one by one."""
    kinds = {c.id: c.type for c in sim.checkpoints}
    w0, w1 = window
    out: set[Key] = set()
    mine = [s for s in sim.stays if s.person_id == case_id]
    for s in mine:
        for o in at_checkpoint[s.checkpoint_id]:
            if o.person_id == case_id:
                continue
            if kinds[s.checkpoint_id] in ROOM_TYPES and o.entrance != s.entrance:
                continue
            start, end = max(s.start, o.start, w0), min(s.end, o.end, w1)
            if end - start >= timedelta(minutes=15):
                out.add((o.person_id, s.checkpoint_id, start, end))
    return out


def test_true_exposures_are_symmetric_co_presences(outbreak: Simulation) -> None:
    recorded = {(v.person_id, v.checkpoint_id, v.check_in) for v in outbreak.visits}
    stays = stays_by_person(outbreak)
    at_checkpoint: dict[int, list[TrueStay]] = defaultdict(list)
    for s in outbreak.stays:
        at_checkpoint[s.checkpoint_id].append(s)

    def recorded_stay(person: int, checkpoint: int | None, start: datetime) -> bool:
        stay = next(
            s for s in stays[person] if s.checkpoint_id == checkpoint and s.start <= start < s.end
        )
        return (person, stay.checkpoint_id, stay.start) in recorded

    household_of = {m: h for h, ms in outbreak.households.items() for m in ms}
    cases = [i for i in outbreak.infections if i.source != "seed"][:10]
    seen_venue = seen_unscanned = 0
    for case in cases:
        window = (case.infectious_from, min(case.test_at, outbreak.end))
        exposures = outbreak.true_exposures(case.person_id, window)
        venue = [e for e in exposures if e.kind == "venue"]
        household = [e for e in exposures if e.kind == "household"]
        members = set(outbreak.households[household_of[case.person_id]]) - {case.person_id}
        assert {e.contact_id for e in household} == members
        for e in household:
            assert e.checkpoint_id is None
            assert (e.start, e.end) == window
        got = {(e.contact_id, e.checkpoint_id, e.start, e.end) for e in venue}
        assert got == brute_force(outbreak, case.person_id, window, at_checkpoint)
        for e in venue[:: max(1, len(venue) // 15)]:  # a sample: the mirror is costly
            assert e.case_id == case.person_id
            assert e.minutes >= 15
            assert window[0] <= e.start < e.end <= window[1]
            assert e.minutes == pytest.approx((e.end - e.start).total_seconds() / 60)
            mirror = outbreak.true_exposures(e.contact_id, window)
            assert any(
                m.contact_id == case.person_id
                and (m.checkpoint_id, m.start, m.end) == (e.checkpoint_id, e.start, e.end)
                and (m.case_scanned, m.contact_scanned) == (e.contact_scanned, e.case_scanned)
                for m in mirror
            )
            assert e.case_scanned == recorded_stay(case.person_id, e.checkpoint_id, e.start)
            assert e.contact_scanned == recorded_stay(e.contact_id, e.checkpoint_id, e.start)
            seen_venue += 1
            seen_unscanned += not e.contact_scanned
    assert seen_venue > 50
    assert seen_unscanned > 0


def test_true_exposures_threshold_and_window(outbreak: Simulation) -> None:
    case = next(i for i in outbreak.infections if i.source == "venue")
    window = (outbreak.start, outbreak.end)
    all_of_them = outbreak.true_exposures(case.person_id, window, min_minutes=1)
    at_15 = outbreak.true_exposures(case.person_id, window)
    assert {e for e in all_of_them if e.minutes >= 15} == set(at_15)
    assert any(e.minutes < 15 for e in all_of_them if e.kind == "venue")
    assert all(e.minutes >= 15 for e in at_15)
    # before the first stay: only the household; an empty window: nothing
    before = (outbreak.start - timedelta(days=2), outbreak.start - timedelta(days=1))
    assert {e.kind for e in outbreak.true_exposures(case.person_id, before)} <= {"household"}
    empty = (outbreak.start, outbreak.start)
    assert outbreak.true_exposures(case.person_id, empty) == []


def test_stats(small: Simulation) -> None:
    s = stats(small)
    assert s["people"] == SMALL.people
    assert s["checkpoints"] == len(small.checkpoints)
    assert s["stays"] == len(small.stays)
    assert s["recorded_visits"] == len(small.visits)
    assert s["infections"] == len(small.infections)
    assert (
        s["infections_seed"] + s["infections_venue"] + s["infections_household"] == s["infections"]
    )
    assert 0 < s["people_without_phone"] < SMALL.people
    assert 0 <= s["share_staff"] <= 1


def test_other_time_zones_are_accepted() -> None:
    tokyo = timezone(timedelta(hours=9))
    sim = simulate(
        SimConfig(people=30, days=1), CODES, start=datetime(2021, 7, 5, 1, 0, tzinfo=tokyo)
    )
    # 01:00 in Tokyo is 23:00 of the 4th in Vietnam
    assert sim.start.astimezone(VN_TZ) == datetime(2021, 7, 4, tzinfo=VN_TZ)
