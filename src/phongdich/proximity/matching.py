"""Match published Temporary Exposure Keys against a phone's sighting log, fast. Pure: stdlib +
``cryptography`` (and ``multiprocessing`` when asked for more than one core).

For every published key the phone derives the key's RPIs and looks them up among the RPIs it has
heard. The rule is GAEN's: a sighting matches a key when its RPI is one of the key's RPIs (only
the ``rolling_period`` intervals the key is valid for) AND the sighting was made within the key's
validity ± 2 hours (``tolerance_intervals`` = 12). After a match the sighting's AEM is decrypted
with the key's AEMK to read the transmit power the risk score needs.

:func:`match_naive` is the reference: the obvious loop over the public :mod:`gaen` functions.
:class:`Matcher` gives the same answer (the unit tests check it on random data) and is several
times faster per key:

- RPIK = HKDF-SHA256(TEK, salt=None, info="EN-RPIK", 16) is computed as two one-shot HMACs
  (``hmac.digest`` — extract, then the single expand block), not through an HKDF object;
- the key's padded blocks are cached per ``(rolling_start, rolling_period)`` and encrypted in ONE
  AES-128-ECB call;
- the 144 RPIs are tested with a single ``set.isdisjoint`` over the native 64-bit words of the
  first half of each RPI (a ``memoryview`` cast: no slicing, no bytes objects); only a key that
  hits a prefix takes the slow path that compares whole RPIs and checks the tolerance;
- a key whose days (± tolerance) hold no sighting at all is skipped before any cryptography;
- with ``processes > 1`` the keys are packed 24 bytes each, split in chunks and spread over a
  process pool created once; every worker receives the sighting index once, at start-up.
"""

from __future__ import annotations

import hmac
import multiprocessing
import struct
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from phongdich.proximity import gaen

__all__ = [
    "DEFAULT_TOLERANCE_INTERVALS",
    "KeyMatch",
    "MatchError",
    "MatchedSighting",
    "Matcher",
    "Observation",
    "PublishedKey",
    "derive_aemk",
    "derive_rpik",
    "match",
    "match_naive",
]

DEFAULT_TOLERANCE_INTERVALS = 12
"""± 2 hours, in 10-minute intervals, around a key's validity (GAEN)."""

_ROLLING = gaen.TEK_ROLLING_PERIOD
_KEY_FORMAT = struct.Struct("<16sII")  # TEK, rolling start, rolling period: 24 bytes a key
_ZERO_SALT = bytes(32)  # HKDF with salt=None uses HashLen zero bytes
_RPIK_T1 = b"EN-RPIK\x01"  # info || counter 1: the only expand block for 16 output bytes
_AEMK_T1 = b"EN-AEMK\x01"
_WORD = 8  # bytes of the RPI prefix compared in the fast path


class MatchError(ValueError):
    """A published key or sighting that cannot be matched (wrong length, range)."""


class PublishedKey(Protocol):
    """What matching needs of a published key (``exportfile.ExportKey`` fits)."""

    @property
    def key_data(self) -> bytes: ...

    @property
    def rolling_start_interval_number(self) -> int: ...

    @property
    def rolling_period(self) -> int: ...


@dataclass(frozen=True)
class Observation:
    """One advertisement the phone heard: RPI, AEM, when (Unix seconds, UTC) and how loud."""

    rpi: bytes
    aem: bytes
    at: int
    rssi: int

    @property
    def interval(self) -> int:
        return self.at // gaen.INTERVAL_SECONDS


@dataclass(frozen=True)
class MatchedSighting:
    """A sighting that matched, with the metadata its AEM decrypted to."""

    index: int  # position in the sighting sequence given to the matcher
    observation: Observation
    tx_power: int
    version_major: int
    calibration_confidence: int


@dataclass(frozen=True)
class KeyMatch:
    """A published key that matched and its sightings, in time order."""

    key_index: int  # position in the key sequence given to ``match``
    key: PublishedKey
    sightings: tuple[MatchedSighting, ...]


# --------------------------------------------------------------------------- key derivation


def derive_rpik(tek: bytes) -> bytes:
    """RPIK = HKDF-SHA256(TEK, salt=None, info=b"EN-RPIK", 16) as two one-shot HMACs.

    HKDF-Extract: PRK = HMAC(32 zero bytes, TEK); HKDF-Expand for 16 bytes (one block):
    T(1) = HMAC(PRK, info || 0x01). Equal to :func:`gaen.rpik` (checked against the published
    vectors in the tests).
    """
    return hmac.digest(hmac.digest(_ZERO_SALT, tek, "sha256"), _RPIK_T1, "sha256")[:16]


def derive_aemk(tek: bytes) -> bytes:
    """AEMK = HKDF-SHA256(TEK, salt=None, info=b"EN-AEMK", 16), as :func:`derive_rpik`."""
    return hmac.digest(hmac.digest(_ZERO_SALT, tek, "sha256"), _AEMK_T1, "sha256")[:16]


