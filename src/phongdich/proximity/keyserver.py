"""The key server's rules, pure (stdlib + ``cryptography``): verification codes, the HMAC that
binds a certificate to exactly one set of keys, the ES256 certificate (JWT), the publish rules of
the Google exposure-notifications reference server and the P-256 signing keys.

Publish rules (reference defaults, see ``/work/shared/reference/proximity.md``):

- at most 20 keys a request, at most 3 with the same rolling start interval;
- key 16 bytes, rolling period 1..144, transmission risk 0..8, no key twice;
- no key older than 15 days (its last interval before ``now - 15 days``), none starting in the
  future;
- a key still valid is accepted but embargoed: visible only 2 h after it expires.

HMAC cleartext: for each key ``base64(key).rollingStartNumber.rollingPeriod.transmissionRisk``
(standard base64 with padding), sorted, joined with ``,``;
``ekeyhmac = HMAC-SHA256(hmacKey, cleartext)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from phongdich.proximity import gaen

CODE_DIGITS = 8
CODE_TTL = timedelta(hours=1)
TOKEN_TTL = timedelta(hours=24)
CERTIFICATE_TTL = timedelta(minutes=15)
MAX_KEYS_PER_PUBLISH = 20
MAX_SAME_START = 3
MAX_KEY_AGE = timedelta(days=15)
EMBARGO = timedelta(hours=2)
HMAC_KEY_BYTES = (16, 128)
MAX_DAYS_SINCE_ONSET = 14

# Report types of the export format; the verification server issues the first two.
REPORT_CONFIRMED_TEST = 1
REPORT_CLINICAL = 2
TEST_TYPES = {REPORT_CONFIRMED_TEST: "confirmed", REPORT_CLINICAL: "likely"}

JWT_ISSUER = "phongdich-verification"
JWT_AUDIENCE = "phongdich-keyserver"

_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


class PublishError(ValueError):
    """A publish request breaks a rule; ``code`` names it (API: add codes, never rename)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class CertificateError(ValueError):
    """A certificate (JWT) that is malformed, signed by an unknown key, forged or expired."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


# --- codes and tokens ---------------------------------------------------------------------------


def new_code() -> str:
    """A one-time verification code: 8 random digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def is_code(text: str) -> bool:
    return len(text) == CODE_DIGITS and text.isascii() and text.isdigit()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret_key: str, purpose: str, value: str) -> str:
    """Keyed hash of a code or token: what the database keeps instead of the value (an 8-digit
    code cannot be protected by a plain hash: 10^8 guesses are nothing)."""
    message = f"bluezone:{purpose}:{value}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


# --- keys and the HMAC --------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishKey:
    key_data: bytes
    rolling_start: int
    rolling_period: int
    transmission_risk: int


@dataclass(frozen=True)
class AcceptedKey:
    key: PublishKey
    visible_after: datetime  # now, or 2 h after the key expires (embargo)


