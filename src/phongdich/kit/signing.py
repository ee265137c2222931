"""Compact signed tokens for QR codes — pure, no framework imports.

Layout (before base64url): 1 byte key id | 1 byte kind | 8 bytes object id (big endian) |
12 bytes HMAC-SHA256 truncated over the first 10 bytes. 22 bytes -> 30 characters.
No personal data: the id is an internal row id, meaningless without the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass

MAC_LEN = 12
_BODY = struct.Struct(">BBQ")
TOKEN_BYTES = _BODY.size + MAC_LEN

KIND_ENTRANCE = 1
KIND_PERSON = 2


class TokenError(ValueError):
    """The token is truncated, altered, forged or signed with an unknown key."""


@dataclass(frozen=True)
class Token:
    key_id: int
    kind: int
    object_id: int


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"phongdich-qr-v1" + body, hashlib.sha256).digest()[:MAC_LEN]


def sign(keys: Mapping[int, bytes], key_id: int, kind: int, object_id: int) -> str:
    body = _BODY.pack(key_id, kind, object_id)
    raw = body + _mac(keys[key_id], body)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def verify(keys: Mapping[int, bytes], token: str) -> Token:
    if not token or len(token) > 64:
        raise TokenError("length")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("encoding") from exc
    if len(raw) != TOKEN_BYTES:
        raise TokenError("length")
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    key_id, kind, object_id = _BODY.unpack(body)
    key = keys.get(key_id)
    if key is None:
        raise TokenError("unknown key")
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise TokenError("signature")
    return Token(key_id=key_id, kind=kind, object_id=object_id)
