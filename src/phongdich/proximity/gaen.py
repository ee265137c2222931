"""Exposure Notification cryptography, exactly as GAEN 1.2 — pure: stdlib + ``cryptography``.

This is the protocol core of Bluezone (issue 6, "Build 1"). Everything else in
``phongdich.proximity`` (key server, device library, simulator, matching benchmark) builds on it,
so the byte layouts here must never drift from the Google/Apple specification
("Exposure Notification — Cryptography Specification", v1.2, and the Bluetooth specification v1.2).

Key schedule (see ``/work/shared/reference/proximity.md``)::

    ENIntervalNumber(t) = floor(unix_seconds / 600)
    TEK   = 16 random bytes, valid for 144 intervals (one UTC day) from a multiple of 144
    RPIK  = HKDF-SHA256(IKM=TEK, salt=None, info=b"EN-RPIK", L=16)
    AEMK  = HKDF-SHA256(IKM=TEK, salt=None, info=b"EN-AEMK", L=16)
    PaddedData_j = b"EN-RPI" || 0x00 * 6 || uint32_le(j)
    RPI_j = AES-128-ECB(RPIK, PaddedData_j)
    AEM_j = AES-128-CTR(key=AEMK, iv=RPI_j, metadata)          # metadata: 4 bytes

Over the air, the 20-byte ``RPI || AEM`` is the service data of the 16-bit service UUID 0xFD6F.

Performance note for maintainers: matching a published key means deriving all of its 144 RPIs.
:func:`rpis_for_day` (and :func:`rpi_block`) do this with ONE AES-ECB call over the concatenated
padded blocks, and the padded blocks for a ``(rolling_start, rolling_period)`` pair are cached
because a whole export shares a handful of start intervals. Do not replace it with a loop over
:func:`rpi` — that is several times slower and the matching benchmark depends on it.

Every failure raises :class:`GaenError` whose ``code`` is one of:

``naive_datetime``  a datetime without a timezone was given
``interval``        an interval number is not an int in the uint32 range
``key_length``      a TEK, RPIK or AEMK is not exactly 16 bytes
``rolling_start``   rolling start out of range, or not a multiple of 144 for a full-day key
``rolling_period``  rolling period not in 1..144
``transmission_risk`` transmission risk level not in 0..8
``report_type``     report type not in 0..5 (UNKNOWN .. REVOKED)
``days_since_onset`` days since onset of symptoms not in -14..14
``rpi``             an RPI is not exactly 16 bytes
``metadata``        metadata/AEM not exactly 4 bytes, or a metadata field out of range
``advertisement``   a malformed advertisement payload or BLE AD structure
"""

from __future__ import annotations

import array
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ADVERTISEMENT_LENGTH",
    "AD_TYPE_COMPLETE_16BIT_UUIDS",
    "AD_TYPE_FLAGS",
    "AD_TYPE_INCOMPLETE_16BIT_UUIDS",
    "AD_TYPE_SERVICE_DATA_16BIT",
    "AEM_LENGTH",
    "EN_FLAGS",
    "EN_SERVICE_UUID",
    "INTERVAL_SECONDS",
    "KEY_LENGTH",
    "MAX_LEGACY_ADV_DATA",
    "MAX_SCAN_RECORD",
    "RPI_LENGTH",
    "TEK_ROLLING_PERIOD",
    "GaenError",
    "TemporaryExposureKey",
    "ad_structure",
    "aemk",
    "decode_advertisement",
    "decrypt_metadata",
    "en_interval_number",
    "encode_advertisement",
    "encrypt_metadata",
    "interval_start",
    "metadata",
    "new_tek",
    "padded_data",
    "parse_ad_structure",
    "parse_metadata",
    "rpi",
    "rpi_block",
    "rpik",
    "rpis_for_day",
]

TEK_ROLLING_PERIOD = 144
"""Intervals a full-day TEK is valid for (144 x 10 min = 24 h)."""
INTERVAL_SECONDS = 600
"""Length of one ENIntervalNumber, and of one RPI's life on air."""
KEY_LENGTH = 16
"""Length of a TEK, an RPIK and an AEMK."""
RPI_LENGTH = 16
"""Length of a Rolling Proximity Identifier (one AES block)."""
AEM_LENGTH = 4
"""Length of the Associated Encrypted Metadata (and of the cleartext metadata)."""
ADVERTISEMENT_LENGTH = RPI_LENGTH + AEM_LENGTH
"""Length of the 0xFD6F service data: RPI || AEM."""