_BLOCKS: dict[tuple[int, int], bytes] = {}


def _blocks(start: int, period: int) -> bytes:
    """PaddedData of ``period`` intervals from ``start``, concatenated (cached)."""
    blocks = _BLOCKS.get((start, period))
    if blocks is None:
        if len(_BLOCKS) > 4096:
            _BLOCKS.clear()
        blocks = b"".join(gaen.padded_data(i) for i in range(start, start + period))
        _BLOCKS[(start, period)] = blocks
    return blocks


def _check_key(tek: bytes, start: int, period: int) -> None:
    if not isinstance(tek, bytes) or len(tek) != gaen.KEY_LENGTH:
        raise MatchError("a published key must be 16 bytes")
    if not 1 <= period <= _ROLLING or not 0 <= start or start + period >= 2**32:
        raise MatchError(f"bad rolling start/period: {start}/{period}")


# --------------------------------------------------------------------------- the index


class _Index:
    """The sighting log arranged for look-ups by RPI, built once per matcher (and per worker)."""

    def __init__(self, rpis: bytes, intervals: Sequence[int], tolerance: int) -> None:
        if len(rpis) != gaen.RPI_LENGTH * len(intervals):
            raise MatchError("every sighting needs a 16-byte RPI")
        if not 0 <= tolerance < _ROLLING // 2:
            raise MatchError("tolerance must be 0..71 intervals")
        self.tolerance = tolerance
        self.intervals = list(intervals)
        by_rpi: dict[bytes, list[int]] = defaultdict(list)
        for n in range(len(self.intervals)):
            by_rpi[rpis[16 * n : 16 * n + 16]].append(n)
        self.by_rpi = dict(by_rpi)
        self.prefixes = {int.from_bytes(rpi[:_WORD], sys.byteorder) for rpi in self.by_rpi}
        # A sighting at interval i can only match a key valid on the day of i - tol or i + tol.
        self.days = {
            d
            for i in set(self.intervals)
            for d in ((i - tolerance) // _ROLLING, (i + tolerance) // _ROLLING)
        }

    def scan(self, packed: bytes, base: int) -> list[tuple[int, int]]:
        """(key index, sighting index) pairs of the packed keys; the hot loop."""
        found: list[tuple[int, int]] = []
        prefixes, days, by_rpi, intervals = self.prefixes, self.days, self.by_rpi, self.intervals
        tolerance = self.tolerance
        digest = hmac.digest
        aes, ecb = algorithms.AES, modes.ECB()  # noqa: S305 - GAEN defines RPIs with ECB
        blocks_cache = _BLOCKS
        for n, (tek, start, period) in enumerate(_KEY_FORMAT.iter_unpack(packed)):
            first_day = start // _ROLLING
            last_day = (start + period - 1) // _ROLLING
            if first_day not in days and (last_day == first_day or last_day not in days):
                continue
            rpik = digest(digest(_ZERO_SALT, tek, "sha256"), _RPIK_T1, "sha256")[:16]
            padded = blocks_cache.get((start, period)) or _blocks(start, period)
            block = Cipher(aes(rpik), ecb).encryptor().update(padded)
            if prefixes.isdisjoint(memoryview(block).cast("Q")[::2]):
                continue
            low, high = start - tolerance, start + period + tolerance
            for j in range(0, len(block), 16):
                hits = by_rpi.get(block[j : j + 16])
                if hits:
                    found.extend((base + n, s) for s in hits if low <= intervals[s] < high)
        return found


_WORKER_INDEX: _Index | None = None


def _init_worker(rpis: bytes, intervals: Sequence[int], tolerance: int) -> None:
    global _WORKER_INDEX  # one index per worker process, set once at start-up
    _WORKER_INDEX = _Index(rpis, intervals, tolerance)


def _worker_scan(job: tuple[int, bytes]) -> tuple[int, list[tuple[int, int]]]:
    base, packed = job
    assert _WORKER_INDEX is not None, "worker started without its index"
    return len(packed) // _KEY_FORMAT.size, _WORKER_INDEX.scan(packed, base)


def _pack(keys: Sequence[PublishedKey], begin: int, end: int) -> bytes:
    out = bytearray()
    pack = _KEY_FORMAT.pack
    for key in keys[begin:end]:
        tek, start, period = key.key_data, key.rolling_start_interval_number, key.rolling_period
        _check_key(tek, start, period)
        out += pack(tek, start, period)
    return bytes(out)


# --------------------------------------------------------------------------- results


def _metadata(aemk_: bytes, observation: Observation, index: int) -> MatchedSighting:
    meta = gaen.decrypt_metadata(aemk_, observation.rpi, observation.aem)
    major, _minor, tx_power = gaen.parse_metadata(meta)
    return MatchedSighting(
        index=index,
        observation=observation,
        tx_power=tx_power,
        version_major=major,
        calibration_confidence=(meta[0] >> 2) & 0b11,
    )


def _results(
    pairs: Iterable[tuple[int, int]],
    keys: Sequence[PublishedKey],
    observations: Sequence[Observation],
) -> list[KeyMatch]:
    by_key: dict[int, set[int]] = defaultdict(set)
    for key_index, sighting_index in pairs:
        by_key[key_index].add(sighting_index)
    results = []
    for key_index in sorted(by_key):
        key = keys[key_index]
        aemk_ = derive_aemk(key.key_data)
        ordered = sorted(by_key[key_index], key=lambda s: (observations[s].at, s))
        results.append(
            KeyMatch(
                key_index=key_index,
                key=key,
                sightings=tuple(_metadata(aemk_, observations[s], s) for s in ordered),
            )
        )
    return results


# --------------------------------------------------------------------------- public API


class Matcher:
    """A sighting log prepared for matching many keys; reuse it for every export.

    ``processes`` > 1 starts a process pool on the first :meth:`match` and keeps it until
    :meth:`close` (use the matcher as a context manager). ``chunk_size`` keys travel per task.
    """

    def __init__(
        self,
        observations: Sequence[Observation],
        *,
        tolerance_intervals: int = DEFAULT_TOLERANCE_INTERVALS,
        processes: int = 1,
        chunk_size: int = 4096,
        mp_context: str | None = None,
    ) -> None:
        if processes < 1 or chunk_size < 1:
            raise MatchError("processes and chunk_size must be positive")
        for observation in observations:
            if len(observation.rpi) != gaen.RPI_LENGTH or len(observation.aem) != gaen.AEM_LENGTH:
                raise MatchError("a sighting needs a 16-byte RPI and a 4-byte AEM")
        self.observations = list(observations)
        self._rpis = b"".join(o.rpi for o in self.observations)
        self._intervals = [o.interval for o in self.observations]
        self.tolerance = tolerance_intervals
        self.index = _Index(self._rpis, self._intervals, tolerance_intervals)
        self.processes = processes
        self.chunk_size = chunk_size
        self._mp_context = mp_context
        self._pool: Pool | None = None

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def start(self) -> None:
        """Start the worker pool now (otherwise the first parallel match starts it)."""
        if self.processes > 1 and self._pool is None:
            context = multiprocessing.get_context(self._mp_context)
            self._pool = context.Pool(
                self.processes,
                initializer=_init_worker,
                initargs=(self._rpis, self._intervals, self.tolerance),
            )

    def _jobs(self, keys: Sequence[PublishedKey]) -> Iterator[tuple[int, bytes]]:
        for begin in range(0, len(keys), self.chunk_size):
            yield begin, _pack(keys, begin, begin + self.chunk_size)

    def match_pairs(
        self, keys: Sequence[PublishedKey], progress: Callable[[int], object] | None = None
    ) -> list[tuple[int, int]]:
        """(key index, sighting index) of every match, without decrypting metadata."""
        pairs: list[tuple[int, int]] = []
        if self.processes == 1 or len(keys) <= self.chunk_size:
            for base, packed in self._jobs(keys):
                pairs.extend(self.index.scan(packed, base))
                if progress is not None:
                    progress(len(packed) // _KEY_FORMAT.size)
            return pairs
        self.start()
        assert self._pool is not None
        for done, found in self._pool.imap_unordered(_worker_scan, self._jobs(keys)):
            pairs.extend(found)
            if progress is not None:
                progress(done)
        return pairs

    def match(
        self, keys: Sequence[PublishedKey], progress: Callable[[int], object] | None = None
    ) -> list[KeyMatch]:
        """The keys that matched, each with its accepted sightings and their metadata."""
        return _results(self.match_pairs(keys, progress), keys, self.observations)


def match(
    keys: Sequence[PublishedKey],
    observations: Sequence[Observation],
    *,
    tolerance_intervals: int = DEFAULT_TOLERANCE_INTERVALS,
) -> list[KeyMatch]:
    """Match once on one core (a phone's daily check)."""
    return Matcher(observations, tolerance_intervals=tolerance_intervals).match(keys)


def match_naive(
    keys: Sequence[PublishedKey],
    observations: Sequence[Observation],
    *,
    tolerance_intervals: int = DEFAULT_TOLERANCE_INTERVALS,
) -> list[KeyMatch]:
    """The reference implementation: every key, every interval, with the public gaen functions."""
    pairs = []
    for key_index, key in enumerate(keys):
        start, period = key.rolling_start_interval_number, key.rolling_period
        _check_key(key.key_data, start, period)
        rpis = gaen.rpis_for_day(gaen.rpik(key.key_data), start, period)
        wanted = set(rpis)
        for index, observation in enumerate(observations):
            if observation.rpi in wanted and (
                start - tolerance_intervals
                <= observation.interval
                < start + period + tolerance_intervals
            ):
                pairs.append((key_index, index))
    return _results(pairs, keys, observations)
