"""Vietnamese mobile numbers: 10 digits starting 0, or +84 / 84 followed by 9 digits."""

from __future__ import annotations

import re

# Mobile prefixes in use since the 2018 renumbering (Viettel, Vinaphone, Mobifone, Vietnamobile,
# Gmobile, Itelecom, Reddi, Wintel).
_MOBILE = re.compile(r"^0(3[2-9]|5[2-9]|7[06-9]|8[1-9]|9[0-9])\d{7}$")


def normalize_mobile(raw: str) -> str | None:
    """Return the number as ``0XXXXXXXXX`` or None when it is not a Vietnamese mobile number."""
    digits = re.sub(r"[\s.\-()]", "", raw or "")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _MOBILE.match(digits) else None


def mask(phone: str) -> str:
    """0912345678 -> 0912***678, for lists that need not show the whole number."""
    return phone[:4] + "***" + phone[-3:] if len(phone) >= 8 else "***"
