"""The Bluetooth proximity simulator: ground truth, detection through the risk rules, and the
``proximity-quality`` bench on small sizes."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import date

import pytest
from typer.testing import CliRunner

from phongdich.bench import proximity_quality
from phongdich.cli import app
from phongdich.proximity import risk
from phongdich.proximity.radio import CarryPosition, PhoneModel, RadioModel
from phongdich.proximity.sim import (
    BLUEZONE,
    GAEN,
    Phone,
    ProximityConfig,
    ProximityRun,
    Seg,
    advert_times,
    adverts_in_scan,
    run,
    run_scenario,
    scan_times,
    window_from_scans,
)

DAY0 = 7 * 60  # local minute when UTC day 0 begins (Vietnam is UTC+7)
NOON = 12 * 60
# A radio without noise or losses, perfectly calibrated, 10 dB kinder than the default anchor:
# 1 m reads 45 dB (weight 1.0 in the German configuration), 5 m reads 59 dB (weight 0.5).
BENIGN = RadioModel(
    reference_attenuation_db=45.0,
    shadowing_sigma_db=0.0,
    fading_sigma_db=0.0,
    unit_sigma_db=0.0,
    models=(PhoneModel("reference", 1.0, -15, 0, 0.0, 0.0),),
    carry={"hand": CarryPosition("hand", (0.0, 0.0)), "table": CarryPosition("table", (0.0, 0.0))},
)
CONFIG = ProximityConfig(people=2, days=1, seed=1)


def phone(person: int, phase: float = 30.0, period: float = 300.0) -> Phone:
    return Phone(
        person=person,
        model=0,
        tx_unit_db=0.0,
        rx_unit_db=0.0,
        scan_phase_s=phase,
        scan_period_s=period,
        scan_seconds=4.0,
        advert_interval_s=0.25,
        advert_phase_s=0.0,
    )


def at(person: int, t0: int, t1: int, x: float, y: float = 0.0, room: int = 0) -> Seg:
    """A person standing at (x, y) with the phone in the hand."""
    return Seg(t0, t1, person, x, y, room, x, y, room, "hand", 0.0)


PHONES = {1: phone(1), 2: phone(2, phase=170.0)}


def scenario(
    segments: list[Seg], radio: RadioModel = BENIGN, phones: dict[int, Phone] | None = None
) -> ProximityRun:
    return run_scenario(segments, PHONES if phones is None else phones, config=CONFIG, radio=radio)


# --------------------------------------------------------------------------- ground truth


def test_one_metre_for_twenty_minutes_is_a_true_contact_and_is_notified() -> None:
    result = scenario([at(1, NOON, NOON + 20, 0.0), at(2, NOON, NOON + 20, 1.0)])
    assert [(c.a, c.b, c.minutes, c.phones) for c in result.close_contacts] == [(1, 2, 20.0, 2)]
    assert result.close_contacts[0].day == date(2021, 7, 5)
    assert len(result.pair_days) == 2  # each phone decides for itself
    for p in result.pair_days:
        assert p.true_contact
        assert p.close_minutes == 20.0
        assert p.distance_bucket == "0-1 m"
        assert p.scans == 4  # a scan every 5 minutes
        assert p.high["german_default"]
        # 120 s for the first scan + 3 x 300 s, all at 45 dB (weight 1), risk 7:
        assert p.weighted_minutes == pytest.approx(17.0)
        assert p.normalized_time == pytest.approx(7 * 0.2 * 17.0)
    assert {(p.receiver, p.sender) for p in result.pair_days} == {(1, 2), (2, 1)}


def test_five_metres_apart_is_neither_a_contact_nor_notified() -> None:
    result = scenario([at(1, NOON, NOON + 20, 0.0), at(2, NOON, NOON + 20, 5.0)])
    assert result.close_contacts == []
    assert result.pair_days == []
    assert result.evaluated_pair_days == 2  # both phones heard each other (59 dB) but too little
    assert result.scans == 8


def test_close_minutes_add_up_over_the_day() -> None:
    # close 8 min, 6 m apart for 30 min, close again 8 min: 16 min in the day
    segs = [
        at(1, NOON, NOON + 46, 0.0),
        at(2, NOON, NOON + 8, 1.5),
        at(2, NOON + 8, NOON + 38, 6.0),
        at(2, NOON + 38, NOON + 46, 1.5),
    ]
    result = scenario(segs)
    assert [c.minutes for c in result.close_contacts] == [16.0]
    # 7 + 7 minutes is not enough
    segs[1] = at(2, NOON + 1, NOON + 8, 1.5)
    segs[3] = at(2, NOON + 38, NOON + 45, 1.5)
    segs[0] = at(1, NOON + 1, NOON + 45, 0.0)
    segs[2] = at(2, NOON + 8, NOON + 38, 6.0)
    assert scenario(segs).close_contacts == []


def test_a_contact_across_the_utc_day_change_counts_per_utc_day() -> None:
    change = DAY0 + 1440  # 07:00 local on the second day = UTC midnight
    split = scenario([at(1, change - 10, change + 10, 0.0), at(2, change - 10, change + 10, 1.0)])
    assert split.close_contacts == []  # 10 + 10 minutes on two UTC days
    after = scenario([at(1, change, change + 20, 0.0), at(2, change, change + 20, 1.0)])
    assert [(c.day, c.minutes) for c in after.close_contacts] == [(date(2021, 7, 6), 20.0)]
    assert {p.day for p in after.pair_days} == {date(2021, 7, 6)}


def test_exactly_two_metres_counts_and_just_over_does_not() -> None:
    assert scenario([at(1, NOON, NOON + 30, 0.0), at(2, NOON, NOON + 30, 2.0)]).close_contacts
    assert not scenario([at(1, NOON, NOON + 30, 0.0), at(2, NOON, NOON + 30, 2.01)]).close_contacts


# --------------------------------------------------------------------------- detection


def test_a_phone_left_on_the_charger_misses_a_true_contact() -> None:
    far = Seg(NOON, NOON + 60, 2, 1.0, 0.0, 0, 20.0, 0.0, 0, "table", 0.0)  # phone 19 m away
    result = scenario([at(1, NOON, NOON + 60, 0.0), far])
    assert [c.minutes for c in result.close_contacts] == [60.0]
    assert len(result.pair_days) == 2
    for p in result.pair_days:
        assert p.true_contact
        assert p.phone_away
        assert p.scans == 0
        assert not p.high["german_default"]


def test_a_wall_between_phones_is_reported_and_can_hide_a_contact() -> None:
    walled = dataclasses.replace(BENIGN, wall_loss_db=30.0)  # a thick wall
    segs = [at(1, NOON, NOON + 60, 0.0, room=0), at(2, NOON, NOON + 60, 1.5, room=1)]
    result = scenario(segs, radio=walled)
    assert [c.minutes for c in result.close_contacts] == [60.0]
    assert all(p.walls and not p.high["german_default"] for p in result.pair_days)
    open_room = scenario([at(1, NOON, NOON + 60, 0.0), at(2, NOON, NOON + 60, 1.5)])
    assert all(p.high["german_default"] and not p.walls for p in open_room.pair_days)


def test_people_without_an_active_phone_are_counted_but_not_evaluated() -> None:
    segs = [at(1, NOON, NOON + 30, 0.0), at(2, NOON, NOON + 30, 1.0)]
    result = scenario(segs, phones={1: phone(1)})
    assert [(c.minutes, c.phones) for c in result.close_contacts] == [(30.0, 1)]
    assert result.pair_days == []
    assert result.evaluated_pair_days == 0


def test_model_errors_are_attributed_to_the_pair() -> None:
    models = (
        PhoneModel("loud", 1.0, -15, 0, 4.0, 0.0),
        PhoneModel("deaf", 1.0, -15, 0, 0.0, -2.0),
    )
    loud = dataclasses.replace(BENIGN, models=models)
    phones = {1: phone(1), 2: dataclasses.replace(phone(2, 170.0), model=1)}
    result = scenario([at(1, NOON, NOON + 60, 0.0), at(2, NOON, NOON + 60, 1.0)], loud, phones)
    errors = {(p.receiver, p.sender): p.model_error_db for p in result.pair_days}
    assert errors == {(1, 2): 0.0, (2, 1): 2.0}  # sender TX error + receiver RX error


# --------------------------------------------------------------------------- windows and duty


def test_window_from_scans_equals_the_device_rules_on_sightings() -> None:
    r = random.Random(4)
    base = 1_625_500_000
    sightings, scans = [], []
    t = base
    for _ in range(12):
        t += r.randint(240, 300)
        heard = [(t + k // 4, r.randint(-95, -55)) for k in range(r.randint(1, 16))]
        sightings += [risk.Sighting(at=a, rssi=rssi, tx_power=-8) for a, rssi in heard]
        levels = sorted(risk.attenuation(-8, rssi, 3) for _, rssi in heard)
        scans.append((heard[0][0], levels[0], levels[(len(levels) - 1) // 2]))
    config = risk.RiskConfig(rssi_correction=3)
    (device,) = risk.windows_from_sightings(sightings, report_type=1, config=config)
    mine = window_from_scans(scans, day=device.date, transmission_risk=7, calibration_confidence=0)
    assert mine == device
    assert risk.assess([mine]).level == risk.assess([device]).level
    with pytest.raises(ValueError, match="scan_merge"):
        window_from_scans(
            [(base, 50, 50), (base + 30, 50, 50)], day=device.date, transmission_risk=7
        )


def test_scan_times_and_adverts_follow_the_duty_cycle() -> None:
    p = phone(1, phase=30.0, period=300.0)
    assert scan_times(p, NOON, NOON + 20) == [43230.0, 43530.0, 43830.0, 44130.0]
    assert scan_times(p, NOON, NOON) == []
    sender = phone(2)
    assert adverts_in_scan(GAEN, sender, 1000.0, 4.0) == 16  # 4 s / 250 ms
    on_off = adverts_in_scan(BLUEZONE, sender, 1000.0, 30.0)
    assert on_off == 60  # 15 s on / 15 s off: half of 30 s at 250 ms
    assert adverts_in_scan(BLUEZONE, sender, 15.0, 10.0) == 0  # entirely in an off phase
    r = random.Random(8)
    for duty in (GAEN, BLUEZONE):
        for _ in range(300):
            start, seconds = r.uniform(0, 10_000), r.uniform(1, 40)
            assert adverts_in_scan(duty, sender, start, seconds) == len(
                advert_times(duty, sender, start, seconds)
            )


# --------------------------------------------------------------------------- whole runs


def test_runs_are_deterministic_by_seed() -> None:
    a = run(ProximityConfig(people=150, days=1, seed=3))
    b = run(ProximityConfig(people=150, days=1, seed=3))
    c = run(ProximityConfig(people=150, days=1, seed=4))
    assert a.pair_days == b.pair_days
    assert a.close_contacts == b.close_contacts
    assert (a.intervals, a.scans) == (b.intervals, b.scans)
    assert a.pair_days != c.pair_days
    # sane figures: contacts at home and elsewhere, every kept true contact lasted >= 15 min
    assert a.close_contacts
    assert any(p.place == "home" for p in a.pair_days)
    assert any(p.place != "home" for p in a.pair_days)
    assert all(p.close_minutes >= 15 for p in a.pair_days if p.true_contact)
    assert all(p.true_contact or any(p.high.values()) for p in a.pair_days)
    both = sum(1 for x in a.close_contacts if x.phones == 2)
    assert sum(1 for p in a.pair_days if p.true_contact) == 2 * both


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="duty"):
        ProximityConfig(duty="always")
    with pytest.raises(ValueError, match="probability"):
        ProximityConfig(p_bluetooth_off=2.0)
    with pytest.raises(ValueError, match="radio_range_m"):
        ProximityConfig(radio_range_m=1.0)


def test_tiny_bench_run_reports_sane_fields() -> None:
    result = proximity_quality.run(people=150, days=1, seed=5, progress=False)
    json.dumps(result)
    assert result["bench"] == "proximity-quality"
    assert result["duty_cycle"]["name"] == "gaen"
    assert result["radio_model"]["path_loss_exponent_n"] == 2.0
    assert result["radio_model"]["shadowing_sigma_db"] == 5.0
    assert "person id" in result["identification"]
    tp, fp, fn = result["tp"], result["fp"], result["fn"]
    assert result["true_contacts"] == tp + fn > 0
    assert result["notified"] == tp + fp
    assert result["recall"] == round(tp / (tp + fn), 4)
    if tp + fp:
        assert result["precision"] == round(tp / (tp + fp), 4)
    assert result["true_contacts"] == 2 * result["true_contacts_both_phones_active"]
    assert sum(result["misses_by_cause"].values()) == fn
    assert sum(result["misses_by_rule"].values()) == fn
    assert sum(result["false_alarms_by_cause"].values()) == fp
    assert sum(v["tp"] + v["fn"] for v in result["recall_by_place"].values()) == tp + fn
    for alt in result["alternatives"].values():
        assert alt["true_contacts"] == tp + fn
    # looser weights notify at least as many pairs as the German defaults
    assert result["alternatives"]["duration_below_73"]["notified"] >= result["notified"]
    check = result["gaen_check"]
    assert check["pairs"] > 0
    assert check["identical_by_id_and_by_rpi"] == check["pairs"]


def test_cli_runs_the_bench_and_prints_json_last() -> None:
    out = CliRunner().invoke(
        app, ["bench", "proximity-quality", "--people", "120", "--days", "1", "--seed", "9"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    assert result["bench"] == "proximity-quality"
    assert result["people"] == 120
    assert result["days"] == 1
    assert result["seed"] == 9
    bad = CliRunner().invoke(app, ["bench", "proximity-quality", "--duty", "sometimes"])
    assert bad.exit_code != 0
