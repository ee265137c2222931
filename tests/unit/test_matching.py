"""Fast key matching: same answer as the naive reference, GAEN tolerance, metadata."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from phongdich.proximity import gaen, matching
from phongdich.proximity.exportfile import ExportKey
from phongdich.proximity.matching import Matcher, MatchError, Observation

# published GAEN vectors (see tests/unit/test_gaen.py and /work/shared/reference/proximity.md)
TEK = bytes.fromhex("75c734c6dd1a782de7a965da5eb93125")
RPIK = bytes.fromhex("185ad91db69ec7dd048960f1f3ba6175")
AEMK = bytes.fromhex("d57c46af7a1d83965b9bed8bd152936a")
VECTOR_INTERVAL = 2642976
RPI0 = bytes.fromhex("8be6cd371c5c891604bfbe49df845096")
AEM0 = bytes.fromhex("72033874")

DAY0 = 2_700_000 - 2_700_000 % 144


@dataclass(frozen=True)
class Key:
    key_data: bytes
    rolling_start_interval_number: int
    rolling_period: int = 144


def test_two_hmac_hkdf_gives_the_published_keys() -> None:
    assert matching.derive_rpik(TEK) == RPIK
    assert matching.derive_aemk(TEK) == AEMK
    rng = random.Random(7)
    for _ in range(50):
        tek = rng.randbytes(16)
        assert matching.derive_rpik(tek) == gaen.rpik(tek)
        assert matching.derive_aemk(tek) == gaen.aemk(tek)


def test_published_vector_matches_and_its_metadata_decrypts() -> None:
    key = ExportKey(TEK, 0, VECTOR_INTERVAL)
    heard = Observation(rpi=RPI0, aem=AEM0, at=VECTOR_INTERVAL * 600 + 30, rssi=-60)
    noise = Observation(rpi=bytes(16), aem=bytes(4), at=VECTOR_INTERVAL * 600, rssi=-60)
    (found,) = matching.match([key], [noise, heard])
    assert found.key is key
    assert [s.index for s in found.sightings] == [1]
    # metadata 40080000: version 1.0, TX power 8 dBm, calibration confidence 0
    assert found.sightings[0].tx_power == 8
    assert found.sightings[0].version_major == 1
    assert found.sightings[0].calibration_confidence == 0


def _observation(rng: random.Random, tek: bytes, interval: int, heard_at: int) -> Observation:
    rpi = gaen.rpi(gaen.rpik(tek), interval)
    tx = rng.randrange(-30, 10)
    aem = gaen.encrypt_metadata(gaen.aemk(tek), rpi, gaen.metadata(tx, calibration_confidence=2))
    return Observation(rpi=rpi, aem=aem, at=heard_at * 600 + rng.randrange(600), rssi=-60)


def _random_case(seed: int) -> tuple[list[Key], list[Observation]]:
    """Keys (full days, short keys across midnight) and sightings incl. tolerance edges."""
    rng = random.Random(seed)
    keys: list[Key] = []
    for _ in range(300):
        if rng.random() < 0.7:
            keys.append(Key(rng.randbytes(16), DAY0 + 144 * rng.randrange(14)))
        else:
            period = rng.randrange(1, 145)
            keys.append(Key(rng.randbytes(16), DAY0 + rng.randrange(14 * 144), period))
    observations = [
        Observation(
            rng.randbytes(16), rng.randbytes(4), (DAY0 + rng.randrange(15 * 144)) * 600, -80
        )
        for _ in range(2000)
    ]
    for key in rng.sample(keys, 60):
        start, period = key.rolling_start_interval_number, key.rolling_period
        end = start + period
        for _ in range(3):  # heard during its own interval
            interval = start + rng.randrange(period)
            observations.append(_observation(rng, key.key_data, interval, interval))
        # the same RPIs heard at the edges of the tolerance (replayed or a skewed clock)
        first, last = start, end - 1
        for heard in (start - 12, start - 13, end + 11, end + 12, start - 200):
            interval = first if heard < start else last
            observations.append(_observation(rng, key.key_data, interval, heard))
    rng.shuffle(observations)
    return keys, observations


def _summary(found: list[matching.KeyMatch]) -> list[tuple[int, list[int]]]:
    return [(m.key_index, [s.index for s in m.sightings]) for m in found]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_matcher_equals_naive_on_random_data(seed: int) -> None:
    keys, observations = _random_case(seed)
    naive = matching.match_naive(keys, observations)
    fast = Matcher(observations, chunk_size=37).match(keys)
    assert _summary(fast) == _summary(naive)
    assert len(naive) == 60
    assert [m.sightings for m in fast] == [m.sightings for m in naive]
    # per matched key: 3 in its interval + 2 within the tolerance; 3 outside it are refused
    for found in fast:
        key = found.key
        low = key.rolling_start_interval_number - 12
        high = key.rolling_start_interval_number + key.rolling_period + 12
        assert all(low <= s.observation.interval < high for s in found.sightings)
        assert len(found.sightings) == 5


def test_tolerance_edges_exactly() -> None:
    rng = random.Random(11)
    key = Key(rng.randbytes(16), DAY0 + 144)
    start, end = key.rolling_start_interval_number, key.rolling_start_interval_number + 144
    heard = {
        "two hours before": _observation(rng, key.key_data, start, start - 12),
        "two hours ten before": _observation(rng, key.key_data, start, start - 13),
        "last interval of the tolerance": _observation(rng, key.key_data, end - 1, end + 11),
        "just after": _observation(rng, key.key_data, end - 1, end + 12),
    }
    observations = list(heard.values())
    (found,) = Matcher(observations).match([key])
    assert [s.observation for s in found.sightings] == [
        heard["two hours before"],
        heard["last interval of the tolerance"],
    ]
    (strict,) = Matcher(observations, tolerance_intervals=13).match([key])
    assert len(strict.sightings) == 4  # start - 13 and end + 12 are inside ± 13


def test_process_pool_gives_the_same_matches() -> None:
    keys, observations = _random_case(5)
    single = Matcher(observations).match(keys)
    with Matcher(observations, processes=2, chunk_size=50) as parallel:
        seen: list[int] = []
        first = parallel.match(keys, progress=seen.append)
        second = parallel.match(keys[:120])  # the same pool serves a second export
    assert _summary(first) == _summary(single)
    assert sum(seen) == len(keys)
    assert _summary(second) == [s for s in _summary(single) if s[0] < 120]


def test_keys_without_sightings_on_their_day_do_not_match() -> None:
    rng = random.Random(3)
    key = Key(rng.randbytes(16), DAY0)
    far = _observation(rng, key.key_data, DAY0 + 5, DAY0 + 144 * 5)  # its RPI, 5 days later
    assert Matcher([far]).match([key]) == []
    assert matching.match_naive([key], [far]) == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(MatchError):
        Matcher([]).match([Key(b"short", DAY0)])
    with pytest.raises(MatchError):
        Matcher([]).match([Key(bytes(16), DAY0, 145)])
    with pytest.raises(MatchError):
        Matcher([Observation(bytes(15), bytes(4), 0, -50)])
    with pytest.raises(MatchError):
        Matcher([], processes=0)


def test_match_bench_small_run_is_correct() -> None:
    from phongdich.bench import match as bench_match

    result = bench_match.run(keys=300, processes=1, rounds=1)
    assert result["correct"] is True
    assert result["matches_found"] == result["matches_expected"] == 50
    sightings, keys_per_s = result["sightings"], result["keys_per_s"]
    assert isinstance(sightings, int)
    assert sightings > 20_000
    assert result["sightings_matched_found"] == result["sightings_matched_expected"]
    assert isinstance(keys_per_s, float)
    assert keys_per_s > 0
