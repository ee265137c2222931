"""Benchmark: personal health QR verification, full check versus the bare signature check.

``run(count, seconds)`` builds a key ring with 2 keys, issues ``count`` passes for random
subjects (mixed statuses, half signed by each key, all valid now), then measures on one core
(this process, a single thread), side by side in the same run:

(a) ``ring.verify(text, now)``: everything a scanner does — prefix, Base45 decoding, parsing,
    key look-up, Ed25519 signature check, time checks, building the result;
(b) ``public_key.verify(signature, message)`` alone over the same passes, decoded beforehand.

The two are measured in alternating rounds (a b, b a, a b, ...) so that machine noise (other
processes, frequency scaling) hits both alike; each side gets about ``seconds`` in total. The
ratio a / b says how much of the signature check's speed survives the rest of the work; the
target is 10,000 full verifications per second on one core.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from phongdich.kit import base45
from phongdich.people import healthqr

TARGET_PER_S = 10_000
ROUNDS = 6  # per side; alternating order, so each side runs first in half of them
CHUNK = 256  # operations between clock reads
WARMUP = 200  # operations per side before measuring


def _log(message: str) -> None:
    print(f"[bench personal-qr] {message}", file=sys.stderr, flush=True)


def _measure(step: Callable[[int, int], None], total: int, start: int, budget: float) -> int:
    """Run ``step(lo, hi)`` over consecutive chunks of [0, total), wrapping around, starting at
    ``start``, until ``budget`` seconds have passed; return the number of operations done."""
    done = 0
    position = start
    deadline = time.perf_counter() + budget
    while True:
        hi = min(position + CHUNK, total)
        step(position, hi)
        done += hi - position
        position = hi % total
        if time.perf_counter() >= deadline:
            return done


def run(count: int = 20_000, seconds: float = 3.0) -> dict[str, object]:
    """Issue ``count`` passes, measure full and bare verification; return the figures."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    rng = random.Random(2021)
    seeds = {1: rng.randbytes(32), 2: rng.randbytes(32)}
    # Both keys verify; passes are issued half with each, as during a key rotation.
    issuers = [healthqr.KeyRing(seeds, active=kid) for kid in seeds]
    ring = issuers[0]
    now = datetime.now(UTC)

    _log(f"issuing {count} passes")
    started = time.perf_counter()
    texts: list[str] = []
    for i in range(count):
        issued = now - timedelta(seconds=rng.randint(0, 30 * 86_400))
        expires = now + timedelta(seconds=rng.randint(3_600, 30 * 86_400))
        status = rng.choice(healthqr.STATUSES)
        texts.append(issuers[i % 2].issue(rng.randbytes(8), status, issued, expires))
    _log(f"issued {count} passes in {time.perf_counter() - started:.1f} s")

    # The bare side's input, decoded once outside the clock: (public key, signature, message).
    public: dict[int, Ed25519PublicKey] = {
        kid: Ed25519PrivateKey.from_private_bytes(seed).public_key() for kid, seed in seeds.items()
    }
    prefix_len = len(healthqr.PREFIX)
    bare: list[tuple[Ed25519PublicKey, bytes, bytes]] = []
    for text in texts:
        raw = base45.decode(text[prefix_len:])
        signed = raw[: healthqr.SIGNED_LEN]
        bare.append((public[raw[1]], raw[healthqr.SIGNED_LEN :], healthqr.DOMAIN + signed))

    verify = ring.verify

    def full_step(lo: int, hi: int) -> None:
        for text in texts[lo:hi]:
            verify(text, now)

    def bare_step(lo: int, hi: int) -> None:
        for key, signature, message in bare[lo:hi]:
            key.verify(signature, message)

    # Every pass must verify both ways before any timing means anything.
    full_step(0, min(count, WARMUP))
    bare_step(0, min(count, WARMUP))

    budget = seconds / ROUNDS
    ops = {"full": 0, "bare": 0}
    spent = {"full": 0.0, "bare": 0.0}
    steps = {"full": full_step, "bare": bare_step}
    position = 0
    for round_no in range(ROUNDS):
        order = ("full", "bare") if round_no % 2 == 0 else ("bare", "full")
        done = 0
        rates: dict[str, float] = {}
        for side in order:
            # Both sides of a round start at the same pass.
            t0 = time.perf_counter()
            done = _measure(steps[side], count, position, budget)
            elapsed = time.perf_counter() - t0
            ops[side] += done
            spent[side] += elapsed
            rates[side] = done / elapsed
        position = (position + done) % count
        _log(
            f"round {round_no + 1}/{ROUNDS}: full {rates['full']:,.0f}/s, "
            f"bare signature {rates['bare']:,.0f}/s"
        )

    full_per_s = ops["full"] / spent["full"]
    bare_per_s = ops["bare"] / spent["bare"]
    _log(f"done: full {full_per_s:,.0f}/s, bare {bare_per_s:,.0f}/s")
    return {
        "bench": "personal-qr",
        "verifications_per_s": round(full_per_s, 1),
        "bare_signature_verifications_per_s": round(bare_per_s, 1),
        "ratio": round(full_per_s / bare_per_s, 3),
        "count": count,
        "target_per_s": TARGET_PER_S,
        "meets_target": full_per_s >= TARGET_PER_S,
        "pass_chars": len(texts[0]),
        "cores": 1,
    }
