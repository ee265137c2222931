"""GAEN key export files (``export.bin`` + ``export.sig`` in a zip) — pure: protobuf + cryptography.

The layout is the Google exposure-notifications reference server's, byte for byte, so any GAEN
client (and Bluezone's device library) can read what the key server publishes::

    export.bin = b"EK Export v1    " || TemporaryExposureKeyExport (protobuf, proto2)
    export.sig = TEKSignatureList; each signature = ECDSA P-256 over SHA-256(export.bin), DER

The protobuf messages are built at run time from a ``FileDescriptorProto`` (no ``protoc`` step);
the field numbers and types below must never drift from the reference ``export.proto``::

    TemporaryExposureKeyExport { 1 start_timestamp fixed64; 2 end_timestamp fixed64; 3 region
        string; 4 batch_num int32; 5 batch_size int32; 6 signature_infos SignatureInfo*;
        7 keys TemporaryExposureKey*; 8 revised_keys TemporaryExposureKey* }
    SignatureInfo { 3 verification_key_version string; 4 verification_key_id string;
        5 signature_algorithm string }                       (1 and 2 are reserved)
    TemporaryExposureKey { 1 key_data bytes; 2 transmission_risk_level int32;
        3 rolling_start_interval_number int32; 4 rolling_period int32 [default 144];
        5 report_type ReportType; 6 days_since_onset_of_symptoms sint32 }
    TEKSignatureList { 1 signatures TEKSignature* }
    TEKSignature { 1 signature_info SignatureInfo; 2 batch_num int32; 3 batch_size int32;
        4 signature bytes }

Nothing happens at import time: the message classes are made on first use and cached.
"""

from __future__ import annotations

import io
import secrets
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "EXPORT_BIN",
    "EXPORT_SIG",
    "HEADER",
    "MAX_KEYS_PER_FILE",
    "SIGNATURE_ALGORITHM",
    "ExportError",
    "ExportFile",
    "ExportKey",
    "build_export",
    "read_export",
    "sign_export_bin",
]

HEADER = b"EK Export v1    "
"""The 16-byte header in front of the protobuf in ``export.bin``."""
EXPORT_BIN = "export.bin"
EXPORT_SIG = "export.sig"
MAX_KEYS_PER_FILE = 750_000
"""The reference server's limit of keys in one export file."""
SIGNATURE_ALGORITHM = "1.2.840.10045.4.3.2"
"""OID of ecdsa-with-SHA256, as the reference server writes it into ``SignatureInfo``."""
MAX_ZIP_ENTRY_BYTES = 64 * 1024 * 1024
"""Refuse to inflate a zip member larger than this (750,000 keys take about 25 MB)."""

_PACKAGE = "phongdich.gaen.export"
_KEY_LENGTH = 16
_INT32_MAX = 2**31 - 1
_UINT64_MAX = 2**64 - 1


class ExportError(ValueError):
    """A key export cannot be built or read: bad zip, header, protobuf, key id or signature."""


@dataclass(frozen=True)
class ExportKey:
    """One Temporary Exposure Key as it travels in an export."""

    key_data: bytes
    transmission_risk_level: int
    rolling_start_interval_number: int
    rolling_period: int = 144
    report_type: int = 1
    days_since_onset_of_symptoms: int | None = None


@dataclass(frozen=True)
class ExportFile:
    """What :func:`read_export` found in a verified export."""

    start_timestamp: int
    end_timestamp: int
    region: str
    batch_num: int
    batch_size: int
    keys: list[ExportKey]


# --- protobuf messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Messages:
    export: Any
    signature_info: Any
    key: Any
    signature_list: Any
    signature: Any


