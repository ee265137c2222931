"""Benchmark: matching published keys against a phone's 14-day sighting log.

``run(keys, processes, rounds)``:

1. Builds a realistic sighting log of one phone over 14 days with real GAEN keys: two household
   members most of the day, four colleagues on weekdays, and about 80 strangers a day (shops,
   buses) met for 2–30 minutes. The phone scans every 90–120 s (Bluezone's cycle), and each
   scan hears every device in range once, with its current RPI and AEM. A few RPIs of published
   keys are also "replayed" 3 hours after their key expired: GAEN's ± 2 h rule must refuse them.
2. Publishes ``keys`` keys for the same 14 days: the day keys of 50 devices the phone met, plus
   random keys.
3. Measures, in alternating rounds so that machine noise hits both alike:
   (a) :class:`phongdich.proximity.matching.Matcher` on ``processes`` cores (pool started once,
       before the clock) and on one core — keys matched per second, metadata decryption of the
       matches included;
   (b) the bare AES work: ONE AES-128-ECB cipher and ONE ``update`` over ``keys × 144`` blocks.
   ratio = (a) / (b), both in keys per second.
4. Checks correctness: the matched keys and accepted sightings equal the ground truth.

The target is 50,000 keys per second on this 2-core machine. The last line printed by
``phongdich bench match`` is the JSON result.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tqdm import tqdm

from phongdich.proximity import gaen, matching
from phongdich.proximity.exportfile import ExportKey

TARGET_PER_S = 50_000
DAYS = 14
SCAN_MIN_S, SCAN_MAX_S = 90, 120
MATCHING_DEVICES = 50
REPLAYED = 40
FIRST_DAY = 18_800  # days since 1970 (2021-06-21, a Monday), so intervals are realistic


def _log(message: str) -> None:
    print(f"[bench match] {message}", file=sys.stderr, flush=True)


@dataclass
class _DeviceDay:
    tek: bytes
    rolling_start: int
    rpis: list[bytes]
    aemk: bytes
    metadata: bytes


@dataclass
class SightingLog:
    observations: list[matching.Observation]
    device_days: list[_DeviceDay]
    heard: dict[bytes, int]  # TEK -> sightings of it (within its validity)
    devices: int


def _device_day(rng: random.Random, day: int) -> _DeviceDay:
    tek = rng.randbytes(16)
    start = day * gaen.TEK_ROLLING_PERIOD
    tx = rng.randrange(-30, 0)
    return _DeviceDay(
        tek=tek,
        rolling_start=start,
        rpis=gaen.rpis_for_day(gaen.rpik(tek), start),
        aemk=gaen.aemk(tek),
        metadata=gaen.metadata(tx, calibration_confidence=rng.randrange(4)),
    )


def build_log(rng: random.Random, days: int = DAYS) -> SightingLog:
    """The phone's sightings over ``days`` days (see the module docstring)."""
    observations: list[matching.Observation] = []
    device_days: list[_DeviceDay] = []
    heard: dict[bytes, int] = {}
    devices = 0
    for offset in range(days):
        day = FIRST_DAY + offset
        midnight = day * 86_400
        # (device, first second of the day in range, last second, typical RSSI)
        present: list[tuple[_DeviceDay, int, int, int]] = []
        for _ in range(2):  # household: 17:00-07:00 Vietnam time = 10:00-24:00 UTC
            present.append((_device_day(rng, day), 10 * 3600, 86_399, rng.randrange(-75, -55)))
        if offset % 7 < 5:  # colleagues on weekdays, 01:30-09:30 UTC
            for _ in range(4):
                present.append((_device_day(rng, day), 5400, 34_200, rng.randrange(-85, -60)))
        for _ in range(rng.randrange(60, 100)):  # strangers, 2-30 minutes
            begin = rng.randrange(0, 86_400 - 1800)
            minutes = rng.randrange(2, 31)
            present.append(
                (_device_day(rng, day), begin, begin + 60 * minutes, -95 + rng.randrange(40))
            )
        devices += len(present)
        at = rng.randrange(SCAN_MAX_S)
        while at < 86_400:
            for device, begin, end, rssi in present:
                if begin <= at <= end:
                    interval = (midnight + at) // gaen.INTERVAL_SECONDS
                    rpi = device.rpis[interval - device.rolling_start]
                    aem = gaen.encrypt_metadata(device.aemk, rpi, device.metadata)
                    noisy = rssi + rng.randrange(-6, 7)
                    observations.append(matching.Observation(rpi, aem, midnight + at, noisy))
                    heard[device.tek] = heard.get(device.tek, 0) + 1
            at += rng.randrange(SCAN_MIN_S, SCAN_MAX_S + 1)
        device_days.extend(d for d, *_ in present)
    return SightingLog(observations, device_days, heard, devices)