EN_SERVICE_UUID = 0xFD6F
"""16-bit Bluetooth SIG service UUID assigned to Exposure Notification."""
EN_FLAGS = 0x1A
"""Flags AD value required by the EN Bluetooth specification (LE General Discoverable etc.)."""
AD_TYPE_FLAGS = 0x01
AD_TYPE_INCOMPLETE_16BIT_UUIDS = 0x02
AD_TYPE_COMPLETE_16BIT_UUIDS = 0x03
AD_TYPE_SERVICE_DATA_16BIT = 0x16
MAX_LEGACY_ADV_DATA = 31
"""Legacy BLE advertising data is at most 31 bytes; the EN advertisement fills it exactly."""
MAX_SCAN_RECORD = 2 * MAX_LEGACY_ADV_DATA
"""Advertising data + scan response, zero-padded: how Android's ScanRecord hands a scan over."""

MAX_TRANSMISSION_RISK = 8
"""Highest transmission risk level the key server accepts (GAEN v1 range 0..8)."""
MAX_REPORT_TYPE = 5
"""REVOKED; the report types are UNKNOWN 0 .. REVOKED 5."""
MAX_DAYS_SINCE_ONSET = 14
"""``days_since_onset_of_symptoms`` must lie in -14..14 (export proto, sint32)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTERVAL = timedelta(seconds=INTERVAL_SECONDS)
_UINT32_LIMIT = 1 << 32
_RPI_PREFIX = b"EN-RPI" + bytes(6)
_RPIK_INFO = b"EN-RPIK"
_AEMK_INFO = b"EN-AEMK"
_UUID_LE = EN_SERVICE_UUID.to_bytes(2, "little")


class GaenError(ValueError):
    """Invalid input to the EN cryptography; ``code`` is a stable machine-readable reason.

    The codes are listed in the module docstring. Callers (key server, device library) map them
    to their own error responses, so treat them as API: add new codes, never rename old ones.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code


def _is_int(value: object) -> bool:
    """True for real ints; ``bool`` is an int subclass but never a valid interval or level."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_interval(interval: object) -> int:
    if isinstance(interval, bool) or not isinstance(interval, int):
        raise GaenError("interval", f"interval number must be an int: {interval!r}")
    if not 0 <= interval < _UINT32_LIMIT:
        raise GaenError("interval", f"interval number must be in 0..2**32-1: {interval}")
    return interval


def _check_key(key: object, name: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_LENGTH:
        raise GaenError("key_length", f"{name} must be {KEY_LENGTH} bytes")
    return key


def _check_rpi(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != RPI_LENGTH:
        raise GaenError("rpi", f"RPI must be {RPI_LENGTH} bytes")
    return value


# --------------------------------------------------------------------------- time


def en_interval_number(at: datetime) -> int:
    """ENIntervalNumber of an aware datetime: ``floor(unix_seconds / 600)``.

    Computed with exact timedelta arithmetic (no float rounding near interval edges). Naive
    datetimes are refused: guessing their zone is exactly the bug that would shift every RPI.
    """
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise GaenError("naive_datetime", "en_interval_number needs a timezone-aware datetime")
    return (at - _EPOCH) // _INTERVAL


def interval_start(interval: int) -> datetime:
    """Start of an EN interval as an aware UTC datetime (inverse of :func:`en_interval_number`)."""
    if not _is_int(interval):
        raise GaenError("interval", f"interval number must be an int: {interval!r}")
    return _EPOCH + interval * _INTERVAL


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class TemporaryExposureKey:
    """A TEK with the fields the key server and export files carry.

    ``rolling_start_interval_number`` is the first interval the key is valid for and
    ``rolling_period`` the number of intervals (1..144). A full-day key (period 144) must start at
    a multiple of 144, i.e. UTC midnight. A shorter key (e.g. today's key released early, or a key
    rotated mid-day) may start anywhere in range. ``transmission_risk_level`` (0..8),
    ``report_type`` (0..5) and ``days_since_onset`` (-14..14 or None) are the export metadata.

    The key bytes are secret until the owner publishes them, so they are kept out of ``repr``.
    """

    key: bytes = field(repr=False)
    rolling_start_interval_number: int
    rolling_period: int = TEK_ROLLING_PERIOD
    transmission_risk_level: int = 0
    report_type: int = 0
    days_since_onset: int | None = None

    def __post_init__(self) -> None:
        _check_key(self.key, "TEK")
        start, period = self.rolling_start_interval_number, self.rolling_period
        _check_range(start, period)
        if period == TEK_ROLLING_PERIOD and start % TEK_ROLLING_PERIOD:
            raise GaenError(
                "rolling_start",
                f"a full-day key must start at a multiple of {TEK_ROLLING_PERIOD}: {start}",
            )
        risk = self.transmission_risk_level
        if not _is_int(risk) or not 0 <= risk <= MAX_TRANSMISSION_RISK:
            raise GaenError("transmission_risk", f"transmission risk must be 0..8: {risk!r}")
        report = self.report_type
        if not _is_int(report) or not 0 <= report <= MAX_REPORT_TYPE:
            raise GaenError("report_type", f"report type must be 0..5: {report!r}")
        onset = self.days_since_onset
        if onset is not None and (
            not _is_int(onset) or not -MAX_DAYS_SINCE_ONSET <= onset <= MAX_DAYS_SINCE_ONSET
        ):
            raise GaenError("days_since_onset", f"days since onset must be -14..14: {onset!r}")

    @property
    def end_interval_number(self) -> int:
        """First interval after the key's validity (exclusive end)."""
        return self.rolling_start_interval_number + self.rolling_period


