"""The key server's pure rules: HMAC cleartext, publish rules at their limits, ES256
certificates and the P-256 keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from phongdich.proximity import gaen, keyserver
from phongdich.proximity.keyserver import CertificateError, PublishError, PublishKey

NOW = datetime(2026, 5, 10, 9, 30, tzinfo=UTC)
DAY0 = gaen.en_interval_number(NOW) // 144 * 144


def key(start: int, period: int = 144, risk: int = 6, fill: int = 1) -> PublishKey:
    return PublishKey(bytes([fill]) * 16, start, period, risk)


def test_hmac_cleartext_follows_the_reference_format() -> None:
    a = PublishKey(bytes(range(16)), 2_700_000, 144, 6)
    b = PublishKey(bytes(range(16, 32)), 2_699_856, 100, 2)
    expected = "AAECAwQFBgcICQoLDA0ODw==.2700000.144.6,EBESExQVFhcYGRobHB0eHw==.2699856.100.2"
    assert keyserver.hmac_cleartext([b, a]) == expected
    mac = hmac.new(b"k" * 16, expected.encode(), hashlib.sha256).digest()
    assert keyserver.ekeyhmac(b"k" * 16, [a, b]) == mac


def test_publish_limits() -> None:
    ok = keyserver.check_keys([key(DAY0 - 144 * (i % 14 + 1), fill=i) for i in range(20)], NOW)
    assert len(ok) == 20
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([key(DAY0 - 144 - i, 1, fill=i) for i in range(21)], NOW)
    assert err.value.code == "too_many_keys"
    three = [key(DAY0 - 144, 10, fill=i) for i in range(3)]
    assert len(keyserver.check_keys(three, NOW)) == 3
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([*three, key(DAY0 - 144, 10, fill=9)], NOW)
    assert err.value.code == "same_start"
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([key(DAY0 - 144), key(DAY0 - 288)], NOW)  # same bytes twice
    assert err.value.code == "duplicate_key"


def test_age_future_and_embargo() -> None:
    # 15 days back: a key whose last interval is inside the window is still accepted.
    oldest_ok = keyserver.check_keys([key(DAY0 - 144 * 15)], NOW)
    assert oldest_ok[0].visible_after == NOW
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([key(DAY0 - 144 * 16)], NOW)
    assert err.value.code == "too_old"
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([key(gaen.en_interval_number(NOW) + 1, 10)], NOW)
    assert err.value.code == "future"
    current = gaen.en_interval_number(NOW)
    (today,) = keyserver.check_keys([key(DAY0)], NOW)
    assert today.visible_after == datetime(2026, 5, 11, 2, 0, tzinfo=UTC)
    (short,) = keyserver.check_keys([key(current, 1)], NOW)  # the current interval only
    assert short.visible_after == gaen.interval_start(current + 1) + timedelta(hours=2)
    (ended,) = keyserver.check_keys([key(current - 5, 5)], NOW)  # ended with the last interval
    assert ended.visible_after == NOW


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (PublishKey(bytes(15), DAY0 - 144, 144, 1), "key_length"),
        (PublishKey(bytes(16), DAY0 - 144, 0, 1), "rolling_period"),
        (PublishKey(bytes(16), DAY0 - 144, 145, 1), "rolling_period"),
        (PublishKey(bytes(16), DAY0 - 144, 144, 9), "transmission_risk"),
        (PublishKey(bytes(16), -1, 144, 1), "rolling_start"),
    ],
)
def test_key_fields(bad: PublishKey, code: str) -> None:
    with pytest.raises(PublishError) as err:
        keyserver.check_keys([bad], NOW)
    assert err.value.code == code


def test_days_since_onset() -> None:
    onset = keyserver.day_interval(date(2026, 5, 5))
    assert onset == gaen.en_interval_number(datetime(2026, 5, 5, tzinfo=UTC))
    assert keyserver.days_since_onset(onset + 144 * 3, onset) == 3
    assert keyserver.days_since_onset(onset - 144 * 2 + 70, onset) == -2
    assert keyserver.days_since_onset(onset + 144 * 15, onset) is None
    assert keyserver.days_since_onset(onset, None) is None


def _segments(token: str) -> tuple[dict[str, object], dict[str, object]]:
    head, body, _ = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(head + "==")),
        json.loads(base64.urlsafe_b64decode(body + "==")),
    )


def test_jwt_es256_round_trip_and_refusals() -> None:
    signing = ec.generate_private_key(ec.SECP256R1())
    keys = {"k1": signing.public_key()}
    claims = {
        "iss": keyserver.JWT_ISSUER,
        "aud": keyserver.JWT_AUDIENCE,
        "exp": int((NOW + timedelta(minutes=15)).timestamp()),
        "tekhmac": "abc",
    }
    token = keyserver.jwt_encode(claims, signing, "k1")
    header, body = _segments(token)
    assert header == {"alg": "ES256", "typ": "JWT", "kid": "k1"}
    assert body == claims
    # RFC 7518: the signature is r || s (64 bytes), verifiable with any JOSE library.
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signing.public_key().verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    assert keyserver.jwt_decode(token, keys, NOW) == claims

    def refused(text: str, now: datetime = NOW) -> str:
        with pytest.raises(CertificateError) as err:
            keyserver.jwt_decode(text, keys, now)
        return err.value.code

    assert refused(token, NOW + timedelta(minutes=15)) == "expired"
    assert refused(keyserver.jwt_encode(claims, signing, "k2")) == "unknown_key"
    forged = keyserver.jwt_encode(claims, ec.generate_private_key(ec.SECP256R1()), "k1")
    assert refused(forged) == "signature"
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","kid":"k1"}').rstrip(b"=").decode()
    assert refused(f"{none_head}.{payload}.") == "algorithm"
    assert refused("a.b") == "malformed"
    assert refused(keyserver.jwt_encode({**claims, "aud": "other"}, signing, "k1")) == "audience"


def test_p256_keys() -> None:
    a = keyserver.derive_p256("secret-one", "label")
    assert isinstance(a.curve, ec.SECP256R1)
    same = keyserver.derive_p256("secret-one", "label")
    assert a.private_numbers().private_value == same.private_numbers().private_value
    b = keyserver.derive_p256("secret-two", "label")
    assert a.private_numbers().private_value != b.private_numbers().private_value
    assert "BEGIN PUBLIC KEY" in keyserver.public_pem(a)
    with pytest.raises(ValueError, match="PEM"):
        keyserver.load_p256("not a key")


def test_codes() -> None:
    codes = {keyserver.new_code() for _ in range(200)}
    assert all(keyserver.is_code(c) for c in codes)
    assert len(codes) > 190
    assert not keyserver.is_code("1234567")
    assert not keyserver.is_code("1234567a")
    assert not keyserver.is_code("١٢٣٤٥٦٧٨")  # Arabic-Indic digits are digits, not ASCII
    h = keyserver.secret_hash("s", "code", "12345678")
    assert len(h) == 64
    assert h != keyserver.secret_hash("t", "code", "12345678")
    assert h != keyserver.secret_hash("s", "token", "12345678")