def b64decode(text: str) -> bytes:
    """Strict standard base64 (padding required), as GAEN clients send it."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError("not valid base64") from exc


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hmac_cleartext(keys: Sequence[PublishKey]) -> str:
    parts = sorted(
        f"{b64encode(k.key_data)}.{k.rolling_start}.{k.rolling_period}.{k.transmission_risk}"
        for k in keys
    )
    return ",".join(parts)


def ekeyhmac(hmac_key: bytes, keys: Sequence[PublishKey]) -> bytes:
    """HMAC-SHA256(hmacKey, cleartext) of the keys (what the phone sends for a certificate)."""
    return hmac.new(hmac_key, hmac_cleartext(keys).encode(), hashlib.sha256).digest()


def check_keys(keys: Sequence[PublishKey], now: datetime) -> list[AcceptedKey]:
    """Apply the publish rules; every key is accepted or the whole request is refused."""
    if not keys:
        raise PublishError("no_keys", "a publish request needs at least one key")
    if len(keys) > MAX_KEYS_PER_PUBLISH:
        raise PublishError("too_many_keys", f"at most {MAX_KEYS_PER_PUBLISH} keys a request")
    current = gaen.en_interval_number(now)
    oldest = gaen.en_interval_number(now - MAX_KEY_AGE)
    seen: set[bytes] = set()
    accepted: list[AcceptedKey] = []
    for key in keys:
        if len(key.key_data) != gaen.KEY_LENGTH:
            raise PublishError("key_length", "a key must be 16 bytes")
        if key.key_data in seen:
            raise PublishError("duplicate_key", "the same key twice")
        seen.add(key.key_data)
        if not 1 <= key.rolling_period <= gaen.TEK_ROLLING_PERIOD:
            raise PublishError("rolling_period", "rollingPeriod must be in 1..144")
        if not 0 <= key.transmission_risk <= 8:
            raise PublishError("transmission_risk", "transmissionRisk must be in 0..8")
        if not 0 <= key.rolling_start < 2**32:
            raise PublishError("rolling_start", "rollingStartNumber out of range")
        if key.rolling_start > current:
            raise PublishError("future", "a key starts in the future")
        end = key.rolling_start + key.rolling_period  # first interval after the key
        if end <= oldest:
            raise PublishError("too_old", "a key is older than 15 days")
        visible = now
        if end > current:  # still valid: embargoed until it expires + 2 h
            visible = max(now, gaen.interval_start(end) + EMBARGO)
        accepted.append(AcceptedKey(key, visible))
    same = Counter(k.rolling_start for k in keys)
    if max(same.values()) > MAX_SAME_START:
        raise PublishError("same_start", f"at most {MAX_SAME_START} keys with the same start")
    return accepted


def day_interval(day: date) -> int:
    """ENIntervalNumber of 00:00 UTC of a day (how GAEN numbers days)."""
    return day.toordinal() * 144 - date(1970, 1, 1).toordinal() * 144


def days_since_onset(rolling_start: int, onset_interval: int | None) -> int | None:
    """Whole days from the symptom onset (or test) day to the key's day; None when unknown or
    outside -14..14 (the export format's range)."""
    if onset_interval is None:
        return None
    days = rolling_start // 144 - onset_interval // 144
    return days if -MAX_DAYS_SINCE_ONSET <= days <= MAX_DAYS_SINCE_ONSET else None


# --- ES256 certificates (JWT) -------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CertificateError("malformed", "not base64url") from exc


def jwt_encode(claims: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """A compact JWS with ``alg`` ES256 (RFC 7515/7518: the signature is r || s, 64 bytes)."""
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jwt_decode(
    token: str,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey],
    now: datetime,
    *,
    issuer: str = JWT_ISSUER,
    audience: str = JWT_AUDIENCE,
) -> dict[str, Any]:
    """Verify an ES256 JWT (key by ``kid``, signature, ``iss``, ``aud``, ``exp``) and return
    its claims. Any other algorithm, ``none`` included, is refused."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise CertificateError("malformed", "not a compact JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CertificateError("malformed", "header or claims are not JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CertificateError("malformed", "header or claims are not objects")
    if header.get("alg") != "ES256":
        raise CertificateError("algorithm", "only ES256 certificates are accepted")
    public_key = public_keys.get(str(header.get("kid", "")))
    if public_key is None:
        raise CertificateError("unknown_key", "signed by an unknown key")
    raw = _b64url_decode(parts[2])
    if len(raw) != 64:
        raise CertificateError("signature", "an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CertificateError("signature", "the signature does not verify") from None
    if claims.get("iss") != issuer or claims.get("aud") != audience:
        raise CertificateError("audience", "issued by or for someone else")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise CertificateError("malformed", "no expiry")
    if now.timestamp() >= exp:
        raise CertificateError("expired", "the certificate has expired")
    return claims


# --- P-256 keys ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def derive_p256(secret_key: str, label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key derived from the server secret (development and tests; production
    configures its own keys): the scalar is HMAC-SHA256(secret, label‖counter) taken mod n,
    the first non-zero one."""
    counter = 0
    while True:
        digest = hmac.new(
            secret_key.encode(), f"{label}:{counter}".encode(), hashlib.sha256
        ).digest()
        scalar = int.from_bytes(digest, "big") % _P256_ORDER
        if scalar:
            return ec.derive_private_key(scalar, ec.SECP256R1())
        counter += 1  # pragma: no cover - probability 2^-256


@lru_cache(maxsize=16)
def load_p256(pem: str) -> ec.EllipticCurvePrivateKey:
    """A configured PEM private key; it must be ECDSA P-256."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("the proximity signing key is not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the proximity signing key must be ECDSA P-256")
    return key


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