def new_tek(
    at: datetime, rng: Callable[[int], bytes] = secrets.token_bytes
) -> TemporaryExposureKey:
    """A fresh full-day TEK for the UTC day containing ``at``.

    The rolling start is ``at``'s interval number floored to a multiple of 144 (UTC midnight), so
    the key is valid for that whole day. ``rng(n)`` must return ``n`` random bytes; it is only
    replaceable so tests can be deterministic — production code keeps :func:`secrets.token_bytes`.
    """
    interval = en_interval_number(at)
    start = interval - interval % TEK_ROLLING_PERIOD
    return TemporaryExposureKey(key=rng(KEY_LENGTH), rolling_start_interval_number=start)


def _hkdf(tek: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LENGTH, salt=None, info=info).derive(tek)


def rpik(tek: bytes) -> bytes:
    """Rolling Proximity Identifier Key: HKDF-SHA256(TEK, salt=None, info=b"EN-RPIK", 16)."""
    return _hkdf(_check_key(tek, "TEK"), _RPIK_INFO)


def aemk(tek: bytes) -> bytes:
    """Associated Encrypted Metadata Key: HKDF-SHA256(TEK, salt=None, info=b"EN-AEMK", 16)."""
    return _hkdf(_check_key(tek, "TEK"), _AEMK_INFO)


# --------------------------------------------------------------------------- RPIs


def padded_data(interval: int) -> bytes:
    """``b"EN-RPI" || 6 zero bytes || uint32_le(interval)`` — one AES block."""
    return _RPI_PREFIX + _check_interval(interval).to_bytes(4, "little")