def _file_descriptor() -> Any:
    from google.protobuf import descriptor_pb2

    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "phongdich/gaen/export.proto"
    fdp.package = _PACKAGE
    fdp.syntax = "proto2"
    f = descriptor_pb2.FieldDescriptorProto
    optional, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    def add(
        message: Any,
        name: str,
        number: int,
        kind: int,
        label: int = optional,
        type_name: str = "",
        default: str = "",
    ) -> None:
        field = message.field.add()
        field.name, field.number, field.type, field.label = name, number, kind, label
        if type_name:
            field.type_name = f".{_PACKAGE}.{type_name}"
        if default:
            field.default_value = default

    export = fdp.message_type.add(name="TemporaryExposureKeyExport")
    add(export, "start_timestamp", 1, f.TYPE_FIXED64)
    add(export, "end_timestamp", 2, f.TYPE_FIXED64)
    add(export, "region", 3, f.TYPE_STRING)
    add(export, "batch_num", 4, f.TYPE_INT32)
    add(export, "batch_size", 5, f.TYPE_INT32)
    add(export, "signature_infos", 6, f.TYPE_MESSAGE, repeated, "SignatureInfo")
    add(export, "keys", 7, f.TYPE_MESSAGE, repeated, "TemporaryExposureKey")
    add(export, "revised_keys", 8, f.TYPE_MESSAGE, repeated, "TemporaryExposureKey")

    info = fdp.message_type.add(name="SignatureInfo")
    for start in (1, 2):
        reserved = info.reserved_range.add()
        reserved.start, reserved.end = start, start + 1
    add(info, "verification_key_version", 3, f.TYPE_STRING)
    add(info, "verification_key_id", 4, f.TYPE_STRING)
    add(info, "signature_algorithm", 5, f.TYPE_STRING)

    key = fdp.message_type.add(name="TemporaryExposureKey")
    add(key, "key_data", 1, f.TYPE_BYTES)
    add(key, "transmission_risk_level", 2, f.TYPE_INT32)
    add(key, "rolling_start_interval_number", 3, f.TYPE_INT32)
    add(key, "rolling_period", 4, f.TYPE_INT32, default="144")
    add(key, "report_type", 5, f.TYPE_ENUM, type_name="TemporaryExposureKey.ReportType")
    add(key, "days_since_onset_of_symptoms", 6, f.TYPE_SINT32)
    report_type = key.enum_type.add(name="ReportType")
    for number, name in enumerate(
        (
            "UNKNOWN",
            "CONFIRMED_TEST",
            "CONFIRMED_CLINICAL_DIAGNOSIS",
            "SELF_REPORT",
            "RECURSIVE",
            "REVOKED",
        )
    ):
        report_type.value.add(name=name, number=number)

    signature_list = fdp.message_type.add(name="TEKSignatureList")
    add(signature_list, "signatures", 1, f.TYPE_MESSAGE, repeated, "TEKSignature")

    signature = fdp.message_type.add(name="TEKSignature")
    add(signature, "signature_info", 1, f.TYPE_MESSAGE, type_name="SignatureInfo")
    add(signature, "batch_num", 2, f.TYPE_INT32)
    add(signature, "batch_size", 3, f.TYPE_INT32)
    add(signature, "signature", 4, f.TYPE_BYTES)
    return fdp


