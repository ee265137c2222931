from __future__ import annotations

import re
import unicodedata

import pytest

from phongdich.kit.i18n import MESSAGES, pick_language, t
from phongdich.kit.phone import mask, normalize_mobile
from phongdich.kit.text import clean, fold, sms_safe, unaccent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("091.234.5678", "0912345678"),
        ("0362-345-678", "0362345678"),
        ("0012345678", None),
        ("091234567", None),
        ("09123456789", None),
        ("0241234567", None),  # a landline cannot receive the code
        ("abc", None),
        ("", None),
    ],
)
def test_normalize_mobile(raw: str, expected: str | None) -> None:
    assert normalize_mobile(raw) == expected


def test_mask() -> None:
    assert mask("0912345678") == "0912***678"


def test_clean_and_fold() -> None:
    decomposed = unicodedata.normalize("NFD", " Phường  Ba Đình ")
    assert decomposed != "Phường Ba Đình"
    assert clean(decomposed) == "Phường Ba Đình"
    assert fold("  Chợ BA ĐÌNH ") == "cho ba dinh"
    assert fold("Phường Ba Đình") == fold("phuong ba dinh")


def test_sms_text_is_plain_ascii_without_diacritics() -> None:
    assert unaccent("Siêu thị Ba Đình") == "Sieu thi Ba Dinh"
    assert sms_safe("Quán “Phở Thìn” — Lò Đúc", 60) == 'Quan "Pho Thin" - Lo Duc'
    assert sms_safe("Cà phê ☕ Cộng  🏠", 60) == "Ca phe Cong"  # what 7 bits cannot carry goes
    long = sms_safe("Bệnh viện Đa khoa tỉnh Hà Giang, cơ sở 2, khoa Khám bệnh theo yêu cầu", 40)
    assert long == "Benh vien Da khoa tinh Ha Giang, co s..."
    assert len(long) == 40
    assert all(" " <= ch <= "~" for ch in long)


def test_every_message_has_vietnamese_and_english() -> None:
    for key, (vi, en) in MESSAGES.items():
        assert vi, key
        assert en, key
        # Placeholders match between the two languages.
        assert set(re.findall(r"{(\w+)}", vi)) == set(re.findall(r"{(\w+)}", en)), key


def test_t_formats_and_falls_back() -> None:
    assert t("error.unknown_unit", "vi", code="99") == "Mã đơn vị hành chính «99» không tồn tại."
    assert t("error.unknown_unit", "en", code="99") == "Unknown administrative unit code “99”."
    assert t("no.such.key") == "no.such.key"


def test_pick_language() -> None:
    assert pick_language("en", "vi", None, "vi") == "en"
    assert pick_language(None, "en", None, "vi") == "en"
    assert pick_language(None, None, "en-US,en;q=0.9", "vi") == "en"
    assert pick_language(None, None, "fr", "vi") == "vi"
    assert pick_language("xx", None, None, "vi") == "vi"