def rpi(rpik: bytes, interval: int) -> bytes:
    """The RPI broadcast during ``interval``: AES-128-ECB(RPIK, PaddedData_interval).

    For every interval of a key use :func:`rpis_for_day`, which is one cipher call in total.
    """
    encryptor = Cipher(algorithms.AES(_check_key(rpik, "RPIK")), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(padded_data(interval)) + encryptor.finalize()


# array typecode of exactly 4 bytes, to lay uint32 interval numbers into the padded blocks
_U32 = next(code for code in ("I", "L") if array.array(code).itemsize == 4)
_BLOCK_WORDS = 4  # a 16-byte block is 4 uint32 words; the interval number is the last one


@lru_cache(maxsize=256)
def _padded_blocks(rolling_start: int, rolling_period: int) -> bytes:
    """PaddedData for ``rolling_period`` consecutive intervals, concatenated.

    Built with C-level array slicing (a Python loop of 144 concatenations costs more than the
    AES itself) and cached: every key of one export day shares the same blocks.
    """
    blocks = array.array(_U32)
    blocks.frombytes((_RPI_PREFIX + bytes(4)) * rolling_period)
    intervals = array.array(_U32, range(rolling_start, rolling_start + rolling_period))
    if sys.byteorder == "big":
        intervals.byteswap()  # the interval is little endian on the wire
    blocks[_BLOCK_WORDS - 1 :: _BLOCK_WORDS] = intervals
    return blocks.tobytes()


def _check_range(rolling_start: int, rolling_period: int) -> None:
    """Validate a key's interval range: period 1..144, all intervals inside uint32."""
    if not _is_int(rolling_period) or not 1 <= rolling_period <= TEK_ROLLING_PERIOD:
        raise GaenError("rolling_period", f"rolling period must be 1..144: {rolling_period!r}")
    if not _is_int(rolling_start) or rolling_start < 0:
        raise GaenError("rolling_start", f"rolling start out of range: {rolling_start!r}")
    if rolling_start + rolling_period > _UINT32_LIMIT:
        raise GaenError("rolling_start", f"rolling start out of range: {rolling_start!r}")


def rpi_block(rpik: bytes, rolling_start: int, rolling_period: int = TEK_ROLLING_PERIOD) -> bytes:
    """All RPIs of a key concatenated (``16 * rolling_period`` bytes), in one AES-ECB call.

    RPI ``j`` (interval ``rolling_start + j``) is ``block[16*j : 16*j + 16]``. Matching code that
    only needs set membership can slice this directly and skip building a list.
    """
    _check_range(rolling_start, rolling_period)
    encryptor = Cipher(algorithms.AES(_check_key(rpik, "RPIK")), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(_padded_blocks(rolling_start, rolling_period)) + encryptor.finalize()


def rpis_for_day(
    rpik: bytes, rolling_start: int, rolling_period: int = TEK_ROLLING_PERIOD
) -> list[bytes]:
    """The RPIs of intervals ``rolling_start .. rolling_start + rolling_period - 1``, in order.

    One AES-ECB call over the concatenated padded blocks — the matching hot path.
    """
    block = rpi_block(rpik, rolling_start, rolling_period)
    return [block[i : i + RPI_LENGTH] for i in range(0, len(block), RPI_LENGTH)]


# --------------------------------------------------------------------------- metadata


def metadata(
    tx_power: int,
    *,
    version_major: int = 1,
    version_minor: int = 0,
    calibration_confidence: int = 0,
) -> bytes:
    """The 4 cleartext metadata bytes of an advertisement.

    byte 0: version — bits 7:6 major, 5:4 minor, 3:2 calibration confidence, 1:0 reserved;
    byte 1: transmit power in dBm as a signed int8; bytes 2-3: reserved, zero.
    With the defaults byte 0 is ``0x40`` (version 1.0), as in the published test vector.
    """
    for name, value, high in (
        ("version_major", version_major, 3),
        ("version_minor", version_minor, 3),
        ("calibration_confidence", calibration_confidence, 3),
    ):
        if not _is_int(value) or not 0 <= value <= high:
            raise GaenError("metadata", f"{name} must be 0..{high}: {value!r}")
    if not _is_int(tx_power) or not -128 <= tx_power <= 127:
        raise GaenError("metadata", f"tx_power must fit a signed byte: {tx_power!r}")
    version = (version_major << 6) | (version_minor << 4) | (calibration_confidence << 2)
    return bytes((version, tx_power & 0xFF, 0, 0))


def parse_metadata(data: bytes) -> tuple[int, int, int]:
    """``(version_major, version_minor, tx_power)`` from 4 decrypted metadata bytes.

    Calibration-confidence and reserved bits are ignored, as the specification tells receivers
    to do, so that future minor versions still parse.
    """
    if not isinstance(data, bytes) or len(data) != AEM_LENGTH:
        raise GaenError("metadata", f"metadata must be {AEM_LENGTH} bytes")
    tx_power = data[1] - 256 if data[1] >= 128 else data[1]
    return data[0] >> 6, (data[0] >> 4) & 0b11, tx_power


def encrypt_metadata(aemk: bytes, rpi: bytes, metadata: bytes) -> bytes:
    """AEM = AES-128-CTR(key=AEMK, IV=RPI, metadata): 4 bytes in, 4 bytes out."""
    if not isinstance(metadata, bytes) or len(metadata) != AEM_LENGTH:
        raise GaenError("metadata", f"metadata must be {AEM_LENGTH} bytes")
    cipher = Cipher(algorithms.AES(_check_key(aemk, "AEMK")), modes.CTR(_check_rpi(rpi)))
    encryptor = cipher.encryptor()
    return encryptor.update(metadata) + encryptor.finalize()


def decrypt_metadata(aemk: bytes, rpi: bytes, aem: bytes) -> bytes:
    """Recover the 4 metadata bytes from an AEM (CTR mode: the same keystream XOR)."""
    if not isinstance(aem, bytes) or len(aem) != AEM_LENGTH:
        raise GaenError("metadata", f"AEM must be {AEM_LENGTH} bytes")
    cipher = Cipher(algorithms.AES(_check_key(aemk, "AEMK")), modes.CTR(_check_rpi(rpi)))
    decryptor = cipher.decryptor()
    return decryptor.update(aem) + decryptor.finalize()


# --------------------------------------------------------------------------- advertisement


def encode_advertisement(rpi: bytes, aem: bytes) -> bytes:
    """The 20-byte service data of the 0xFD6F service: ``RPI || AEM``."""
    if not isinstance(rpi, bytes) or len(rpi) != RPI_LENGTH:
        raise GaenError("advertisement", f"RPI must be {RPI_LENGTH} bytes")
    if not isinstance(aem, bytes) or len(aem) != AEM_LENGTH:
        raise GaenError("advertisement", f"AEM must be {AEM_LENGTH} bytes")
    return rpi + aem


def decode_advertisement(data: bytes | bytearray | memoryview) -> tuple[bytes, bytes]:
    """``(rpi, aem)`` from the 20 bytes of 0xFD6F service data (bytes-like input accepted)."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes) or len(data) != ADVERTISEMENT_LENGTH:
        raise GaenError("advertisement", f"service data must be {ADVERTISEMENT_LENGTH} bytes")
    return data[:RPI_LENGTH], data[RPI_LENGTH:]


def ad_structure(rpi: bytes, aem: bytes) -> bytes:
    """The complete 31-byte BLE advertising data of an EN advertisement.

    ``02 01 1A`` (Flags) | ``03 03 6F FD`` (Complete list of 16-bit service UUIDs: 0xFD6F) |
    ``17 16 6F FD`` + RPI || AEM (Service Data - 16-bit UUID). Multi-byte UUIDs are little endian.
    """
    payload = encode_advertisement(rpi, aem)
    return (
        bytes((2, AD_TYPE_FLAGS, EN_FLAGS))
        + bytes((3, AD_TYPE_COMPLETE_16BIT_UUIDS))
        + _UUID_LE
        + bytes((1 + 2 + ADVERTISEMENT_LENGTH, AD_TYPE_SERVICE_DATA_16BIT))
        + _UUID_LE
        + payload
    )


def _ad_elements(data: bytes) -> dict[int, bytes]:
    """Split advertising data into ``{ad_type: value}``; malformed or repeated types raise.

    Each element is ``length | type | value`` with ``length`` counting type + value. A zero
    length ends the significant part; the rest must then be zero padding.
    """
    elements: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        length = data[pos]
        if length == 0:
            if any(data[pos:]):
                raise GaenError("advertisement", "non-zero bytes after the AD terminator")
            break
        end = pos + 1 + length
        if end > len(data):
            raise GaenError("advertisement", f"AD element at byte {pos} is truncated")
        ad_type = data[pos + 1]
        if ad_type in elements:
            raise GaenError("advertisement", f"AD type 0x{ad_type:02x} appears twice")
        elements[ad_type] = data[pos + 2 : end]
        pos = end
    return elements


def parse_ad_structure(data: bytes | bytearray | memoryview) -> tuple[bytes, bytes]:
    """``(rpi, aem)`` from BLE advertising data; anything malformed raises ``advertisement``.

    Required, each exactly once and in any order: Flags (1 value byte), a 16-bit service UUID
    list (complete 0x03 or incomplete 0x02) naming 0xFD6F, and Service Data - 16-bit UUID (0x16)
    for 0xFD6F carrying exactly 20 bytes. Input may be the 31-byte advertising data alone or a
    whole scan record (advertising data + scan response, at most 62 bytes, zero-padded); other AD
    types found there (e.g. TX power level, a device name) are ignored.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)  # BLE stacks hand scan records over as bytearray
    if not isinstance(data, bytes):
        raise GaenError("advertisement", "advertising data must be bytes")
    if not data or len(data) > MAX_SCAN_RECORD:
        raise GaenError("advertisement", f"advertising data must be 1..{MAX_SCAN_RECORD} bytes")
    elements = _ad_elements(data)
    flags = elements.get(AD_TYPE_FLAGS)
    if flags is None or len(flags) != 1:
        raise GaenError("advertisement", "missing or malformed Flags AD element")
    uuids = elements.get(AD_TYPE_COMPLETE_16BIT_UUIDS)
    if uuids is None:
        uuids = elements.get(AD_TYPE_INCOMPLETE_16BIT_UUIDS)
    if uuids is None or len(uuids) % 2 or not uuids:
        raise GaenError("advertisement", "missing or malformed 16-bit service UUID list")
    if _UUID_LE not in {uuids[i : i + 2] for i in range(0, len(uuids), 2)}:
        raise GaenError("advertisement", "service UUID list does not name 0xFD6F")
    service_data = elements.get(AD_TYPE_SERVICE_DATA_16BIT)
    if service_data is None or len(service_data) != 2 + ADVERTISEMENT_LENGTH:
        raise GaenError("advertisement", "missing or wrong-length 16-bit service data")
    if service_data[:2] != _UUID_LE:
        raise GaenError("advertisement", "service data is not for UUID 0xFD6F")
    return decode_advertisement(service_data[2:])
