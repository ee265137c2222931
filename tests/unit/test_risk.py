"""Risk scoring (German production values): every expected number below is computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from phongdich.proximity import risk
from phongdich.proximity.risk import (
    ExposureWindow,
    RiskConfig,
    RiskError,
    ScanInstance,
    Sighting,
)

DAY = date(2021, 5, 12)
MIDNIGHT = int(datetime(2021, 5, 12, tzinfo=UTC).timestamp())


def window(
    scans: list[tuple[int, int]],
    *,
    tr: int = 7,
    day: date = DAY,
    report_type: int = risk.REPORT_CONFIRMED_TEST,
    infectiousness: int = risk.INFECTIOUSNESS_STANDARD,
) -> ExposureWindow:
    """A window from (typical attenuation dB, seconds) pairs; min attenuation = typical - 2."""
    return ExposureWindow(
        date=day,
        report_type=report_type,
        infectiousness=infectiousness,
        calibration_confidence=0,
        scan_instances=tuple(ScanInstance(db - 2, db, seconds) for db, seconds in scans),
        transmission_risk=tr,
    )


# ---------------------------------------------------------------- transmission risk


@pytest.mark.parametrize(
    ("report_type", "infectiousness", "expected"),
    [
        (risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_STANDARD, 7),  # 1 + 6
        (risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_HIGH, 8),  # 2 + 6
        (risk.REPORT_CONFIRMED_CLINICAL_DIAGNOSIS, risk.INFECTIOUSNESS_STANDARD, 5),  # 1 + 4
        (risk.REPORT_SELF_REPORT, risk.INFECTIOUSNESS_STANDARD, 3),  # 1 + 2
        (risk.REPORT_RECURSIVE, risk.INFECTIOUSNESS_STANDARD, 1),  # 1 + 0
        (risk.REPORT_RECURSIVE, risk.INFECTIOUSNESS_HIGH, 2),  # 2 + 0
        (risk.REPORT_UNKNOWN, risk.INFECTIOUSNESS_STANDARD, 7),  # counted as a confirmed test
        (risk.REPORT_REVOKED, risk.INFECTIOUSNESS_HIGH, 0),
        (risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_NONE, 0),
    ],
)
def test_transmission_risk_encoding(report_type: int, infectiousness: int, expected: int) -> None:
    assert risk.transmission_risk(report_type, infectiousness) == expected


def test_transmission_risk_offsets_are_configurable() -> None:
    config = RiskConfig(report_type_offset_confirmed_test=4, infectiousness_offset_high=3)
    assert risk.transmission_risk(risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_HIGH, config) == 7
    with pytest.raises(RiskError):
        risk.transmission_risk(9, risk.INFECTIOUSNESS_HIGH)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (None, risk.INFECTIOUSNESS_STANDARD),
        (-3, risk.INFECTIOUSNESS_STANDARD),
        (-2, risk.INFECTIOUSNESS_HIGH),
        (0, risk.INFECTIOUSNESS_HIGH),
        (5, risk.INFECTIOUSNESS_HIGH),
        (6, risk.INFECTIOUSNESS_STANDARD),
        (-14, risk.INFECTIOUSNESS_STANDARD),
        (14, risk.INFECTIOUSNESS_STANDARD),
        (15, risk.INFECTIOUSNESS_NONE),
        (-15, risk.INFECTIOUSNESS_NONE),
    ],
)
def test_infectiousness_by_days_since_onset(days: int | None, expected: int) -> None:
    assert risk.infectiousness_for(days) == expected


# ---------------------------------------------------------------- one window


def test_twenty_minutes_very_close_with_a_confirmed_case_is_high() -> None:
    score = risk.score_window(window([(50, 120)] * 10))  # 20 min at 50 dB
    assert score.minutes_below_threshold == 20.0
    assert score.weighted_minutes == 20.0
    assert score.normalized_time == pytest.approx(28.0)  # 7 x 0.2 x 20
    assert score.high is True
    assert score.dropped_reason is None
    assert score.min_attenuation_db == 48


def test_exactly_ten_minutes_below_73_db_is_kept_and_less_is_dropped() -> None:
    kept = risk.score_window(window([(60, 120)] * 5))  # 10 min at 60 dB, weight 0.5
    assert kept.dropped_reason is None
    assert kept.minutes_below_threshold == 10.0
    assert kept.weighted_minutes == 5.0
    assert kept.normalized_time == pytest.approx(7.0)  # 7 x 0.2 x 5
    assert kept.high is False
    short = risk.score_window(window([(60, 120)] * 4 + [(60, 119)]))  # 9 min 59 s
    assert short.dropped_reason == risk.DROP_TOO_SHORT
    assert short.normalized_time == 0.0
    assert short.high is False
    assert short.minutes_below_threshold == pytest.approx(599 / 60, abs=1e-6)


def test_time_at_73_db_or_more_is_not_close() -> None:
    # 8 min at 72 dB (close, weight 0) + 20 min at 73 dB (not close) -> dropped, too short
    score = risk.score_window(window([(72, 480), (73, 1200)]))
    assert score.minutes_below_threshold == 8.0
    assert score.minutes == 28.0
    assert score.dropped_reason == risk.DROP_TOO_SHORT


@pytest.mark.parametrize(
    ("db", "weighted"),
    [(0, 10.0), (54, 10.0), (55, 5.0), (62, 5.0), (63, 0.0), (72, 0.0)],
)
def test_attenuation_weight_boundaries(db: int, weighted: float) -> None:
    score = risk.score_window(window([(db, 600)]))  # 10 minutes at one attenuation
    assert score.weighted_minutes == weighted
    assert score.normalized_time == pytest.approx(7 * 0.2 * weighted)


def test_threshold_of_15_is_inclusive() -> None:
    # clinical diagnosis, standard infectiousness: TR 5 -> 5 x 0.2 = 1.0 per weighted minute
    exactly = risk.score_window(window([(50, 900)], tr=5))  # 15 min
    assert exactly.normalized_time == 15.0
    assert exactly.high is True
    below = risk.score_window(window([(50, 870)], tr=5))  # 14.5 min
    assert below.normalized_time == 14.5
    assert below.high is False


@pytest.mark.parametrize("tr", [1, 2])
def test_windows_with_transmission_risk_1_or_2_are_dropped(tr: int) -> None:
    score = risk.score_window(window([(40, 3600)], tr=tr))  # an hour very close
    assert score.dropped_reason == risk.DROP_TRANSMISSION_RISK
    assert score.high is False
    kept = risk.score_window(window([(40, 3600)], tr=3))  # 3 x 0.2 x 60 = 36
    assert kept.normalized_time == pytest.approx(36.0)


def test_revoked_and_not_infectious_windows_never_count() -> None:
    revoked = window([(40, 3600)], report_type=risk.REPORT_REVOKED)
    assert risk.score_window(revoked).dropped_reason == risk.DROP_REVOKED
    none = window([(40, 3600)], infectiousness=risk.INFECTIOUSNESS_NONE, tr=0)
    assert risk.score_window(none).dropped_reason == risk.DROP_NOT_INFECTIOUS


# ---------------------------------------------------------------- days and the result


def test_two_windows_below_15_on_one_day_sum_to_high() -> None:
    first = window([(50, 600)])  # 7 x 0.2 x 10 = 14
    second = window([(50, 600)])  # another key, same day: 14
    assert not risk.score_window(first).high
    result = risk.assess([first, second])
    assert result.level == "high"
    (day,) = result.days
    assert day.normalized_time == pytest.approx(28.0)
    assert day.windows == 2
    assert day.high is True


def test_two_windows_of_14_on_different_days_stay_low() -> None:
    result = risk.assess([window([(50, 600)]), window([(50, 600)], day=date(2021, 5, 13))])
    assert result.level == "low"
    assert [d.normalized_time for d in result.days] == [pytest.approx(14.0)] * 2
    assert not result.high_days


def test_only_dropped_windows_give_none_with_the_reason() -> None:
    result = risk.assess([window([(50, 300)])])  # 5 min only
    assert result.level == "none"
    assert result.days[0].windows == 0
    assert result.days[0].windows_dropped == 1
    assert "ít hơn 10 phút" in result.text("vi")
    assert "less than 10 minutes" in result.text("en")


def test_no_windows_at_all() -> None:
    result = risk.assess([])
    assert result.level == "none"
    assert result.days == ()
    assert "Không phát hiện tiếp xúc gần" in result.reasons[0]


def test_high_explanation_says_which_day_how_long_and_why() -> None:
    result = risk.assess([window([(50, 600), (58, 600)])])  # 10 min at 50 + 10 min at 58 dB
    # weighted 10 + 5 = 15 -> 7 x 0.2 x 15 = 21
    assert result.level == "high"
    vi, en = result.text("vi"), result.text("en")
    assert "Ngày 12/05/2021" in vi
    assert "trong 20 phút" in vi
    assert "10 phút ở mức suy hao 0–55 dB" in vi
    assert "10 phút ở mức suy hao 55–63 dB (hệ số 0.5)" in vi
    assert "Điểm rủi ro 21 đạt ngưỡng 15" in vi
    assert "nguy cơ CAO" in vi
    assert "On 12/05/2021" in en
    assert "for 20 minutes" in en
    assert "Risk score 21 reaches the threshold of 15" in en
    assert result.reasons[0].startswith("Ngày 12/05/2021")  # Vietnamese first
    assert "\nOn 12/05/2021" in result.reasons[0]
    assert "đường dây nóng 1022 để được xét nghiệm" in vi
    assert "the 1022 hotline to get tested" in en
    # The app names its own hotline.
    local = risk.assess([window([(50, 600), (58, 600)])], risk.RiskConfig(hotline="1900 9095"))
    assert "đường dây nóng 1900 9095 để được xét nghiệm" in local.text("vi")
    assert "the 1900 9095 hotline to get tested" in local.text("en")


def test_low_explanation() -> None:
    result = risk.assess([window([(60, 720)])])  # 12 min at 60 dB: 7 x 0.2 x 6 = 8.4
    assert result.level == "low"
    assert "Điểm rủi ro 8.4 dưới ngưỡng 15" in result.text("vi")
    assert "below the threshold of 15" in result.text("en")


def test_every_parameter_can_be_overridden() -> None:
    config = RiskConfig(
        min_close_minutes=5,
        attenuation_weights=((0, 60, 1.0), (60, None, 0.25)),
        transmission_risk_multiplier=0.5,
        high_risk_window=10,
        high_risk_day=10,
    )
    score = risk.score_window(window([(58, 240), (65, 240)]), config)  # 4 + 4 minutes
    # weighted 4 x 1.0 + 4 x 0.25 = 5; 7 x 0.5 x 5 = 17.5
    assert score.weighted_minutes == 5.0
    assert score.normalized_time == pytest.approx(17.5)
    assert score.high is True
    assert risk.score_window(window([(58, 240), (65, 240)])).dropped_reason == "too_short"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attenuation_weights": ((0, 55, 1.0), (50, 63, 0.5))},  # overlapping
        {"attenuation_weights": ((0, None, 1.0), (63, 70, 0.5))},  # open range not last
        {"attenuation_weights": ((0, 55, -1.0),)},
        {"scan_interval_seconds": 0},
        {"max_scan_credit_seconds": 60},
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(RiskError):
        RiskConfig(**kwargs)  # type: ignore[arg-type]


def test_scan_instance_validation() -> None:
    with pytest.raises(RiskError):
        ScanInstance(50, 50, -1)
    with pytest.raises(RiskError):
        ScanInstance(60, 50, 60)


# ---------------------------------------------------------------- sightings -> windows


def test_attenuation_is_tx_power_minus_corrected_rssi_never_negative() -> None:
    assert risk.attenuation(tx_power=8, rssi=-45) == 53
    assert risk.attenuation(tx_power=8, rssi=-45, rssi_correction=2) == 51
    assert risk.attenuation(tx_power=-20, rssi=-15) == 0


def test_sightings_every_two_minutes_for_twenty_minutes() -> None:
    # 11 scans at t = 0, 120, ..., 1200 s; each scan hears the key twice, 20 s apart
    sightings = []
    for k in range(11):
        sightings.append(Sighting(at=MIDNIGHT + 3600 + 120 * k, rssi=-45, tx_power=8))
        sightings.append(Sighting(at=MIDNIGHT + 3620 + 120 * k, rssi=-49, tx_power=8))
    config = RiskConfig(rssi_correction=2)
    (win,) = risk.windows_from_sightings(
        sightings, report_type=risk.REPORT_CONFIRMED_TEST, config=config
    )
    assert win.date == DAY
    assert win.transmission_risk == 7
    assert len(win.scan_instances) == 11
    # attenuations 8 - (-45 + 2) = 51 and 8 - (-49 + 2) = 55: min 51, median_low 51
    assert win.scan_instances[0] == ScanInstance(51, 51, 120)
    assert all(s.seconds_since_last_scan == 120 for s in win.scan_instances)
    score = risk.score_window(win, config)
    assert score.minutes == 22.0  # the first scan stands for one scan interval
    assert score.normalized_time == pytest.approx(7 * 0.2 * 22)


def test_long_gaps_are_capped_and_days_split_at_utc_midnight() -> None:
    late = MIDNIGHT + 86400 - 130  # 23:57:50 UTC
    sightings = [
        Sighting(at=MIDNIGHT + 600, rssi=-60, tx_power=0),
        Sighting(at=MIDNIGHT + 600 + 3600, rssi=-60, tx_power=0),  # an hour later
        Sighting(at=late, rssi=-60, tx_power=0),
        Sighting(at=late + 240, rssi=-60, tx_power=0),  # next UTC day
    ]
    windows = risk.windows_from_sightings(
        sightings, report_type=risk.REPORT_CONFIRMED_TEST, days_since_onset=1
    )
    assert [w.date for w in windows] == [DAY, date(2021, 5, 13)]
    assert windows[0].infectiousness == risk.INFECTIOUSNESS_HIGH
    assert windows[0].transmission_risk == 8
    assert [s.seconds_since_last_scan for s in windows[0].scan_instances] == [120, 300, 300]
    assert [s.seconds_since_last_scan for s in windows[1].scan_instances] == [120]


def test_keys_that_never_count_give_no_windows() -> None:
    sightings = [Sighting(at=MIDNIGHT, rssi=-40, tx_power=0)]
    assert risk.windows_from_sightings(sightings, report_type=risk.REPORT_REVOKED) == []
    assert (
        risk.windows_from_sightings(
            sightings, report_type=risk.REPORT_CONFIRMED_TEST, days_since_onset=20
        )
        == []
    )