@lru_cache(maxsize=1)
def messages() -> _Messages:
    """The protobuf message classes (built once, in a private descriptor pool)."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))

    return _Messages(
        export=cls("TemporaryExposureKeyExport"),
        signature_info=cls("SignatureInfo"),
        key=cls("TemporaryExposureKey"),
        signature_list=cls("TEKSignatureList"),
        signature=cls("TEKSignature"),
    )


# --- building -----------------------------------------------------------------------------------


def _check_key(key: ExportKey) -> None:
    if not isinstance(key.key_data, bytes) or len(key.key_data) != _KEY_LENGTH:
        raise ExportError("key_data must be 16 bytes")
    if not 0 <= key.transmission_risk_level <= 8:
        raise ExportError("transmission_risk_level must be in 0..8")
    if not 0 <= key.rolling_start_interval_number <= _INT32_MAX:
        raise ExportError("rolling_start_interval_number out of range")
    if not 1 <= key.rolling_period <= 144:
        raise ExportError("rolling_period must be in 1..144")
    if not 0 <= key.report_type <= 5:
        raise ExportError("report_type must be in 0..5")
    onset = key.days_since_onset_of_symptoms
    if onset is not None and not -14 <= onset <= 14:
        raise ExportError("days_since_onset_of_symptoms must be in -14..14")


def _signature_info(key_id: str, key_version: str) -> Any:
    return messages().signature_info(
        verification_key_version=key_version,
        verification_key_id=key_id,
        signature_algorithm=SIGNATURE_ALGORITHM,
    )


def sign_export_bin(export_bin: bytes, signing_key: ec.EllipticCurvePrivateKey) -> bytes:
    """ECDSA P-256 over SHA-256 of the whole ``export.bin`` (header included), DER encoded."""
    if not isinstance(signing_key.curve, ec.SECP256R1):
        raise ExportError("the signing key must be an ECDSA P-256 key")
    return signing_key.sign(export_bin, ec.ECDSA(hashes.SHA256()))


def build_export(
    keys: Iterable[ExportKey],
    *,
    start_timestamp: int,
    end_timestamp: int,
    region: str,
    batch_num: int,
    batch_size: int,
    signing_key: ec.EllipticCurvePrivateKey,
    key_id: str,
    key_version: str,
) -> bytes:
    """The zip bytes of one signed export file; the keys are written in random order."""
    shuffled = list(keys)
    if len(shuffled) > MAX_KEYS_PER_FILE:
        raise ExportError(f"at most {MAX_KEYS_PER_FILE} keys fit in one export file")
    if not 0 <= start_timestamp <= end_timestamp <= _UINT64_MAX:
        raise ExportError("timestamps must satisfy 0 <= start_timestamp <= end_timestamp")
    if not 1 <= batch_num <= batch_size <= _INT32_MAX:
        raise ExportError("batch_num must be in 1..batch_size")
    if not key_id:
        raise ExportError("key_id must not be empty")
    for key in shuffled:
        _check_key(key)
    secrets.SystemRandom().shuffle(shuffled)

    m = messages()
    export = m.export(
        start_timestamp=start_timestamp,
        end_timestamp=end_timestamp,
        region=region,
        batch_num=batch_num,
        batch_size=batch_size,
    )
    export.signature_infos.append(_signature_info(key_id, key_version))
    add = export.keys.add
    for key in shuffled:
        if key.days_since_onset_of_symptoms is None:
            add(
                key_data=key.key_data,
                transmission_risk_level=key.transmission_risk_level,
                rolling_start_interval_number=key.rolling_start_interval_number,
                rolling_period=key.rolling_period,
                report_type=key.report_type,
            )
        else:
            add(
                key_data=key.key_data,
                transmission_risk_level=key.transmission_risk_level,
                rolling_start_interval_number=key.rolling_start_interval_number,
                rolling_period=key.rolling_period,
                report_type=key.report_type,
                days_since_onset_of_symptoms=key.days_since_onset_of_symptoms,
            )
    export_bin = HEADER + export.SerializeToString()

    signature_list = m.signature_list()
    signature_list.signatures.append(
        m.signature(
            signature_info=_signature_info(key_id, key_version),
            batch_num=batch_num,
            batch_size=batch_size,
            signature=sign_export_bin(export_bin, signing_key),
        )
    )
    buffer = io.BytesIO()
    # Random key bytes do not compress; storing them keeps building and reading fast.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_entry(EXPORT_BIN), export_bin)
        archive.writestr(_entry(EXPORT_SIG), signature_list.SerializeToString())
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    # A fixed date keeps the zip a function of its contents (apart from the random key order).
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    return info


# --- reading ------------------------------------------------------------------------------------


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ExportError(f"the export has no {name}") from None
    if info.file_size > MAX_ZIP_ENTRY_BYTES:
        raise ExportError(f"{name} is too large")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ExportError(f"{name} cannot be read: {exc}") from exc


def _parse(cls: Any, data: bytes, what: str) -> Any:
    from google.protobuf.message import DecodeError

    message = cls()
    try:
        message.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{what} is not a valid protobuf: {exc}") from exc
    return message


def read_export(
    zip_bytes: bytes, public_keys: Mapping[str, ec.EllipticCurvePublicKey]
) -> ExportFile:
    """Verify and decode an export zip.

    ``public_keys`` maps ``verification_key_id`` to the P-256 public key. The export is accepted
    when at least one of its signatures comes from a known key, and every signature from a known
    key verifies over ``export.bin`` with the export's own batch number and size.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ExportError(f"not a zip file: {exc}") from exc
    with archive:
        export_bin = _read_member(archive, EXPORT_BIN)
        export_sig = _read_member(archive, EXPORT_SIG)
    if export_bin[: len(HEADER)] != HEADER:
        raise ExportError("export.bin does not start with the 'EK Export v1' header")

    m = messages()
    export = _parse(m.export, export_bin[len(HEADER) :], "export.bin")
    signature_list = _parse(m.signature_list, export_sig, "export.sig")
    _verify(export, signature_list.signatures, export_bin, public_keys)

    keys = [
        ExportKey(
            key_data=key.key_data,
            transmission_risk_level=key.transmission_risk_level,
            rolling_start_interval_number=key.rolling_start_interval_number,
            rolling_period=key.rolling_period,
            report_type=key.report_type,
            days_since_onset_of_symptoms=(
                key.days_since_onset_of_symptoms
                if key.HasField("days_since_onset_of_symptoms")
                else None
            ),
        )
        for key in export.keys
    ]
    return ExportFile(
        start_timestamp=export.start_timestamp,
        end_timestamp=export.end_timestamp,
        region=export.region,
        batch_num=export.batch_num,
        batch_size=export.batch_size,
        keys=keys,
    )


def _verify(
    export: Any,
    signatures: Sequence[Any],
    export_bin: bytes,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey],
) -> None:
    if not signatures:
        raise ExportError("export.sig holds no signature")
    verified = 0
    for signature in signatures:
        key_id = signature.signature_info.verification_key_id
        public_key = public_keys.get(key_id)
        if public_key is None:
            continue
        if (signature.batch_num, signature.batch_size) != (export.batch_num, export.batch_size):
            raise ExportError("the signature's batch number or size differs from export.bin")
        try:
            public_key.verify(signature.signature, export_bin, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ExportError(f"the signature of key {key_id!r} does not verify") from None
        verified += 1
    if not verified:
        ids = sorted({s.signature_info.verification_key_id for s in signatures})
        raise ExportError(f"export.sig is signed only by unknown key ids {ids}")