def _published(
    rng: random.Random, log: SightingLog, count: int
) -> tuple[list[ExportKey], set[bytes], int]:
    """``count`` published keys: 50 of the met devices' day keys, the rest random."""
    sighted = [d for d in log.device_days if d.tek in log.heard]
    positives = rng.sample(sighted, min(MATCHING_DEVICES, len(sighted), count))
    keys = [ExportKey(d.tek, 7, d.rolling_start) for d in positives]
    while len(keys) < count:
        start = (FIRST_DAY + rng.randrange(DAYS)) * gaen.TEK_ROLLING_PERIOD
        keys.append(ExportKey(rng.randbytes(16), rng.randrange(1, 9), start))
    rng.shuffle(keys)
    expected = {d.tek for d in positives}
    # Replayed sightings: a published key's last RPI heard 3 h after the key expired.
    for device in positives[:REPLAYED]:
        late = (device.rolling_start + gaen.TEK_ROLLING_PERIOD + 18) * gaen.INTERVAL_SECONDS
        rpi = device.rpis[-1]
        aem = gaen.encrypt_metadata(device.aemk, rpi, device.metadata)
        log.observations.append(matching.Observation(rpi, aem, late, -60))
    expected_sightings = sum(log.heard[tek] for tek in expected)
    return keys, expected, expected_sightings


def _bare_rate(count: int) -> float:
    """Keys per second of the bare AES: one cipher, one update over ``count`` x 144 blocks."""
    data = gaen.padded_data(FIRST_DAY * gaen.TEK_ROLLING_PERIOD) * (count * 144)
    cipher = Cipher(algorithms.AES(bytes(16)), modes.ECB()).encryptor()  # noqa: S305 - GAEN
    started = time.perf_counter()
    out = cipher.update(data)
    elapsed = time.perf_counter() - started
    assert len(out) == len(data)
    return count / elapsed


def run(keys: int = 100_000, processes: int | None = None, rounds: int = 3) -> dict[str, object]:
    """Build the log and the keys, measure matching and bare AES, check correctness."""
    if keys < MATCHING_DEVICES:
        raise ValueError(f"keys must be at least {MATCHING_DEVICES}")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    cores = processes or os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rng = random.Random(2021)

    started = time.perf_counter()
    log = build_log(rng)
    published, expected, expected_sightings = _published(rng, log, keys)
    _log(
        f"{len(log.observations):,} sightings of {log.devices:,} device-days over {DAYS} days; "
        f"{keys:,} published keys, {len(expected)} of them met "
        f"({time.perf_counter() - started:.1f} s to build)"
    )

    with (
        matching.Matcher(log.observations, processes=cores) as parallel,
        matching.Matcher(log.observations, processes=1) as single,
    ):
        started = time.perf_counter()
        parallel.start()
        parallel.match(published[: parallel.chunk_size * cores])  # workers warm and ready
        pool_start_s = time.perf_counter() - started
        rates: dict[str, list[float]] = {"match": [], "one_core": [], "bare": []}
        found: dict[str, list[matching.KeyMatch]] = {}
        with tqdm(total=2 * keys * rounds, unit="key", desc="match", file=sys.stderr) as bar:
            for round_no in range(rounds):
                order = ["match", "one_core", "bare"]
                if round_no % 2:
                    order.reverse()
                for side in order:
                    if side == "bare":
                        rates["bare"].append(_bare_rate(keys))
                        continue
                    matcher = parallel if side == "match" else single
                    t0 = time.perf_counter()
                    result = matcher.match(published, progress=bar.update)
                    rates[side].append(keys / (time.perf_counter() - t0))
                    found[side] = result
                _log(
                    f"round {round_no + 1}/{rounds}: {cores} cores {rates['match'][-1]:,.0f} "
                    f"keys/s, one core {rates['one_core'][-1]:,.0f} keys/s, bare AES "
                    f"{rates['bare'][-1]:,.0f} keys/s"
                )

    found_teks = {m.key.key_data for m in found["match"]}
    found_sightings = sum(len(m.sightings) for m in found["match"])
    same_on_one_core = [(m.key_index, m.sightings) for m in found["match"]] == [
        (m.key_index, m.sightings) for m in found["one_core"]
    ]
    correct = found_teks == expected and found_sightings == expected_sightings
    correct = correct and same_on_one_core
    match_rate = statistics.median(rates["match"])
    one_core = statistics.median(rates["one_core"])
    bare = statistics.median(rates["bare"])
    return {
        "bench": "match",
        "keys": keys,
        "sightings": len(log.observations),
        "device_days_met": log.devices,
        "days": DAYS,
        "cores": cores,
        "keys_per_s": round(match_rate, 1),
        "keys_per_s_one_core": round(one_core, 1),
        "bare_aes_keys_per_s": round(bare, 1),
        "bare_aes_blocks_per_s": round(bare * 144, 1),
        "ratio": round(match_rate / bare, 4),
        "ratio_one_core": round(one_core / bare, 4),
        "rounds": rounds,
        "rates_per_round": {k: [round(v, 1) for v in vs] for k, vs in rates.items()},
        "pool_start_s": round(pool_start_s, 3),
        "matches_expected": len(expected),
        "matches_found": len(found_teks),
        "sightings_matched_expected": expected_sightings,
        "sightings_matched_found": found_sightings,
        "replayed_sightings_refused": REPLAYED,
        "correct": correct,
        "target_per_s": TARGET_PER_S,
        "meets_target": match_rate >= TARGET_PER_S,
        "load_average_at_start": load,
    }
