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
    decomposed = unicodedata.normalize("NFD", clean(value).replace("Đ", "D").replace("đ", "d"))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.casefold()
