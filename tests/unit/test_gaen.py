"""GAEN 1.2 protocol core: published test vectors, batching, metadata, advertisements, validation.

The expected hex strings below are copied verbatim from ``/work/shared/reference/proximity.md``
(the Google/Apple published vectors: TEK generated at unix 1585785600, ENIntervalNumber 2642976).
That file lists RPI and AEM only for the first three intervals (offsets 0, 1, 2); those are the
ones checked here. Never edit an expected value to make a test pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from phongdich.proximity import gaen
from phongdich.proximity.gaen import GaenError, TemporaryExposureKey

# ---- published vectors, verbatim from proximity.md
VECTOR_UNIX_TIME = 1585785600
VECTOR_INTERVAL = 2642976
TEK = bytes.fromhex("75c734c6dd1a782de7a965da5eb93125")
RPIK = bytes.fromhex("185ad91db69ec7dd048960f1f3ba6175")
AEMK = bytes.fromhex("d57c46af7a1d83965b9bed8bd152936a")
METADATA = bytes.fromhex("40080000")
RPIS = [
    bytes.fromhex("8be6cd371c5c891604bfbe49df845096"),
    bytes.fromhex("3c9a1de5dd6b02afa7fded7b570b3e56"),
    bytes.fromhex("243ffe9a3b08bded3094bac8630bb8ad"),
]
AEMS = [
    bytes.fromhex("72033874"),
    bytes.fromhex("c29211b1"),
    bytes.fromhex("6adfad03"),
]

VECTOR_TIME = datetime.fromtimestamp(VECTOR_UNIX_TIME, tz=UTC)


# ---------------------------------------------------------------- published vectors


def test_vector_interval_number() -> None:
    assert gaen.en_interval_number(VECTOR_TIME) == VECTOR_INTERVAL
    # the vector key starts a day: its interval is a multiple of 144
    assert VECTOR_INTERVAL % gaen.TEK_ROLLING_PERIOD == 0


def test_vector_key_derivation() -> None:
    assert gaen.rpik(TEK) == RPIK
    assert gaen.aemk(TEK) == AEMK


def test_vector_metadata_bytes() -> None:
    """40080000 = version 1.0, TX power +8 dBm, reserved zero."""
    assert gaen.metadata(8) == METADATA
    assert gaen.metadata(tx_power=8, version_major=1, version_minor=0) == METADATA
    assert gaen.parse_metadata(METADATA) == (1, 0, 8)


@pytest.mark.parametrize("offset", range(len(RPIS)))
def test_vector_rpi_and_aem(offset: int) -> None:
    interval = VECTOR_INTERVAL + offset
    rpi = gaen.rpi(RPIK, interval)
    assert rpi == RPIS[offset]
    assert gaen.encrypt_metadata(AEMK, rpi, METADATA) == AEMS[offset]
    assert gaen.decrypt_metadata(AEMK, RPIS[offset], AEMS[offset]) == METADATA


def test_vector_batch_and_end_to_end_from_tek() -> None:
    """The batched path, started from the TEK alone, reproduces the listed RPIs and AEMs."""
    tek = TemporaryExposureKey(key=TEK, rolling_start_interval_number=VECTOR_INTERVAL)
    rpis = gaen.rpis_for_day(gaen.rpik(tek.key), tek.rolling_start_interval_number)
    assert len(rpis) == 144
    assert rpis[: len(RPIS)] == RPIS
    aemk = gaen.aemk(tek.key)
    assert [gaen.encrypt_metadata(aemk, r, METADATA) for r in rpis[:3]] == AEMS


def test_vector_padded_data_layout() -> None:
    block = gaen.padded_data(VECTOR_INTERVAL)
    assert block == b"EN-RPI" + bytes(6) + VECTOR_INTERVAL.to_bytes(4, "little")
    assert block.hex() == "454e2d525049000000000000" + "20542800"
    assert len(block) == 16


# ---------------------------------------------------------------- batching


def test_rpis_for_day_equals_separate_rpi_calls() -> None:
    batch = gaen.rpis_for_day(RPIK, VECTOR_INTERVAL)
    separate = [gaen.rpi(RPIK, VECTOR_INTERVAL + j) for j in range(144)]
    assert batch == separate
    assert len(set(batch)) == 144  # every interval has its own identifier
    assert gaen.rpi_block(RPIK, VECTOR_INTERVAL) == b"".join(separate)


def test_rpis_for_partial_key_and_other_start() -> None:
    start = VECTOR_INTERVAL + 144 * 7 + 37  # a mid-day key, e.g. rotated after a reset
    batch = gaen.rpis_for_day(RPIK, start, 5)
    assert batch == [gaen.rpi(RPIK, start + j) for j in range(5)]
    # the cached padded blocks must not leak between different ranges
    assert gaen.rpis_for_day(RPIK, start + 1, 4) == batch[1:]


def test_rpis_depend_on_key() -> None:
    other = gaen.rpik(bytes(16))
    assert gaen.rpis_for_day(other, VECTOR_INTERVAL, 3) != RPIS


@pytest.mark.parametrize(
    ("start", "period", "code"),
    [
        (VECTOR_INTERVAL, 0, "rolling_period"),
        (VECTOR_INTERVAL, 145, "rolling_period"),
        (-1, 144, "rolling_start"),
        (2**32 - 10, 144, "rolling_start"),
    ],
)
def test_rpis_for_day_rejects_bad_ranges(start: int, period: int, code: str) -> None:
    with pytest.raises(GaenError) as caught:
        gaen.rpis_for_day(RPIK, start, period)
    assert caught.value.code == code


def test_rpi_rejects_bad_key_and_interval() -> None:
    with pytest.raises(GaenError) as caught:
        gaen.rpi(RPIK[:15], VECTOR_INTERVAL)
    assert caught.value.code == "key_length"
    for bad in (-1, 2**32, True):
        with pytest.raises(GaenError) as caught:
            gaen.padded_data(bad)
        assert caught.value.code == "interval"
    with pytest.raises(GaenError) as caught:
        gaen.rpik(TEK + b"\x00")
    assert caught.value.code == "key_length"


# ---------------------------------------------------------------- metadata and AEM


@pytest.mark.parametrize(
    ("major", "minor", "tx_power"), [(1, 0, 8), (1, 0, -12), (1, 1, 0), (3, 3, 127), (0, 0, -128)]
)
def test_metadata_round_trip(major: int, minor: int, tx_power: int) -> None:
    data = gaen.metadata(tx_power, version_major=major, version_minor=minor)
    assert len(data) == gaen.AEM_LENGTH
    assert data[0] == (major << 6) | (minor << 4)
    assert data[2:] == b"\x00\x00"
    assert gaen.parse_metadata(data) == (major, minor, tx_power)


def test_metadata_negative_tx_power_is_signed_byte() -> None:
    assert gaen.metadata(-12) == bytes((0x40, 0xF4, 0, 0))
    assert gaen.metadata(-1, calibration_confidence=2)[0] == 0x48


def test_parse_metadata_ignores_calibration_and_reserved_bits() -> None:
    assert gaen.parse_metadata(bytes((0x4F, 0xF4, 0xAB, 0xCD))) == (1, 0, -12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tx_power": 128},
        {"tx_power": -129},
        {"tx_power": 0, "version_major": 4},
        {"tx_power": 0, "version_minor": -1},
        {"tx_power": 0, "calibration_confidence": 4},
    ],
)
def test_metadata_rejects_out_of_range(kwargs: dict[str, int]) -> None:
    with pytest.raises(GaenError) as caught:
        gaen.metadata(**kwargs)
    assert caught.value.code == "metadata"


def test_aem_round_trip_over_a_day() -> None:
    tek = gaen.new_tek(VECTOR_TIME, rng=lambda n: bytes(range(n)))
    rpik, aemk = gaen.rpik(tek.key), gaen.aemk(tek.key)
    meta = gaen.metadata(-7)
    aems = set()
    for rpi in gaen.rpis_for_day(rpik, tek.rolling_start_interval_number):
        aem = gaen.encrypt_metadata(aemk, rpi, meta)
        assert len(aem) == 4
        assert gaen.decrypt_metadata(aemk, rpi, aem) == meta
        aems.add(aem)
    assert meta not in aems  # metadata never goes out in the clear
    assert len(aems) > 100  # the keystream changes with the RPI


def test_aem_wrong_key_does_not_recover_metadata() -> None:
    wrong = gaen.aemk(bytes(16))
    assert gaen.decrypt_metadata(wrong, RPIS[0], AEMS[0]) != METADATA


def test_metadata_encryption_rejects_bad_lengths() -> None:
    cases = [
        (AEMK[:8], RPIS[0], METADATA, "key_length"),
        (AEMK, RPIS[0][:15], METADATA, "rpi"),
        (AEMK, RPIS[0], METADATA + b"\x00", "metadata"),
    ]
    for aemk, rpi, meta, code in cases:
        with pytest.raises(GaenError) as caught:
            gaen.encrypt_metadata(aemk, rpi, meta)
        assert caught.value.code == code
    with pytest.raises(GaenError) as caught:
        gaen.decrypt_metadata(AEMK, RPIS[0], AEMS[0][:3])
    assert caught.value.code == "metadata"
    with pytest.raises(GaenError) as caught:
        gaen.parse_metadata(b"\x40\x08\x00")
    assert caught.value.code == "metadata"


# ---------------------------------------------------------------- advertisement


def _vector_ad() -> bytes:
    return gaen.ad_structure(RPIS[0], AEMS[0])


def test_advertisement_payload_round_trip() -> None:
    payload = gaen.encode_advertisement(RPIS[0], AEMS[0])
    assert payload == RPIS[0] + AEMS[0]
    assert len(payload) == 20
    assert gaen.decode_advertisement(payload) == (RPIS[0], AEMS[0])


def test_ad_structure_layout_and_round_trip() -> None:
    ad = _vector_ad()
    assert len(ad) == 31
    assert ad[:3] == bytes.fromhex("02011a")
    assert ad[3:7] == bytes.fromhex("03036ffd")
    assert ad[7:11] == bytes.fromhex("17166ffd")
    assert ad[11:] == RPIS[0] + AEMS[0]
    assert gaen.parse_ad_structure(ad) == (RPIS[0], AEMS[0])
    assert gaen.parse_ad_structure(bytearray(ad)) == (RPIS[0], AEMS[0])  # as BLE stacks give it
    assert gaen.decode_advertisement(memoryview(ad)[11:]) == (RPIS[0], AEMS[0])


def test_ad_structure_parsing_tolerates_order_and_incomplete_uuid_list() -> None:
    ad = _vector_ad()
    reordered = ad[7:] + ad[3:7] + ad[:3]
    assert gaen.parse_ad_structure(reordered) == (RPIS[0], AEMS[0])
    incomplete_list = ad[:4] + b"\x02" + ad[5:]  # "incomplete" 16-bit UUID list is also valid
    assert gaen.parse_ad_structure(incomplete_list) == (RPIS[0], AEMS[0])
    two_uuids = bytes.fromhex("020106") + bytes.fromhex("05030f186ffd") + ad[7:]
    assert gaen.parse_ad_structure(two_uuids) == (RPIS[0], AEMS[0])


def test_scan_record_with_scan_response_and_zero_padding() -> None:
    """Android reports advertising data + scan response as one zero-padded 62-byte record."""
    ad = _vector_ad()
    tx_power_level = bytes.fromhex("020af4")
    record = ad + tx_power_level
    record += bytes(gaen.MAX_SCAN_RECORD - len(record))
    assert len(record) == 62
    assert gaen.parse_ad_structure(record) == (RPIS[0], AEMS[0])
    with pytest.raises(GaenError):
        gaen.parse_ad_structure(record[:-1] + b"\x01")  # garbage after the zero terminator
    with pytest.raises(GaenError):
        gaen.parse_ad_structure(record + b"\x00")  # longer than any scan record


@pytest.mark.parametrize("size", [0, 15, 19, 21, 40])
def test_decode_advertisement_rejects_wrong_length(size: int) -> None:
    with pytest.raises(GaenError) as caught:
        gaen.decode_advertisement(bytes(size))
    assert caught.value.code == "advertisement"


def test_encode_advertisement_rejects_wrong_lengths() -> None:
    for rpi, aem in ((RPIS[0][:15], AEMS[0]), (RPIS[0], AEMS[0] + b"\x00"), (RPIS[0], b"")):
        with pytest.raises(GaenError) as caught:
            gaen.encode_advertisement(rpi, aem)
        assert caught.value.code == "advertisement"
        with pytest.raises(GaenError):
            gaen.ad_structure(rpi, aem)


def _replace(data: bytes, index: int, value: int) -> bytes:
    out = bytearray(data)
    out[index] = value
    return bytes(out)


_AD = gaen.ad_structure(RPIS[0], AEMS[0])


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("empty", b""),
        ("truncated by one byte", _AD[:-1]),
        ("only flags and uuid list", _AD[:7]),
        ("truncated inside an element header", _AD[:8]),
        ("longer than a scan record", _AD + bytes(32)),
        ("zero terminator before the service data", _AD[:7] + bytes(24)),
        ("service data uuid is not FD6F", _replace(_AD, 9, 0x70)),
        ("uuid list does not name FD6F", _replace(_AD, 5, 0x70)),
        ("service data AD type wrong (0x20 = 32-bit service data)", _replace(_AD, 8, 0x20)),
        ("uuid list AD type wrong (0x07 = 128-bit uuids)", _replace(_AD, 4, 0x07)),
        ("flags AD type wrong (0x0a = TX power)", _replace(_AD, 1, 0x0A)),
        ("service data one byte short (length byte)", _replace(_AD, 7, 0x16)[:-1]),
        ("service data length byte overruns", _replace(_AD, 7, 0x18)),
        ("flags element too long", bytes.fromhex("03011a00 03036ffd") + _AD[7:]),
        ("duplicated AD type", _AD[:3] + _AD[:3] + _AD[3:]),
        ("odd-length uuid list", bytes.fromhex("020106 04036ffd00") + _AD[7:]),
        ("not bytes", _AD.hex()),
    ],
)
def test_parse_ad_structure_rejects_malformed(label: str, data: bytes | str) -> None:
    with pytest.raises(GaenError) as caught:
        gaen.parse_ad_structure(data)  # type: ignore[arg-type]
    assert caught.value.code == "advertisement", label


# ---------------------------------------------------------------- TEK validation


def test_tek_defaults_and_repr_hides_key() -> None:
    tek = TemporaryExposureKey(key=TEK, rolling_start_interval_number=VECTOR_INTERVAL)
    assert tek.rolling_period == 144
    assert tek.end_interval_number == VECTOR_INTERVAL + 144
    assert (tek.transmission_risk_level, tek.report_type, tek.days_since_onset) == (0, 0, None)
    assert TEK.hex() not in repr(tek)
    assert repr(TEK) not in repr(tek)


def test_tek_partial_day_key_may_start_mid_day() -> None:
    tek = TemporaryExposureKey(
        key=TEK,
        rolling_start_interval_number=VECTOR_INTERVAL + 50,
        rolling_period=60,
        transmission_risk_level=8,
        report_type=5,
        days_since_onset=-14,
    )
    assert tek.end_interval_number == VECTOR_INTERVAL + 110


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"key": TEK[:15]}, "key_length"),
        ({"key": TEK + b"\x00"}, "key_length"),
        ({"key": TEK.hex()}, "key_length"),
        ({"rolling_start_interval_number": VECTOR_INTERVAL + 1}, "rolling_start"),
        ({"rolling_start_interval_number": -144}, "rolling_start"),
        ({"rolling_start_interval_number": 2**32}, "rolling_start"),
        ({"rolling_period": 0}, "rolling_period"),
        ({"rolling_period": 145}, "rolling_period"),
        ({"rolling_period": True}, "rolling_period"),
        ({"transmission_risk_level": 9}, "transmission_risk"),
        ({"transmission_risk_level": -1}, "transmission_risk"),
        ({"report_type": 6}, "report_type"),
        ({"days_since_onset": 15}, "days_since_onset"),
        ({"days_since_onset": -15}, "days_since_onset"),
    ],
)
def test_tek_validation_errors(kwargs: dict[str, object], code: str) -> None:
    fields: dict[str, object] = {"key": TEK, "rolling_start_interval_number": VECTOR_INTERVAL}
    fields.update(kwargs)
    with pytest.raises(GaenError) as caught:
        TemporaryExposureKey(**fields)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError)


def test_tek_is_frozen() -> None:
    tek = TemporaryExposureKey(key=TEK, rolling_start_interval_number=VECTOR_INTERVAL)
    with pytest.raises(AttributeError):
        tek.rolling_period = 1  # type: ignore[misc]


# ---------------------------------------------------------------- new_tek and time


def test_new_tek_aligned_to_utc_day() -> None:
    at = datetime(2021, 7, 15, 17, 43, 12, tzinfo=UTC)
    tek = gaen.new_tek(at, rng=lambda n: b"\x5a" * n)
    midnight = datetime(2021, 7, 15, tzinfo=UTC)
    assert tek.key == b"\x5a" * 16
    assert tek.rolling_start_interval_number % 144 == 0
    assert tek.rolling_start_interval_number == gaen.en_interval_number(midnight)
    assert gaen.interval_start(tek.rolling_start_interval_number) == midnight
    assert tek.rolling_period == 144
    assert (
        tek.rolling_start_interval_number <= gaen.en_interval_number(at) < tek.end_interval_number
    )


def test_new_tek_uses_utc_day_for_vietnam_time() -> None:
    """06:30 in Hanoi (UTC+7) is still the previous UTC day: the key follows UTC midnight."""
    hanoi = timezone(timedelta(hours=7))
    tek = gaen.new_tek(datetime(2021, 7, 16, 6, 30, tzinfo=hanoi))
    assert gaen.interval_start(tek.rolling_start_interval_number) == datetime(
        2021, 7, 15, tzinfo=UTC
    )
    assert len(tek.key) == 16


def test_new_tek_default_rng_is_random() -> None:
    keys = {gaen.new_tek(VECTOR_TIME).key for _ in range(8)}
    assert len(keys) == 8


def test_new_tek_rejects_short_rng_output() -> None:
    with pytest.raises(GaenError) as caught:
        gaen.new_tek(VECTOR_TIME, rng=lambda n: bytes(n - 1))
    assert caught.value.code == "key_length"


def test_interval_number_floors_and_round_trips() -> None:
    assert gaen.en_interval_number(VECTOR_TIME + timedelta(seconds=599, microseconds=999999)) == (
        VECTOR_INTERVAL
    )
    assert gaen.en_interval_number(VECTOR_TIME + timedelta(seconds=600)) == VECTOR_INTERVAL + 1
    assert gaen.en_interval_number(VECTOR_TIME - timedelta(microseconds=1)) == VECTOR_INTERVAL - 1
    assert gaen.interval_start(VECTOR_INTERVAL) == VECTOR_TIME
    assert gaen.interval_start(VECTOR_INTERVAL).tzinfo is not None
    hanoi = VECTOR_TIME.astimezone(timezone(timedelta(hours=7)))
    assert gaen.en_interval_number(hanoi) == VECTOR_INTERVAL


def test_naive_datetimes_rejected() -> None:
    naive = datetime(2020, 4, 2)  # noqa: DTZ001 - the point of the test
    with pytest.raises(GaenError) as caught:
        gaen.en_interval_number(naive)
    assert caught.value.code == "naive_datetime"
    with pytest.raises(GaenError) as caught:
        gaen.new_tek(naive)
    assert caught.value.code == "naive_datetime"


def test_error_carries_code_and_message() -> None:
    error = GaenError("advertisement", "bad advert")
    assert error.code == "advertisement"
    assert str(error) == "bad advert"
    assert str(GaenError("interval")) == "interval"
