"""Base45 (RFC 9285) and the personal health QR pass (phongdich.people.healthqr)."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phongdich.kit import base45
from phongdich.people import healthqr
from phongdich.people.healthqr import HealthPass, KeyRing, QrError

# ---------------------------------------------------------------------------------------------
# Base45
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"AB", "BB8"),  # RFC 9285 section 4.3
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),  # RFC 9285 section 4.4 (decoding example)
        (b"", ""),
        (b"\x00", "00"),
        (b"\xff", "U5"),  # largest single byte: 255 = 30 + 5 * 45
        (b"\xff\xff", "FGW"),  # largest pair: 65535 = 15 + 16 * 45 + 32 * 2025
    ],
)
def test_base45_known_values(data: bytes, text: str) -> None:
    assert base45.encode(data) == text
    assert base45.decode(text) == data


def test_base45_round_trips_random_bytes_of_every_small_length() -> None:
    rng = random.Random(45)
    for length in range(200):
        for _ in range(5):
            data = rng.randbytes(length)
            text = base45.encode(data)
            assert len(text) == 3 * (length // 2) + 2 * (length % 2)
            assert set(text) <= set(base45.ALPHABET)
            assert base45.decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "qed8wex0",  # lowercase is not in the alphabet (Base45 is case sensitive)
        "QED8WEX#",  # '#' not in the alphabet
        "QED8WEX\u00c0",  # non-ASCII
        "QED8WEX0\n",  # newline
        "A",  # length 3k + 1
        "BB8A",  # length 3k + 1
        ":::",  # 44 + 44 * 45 + 44 * 2025 = 91124 > 65535
        "GGW",  # 65536: one above the largest triplet
        "V5",  # 256: one above the largest trailing pair
        "BB8::",  # valid triplet, trailing pair 2024 > 255
    ],
)
def test_base45_rejects_invalid_text(text: str) -> None:
    with pytest.raises(ValueError, match="base45"):
        base45.decode(text)


# ---------------------------------------------------------------------------------------------
# Health pass
# ---------------------------------------------------------------------------------------------

SEED_1 = bytes(range(32))
SEED_2 = bytes(range(100, 132))
NOW = datetime(2021, 9, 15, 8, 30, tzinfo=UTC)
ISSUED = NOW - timedelta(hours=1)
EXPIRES = NOW + timedelta(days=7)
SUBJECT = bytes.fromhex("0123456789abcdef")
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _ring() -> KeyRing:
    return KeyRing({1: SEED_1, 2: SEED_2}, active=2)


def _public(seed: bytes) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _raw(text: str) -> bytearray:
    return bytearray(base45.decode(text[len(healthqr.PREFIX) :]))


def _text(raw: bytes | bytearray) -> str:
    return healthqr.PREFIX + base45.encode(bytes(raw))


def _code(ring: KeyRing, text: str, now: datetime = NOW) -> str:
    with pytest.raises(QrError) as caught:
        ring.verify(text, now)
    return caught.value.code


@pytest.mark.parametrize("status", healthqr.STATUSES)
def test_round_trip_for_each_status(status: str) -> None:
    ring = _ring()
    text = ring.issue(SUBJECT, status, ISSUED, EXPIRES)
    assert ring.verify(text, NOW) == HealthPass(
        key_id=2, subject=SUBJECT, status=status, issued_at=ISSUED, expires_at=EXPIRES
    )


def test_text_is_compact_alphanumeric_and_has_the_documented_layout() -> None:
    text = _ring().issue(healthqr.new_subject(), "green", ISSUED, EXPIRES)
    assert text.startswith("PD1:")
    assert len(text) == healthqr.TEXT_LEN == 129
    assert len(text) <= 130
    assert set(text) <= QR_ALPHANUMERIC
    raw = _raw(text)
    assert len(raw) == 83
    assert raw[0] == 1  # version
    assert raw[1] == 2  # active key id
    assert raw[10] == healthqr.STATUSES.index("green")
    assert int.from_bytes(raw[11:15], "big") == int(ISSUED.timestamp())
    assert int.from_bytes(raw[15:19], "big") == int(EXPIRES.timestamp())
    # The signature covers the domain prefix + the 19 preceding bytes (verify raises if not).
    public_key = Ed25519PrivateKey.from_private_bytes(SEED_2).public_key()
    public_key.verify(bytes(raw[19:]), b"phongdich-health-qr-v1" + bytes(raw[:19]))


def test_pass_carries_only_the_pseudonymous_subject() -> None:
    subject = healthqr.new_subject()
    assert len(subject) == 8
    assert healthqr.new_subject() != subject  # random, not a counter
    raw = _raw(_ring().issue(subject, "card", ISSUED, EXPIRES))
    assert bytes(raw[2:10]) == subject


def test_times_are_whole_seconds_in_utc_whatever_the_input_zone() -> None:
    hanoi = timezone(timedelta(hours=7))
    issued = ISSUED.astimezone(hanoi) + timedelta(microseconds=999_999)
    text = _ring().issue(SUBJECT, "yellow", issued, EXPIRES.astimezone(hanoi))
    got = _ring().verify(text, NOW.astimezone(hanoi))
    assert got.issued_at == ISSUED  # truncated to the second
    assert got.issued_at.tzinfo is UTC
    assert got.expires_at == EXPIRES
    assert got.expires_at.tzinfo is UTC


def test_surrounding_whitespace_is_accepted() -> None:
    ring = _ring()
    text = ring.issue(SUBJECT, "red", ISSUED, EXPIRES)
    assert ring.verify(f"  {text}\r\n", NOW).status == "red"


def test_any_flipped_byte_fails() -> None:
    ring = _ring()
    text = ring.issue(SUBJECT, "green", ISSUED, EXPIRES)
    for index in range(healthqr.PASS_LEN):
        for mask in (0x01, 0x80, 0xFF):
            raw = _raw(text)
            raw[index] ^= mask
            code = _code(ring, _text(raw))
            if index == 0:
                assert code == "version"
            elif index == 1:
                # Another key id: either not in the ring, or a key that did not sign this.
                assert code == ("signature" if raw[1] in (1, 2) else "unknown_key")
            else:  # subject, status, times or signature
                assert code == "signature", (index, mask)


def test_status_byte_cannot_be_upgraded() -> None:
    ring = _ring()
    raw = _raw(ring.issue(SUBJECT, "red", ISSUED, EXPIRES))
    raw[10] = healthqr.STATUSES.index("green")
    assert _code(ring, _text(raw)) == "signature"


def test_forged_passes_fail() -> None:
    ring = _ring()
    attacker_seed = bytes(32)
    # A key id the ring does not know.
    forged = KeyRing({7: attacker_seed}, active=7).issue(SUBJECT, "green", ISSUED, EXPIRES)
    assert _code(ring, forged) == "unknown_key"
    # The right key id, but another key.
    forged = KeyRing({2: attacker_seed}, active=2).issue(SUBJECT, "green", ISSUED, EXPIRES)
    assert _code(ring, forged) == "signature"
    # A valid signature of the same bytes without the domain prefix is not accepted.
    raw = _raw(ring.issue(SUBJECT, "green", ISSUED, EXPIRES))
    raw[19:] = Ed25519PrivateKey.from_private_bytes(SEED_2).sign(bytes(raw[:19]))
    assert _code(ring, _text(raw)) == "signature"


def test_expired_and_not_yet_valid_with_leeway() -> None:
    ring = _ring()
    text = ring.issue(SUBJECT, "green", ISSUED, EXPIRES)
    leeway = timedelta(minutes=5)
    # Inside the window, and at both edges of the leeway.
    assert ring.verify(text, EXPIRES + leeway).status == "green"
    assert ring.verify(text, ISSUED - leeway).status == "green"
    # One second beyond the leeway on either side.
    assert _code(ring, text, EXPIRES + leeway + timedelta(seconds=1)) == "expired"
    assert _code(ring, text, ISSUED - leeway - timedelta(seconds=1)) == "not_yet_valid"
    # A custom leeway.
    assert ring.verify(text, EXPIRES + timedelta(hours=1), leeway=timedelta(hours=2))
    with pytest.raises(QrError, match="expired"):
        ring.verify(text, EXPIRES + timedelta(seconds=1), leeway=timedelta(0))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated by one character: length 3k + 1
        lambda t: t[:-2],  # truncated by a whole trailing pair: 82 bytes
        lambda t: t[:40],
        lambda t: t + "00",  # one byte too many
        lambda t: "PD1:",
        lambda t: "",
        lambda t: "   ",
        lambda t: "garbage",
        lambda t: "PD1:" + "!" * 125,
        lambda t: "PD1:" + "A" * 10_000,
        lambda t: t.lower(),  # lowercase garbage (prefix and payload)
        lambda t: "PD1:" + t[4:].lower(),
        lambda t: "PD2:" + t[4:],  # wrong prefix
        lambda t: "HC1:" + t[4:],
        lambda t: t[4:],  # no prefix at all
        lambda t: "https://example.vn/" + t,
    ],
)
def test_malformed_texts_are_format_errors(mangle: Callable[[str], str]) -> None:
    ring = _ring()
    text = ring.issue(SUBJECT, "green", ISSUED, EXPIRES)
    assert _code(ring, mangle(text)) == "format"


def test_other_version_is_reported_as_such() -> None:
    ring = _ring()
    raw = _raw(ring.issue(SUBJECT, "green", ISSUED, EXPIRES))
    raw[0] = 2
    assert _code(ring, _text(raw)) == "version"
    assert _code(ring, _text(raw + b"longer v2 pass")) == "version"


def test_qr_error_is_a_value_error_with_a_code() -> None:
    error = QrError("expired")
    assert isinstance(error, ValueError)
    assert error.code == "expired"
    with pytest.raises(ValueError, match="unknown QrError code"):
        QrError("nope")


def test_key_rotation() -> None:
    old_ring = KeyRing({1: SEED_1}, active=1)
    old_pass = old_ring.issue(SUBJECT, "green", ISSUED, EXPIRES)
    # Rotated: key 2 signs, key 1 is kept as public-only while its passes circulate.
    rotated = KeyRing({2: SEED_2}, active=2, public={1: _public(SEED_1)})
    new_pass = rotated.issue(SUBJECT, "green", ISSUED, EXPIRES)
    assert rotated.verify(old_pass, NOW).key_id == 1
    assert rotated.verify(new_pass, NOW).key_id == 2
    assert [(k["kid"], k["active"]) for k in rotated.public_keys()] == [(1, False), (2, True)]
    # Key 1 retired for good: its passes are rejected, new ones still verify.
    retired = KeyRing({2: SEED_2}, active=2)
    assert _code(retired, old_pass) == "unknown_key"
    assert retired.verify(new_pass, NOW).key_id == 2


def test_published_keys_make_a_verify_only_ring() -> None:
    ring = _ring()
    published = ring.public_keys()
    assert published == [
        {
            "kid": 1,
            "alg": "Ed25519",
            "public_key": base64.urlsafe_b64encode(_public(SEED_1)).rstrip(b"=").decode(),
            "active": False,
        },
        {
            "kid": 2,
            "alg": "Ed25519",
            "public_key": base64.urlsafe_b64encode(_public(SEED_2)).rstrip(b"=").decode(),
            "active": True,
        },
    ]
    assert all("=" not in str(k["public_key"]) for k in published)
    scanner = KeyRing.from_published(published)
    assert scanner.public_keys() == published  # the active flag survives the round trip
    for status in healthqr.STATUSES:
        text = ring.issue(SUBJECT, status, ISSUED, EXPIRES)
        assert scanner.verify(text, NOW).status == status
    with pytest.raises(ValueError, match="only verify"):
        scanner.issue(SUBJECT, "green", ISSUED, EXPIRES)
    # from_public is the same verify-only ring from raw keys.
    from_raw = KeyRing.from_public({1: _public(SEED_1), 2: _public(SEED_2)})
    assert from_raw.verify(ring.issue(SUBJECT, "red", ISSUED, EXPIRES), NOW).status == "red"
    with pytest.raises(ValueError, match="only verify"):
        from_raw.issue(SUBJECT, "green", ISSUED, EXPIRES)


@pytest.mark.parametrize(
    "keys",
    [
        [{"kid": 1, "alg": "RS256", "public_key": "AAAA", "active": True}],
        [{"kid": "1", "alg": "Ed25519", "public_key": "A" * 43, "active": True}],
        [{"kid": 1, "alg": "Ed25519", "public_key": "A" * 42, "active": True}],  # 31 bytes
        [{"kid": 1, "alg": "Ed25519", "public_key": None, "active": True}],
        [{"kid": 0, "alg": "Ed25519", "public_key": "A" * 43, "active": True}],
        [
            {"kid": 1, "alg": "Ed25519", "public_key": "A" * 43, "active": False},
            {"kid": 1, "alg": "Ed25519", "public_key": "B" * 43, "active": True},
        ],
    ],
)
def test_from_published_rejects_bad_key_lists(keys: list[dict[str, object]]) -> None:
    with pytest.raises(ValueError, match=r"key|kid"):
        KeyRing.from_published(keys)


def test_derive_seed_is_deterministic_and_differs_per_key_id_and_secret() -> None:
    seed = healthqr.derive_seed("deployment secret", 1)
    assert len(seed) == 32
    assert healthqr.derive_seed("deployment secret", 1) == seed
    assert healthqr.derive_seed("deployment secret", 2) != seed
    assert healthqr.derive_seed("another secret", 1) != seed
    # The derived seed works as a key.
    ring = KeyRing({1: seed}, active=1)
    assert ring.verify(ring.issue(SUBJECT, "card", ISSUED, EXPIRES), NOW).status == "card"
    for bad_kid in (0, 256):
        with pytest.raises(ValueError, match="key id"):
            healthqr.derive_seed("deployment secret", bad_kid)
    with pytest.raises(ValueError, match="non-empty"):
        healthqr.derive_seed("", 1)


def test_naive_datetimes_are_rejected() -> None:
    ring = _ring()
    naive = datetime(2021, 9, 15, 8, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="issued_at"):
        ring.issue(SUBJECT, "green", naive, EXPIRES)
    with pytest.raises(ValueError, match="expires_at"):
        ring.issue(SUBJECT, "green", ISSUED, naive)
    text = ring.issue(SUBJECT, "green", ISSUED, EXPIRES)
    with pytest.raises(ValueError, match="now"):
        ring.verify(text, naive)


def test_issue_rejects_bad_arguments() -> None:
    ring = _ring()
    with pytest.raises(ValueError, match="subject"):
        ring.issue(b"short", "green", ISSUED, EXPIRES)
    with pytest.raises(ValueError, match="status"):
        ring.issue(SUBJECT, "blue", ISSUED, EXPIRES)
    with pytest.raises(ValueError, match="after"):
        ring.issue(SUBJECT, "green", EXPIRES, ISSUED)
    with pytest.raises(ValueError, match="1970"):
        ring.issue(SUBJECT, "green", ISSUED, datetime(2200, 1, 1, tzinfo=UTC))


def test_key_ring_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="active"):
        KeyRing({1: SEED_1}, active=2)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing({1: b"short"}, active=1)
    with pytest.raises(ValueError, match="key id"):
        KeyRing({256: SEED_1}, active=256)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing.from_public({1: b"short"})
    with pytest.raises(ValueError, match="does not match"):
        KeyRing({1: SEED_1}, active=1, public={1: _public(SEED_2)})
    # The same key given both ways is fine.
    assert len(KeyRing({1: SEED_1}, active=1, public={1: _public(SEED_1)}).public_keys()) == 1
