"""The Bluetooth radio model: path loss, calibration, losses, sensitivity and scan sampling."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from phongdich.proximity import risk
from phongdich.proximity.radio import (
    CARRY_POSITIONS,
    PHONE_MODELS,
    PhoneModel,
    RadioModel,
    ScanSampler,
    hashed_gauss,
)

PERFECT = PhoneModel("reference", 1.0, -5, 0, 0.0, 0.0)


def attenuation_of(radio: RadioModel, tx: PhoneModel, rx: PhoneModel, **kw: float) -> float:
    """What the app computes from the mean RSSI of ``tx`` heard by ``rx``."""
    rssi = radio.mean_rssi(
        kw.pop("distance", 1.0),
        tx_offset=radio.tx_offset(tx),
        rx_offset=radio.rx_offset(rx),
        **kw,  # type: ignore[arg-type]
    )
    return tx.tx_power_dbm - (rssi + rx.rssi_correction_db)


def test_log_distance_path_loss() -> None:
    radio = RadioModel()
    assert radio.path_loss(1.0) == 0.0
    assert radio.path_loss(10.0) == pytest.approx(20.0)
    assert radio.path_loss(2.0) == pytest.approx(6.0206, abs=1e-3)
    steeper = RadioModel(path_loss_exponent=3.0)
    assert steeper.path_loss(10.0) == pytest.approx(30.0)
    # clamped in the near field: 5 cm is treated as min_distance_m
    assert radio.path_loss(0.05) == radio.path_loss(radio.min_distance_m)


def test_calibrated_reference_pair_sees_a0_plus_path_loss() -> None:
    radio = RadioModel()
    assert radio.reference_tx_dbm == -5.0
    assert attenuation_of(radio, PERFECT, PERFECT) == pytest.approx(55.0)
    assert attenuation_of(radio, PERFECT, PERFECT, distance=8.0) == pytest.approx(73.06, abs=0.01)
    # a perfectly calibrated model with other table values sees the same attenuation
    other = PhoneModel("other", 1.0, -12, 7, 0.0, 0.0)
    assert attenuation_of(radio, other, other, distance=2.0) == pytest.approx(
        attenuation_of(radio, PERFECT, PERFECT, distance=2.0)
    )


def test_model_errors_body_walls_and_shadowing_shift_the_attenuation() -> None:
    radio = RadioModel()
    base = attenuation_of(radio, PERFECT, PERFECT, distance=2.0)
    loud = PhoneModel("loud", 1.0, -5, 0, 3.0, 0.0)
    deaf = PhoneModel("deaf", 1.0, -5, 0, 0.0, -4.0)
    # a phone louder than its table entry looks closer; a deaf receiver makes it look farther
    assert attenuation_of(radio, loud, PERFECT, distance=2.0) == pytest.approx(base - 3.0)
    assert attenuation_of(radio, PERFECT, deaf, distance=2.0) == pytest.approx(base + 4.0)
    assert attenuation_of(radio, PERFECT, PERFECT, distance=2.0, body_loss_db=17.0) == (
        pytest.approx(base + 17.0)
    )
    assert attenuation_of(radio, PERFECT, PERFECT, distance=2.0, walls=2) == pytest.approx(
        base + 2 * radio.wall_loss_db
    )
    assert attenuation_of(radio, PERFECT, PERFECT, distance=2.0, shadowing_db=5.0) == (
        pytest.approx(base - 5.0)
    )


def test_model_table_is_consistent() -> None:
    assert sum(m.share for m in PHONE_MODELS) == pytest.approx(1.0)
    assert {m.calibration_confidence for m in PHONE_MODELS} >= {1, 3}
    # every table error stays within ±5 dB (the stated spread)
    assert all(abs(m.tx_error_db) <= 5 and abs(m.rx_error_db) <= 5 for m in PHONE_MODELS)
    radio = RadioModel()
    r = random.Random(1)
    drawn = [radio.pick_model(r) for _ in range(20_000)]
    share = drawn.count(0) / len(drawn)
    assert share == pytest.approx(PHONE_MODELS[0].share, abs=0.02)


def test_carry_losses_stay_in_their_ranges() -> None:
    radio = RadioModel()
    r = random.Random(3)
    for name, position in CARRY_POSITIONS.items():
        values = [radio.carry_loss(r, name) for _ in range(500)]
        lo, hi = position.loss_db
        assert lo <= min(values)
        assert max(values) <= hi
    assert CARRY_POSITIONS["bag"].loss_db[1] >= 15 > CARRY_POSITIONS["hand"].loss_db[1]


def test_detection_falls_off_at_sensitivity() -> None:
    radio = RadioModel()
    assert radio.detection_probability(-100.0) == pytest.approx(0.5)
    assert radio.detection_probability(-60.0) == pytest.approx(1.0)
    assert radio.detection_probability(-200.0) == 0.0
    values = [radio.detection_probability(x) for x in (-110, -104, -100, -96, -90)]
    assert values == sorted(values)
    assert values[0] < 0.01
    assert values[-1] > 0.99


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RadioModel(path_loss_exponent=0)
    with pytest.raises(ValueError, match="deviations"):
        RadioModel(shadowing_sigma_db=-1)
    with pytest.raises(ValueError, match="shares"):
        RadioModel(models=())
    with pytest.raises(ValueError, match="p_receive"):
        ScanSampler(RadioModel(), 1, p_receive=0)


def test_hashed_gauss_is_a_deterministic_standard_normal() -> None:
    assert hashed_gauss(1, 2, 3) == hashed_gauss(1, 2, 3)
    assert hashed_gauss(1, 2, 3) != hashed_gauss(3, 2, 1)
    values = [hashed_gauss(7, k) for k in range(20_000)]
    assert statistics.fmean(values) == pytest.approx(0.0, abs=0.03)
    assert statistics.pstdev(values) == pytest.approx(1.0, abs=0.03)
    radio = RadioModel(shadowing_sigma_db=5.0)
    assert radio.shadowing(7, 1) == pytest.approx(5.0 * hashed_gauss(7, 1))


def test_scan_sampler_is_seeded() -> None:
    radio = RadioModel()
    counts = [16] * 200
    a = ScanSampler(radio, "s", p_receive=0.7).scans(random.Random(1), counts, -80.0)
    b = ScanSampler(radio, "s", p_receive=0.7).scans(random.Random(1), counts, -80.0)
    c = ScanSampler(radio, "s", p_receive=0.7).scans(random.Random(2), counts, -80.0)
    assert a == b
    assert a != c


def test_fast_scan_summary_matches_packet_by_packet_statistics() -> None:
    """The per-scan order statistics drawn from tables have the distribution of the maximum and
    upper median of the packets drawn one by one."""
    radio = RadioModel()
    sampler = ScanSampler(radio, "t", p_receive=0.7)
    r = random.Random(11)
    mean = -75.0
    fast = [x for x in sampler.scans(r, [16] * 4000, mean) if x is not None]
    slow = []
    for _ in range(4000):
        packets = sampler.adverts(r, 16, mean)
        if packets:
            packets.sort()
            slow.append((packets[-1], packets[len(packets) // 2]))
    for i in (0, 1):
        assert statistics.fmean(x[i] for x in fast) == pytest.approx(
            statistics.fmean(x[i] for x in slow), abs=0.3
        )
        assert statistics.pstdev(x[i] for x in fast) == pytest.approx(
            statistics.pstdev(x[i] for x in slow), abs=0.3
        )
    assert all(top >= median for top, median in fast)
    # the strongest packet is well above the mean: with ~11 packets of sigma 4 dB, ~6 dB
    assert statistics.fmean(x[0] for x in fast) - mean == pytest.approx(6.3, abs=0.7)


def test_scans_near_and_below_sensitivity() -> None:
    radio = RadioModel()
    sampler = ScanSampler(radio, "u", p_receive=1.0)
    r = random.Random(5)
    assert sampler.scans(r, [16] * 50, -140.0) == [None] * 50
    assert not sampler.audible(-140.0)
    assert sampler.audible(-70.0)
    strong = sampler.scans(r, [16] * 50, -70.0)
    assert all(x is not None for x in strong)
    weak = sampler.scans(r, [16] * 400, -104.0)
    heard = sum(x is not None for x in weak)
    assert 0 < heard < 400  # some scans decode a packet at the edge, some none
    assert sampler.scans(r, [0, 0], -60.0) == [None, None]


def test_attenuation_from_sampled_rssi_uses_the_risk_rules() -> None:
    """The app's attenuation is the risk module's: TX power - (RSSI + correction), >= 0."""
    model = dataclasses.replace(PERFECT, rssi_correction_db=3)
    assert risk.attenuation(model.tx_power_dbm, -70, model.rssi_correction_db) == 62
    assert risk.attenuation(model.tx_power_dbm, 10, model.rssi_correction_db) == 0
