"""Base45 (RFC 9285) — pure, stdlib only.

Base45 writes every 2 bytes as 3 characters (and a trailing odd byte as 2) using exactly the
45-character QR "alphanumeric" alphabet, so a Base45 text fits the compact alphanumeric QR mode
(5.5 bits per character) instead of byte mode (8 bits per character).

Per RFC 9285 section 4: a 2-byte group ``n = a * 256 + b`` is written as ``c d e`` with
``n = c + d * 45 + e * 45 * 45`` (least significant digit first); a single trailing byte
``n`` is written as ``c d`` with ``n = c + d * 45``.

``decode`` is on the health-QR verification hot path, so it maps all characters to digit values
at once with ``bytes.translate`` and packs the 16-bit words with one cached ``struct.Struct``
instead of looping character by character in Python.
"""

from __future__ import annotations

import functools
import struct

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_INVALID = 0xFF
# Byte value of an ASCII character -> its digit value 0..44, or _INVALID for anything else
# (including lowercase letters: Base45 is case sensitive).
_DIGITS = bytes(ALPHABET.index(chr(i)) if chr(i) in ALPHABET else _INVALID for i in range(256))
# All 45 * 45 two-character strings for the two low digits of a value: encoding a 16-bit word
# takes one look-up here plus one alphabet index, instead of three alphabet indexes.
_LOW_PAIRS = tuple(ALPHABET[i % 45] + ALPHABET[i // 45] for i in range(45 * 45))


def encode(data: bytes) -> str:
    """Base45 text of ``data`` (3 characters per 2 bytes, 2 for a trailing odd byte)."""
    full = len(data) // 2
    parts = [
        _LOW_PAIRS[n % 2025] + ALPHABET[n // 2025]
        for (n,) in struct.iter_unpack(">H", data[: 2 * full])
    ]
    if len(data) % 2:
        parts.append(_LOW_PAIRS[data[-1]])  # a byte (< 256) never needs a third digit
    return "".join(parts)


@functools.lru_cache(maxsize=32)
def _packer(words: int) -> struct.Struct:
    """A ">nH" packer for ``words`` 16-bit words (bounded cache: lengths come from input)."""
    return struct.Struct(f">{words}H")


def decode(text: str) -> bytes:
    """Bytes of a Base45 ``text``.

    Raises ``ValueError`` for a character outside the alphabet, a length of the form 3k + 1,
    a 3-character group above 65535 or a trailing 2-character group above 255.
    """
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("base45: invalid character") from None
    digits = raw.translate(_DIGITS)
    if _INVALID in digits:
        raise ValueError("base45: invalid character")
    full, rest = divmod(len(digits), 3)
    if rest == 1:
        raise ValueError("base45: invalid length")
    # The third slice holds exactly `full` digits, so zip stops before a trailing pair.
    words = [
        c + 45 * d + 2025 * e
        for c, d, e in zip(digits[0::3], digits[1::3], digits[2::3], strict=False)
    ]
    try:
        # ">H" refuses values above 65535, which saves a separate max() pass over the words.
        out = _packer(full).pack(*words)
    except struct.error:
        raise ValueError("base45: group out of range") from None
    if rest == 2:
        last = digits[-2] + 45 * digits[-1]
        if last > 0xFF:
            raise ValueError("base45: group out of range")
        out += bytes((last,))
    return out
