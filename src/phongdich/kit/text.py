"""Text normalisation: NFC Vietnamese, duplicate keys, accent-free search keys."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def clean(value: str) -> str:
    """NFC, trimmed, inner whitespace collapsed: how names and addresses are stored."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value or "")).strip()


def fold(value: str) -> str:
    """Accent- and case-free form, for search and for spotting duplicates."""
    return unaccent(value).casefold()


def unaccent(value: str) -> str:
    """'Siêu thị Ba Đình' -> 'Sieu thi Ba Dinh': Vietnamese without its diacritics."""
    decomposed = unicodedata.normalize("NFD", clean(value).replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


_SMS_PUNCTUATION = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"'})


def sms_safe(value: str, limit: int) -> str:
    """Text for an SMS as Vietnamese SMS are written: without diacritics and in plain ASCII,
    so that the message stays in the 7-bit alphabet (160 characters a part, not 70); at most
    ``limit`` characters, cut with "..."."""
    plain = unicodedata.normalize("NFKC", unaccent(value)).translate(_SMS_PUNCTUATION)
    text = " ".join("".join(ch for ch in plain if " " <= ch <= "~").split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def mask_name(full_name: str) -> str:
    """'Nguyễn Văn An' -> 'Nguyễn V. A.': enough for a guard's feedback, not a full identity."""
    parts = clean(full_name).split(" ")
    if len(parts) <= 1:
        return parts[0][:1] + "." if parts and parts[0] else ""
    return " ".join([parts[0], *(p[:1] + "." for p in parts[1:])])


def mask_email(email: str) -> str:
    """an.nguyen@example.vn -> an***@example.vn, for lists that need not show the address."""
    local, _, domain = email.rpartition("@")
    return f"{local[:2]}***@{domain}"
