"""Personal health QR pass: compact, signed, verifiable offline — pure (stdlib + cryptography).

A pass names no one: it carries a random 8-byte pseudonymous *subject* (never a database row id,
never a name or an ID number), a status and a validity window, signed with Ed25519. A scanner
that holds the published public keys (``KeyRing.public_keys()`` -> JSON -> ``from_published``)
verifies it without any network access.

Binary layout (big endian, 83 bytes)::

    version     1 byte   = VERSION (1)
    key id      1 byte   1..255, which key signed
    subject     8 bytes  random pseudonymous person id (see ``new_subject``)
    status      1 byte   index into STATUSES: 0 card, 1 green, 2 yellow, 3 red
    issued_at   uint32   unix seconds
    expires_at  uint32   unix seconds
    signature   64 bytes Ed25519 over DOMAIN + the 19 bytes above

Text form: ``"PD1:" + base45(bytes)`` (129 characters). Every character, the prefix included,
is in the QR alphanumeric alphabet, so the QR code uses the compact alphanumeric mode.

Status "card" is a long-lived printed card for a person without a phone. It carries no health
status at all: the scanner must ask the server for the subject's current status.

``KeyRing.verify`` is on the scanner's hot path and is benchmarked against the bare signature
check (``phongdich bench personal-qr``): it parses with one ``struct.Struct``, looks up a
prebuilt ``Ed25519PublicKey`` and checks the signature before anything else is trusted.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phongdich.kit import base45

PREFIX = "PD1:"
STATUSES = ("card", "green", "yellow", "red")
VERSION = 1
# Domain separation: a signature made for anything else (another token type, another version)
# can never be replayed as a health pass, even under the same key.
DOMAIN = b"phongdich-health-qr-v1"
ALG = "Ed25519"

SUBJECT_LEN = 8
SEED_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
# The signed fields, and the whole pass (signed fields + signature).
_SIGNED = struct.Struct(">BB8sBII")
_PASS = struct.Struct(f">BB8sBII{SIGNATURE_LEN}s")
SIGNED_LEN = _SIGNED.size  # 19
PASS_LEN = _PASS.size  # 83
TEXT_LEN = len(PREFIX) + len(base45.encode(bytes(PASS_LEN)))  # 129
# Texts longer than this are rejected before decoding (leaves room for a future, longer version
# to be reported as "version" rather than "format", but bounds the work done on garbage).
_MAX_TEXT_LEN = 512
_MAX_UINT32 = 0xFFFFFFFF
_STATUS_CODES = {name: code for code, name in enumerate(STATUSES)}

ERROR_CODES = frozenset(
    {"format", "version", "unknown_key", "signature", "expired", "not_yet_valid"}
)


class QrError(ValueError):
    """A health pass was rejected; ``code`` says why (one of ``ERROR_CODES``)."""

    def __init__(self, code: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown QrError code {code!r}")
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class HealthPass:
    """A verified pass. ``issued_at`` / ``expires_at`` are aware UTC, whole seconds."""

    key_id: int
    subject: bytes  # 8 bytes, pseudonymous
    status: str  # one of STATUSES; "card" means: ask the server
    issued_at: datetime
    expires_at: datetime


def derive_seed(secret: str, key_id: int) -> bytes:
    """32-byte Ed25519 seed for ``key_id`` derived from a deployment secret (HKDF-SHA256).

    For deployments that configure no explicit health-QR key: each key id gets an independent
    key, so rotating to a new id needs no new secret.
    """
    _check_key_id(key_id)
    if not secret:
        raise ValueError("derive_seed needs a non-empty secret")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=SEED_LEN,
        salt=None,
        info=b"phongdich-health-qr|%d" % key_id,
    )
    return hkdf.derive(secret.encode("utf-8"))


def new_subject() -> bytes:
    """A fresh random pseudonymous subject id (8 bytes)."""
    return secrets.token_bytes(SUBJECT_LEN)


def _check_key_id(key_id: int) -> None:
    # bool is an int subclass; True as a key id is surely a mistake.
    if isinstance(key_id, bool) or not isinstance(key_id, int) or not 1 <= key_id <= 255:
        raise ValueError(f"key id must be an integer in 1..255, not {key_id!r}")


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyRing:
    """Signing and verifying keys by key id.

    ``seeds`` maps key id -> 32-byte private seed: these keys sign (the ``active`` one) and
    verify. ``public`` maps key id -> raw 32-byte public key for verify-only keys: retired keys
    whose passes are still in circulation, or every key on a scanner that holds no private key.
    When ``seeds`` is empty, ``active`` is informational only (0 = none, else a key id in
    ``public``): it is reported by ``public_keys()`` but ``issue()`` raises.
    """

    def __init__(
        self,
        seeds: Mapping[int, bytes],
        active: int,
        public: Mapping[int, bytes] | None = None,
    ) -> None:
        self._signers: dict[int, Ed25519PrivateKey] = {}
        # Built once here: verify() only does a dict look-up per pass.
        self._verifiers: dict[int, Ed25519PublicKey] = {}
        self._raw_public: dict[int, bytes] = {}
        for kid, seed in seeds.items():
            _check_key_id(kid)
            if len(seed) != SEED_LEN:
                raise ValueError(f"seed for key {kid} must be {SEED_LEN} bytes")
            private = Ed25519PrivateKey.from_private_bytes(bytes(seed))
            verifier = private.public_key()
            self._signers[kid] = private
            self._verifiers[kid] = verifier
            self._raw_public[kid] = verifier.public_bytes(Encoding.Raw, PublicFormat.Raw)
        for kid, raw in (public or {}).items():
            _check_key_id(kid)
            if len(raw) != PUBLIC_KEY_LEN:
                raise ValueError(f"public key {kid} must be {PUBLIC_KEY_LEN} bytes")
            if kid in self._raw_public:
                # Both a seed and a public key for one id: they must be the same key.
                if self._raw_public[kid] != bytes(raw):
                    raise ValueError(f"public key {kid} does not match its seed")
                continue
            self._verifiers[kid] = Ed25519PublicKey.from_public_bytes(bytes(raw))
            self._raw_public[kid] = bytes(raw)
        if self._signers:
            if active not in self._signers:
                raise ValueError(f"active key {active!r} has no seed")
        elif active != 0 and active not in self._raw_public:
            raise ValueError(f"active key {active!r} is not in the ring")
        self._active = active

    @classmethod
    def from_public(cls, public: Mapping[int, bytes]) -> KeyRing:
        """A verify-only ring from raw 32-byte public keys (``issue()`` raises)."""
        return cls({}, active=0, public=public)

    @classmethod
    def from_published(cls, keys: list[dict[str, object]]) -> KeyRing:
        """The verify-only ring an offline scanner builds from ``public_keys()`` JSON."""
        public: dict[int, bytes] = {}
        active = 0
        for entry in keys:
            kid = entry.get("kid")
            encoded = entry.get("public_key")
            if isinstance(kid, bool) or not isinstance(kid, int):
                raise ValueError(f"published key has no integer kid: {entry!r}")
            if entry.get("alg") != ALG:
                raise ValueError(f"published key {kid} is not {ALG}")
            if not isinstance(encoded, str):
                raise ValueError(f"published key {kid} has no public_key string")
            if kid in public:
                raise ValueError(f"published key {kid} appears twice")
            try:
                public[kid] = _unb64url(encoded)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"published key {kid} is not base64url") from exc
            if entry.get("active") is True:
                if active:
                    raise ValueError("more than one published key is active")
                active = kid
        return cls({}, active=active, public=public)

    def public_keys(self) -> list[dict[str, object]]:
        """Every verifying key, sorted by kid, as JSON-ready dicts for the key-distribution
        endpoint: ``{"kid", "alg", "public_key" (base64url, no padding), "active"}``."""
        return [
            {
                "kid": kid,
                "alg": ALG,
                "public_key": _b64url(self._raw_public[kid]),
                "active": kid == self._active,
            }
            for kid in sorted(self._raw_public)
        ]

    def issue(self, subject: bytes, status: str, issued_at: datetime, expires_at: datetime) -> str:
        """Sign a pass with the active key; returns the ``PD1:...`` text for the QR code.

        Times are truncated to whole seconds; both must be aware and fit a uint32.
        """
        signer = self._signers.get(self._active)
        if signer is None:
            raise ValueError("this key ring has no private key: it can only verify")
        if len(subject) != SUBJECT_LEN:
            raise ValueError(f"subject must be {SUBJECT_LEN} bytes")
        code = _STATUS_CODES.get(status)
        if code is None:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        _check_aware(issued_at, "issued_at")
        _check_aware(expires_at, "expires_at")
        issued = math.floor(issued_at.timestamp())
        expires = math.floor(expires_at.timestamp())
        if not 0 <= issued <= _MAX_UINT32 or not 0 <= expires <= _MAX_UINT32:
            raise ValueError("issued_at and expires_at must be within 1970..2106")
        if expires <= issued:
            raise ValueError("expires_at must be after issued_at")
        signed = _SIGNED.pack(VERSION, self._active, bytes(subject), code, issued, expires)
        return PREFIX + base45.encode(signed + signer.sign(DOMAIN + signed))

    def verify(
        self, text: str, now: datetime, leeway: timedelta = timedelta(minutes=5)
    ) -> HealthPass:
        """Check a scanned pass and return its contents, or raise ``QrError``.

        Order matters: nothing in the pass is trusted (status, times) before the signature is
        checked. ``leeway`` absorbs clock skew between issuer and scanner, in both directions.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        text = text.strip()
        if len(text) > _MAX_TEXT_LEN or not text.startswith(PREFIX):
            raise QrError("format")
        try:
            raw = base45.decode(text[len(PREFIX) :])
        except ValueError:
            raise QrError("format") from None
        if not raw:
            raise QrError("format")
        if raw[0] != VERSION:
            raise QrError("version")
        if len(raw) != PASS_LEN:
            raise QrError("format")
        _version, kid, subject, code, issued, expires, signature = _PASS.unpack(raw)
        key = self._verifiers.get(kid)
        if key is None:
            raise QrError("unknown_key")
        try:
            key.verify(signature, DOMAIN + raw[:SIGNED_LEN])
        except InvalidSignature:
            raise QrError("signature") from None
        if code >= len(STATUSES):
            raise QrError("format")  # validly signed but from a newer issuer: not ours to read
        now_s = now.timestamp()
        slack = leeway.total_seconds()
        if now_s > expires + slack:
            raise QrError("expired")
        if issued > now_s + slack:
            raise QrError("not_yet_valid")
        return HealthPass(
            key_id=kid,
            subject=subject,
            status=STATUSES[code],
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
