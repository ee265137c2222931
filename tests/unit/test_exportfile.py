"""GAEN key export files: round trip, signatures, tampering and the exact protobuf wire layout.

The wire-layout tests decode ``export.bin`` / ``export.sig`` with a small hand-written protobuf
parser (independent of the ``protobuf`` library) and compare the field numbers and wire types with
the reference ``export.proto`` as listed in ``/work/shared/reference/proximity.md``.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from phongdich.proximity import exportfile
from phongdich.proximity.exportfile import (
    HEADER,
    ExportError,
    ExportKey,
    build_export,
    read_export,
)

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _keys(n: int) -> list[ExportKey]:
    return [
        ExportKey(
            key_data=os.urandom(16),
            transmission_risk_level=i % 9,
            rolling_start_interval_number=2_700_000 + 144 * (i % 14),
            rolling_period=144 - (i % 3),
            report_type=1 + (i % 2),
            days_since_onset_of_symptoms=None if i % 4 == 0 else (i % 29) - 14,
        )
        for i in range(n)
    ]


def _build(keys: list[ExportKey], key: ec.EllipticCurvePrivateKey, **over: object) -> bytes:
    args: dict[str, object] = {
        "start_timestamp": 1_620_000_000,
        "end_timestamp": 1_620_000_900,
        "region": "VN",
        "batch_num": 1,
        "batch_size": 1,
        "signing_key": key,
        "key_id": "704",
        "key_version": "v1",
    }
    args.update(over)
    return build_export(keys, **args)  # type: ignore[arg-type]


def _members(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---- a minimal protobuf wire parser, independent of the protobuf library


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field of one message."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == FIXED64:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == LEN:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == FIXED32:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:  # pragma: no cover - groups never appear in export files
            raise AssertionError(f"unexpected wire type {wire}")
        yield number, wire, value


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


# ---- round trip


def test_round_trip_keeps_every_key_and_header_fields(
    signing_key: ec.EllipticCurvePrivateKey,
) -> None:
    keys = _keys(300)
    zip_bytes = _build(keys, signing_key, batch_num=2, batch_size=3)
    export = read_export(zip_bytes, {"704": signing_key.public_key()})
    assert (export.start_timestamp, export.end_timestamp) == (1_620_000_000, 1_620_000_900)
    assert (export.region, export.batch_num, export.batch_size) == ("VN", 2, 3)
    assert sorted(export.keys, key=lambda k: k.key_data) == sorted(keys, key=lambda k: k.key_data)
    assert any(k.days_since_onset_of_symptoms is None for k in export.keys)
    assert any(k.days_since_onset_of_symptoms == -14 for k in export.keys)


def test_zip_holds_exactly_export_bin_and_sig(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(3), signing_key))
    assert sorted(members) == ["export.bin", "export.sig"]
    assert members["export.bin"][:16] == b"EK Export v1    "


def test_empty_export_round_trips(signing_key: ec.EllipticCurvePrivateKey) -> None:
    export = read_export(_build([], signing_key), {"704": signing_key.public_key()})
    assert export.keys == []
    assert export.region == "VN"


def test_keys_are_written_in_random_order(signing_key: ec.EllipticCurvePrivateKey) -> None:
    keys = _keys(64)
    orders = set()
    for _ in range(4):
        export = read_export(_build(keys, signing_key), {"704": signing_key.public_key()})
        orders.add(tuple(k.key_data for k in export.keys))
    assert tuple(k.key_data for k in keys) not in orders
    assert len(orders) > 1


def test_signature_is_ecdsa_p256_sha256_der_over_whole_export_bin(
    signing_key: ec.EllipticCurvePrivateKey,
) -> None:
    members = _members(_build(_keys(5), signing_key))
    signatures = [v for n, w, v in _fields(members["export.sig"]) if n == 1]
    assert len(signatures) == 1
    assert isinstance(signatures[0], bytes)
    raw = {n: v for n, _, v in _fields(signatures[0])}
    der = raw[4]
    assert isinstance(der, bytes)
    assert der[0] == 0x30  # a DER SEQUENCE (r, s)
    # verifies independently of read_export, over header + protobuf
    signing_key.public_key().verify(der, members["export.bin"], ec.ECDSA(hashes.SHA256()))
    # and the prehashed form (SHA-256 of export.bin) is the same signature
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    digest = hashlib.sha256(members["export.bin"]).digest()
    signing_key.public_key().verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


# ---- wire layout


def test_export_bin_field_numbers_and_wire_types(signing_key: ec.EllipticCurvePrivateKey) -> None:
    key = ExportKey(
        key_data=bytes(range(16)),
        transmission_risk_level=7,
        rolling_start_interval_number=2_700_000,
        rolling_period=100,
        report_type=2,
        days_since_onset_of_symptoms=-3,
    )
    members = _members(_build([key], signing_key, batch_num=1, batch_size=2))
    fields = list(_fields(members["export.bin"][len(HEADER) :]))
    top = {(n, w) for n, w, _ in fields}
    assert top == {
        (1, FIXED64),
        (2, FIXED64),
        (3, LEN),
        (4, VARINT),
        (5, VARINT),
        (6, LEN),
        (7, LEN),
    }
    values = {n: v for n, _, v in fields}
    assert values[1] == 1_620_000_000
    assert values[2] == 1_620_000_900
    assert values[3] == b"VN"
    assert (values[4], values[5]) == (1, 2)

    info = values[6]
    assert isinstance(info, bytes)
    info_fields = {n: (w, v) for n, w, v in _fields(info)}
    assert info_fields == {
        3: (LEN, b"v1"),
        4: (LEN, b"704"),
        5: (LEN, b"1.2.840.10045.4.3.2"),
    }

    tek = values[7]
    assert isinstance(tek, bytes)
    tek_fields = {n: (w, v) for n, w, v in _fields(tek)}
    assert tek_fields[1] == (LEN, bytes(range(16)))
    assert tek_fields[2] == (VARINT, 7)
    assert tek_fields[3] == (VARINT, 2_700_000)
    assert tek_fields[4] == (VARINT, 100)
    assert tek_fields[5] == (VARINT, 2)
    wire, raw = tek_fields[6]
    assert wire == VARINT
    assert isinstance(raw, int)
    assert raw == 5  # sint32 zigzag: -3 -> 5 (an int32 would encode ten bytes of 0xff)
    assert _unzigzag(raw) == -3


def test_export_sig_field_numbers(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(1), signing_key, batch_num=3, batch_size=4))
    outer = list(_fields(members["export.sig"]))
    assert [(n, w) for n, w, _ in outer] == [(1, LEN)]
    sig = outer[0][2]
    assert isinstance(sig, bytes)
    inner = {n: (w, v) for n, w, v in _fields(sig)}
    assert set(inner) == {1, 2, 3, 4}
    assert inner[2] == (VARINT, 3)
    assert inner[3] == (VARINT, 4)
    assert inner[1][0] == LEN
    assert inner[4][0] == LEN
    info = inner[1][1]
    assert isinstance(info, bytes)
    assert {n for n, _, _ in _fields(info)} == {3, 4, 5}


def test_unset_days_since_onset_is_not_written(signing_key: ec.EllipticCurvePrivateKey) -> None:
    key = ExportKey(bytes(16), 3, 2_700_000)
    members = _members(_build([key], signing_key))
    tek = next(v for n, _, v in _fields(members["export.bin"][16:]) if n == 7)
    assert isinstance(tek, bytes)
    numbers = [n for n, _, _ in _fields(tek)]
    assert 6 not in numbers
    assert 4 in numbers  # rolling_period is written explicitly even at its default of 144


def test_descriptor_matches_reference_proto() -> None:
    m = exportfile.messages()
    export = m.export.DESCRIPTOR
    assert {f.name: f.number for f in export.fields} == {
        "start_timestamp": 1,
        "end_timestamp": 2,
        "region": 3,
        "batch_num": 4,
        "batch_size": 5,
        "signature_infos": 6,
        "keys": 7,
        "revised_keys": 8,
    }
    key = m.key.DESCRIPTOR
    assert key.fields_by_name["rolling_period"].default_value == 144
    assert key.fields_by_name["days_since_onset_of_symptoms"].type == 17  # TYPE_SINT32
    assert {v.name: v.number for v in key.enum_types_by_name["ReportType"].values} == {
        "UNKNOWN": 0,
        "CONFIRMED_TEST": 1,
        "CONFIRMED_CLINICAL_DIAGNOSIS": 2,
        "SELF_REPORT": 3,
        "RECURSIVE": 4,
        "REVOKED": 5,
    }


# ---- rejected exports


def test_tampered_export_bin_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(10), signing_key))
    data = bytearray(members["export.bin"])
    data[-1] ^= 0x01  # flip a bit inside the last key's bytes
    members["export.bin"] = bytes(data)
    with pytest.raises(ExportError, match="does not verify"):
        read_export(_zip(members), {"704": signing_key.public_key()})


def test_tampered_signature_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(10), signing_key))
    m = exportfile.messages()
    sig_list = m.signature_list()
    sig_list.ParseFromString(members["export.sig"])
    raw = bytearray(sig_list.signatures[0].signature)
    raw[-1] ^= 0x01
    sig_list.signatures[0].signature = bytes(raw)
    members["export.sig"] = sig_list.SerializeToString()
    with pytest.raises(ExportError, match="does not verify"):
        read_export(_zip(members), {"704": signing_key.public_key()})


def test_signature_by_another_key_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    zip_bytes = _build(_keys(2), other)
    with pytest.raises(ExportError, match="does not verify"):
        read_export(zip_bytes, {"704": signing_key.public_key()})


def test_unknown_key_id_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    zip_bytes = _build(_keys(2), signing_key, key_id="999")
    with pytest.raises(ExportError, match="unknown key ids"):
        read_export(zip_bytes, {"704": signing_key.public_key()})


def test_bad_header_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(2), signing_key))
    members["export.bin"] = b"EK Export v2    " + members["export.bin"][16:]
    with pytest.raises(ExportError, match="header"):
        read_export(_zip(members), {"704": signing_key.public_key()})


def test_bad_protobuf_is_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    members = _members(_build(_keys(2), signing_key))
    members["export.sig"] = b"\xff\xff\xff\xff"
    with pytest.raises(ExportError, match="protobuf"):
        read_export(_zip(members), {"704": signing_key.public_key()})


def test_not_a_zip_and_missing_member_are_rejected(signing_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ExportError, match="not a zip"):
        read_export(b"PK-not-really", {"704": signing_key.public_key()})
    members = _members(_build(_keys(2), signing_key))
    del members["export.sig"]
    with pytest.raises(ExportError, match=r"no export\.sig"):
        read_export(_zip(members), {"704": signing_key.public_key()})


def test_export_error_is_a_value_error() -> None:
    assert issubclass(ExportError, ValueError)


# ---- build-time validation


def test_build_refuses_more_than_the_file_limit(
    signing_key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert exportfile.MAX_KEYS_PER_FILE == 750_000
    monkeypatch.setattr(exportfile, "MAX_KEYS_PER_FILE", 5)
    _build(_keys(5), signing_key)  # exactly at the limit is fine
    with pytest.raises(ExportError, match="at most 5 keys"):
        _build(_keys(6), signing_key)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (ExportKey(bytes(15), 1, 2_700_000), "16 bytes"),
        (ExportKey(bytes(16), 9, 2_700_000), "transmission_risk"),
        (ExportKey(bytes(16), 1, 2_700_000, rolling_period=0), "rolling_period"),
        (ExportKey(bytes(16), 1, 2_700_000, rolling_period=145), "rolling_period"),
        (ExportKey(bytes(16), 1, 2_700_000, report_type=6), "report_type"),
        (ExportKey(bytes(16), 1, 2_700_000, days_since_onset_of_symptoms=15), "days_since"),
    ],
)
def test_build_rejects_invalid_keys(
    signing_key: ec.EllipticCurvePrivateKey, bad: ExportKey, message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        _build([bad], signing_key)


def test_build_rejects_bad_batch_and_non_p256_key(signing_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ExportError, match="batch_num"):
        _build([], signing_key, batch_num=2, batch_size=1)
    with pytest.raises(ExportError, match="P-256"):
        _build([], ec.generate_private_key(ec.SECP384R1()))
