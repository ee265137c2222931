"""Identity documents and birth dates — pure, stdlib only.

Checks what a person types when registering: the identity document (citizen ID "CCCD", old ID
"CMND", passport), the health-insurance number and the birth date or year. Every refusal is an
``IdentityError`` whose ``code`` is an i18n key suffix, so the caller can show the message in
Vietnamese or English.

Structure of the 12-digit CCCD number (the personal identification number, Decree 137/2015/NĐ-CP
art. 13, Circular 07/2016/TT-BCA art. 7), e.g. ``001 3 01 012345``:

* digits 1–3: the province where the birth was registered (63-province numbering, 001 Hà Nội …
  096 Cà Mau). The 34 provinces formed on 01/07/2025 kept codes from this list, and existing
  numbers were not renumbered, so the 63 codes stay the valid set;
* digit 4: century of birth and gender — even = male, odd = female; 0/1 = 1900–1999,
  2/3 = 2000–2099, 4/5 = 2100–2199, 6/7 = 2200–2299, 8/9 = 2300–2399;
* digits 5–6: the last two digits of the birth year;
* digits 7–12: a random range.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

ID_KINDS = ("cccd", "cmnd", "passport")  # citizen ID (12 digits), old ID (9 digits), passport
GENDERS = ("male", "female", "other")

# Nobody older than this is accepted as a birth date or year.
MAX_AGE_YEARS = 120

# Province codes of the CCCD (Circular 07/2016/TT-BCA, appendix 1): the 63-province numbering.
# fmt: off
CCCD_PROVINCES: frozenset[str] = frozenset((
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015",
    "017", "019", "020", "022", "024", "025", "026", "027", "030", "031",
    "033", "034", "035", "036", "037", "038", "040", "042", "044", "045",
    "046", "048", "049", "051", "052", "054", "056", "058", "060", "062",
    "064", "066", "067", "068", "070", "072", "074", "075", "077", "079",
    "080", "082", "083", "084", "086", "087", "089", "091", "092", "093",
    "094", "095", "096",
))
# fmt: on

# First year of the century encoded by the CCCD's 4th digit, per pair of digits (male, female).
_CENTURY_START = {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 2300}

_DIGITS = re.compile(r"[0-9]+")
# Vietnamese passports: one or two letters then digits (today one letter and 7 digits, e.g.
# "C1234567"); foreign passports: ICAO allows up to 9 letters and digits.
_PASSPORT_VN = re.compile(r"[A-Z]{1,2}[0-9]{6,8}")
_PASSPORT_FOREIGN = re.compile(r"[A-Z0-9]{6,9}")
# Health insurance: the 10-digit social-insurance code (mã số BHXH, printed on cards since 2021),
# or the older 15-character card number: 2 letters (beneficiary group), 1 digit 1–5 (benefit
# level), 2 digits (province), 10 digits (the same social-insurance code).
_INSURANCE_CODE = re.compile(r"[0-9]{10}")
_INSURANCE_CARD = re.compile(r"[A-Z]{2}[1-5][0-9]{2}[0-9]{10}")


class IdentityError(ValueError):
    """A refused identity value.

    ``code`` is an i18n key suffix, e.g. ``"id_cccd_length"``; ``params`` holds the values the
    message needs.
    """

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params: dict[str, object] = params


def _compact(raw: str) -> str:
    """Fold full-width characters (some phone keyboards type them), drop spaces, dots, dashes."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(
        ch for ch in text if not (ch.isspace() or ch == "." or unicodedata.category(ch) == "Pd")
    )


def _digits_only(number: str, length_code: str, format_code: str, lengths: tuple[int, ...]) -> None:
    # Non-digits are a format error; only an all-digit value can be "the wrong length"
    # (an empty value counts as the wrong length).
    if number and not _DIGITS.fullmatch(number):
        raise IdentityError(format_code)
    if len(number) not in lengths:
        raise IdentityError(length_code, length=len(number))


def normalize_id(kind: str, raw: str) -> str:
    """The document number in its stored form, or ``IdentityError``."""
    if kind not in ID_KINDS:
        raise IdentityError("id_kind", kind=kind)
    number = _compact(raw)
    if kind == "cccd":
        _digits_only(number, "id_cccd_length", "id_cccd_format", (12,))
        if number[:3] not in CCCD_PROVINCES:
            raise IdentityError("id_cccd_province", province=number[:3])
        return number
    if kind == "cmnd":
        # CMND numbers had 9 digits; from 2012 to 2016 some provinces issued 12-digit ones.
        _digits_only(number, "id_cmnd_length", "id_cmnd_format", (9, 12))
        return number
    number = number.upper()
    if _PASSPORT_VN.fullmatch(number) or _PASSPORT_FOREIGN.fullmatch(number):
        return number
    raise IdentityError("id_passport_format")


def cccd_birth_century(number: str) -> int:
    """The first year of the birth century encoded by a normalized CCCD number (e.g. 1900)."""
    return _CENTURY_START[int(number[3]) // 2]


def check_cccd(number: str, birth_year: int | None = None, gender: str | None = None) -> None:
    """Check that a CCCD number agrees with the declared birth year and gender.

    ``number`` is normalized (and so structurally checked) first. Gender "other" or unknown is
    not compared: the number only encodes male/female.
    """
    if gender is not None and gender not in GENDERS:
        raise ValueError(f"unknown gender {gender!r}")
    number = normalize_id("cccd", number)
    gender_digit = int(number[3])
    if birth_year is not None and (
        int(number[4:6]) != birth_year % 100
        or cccd_birth_century(number) != birth_year // 100 * 100
    ):
        raise IdentityError("id_cccd_birth_year", year=birth_year)
    if (gender == "male" and gender_digit % 2 == 1) or (
        gender == "female" and gender_digit % 2 == 0
    ):
        raise IdentityError("id_cccd_gender")


def normalize_insurance(raw: str) -> str:
    """The health-insurance number, uppercase without separators, or ``IdentityError``."""
    number = _compact(raw).upper()
    if _INSURANCE_CODE.fullmatch(number) or _INSURANCE_CARD.fullmatch(number):
        return number
    raise IdentityError("insurance_format")


def _years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier; 29/02 becomes 01/03 when that year has none.

    01/03 rather than 28/02: someone born on 28/02 is already more than ``years`` old on 29/02.
    """
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 3, 1)


def check_birth(birth_date: date | None, birth_year: int | None, today: date) -> int | None:
    """The birth year to store, after checking the birth date and/or year against ``today``.

    A birth date exactly ``MAX_AGE_YEARS`` years before today is accepted, one day earlier is
    not. A year alone is checked by year only.
    """
    if birth_date is not None:
        if birth_year is not None and birth_year != birth_date.year:
            raise IdentityError("birth_mismatch", year=birth_year, date_year=birth_date.year)
        if birth_date > today:
            raise IdentityError("birth_future")
        if birth_date < _years_before(today, MAX_AGE_YEARS):
            raise IdentityError("birth_too_old", max_age=MAX_AGE_YEARS)
        return birth_date.year
    if birth_year is not None:
        if birth_year > today.year:
            raise IdentityError("birth_future")
        if birth_year < today.year - MAX_AGE_YEARS:
            raise IdentityError("birth_too_old", max_age=MAX_AGE_YEARS)
        return birth_year
    return None
