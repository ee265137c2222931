from __future__ import annotations

import base64

import pytest

from phongdich.kit import signing

KEYS = {1: b"k" * 32, 2: b"z" * 32}


def test_round_trip_and_compact() -> None:
    token = signing.sign(KEYS, 1, signing.KIND_ENTRANCE, 123456789)
    assert len(token) == 30
    parsed = signing.verify(KEYS, token)
    assert parsed == signing.Token(key_id=1, kind=signing.KIND_ENTRANCE, object_id=123456789)


def test_altered_truncated_and_forged_tokens_fail() -> None:
    token = signing.sign(KEYS, 1, signing.KIND_ENTRANCE, 42)
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    raw[9] ^= 1  # another object id, same signature
    altered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    forged = signing.sign({1: b"attacker-key"}, 1, signing.KIND_ENTRANCE, 42)
    for bad in (altered, token[:-2], token[:10], "", "!!!!", token + "AA", forged, "A" * 65):
        with pytest.raises(signing.TokenError):
            signing.verify(KEYS, bad)


def test_key_rotation_keeps_old_tokens_valid_until_key_removed() -> None:
    old = signing.sign(KEYS, 1, signing.KIND_ENTRANCE, 7)
    new = signing.sign(KEYS, 2, signing.KIND_ENTRANCE, 7)
    assert old != new
    assert signing.verify(KEYS, old).key_id == 1
    assert signing.verify(KEYS, new).key_id == 2
    with pytest.raises(signing.TokenError, match="unknown key"):
        signing.verify({2: KEYS[2]}, old)
