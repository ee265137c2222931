"""Benchmark: building (and reading back) a signed GAEN key export.

``run(count, repeats)`` makes ``count`` random keys (14 days of start intervals, every
transmission risk, days since onset set on most) and times, ``repeats`` times each on one core:

(a) ``exportfile.build_export``: validation, random order, protobuf, ECDSA P-256 signature, zip;
(b) ``exportfile.read_export``: zip, header, protobuf, signature check, decoding every key.

The best and the median run are reported; the target is 100,000 keys built in at most 5 s
(scaled linearly for other counts).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from cryptography.hazmat.primitives.asymmetric import ec

from phongdich.proximity import exportfile

TARGET_SECONDS = 5.0


def _log(message: str) -> None:
    print(f"[bench export] {message}", file=sys.stderr, flush=True)


def _keys(count: int) -> list[exportfile.ExportKey]:
    start = 2_800_000 // 144 * 144
    return [
        exportfile.ExportKey(
            key_data=os.urandom(16),
            transmission_risk_level=i % 9,
            rolling_start_interval_number=start + 144 * (i % 14),
            rolling_period=144,
            report_type=1,
            days_since_onset_of_symptoms=None if i % 5 == 0 else (i % 29) - 14,
        )
        for i in range(count)
    ]


def run(count: int = 100_000, repeats: int = 3) -> dict[str, object]:
    signing_key = ec.generate_private_key(ec.SECP256R1())
    keys = _keys(count)
    public = {"452": signing_key.public_key()}
    builds: list[float] = []
    reads: list[float] = []
    size = 0
    for i in range(repeats):
        t0 = time.perf_counter()
        data = exportfile.build_export(
            keys,
            start_timestamp=1_700_000_000,
            end_timestamp=1_700_000_900,
            region="VN",
            batch_num=1,
            batch_size=1,
            signing_key=signing_key,
            key_id="452",
            key_version="v1",
        )
        t1 = time.perf_counter()
        export = exportfile.read_export(data, public)
        t2 = time.perf_counter()
        if len(export.keys) != count or {k.key_data for k in export.keys} != {
            k.key_data for k in keys
        }:
            raise RuntimeError("the export read back does not hold the keys written")
        builds.append(t1 - t0)
        reads.append(t2 - t1)
        size = len(data)
        _log(f"run {i + 1}/{repeats}: build {t1 - t0:.3f} s, read {t2 - t1:.3f} s")
    best = min(builds)
    target = TARGET_SECONDS * count / 100_000  # the target scales with the number of keys
    return {
        "benchmark": "export",
        "keys": count,
        "zip_bytes": size,
        "build_seconds_best": round(best, 3),
        "build_seconds_median": round(statistics.median(builds), 3),
        "read_seconds_best": round(min(reads), 3),
        "read_seconds_median": round(statistics.median(reads), 3),
        "target_build_seconds": round(target, 3),
        "meets_target": best <= target,
    }
