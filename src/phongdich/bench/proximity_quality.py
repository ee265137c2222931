"""``phongdich bench proximity-quality``: how well Bluetooth exposure notification finds the true
close contacts, under a stated radio model.

People, homes, checkpoints and stays come from the tracing simulator; ``phongdich.proximity.sim``
places people in rooms over time, gives them phones that advertise and scan with the chosen duty
cycle, and turns what each phone heard through the radio model (``phongdich.proximity.radio``)
into exposure windows scored by the device's risk rules (``phongdich.proximity.risk``, German
production configuration). For every pair of people with active phones and every UTC day:

- truth: they were within 2 m of each other for at least 15 minutes that day (cumulated);
- notified: the receiving phone's window of the other phone's key (as if that person were a
  confirmed case, transmission risk 7) is high risk.

Pairs are directed (each phone of a pair decides for itself). Recall = notified true contacts /
true contacts; precision = notified true contacts / notified. Misses and false alarms are broken
down by cause. Nothing here is tuned: the radio parameters are the literature values stated in
the output.

Phones are identified by ids in the simulation rather than by rolling proximity identifiers;
``gaen_check`` re-runs a handful of pairs packet by packet with real GAEN keys, RPIs and
encrypted metadata (``phongdich.proximity.gaen``) and matching through
``risk.windows_from_sightings`` to show that the shortcut does not change the verdict.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from phongdich.proximity import gaen, matching, risk
from phongdich.proximity.exportfile import ExportKey
from phongdich.proximity.radio import RadioModel
from phongdich.proximity.sim import (
    DUTY_CYCLES,
    PairDay,
    ProximityConfig,
    ProximityRun,
    explicit_scans,
    window_from_scans,
)
from phongdich.proximity.sim import (
    run as run_simulation,
)

MAIN = "german_default"
RISK_CONFIGS: dict[str, risk.RiskConfig] = {
    MAIN: risk.GERMAN_PRODUCTION,
    # attenuation buckets moved up by 8 dB: [0, 63) -> 1.0, [63, 73) -> 0.5
    "weights_63_73": dataclasses.replace(
        risk.GERMAN_PRODUCTION, attenuation_weights=((0, 63, 1.0), (63, 73, 0.5), (73, None, 0.0))
    ),
    # German weights, high risk from a score of 10 instead of 15
    "threshold_10": dataclasses.replace(
        risk.GERMAN_PRODUCTION, high_risk_window=10.0, high_risk_day=10.0
    ),
    # every minute below 73 dB counts fully (duration only)
    "duration_below_73": dataclasses.replace(
        risk.GERMAN_PRODUCTION, attenuation_weights=((0, 73, 1.0), (73, None, 0.0))
    ),
}
CHECK_PAIRS = 12  # pairs re-run packet by packet with real GAEN identifiers


def log(message: str) -> None:
    print(f"[bench proximity-quality] {message}", file=sys.stderr, flush=True)


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _scores(rows: Iterable[PairDay], name: str) -> dict[str, Any]:
    tp = fp = fn = 0
    for p in rows:
        if p.true_contact:
            if p.high[name]:
                tp += 1
            else:
                fn += 1
        elif p.high[name]:
            fp += 1
    return {
        "true_contacts": tp + fn,
        "notified": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "recall": _share(tp, tp + fn),
        "precision": _share(tp, tp + fp),
    }


def _close_bucket(minutes: float) -> str:
    for edge, name in ((30, "15-30 min"), (60, "30-60 min"), (120, "1-2 h")):
        if minutes < edge:
            return name
    return "2 h+"


def _error_bucket(db: float) -> str:
    if db <= -3:
        return "<= -3 dB (phones read weaker: look farther)"
    if db >= 3:
        return ">= +3 dB (phones read stronger: look closer)"
    return "within ±3 dB"


def _miss_cause(p: PairDay) -> str:
    """The first matching physical reason a true contact was not notified."""
    if p.phone_away:
        return "phone not carried (on the charger or by the bed at home)"
    if p.walls:
        return "through an interior wall"
    if "bag" in p.carry or p.carry == "pocket+pocket":
        return "phones in pockets or bags (body loss)"
    if p.model_error_db <= -3:
        return "phone models read weaker than the app's calibration"
    if p.close_minutes < 30:
        return "short contact (15-30 min): few scans"
    return "shadowing and fading (radio noise)"


def _miss_mechanism(p: PairDay) -> str:
    """Where in the risk rules the true contact fell out."""
    if p.scans == 0:
        return "no scan heard the other phone"
    if p.minutes_below_threshold < 10:
        return "window dropped: under 10 minutes below 73 dB"
    return "score under 15 (too little time below 55/63 dB)"


def _false_cause(p: PairDay) -> str:
    """The first matching reason a pair that was not a true contact was notified."""
    if p.close_minutes > 0:
        return "within 2 m, but for under 15 minutes"
    if p.distance_bucket == "2-3 m":
        return "2-3 m apart for a long time"
    if p.model_error_db >= 3:
        return "phone models read stronger than the app's calibration"
    if p.carry == "open+open":
        return "3 m+ apart, both phones in the open (no body loss)"
    return "3 m+ apart: shadowing and fading (radio noise)"


def _breakdown(
    rows: list[PairDay], key: Callable[[PairDay], str], truths_only: bool = False
) -> dict[str, dict[str, Any]]:
    """Scores per group. Over true contacts only (``truths_only``) there can be no false
    alarm, so only recall is given."""
    groups: dict[str, list[PairDay]] = defaultdict(list)
    for p in rows:
        groups[key(p)].append(p)
    names: tuple[str, ...] = ("true_contacts", "tp", "fn", "recall")
    if not truths_only:
        names += ("fp", "precision")
    out = {}
    for name in sorted(groups, key=lambda k: -len(groups[k])):
        s = _scores(groups[name], MAIN)
        out[name] = {k: s[k] for k in names}
    return out


# --------------------------------------------------------------------------- GAEN check


def _id_path(
    result: ProximityRun, receiver: int, sender: int, scans: list[list[tuple[int, int]]], day: Any
) -> risk.RiskResult:
    """The simulation's shortcut: the sender known by id, its TX power from its phone model."""
    models = result.radio.models
    tx = models[result.phones[sender].model].tx_power_dbm
    correction = models[result.phones[receiver].model].rssi_correction_db
    records = []
    for heard in scans:
        levels = sorted(risk.attenuation(tx, rssi, correction) for _, rssi in heard)
        records.append((heard[0][0], levels[0], levels[(len(levels) - 1) // 2]))
    window = window_from_scans(
        sorted(records),
        day=day,
        transmission_risk=risk.transmission_risk(
            risk.REPORT_CONFIRMED_TEST, risk.INFECTIOUSNESS_STANDARD
        ),
        calibration_confidence=0,
    )
    return risk.assess([window] if records else [])


def _rpi_path(
    result: ProximityRun,
    receiver: int,
    sender: int,
    scans: list[list[tuple[int, int]]],
    day_start: datetime,
    r: random.Random,
) -> risk.RiskResult:
    """The real thing: the sender's TEK, its RPIs and AEMs on air, the receiver storing
    (RPI, AEM, time, RSSI) among another phone's beacons, and the device's matcher
    (``matching.match``) finding the published key's sightings."""
    models = result.radio.models

    def key_bytes(n: int) -> bytes:
        return r.randbytes(n)

    tek = gaen.new_tek(day_start, rng=key_bytes)
    other = gaen.new_tek(day_start, rng=key_bytes)  # another phone nearby, never published
    stored: list[matching.Observation] = []  # what the receiving phone keeps
    tx_power = models[result.phones[sender].model].tx_power_dbm
    for key, power, every in ((tek, tx_power, 1), (other, -3, 3)):
        aemk = gaen.aemk(key.key)
        block = gaen.rpi_block(gaen.rpik(key.key), key.rolling_start_interval_number)
        meta = gaen.metadata(power)
        for heard in scans:
            for at, rssi in heard[::every]:
                j = gaen.en_interval_number(datetime.fromtimestamp(at, UTC))
                offset = 16 * (j - key.rolling_start_interval_number)
                rpi = block[offset : offset + 16]
                stored.append(
                    matching.Observation(rpi, gaen.encrypt_metadata(aemk, rpi, meta), at, rssi)
                )
    published = ExportKey(
        key_data=tek.key,
        transmission_risk_level=7,
        rolling_start_interval_number=tek.rolling_start_interval_number,
    )
    r.shuffle(stored)
    sightings = [
        risk.Sighting(
            at=s.observation.at,
            rssi=s.observation.rssi,
            tx_power=s.tx_power,
            calibration_confidence=s.calibration_confidence,
        )
        for found in matching.match([published], stored)
        for s in found.sightings
    ]
    config = dataclasses.replace(
        risk.GERMAN_PRODUCTION,
        rssi_correction=models[result.phones[receiver].model].rssi_correction_db,
    )
    windows = risk.windows_from_sightings(
        sightings, report_type=risk.REPORT_CONFIRMED_TEST, config=config
    )
    return risk.assess(windows, config)


def gaen_check(result: ProximityRun, day: int, seed: int) -> dict[str, Any]:
    """Re-run a few pairs of ``day`` packet by packet, by id and by real GAEN identifiers."""
    when = result.day_date(day)
    day_start = datetime(when.year, when.month, when.day, tzinfo=UTC)
    rows = [p for p in result.pair_days if p.day == when]
    picks: list[PairDay] = []
    r = random.Random(f"{seed}:gaen-check")
    for kind in ("tp", "fn", "fp"):
        group = [
            p
            for p in rows
            if (p.true_contact, p.high[MAIN])
            == {"tp": (True, True), "fn": (True, False), "fp": (False, True)}[kind]
        ]
        r.shuffle(group)
        picks.extend(group[: CHECK_PAIRS // 3])
    same = 0
    agree_fast = 0
    details = []
    for p in picks:
        lo, hi = min(p.receiver, p.sender), max(p.receiver, p.sender)
        intervals = result.kept_intervals.get((day, lo, hi), [])
        pr = random.Random(f"{seed}:packets:{p.receiver}:{p.sender}")
        scans = explicit_scans(result, p.receiver, p.sender, intervals, pr)
        by_id = _id_path(result, p.receiver, p.sender, scans, when)
        by_rpi = _rpi_path(result, p.receiver, p.sender, scans, day_start, pr)
        t_id = by_id.days[0].normalized_time if by_id.days else 0.0
        t_rpi = by_rpi.days[0].normalized_time if by_rpi.days else 0.0
        identical = by_id.level == by_rpi.level and t_id == t_rpi
        same += identical
        agree_fast += (by_id.level == "high") == p.high[MAIN]
        details.append(
            {
                "receiver": p.receiver,
                "sender": p.sender,
                "true_contact": p.true_contact,
                "adverts": sum(len(s) for s in scans),
                "level_by_id": by_id.level,
                "level_by_rpi": by_rpi.level,
                "normalized_time_by_id": t_id,
                "normalized_time_by_rpi": t_rpi,
            }
        )
    return {
        "day": when.isoformat(),
        "pairs": len(picks),
        "identical_by_id_and_by_rpi": same,
        "method": "each pair re-simulated advertisement by advertisement (not with the fast "
        "per-scan sampler); the same packets scored (a) by sender id and (b) by the receiver "
        "storing RPI+AEM+time+RSSI among another phone's beacons and the device's matcher "
        "(matching.match) finding the sender's published TEK, the AEM decrypted for the TX "
        "power, then risk.windows_from_sightings",
        "verdict_same_as_fast_sampler_run": agree_fast,
        "note": "the fast sampler draws other fading values than the packet-by-packet re-run, "
        "so its verdict may differ on borderline pairs; by-id vs by-RPI must be identical",
        "details": details,
    }


# --------------------------------------------------------------------------- bench


def _radio_description(radio: RadioModel) -> dict[str, Any]:
    return {
        "path_loss": "RSSI = P0 + dTx + dRx - 10 n log10(d/d0) - body(tx) - body(rx) "
        "- walls*L_wall + X_shadow + X_fade; attenuation = tx_power - (RSSI + rssi_correction)",
        "path_loss_exponent_n": radio.path_loss_exponent,
        "d0_m": radio.d0_m,
        "reference_attenuation_at_d0_db": radio.reference_attenuation_db,
        "reference_rssi_at_d0_dbm": radio.reference_rssi_dbm,
        "shadowing_sigma_db": radio.shadowing_sigma_db,
        "shadowing": "log-normal, one value per pair and position (a property of the geometry)",
        "fast_fading_sigma_db": radio.fading_sigma_db,
        "unit_to_unit_sigma_db": radio.unit_sigma_db,
        "wall_loss_db": radio.wall_loss_db,
        "sensitivity_dbm": radio.sensitivity_dbm,
        "carry_loss_db": {c.name: list(c.loss_db) for c in radio.carry.values()},
        "phone_models": [
            {
                "name": m.name,
                "share": m.share,
                "tx_power_dbm_in_app": m.tx_power_dbm,
                "rssi_correction_db_in_app": m.rssi_correction_db,
                "true_tx_error_db": m.tx_error_db,
                "true_rx_error_db": m.rx_error_db,
            }
            for m in radio.models
        ],
        "sources": "A0 = 55 dB at 1 m with n = 2 from the Corona-Warn-App documentation "
        "(73 dB ~ 8 m in free space); indoor line-of-sight n 1.6-2.2; shadowing 4-6 dB; body, "
        "pocket and bag 5-15 dB; brick wall 6-10 dB at 2.4 GHz; phone model table illustrative",
    }


def run(
    people: int = 1000,
    days: int = 3,
    seed: int = 2021,
    duty: str = "gaen",
    progress: bool = True,
) -> dict[str, Any]:
    started = time.monotonic()
    config = ProximityConfig(people=people, days=days, seed=seed, duty=duty)
    radio = RadioModel()
    check_day = 0
    log(f"simulating {people:,} people for {days} UTC days, {duty} duty cycle")
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=days + 1, desc="proximity", unit="day", file=sys.stderr)

    def step(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        result = run_simulation(
            config, radio, RISK_CONFIGS, progress=step, keep_intervals_of_day=check_day
        )
    finally:
        if bar is not None:
            bar.close()
    simulated = time.monotonic() - started
    rows = result.pair_days
    main = _scores(rows, MAIN)
    misses = [p for p in rows if p.true_contact and not p.high[MAIN]]
    false = [p for p in rows if not p.true_contact and p.high[MAIN]]
    truths = [p for p in rows if p.true_contact]
    contacts = result.close_contacts
    log("checking a few pairs with real GAEN identifiers")
    check = gaen_check(result, check_day, seed)
    d = result.duty
    return {
        "bench": "proximity-quality",
        "people": result.people,
        "people_with_phone": result.people_with_phone,
        "phones_active": len(result.phones),
        "days": days,
        "utc_days": [result.day_date(k).isoformat() for k in range(days)],
        "seed": seed,
        "truth": f"two people within {config.close_distance_m} m for at least "
        f"{config.close_minutes} minutes in one UTC day (cumulated)",
        "unit": "directed pair-day: one receiving phone, one advertising phone, one UTC day; "
        "both phones active",
        "detection": "the advertiser's key of that day as if published by a confirmed case "
        "(report type 1, infectiousness standard: transmission risk 7); the receiver's "
        "exposure window scored by phongdich.proximity.risk.assess; notified = high risk",
        "risk_config": "German production defaults (windows with < 10 min below 73 dB dropped; "
        "weights [0,55) 1.0, [55,63) 0.5, >= 63 0; normalizedTime = TR x 0.2 x weighted "
        "minutes; high at >= 15 per window or day)",
        "identification": "phones are identified by their person id, not by rolling proximity "
        "identifiers (the crypto is tested elsewhere); see gaen_check",
        "duty_cycle": {
            "name": d.name,
            "scan_seconds": list(d.scan_seconds),
            "scan_period_seconds": list(d.scan_period_seconds),
            "advert_interval_ms": list(d.advert_interval_ms),
            "advert_on_off_seconds": list(d.advert_on_off_seconds)
            if d.advert_on_off_seconds
            else "continuous",
            "p_receive_packet": d.p_receive,
        },
        "radio_model": _radio_description(radio),
        "simulation": {
            "p_bluetooth_off": config.p_bluetooth_off,
            "radio_range_m": config.radio_range_m,
            "radio_range_note": "phones farther apart than this are not simulated at all "
            "(for speed); at that distance the free-space mean attenuation of a calibrated pair "
            f"is {radio.reference_attenuation_db + radio.path_loss(config.radio_range_m):.1f} dB, "
            "above the 73 dB threshold before any body loss",
            "at_home": f"phone on the charger {config.p_phone_on_charger:.0%} of awake time, "
            "by the bed at night",
            "not_simulated": "travel between places; phones of different homes or checkpoints; "
            "people's bodies between phones of others",
        },
        "true_contacts_all_people": len(contacts),
        "true_contacts_both_phones_active": sum(1 for c in contacts if c.phones == 2),
        "true_contacts_one_phone_missing": sum(1 for c in contacts if c.phones == 1),
        "true_contacts_no_phone": sum(1 for c in contacts if c.phones == 0),
        "directed_pair_days_evaluated": result.evaluated_pair_days,
        **main,
        "true_contact_minutes_median": statistics.median(p.close_minutes for p in truths)
        if truths
        else None,
        "recall_by_place": _breakdown(truths, lambda p: p.place, truths_only=True),
        "recall_by_close_minutes": _breakdown(
            truths, lambda p: _close_bucket(p.close_minutes), truths_only=True
        ),
        "by_distance": _breakdown(rows, lambda p: p.distance_bucket),
        "by_carry": _breakdown(rows, lambda p: p.carry),
        "by_model_error": _breakdown(rows, lambda p: _error_bucket(p.model_error_db)),
        "misses_by_cause": dict(Counter(_miss_cause(p) for p in misses).most_common()),
        "misses_by_rule": dict(Counter(_miss_mechanism(p) for p in misses).most_common()),
        "false_alarms_by_cause": dict(Counter(_false_cause(p) for p in false).most_common()),
        "false_alarms_by_place": dict(Counter(p.place for p in false).most_common()),
        "cause_rules": "each miss or false alarm gets the first matching cause, in the order "
        "listed in phongdich.bench.proximity_quality (_miss_cause, _false_cause); the by_* "
        "tables break every pair down along one dimension",
        "alternatives": {name: _scores(rows, name) for name in RISK_CONFIGS if name != MAIN},
        "alternatives_note": "weights_63_73: buckets [0,63) 1.0, [63,73) 0.5; threshold_10: "
        "high from 10 instead of 15; duration_below_73: every minute below 73 dB weighs 1",
        "gaen_check": check,
        "intervals_simulated": result.intervals,
        "scan_records": result.scans,
        "seconds_simulation": round(simulated, 1),
        "seconds": round(time.monotonic() - started, 1),
    }


__all__ = ["DUTY_CYCLES", "RISK_CONFIGS", "gaen_check", "run"]
