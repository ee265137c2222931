from __future__ import annotations

from datetime import date

import pytest

from phongdich.people.identity import (
    CCCD_PROVINCES,
    IdentityError,
    check_birth,
    check_cccd,
    normalize_id,
    normalize_insurance,
)

HANOI_WOMAN_2001 = "001301012345"
HCMC_MAN_1985 = "079085001234"
TODAY = date(2024, 6, 15)


def cccd_agrees(number: str, birth_year: int | None = None, gender: str | None = None) -> bool:
    """check_cccd returns nothing: True when it accepts, False when it refuses."""
    try:
        check_cccd(number, birth_year=birth_year, gender=gender)
    except IdentityError:
        return False
    return True


def error_code(excinfo: pytest.ExceptionInfo[IdentityError]) -> str:
    return excinfo.value.code


# --- normalize_id -------------------------------------------------------------------------------


def test_province_set_is_the_63_provinces() -> None:
    assert len(CCCD_PROVINCES) == 63
    assert {"001", "079", "096"} <= CCCD_PROVINCES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (HANOI_WOMAN_2001, HANOI_WOMAN_2001),
        (HCMC_MAN_1985, HCMC_MAN_1985),
        ("001 301 012 345", HANOI_WOMAN_2001),
        ("001.301.012.345", HANOI_WOMAN_2001),
        ("001-301-012-345", HANOI_WOMAN_2001),
        ("  079085001234\t", HCMC_MAN_1985),
        ("０７９０８５００１２３４", HCMC_MAN_1985),  # full-width digits from a phone keyboard
        ("096912345678", "096912345678"),  # any 4th digit is structurally fine
    ],
)
def test_cccd_valid(raw: str, expected: str) -> None:
    assert normalize_id("cccd", raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("00130101234", "id_cccd_length"),
        ("0013010123456", "id_cccd_length"),
        ("", "id_cccd_length"),
        ("00130101234A", "id_cccd_format"),
        ("O01301012345", "id_cccd_format"),
        ("003301012345", "id_cccd_province"),  # 003 is not a province code
        ("000301012345", "id_cccd_province"),
        ("097301012345", "id_cccd_province"),  # after Cà Mau (096)
        ("100301012345", "id_cccd_province"),
    ],
)
def test_cccd_invalid(raw: str, code: str) -> None:
    with pytest.raises(IdentityError) as excinfo:
        normalize_id("cccd", raw)
    assert error_code(excinfo) == code


def test_unknown_kind() -> None:
    with pytest.raises(IdentityError) as excinfo:
        normalize_id("driving_licence", "123456789")
    assert error_code(excinfo) == "id_kind"
    assert excinfo.value.params == {"kind": "driving_licence"}


def test_identity_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="id_cmnd_length"):
        normalize_id("cmnd", "1234")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("012345678", "012345678"),
        ("012 345 678", "012345678"),
        ("012.345.678", "012345678"),
        ("025123456789", "025123456789"),  # 12-digit CMND (issued 2012–2016)
    ],
)
def test_cmnd_valid(raw: str, expected: str) -> None:
    assert normalize_id("cmnd", raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("12345678", "id_cmnd_length"),
        ("1234567890", "id_cmnd_length"),
        ("1234567890123", "id_cmnd_length"),
        ("12345678X", "id_cmnd_format"),
        ("A12345678", "id_cmnd_format"),
    ],
)
def test_cmnd_invalid(raw: str, code: str) -> None:
    with pytest.raises(IdentityError) as excinfo:
        normalize_id("cmnd", raw)
    assert error_code(excinfo) == code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C1234567", "C1234567"),  # Vietnamese passport: a letter and 7 digits
        ("c1234567", "C1234567"),  # typed in lowercase
        ("B 123 4567", "B1234567"),
        ("N123456", "N123456"),  # one letter, 6 digits
        ("AB12345678", "AB12345678"),  # two letters, 8 digits: 10 characters
        ("X1234567A", "X1234567A"),  # foreign, 9 alphanumerics
        ("L898902C3", "L898902C3"),  # the ICAO specimen
        ("123456", "123456"),  # foreign, 6 alphanumerics
        ("C12345", "C12345"),  # too short for a Vietnamese passport, fine as a foreign one
    ],
)
def test_passport_valid(raw: str, expected: str) -> None:
    assert normalize_id("passport", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "AB1234567890",  # too long
        "ABC12345678",  # 3 letters + 8 digits = 11 characters
        "C123/4567",  # a separator that is not stripped
        "Đ1234567",  # not an ICAO letter
        "",
        "12345",  # too short
    ],
)
def test_passport_invalid(raw: str) -> None:
    with pytest.raises(IdentityError) as excinfo:
        normalize_id("passport", raw)
    assert error_code(excinfo) == "id_passport_format"


# --- check_cccd ---------------------------------------------------------------------------------


def test_cccd_matches_birth_year_and_gender() -> None:
    assert cccd_agrees(HANOI_WOMAN_2001, birth_year=2001, gender="female")
    assert cccd_agrees(HCMC_MAN_1985, birth_year=1985, gender="male")
    assert cccd_agrees(HCMC_MAN_1985)


def test_cccd_gender_other_or_unknown_is_not_checked() -> None:
    assert cccd_agrees(HANOI_WOMAN_2001, birth_year=2001, gender="other")
    assert cccd_agrees(HCMC_MAN_1985, birth_year=1985, gender=None)


@pytest.mark.parametrize(
    ("number", "year"),
    [
        (HANOI_WOMAN_2001, 2002),  # wrong two digits
        (HANOI_WOMAN_2001, 1901),  # right two digits, wrong century
        (HCMC_MAN_1985, 2085),
        (HCMC_MAN_1985, 1958),
        ("001801012345", 1801),  # 8/9 encode 2300–2399 (Circular 07/2016), not the 1800s
    ],
)
def test_cccd_birth_year_mismatch(number: str, year: int) -> None:
    with pytest.raises(IdentityError) as excinfo:
        check_cccd(number, birth_year=year)
    assert error_code(excinfo) == "id_cccd_birth_year"


@pytest.mark.parametrize("digit", range(10))
def test_cccd_century_digits(digit: int) -> None:
    # 0/1 = 1900s, 2/3 = 2000s, 4/5 = 2100s, 6/7 = 2200s, 8/9 = 2300s.
    year = 1950 + 100 * (digit // 2)
    assert cccd_agrees(f"001{digit}50012345", birth_year=year)
    with pytest.raises(IdentityError):
        check_cccd(f"001{digit}50012345", birth_year=year - 100)


@pytest.mark.parametrize(
    ("number", "gender"),
    [(HANOI_WOMAN_2001, "male"), (HCMC_MAN_1985, "female")],
)
def test_cccd_gender_mismatch(number: str, gender: str) -> None:
    with pytest.raises(IdentityError) as excinfo:
        check_cccd(number, gender=gender)
    assert error_code(excinfo) == "id_cccd_gender"


def test_check_cccd_validates_the_number_first() -> None:
    with pytest.raises(IdentityError) as excinfo:
        check_cccd("003301012345", birth_year=2001)
    assert error_code(excinfo) == "id_cccd_province"
    # Separators are accepted as by normalize_id.
    assert cccd_agrees("001 301 012 345", birth_year=2001, gender="female")


def test_check_cccd_rejects_an_unknown_gender_value() -> None:
    with pytest.raises(ValueError, match="unknown gender"):
        check_cccd(HCMC_MAN_1985, gender="m")


# --- normalize_insurance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0123456789", "0123456789"),  # 10-digit social-insurance code (mã số BHXH)
        ("01 2345 6789", "0123456789"),
        ("DN4010123456789", "DN4010123456789"),  # 15-character card number
        ("dn4010123456789", "DN4010123456789"),
        ("DN4 01 0123456789", "DN4010123456789"),
        ("HS1790123456789", "HS1790123456789"),
        ("GD5010123456789", "GD5010123456789"),
    ],
)
def test_insurance_valid(raw: str, expected: str) -> None:
    assert normalize_insurance(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "012345678",  # 9 digits
        "01234567890",  # 11 digits
        "DN6010123456789",  # benefit level 6
        "DN0010123456789",  # benefit level 0
        "D14010123456789",  # one letter only
        "DN401012345678",  # 14 characters
        "DN40101234567890",  # 16 characters
        "DN40A0123456789",  # letter in the province code
        "",
    ],
)
def test_insurance_invalid(raw: str) -> None:
    with pytest.raises(IdentityError) as excinfo:
        normalize_insurance(raw)
    assert error_code(excinfo) == "insurance_format"


# --- check_birth --------------------------------------------------------------------------------


def test_birth_date_gives_its_year() -> None:
    assert check_birth(date(2001, 3, 4), None, TODAY) == 2001
    assert check_birth(date(2001, 3, 4), 2001, TODAY) == 2001


def test_birth_year_alone() -> None:
    assert check_birth(None, 1985, TODAY) == 1985


def test_neither_given() -> None:
    assert check_birth(None, None, TODAY) is None


def test_born_today_is_accepted_tomorrow_is_not() -> None:
    assert check_birth(TODAY, None, TODAY) == 2024
    with pytest.raises(IdentityError) as excinfo:
        check_birth(date(2024, 6, 16), None, TODAY)
    assert error_code(excinfo) == "birth_future"


def test_exactly_120_years_is_accepted_one_day_more_is_not() -> None:
    assert check_birth(date(1904, 6, 15), None, TODAY) == 1904
    with pytest.raises(IdentityError) as excinfo:
        check_birth(date(1904, 6, 14), None, TODAY)
    assert error_code(excinfo) == "birth_too_old"
    assert excinfo.value.params == {"max_age": 120}


def test_120_years_before_29_february() -> None:
    # 1900 has no 29/02: on 29/02/2020 someone born 28/02/1900 is 120 years and a day old.
    leap_day = date(2020, 2, 29)
    assert check_birth(date(1900, 3, 1), None, leap_day) == 1900
    with pytest.raises(IdentityError) as excinfo:
        check_birth(date(1900, 2, 28), None, leap_day)
    assert error_code(excinfo) == "birth_too_old"


def test_year_bounds() -> None:
    assert check_birth(None, 2024, TODAY) == 2024
    assert check_birth(None, 1904, TODAY) == 1904
    with pytest.raises(IdentityError) as future:
        check_birth(None, 2025, TODAY)
    assert error_code(future) == "birth_future"
    with pytest.raises(IdentityError) as too_old:
        check_birth(None, 1903, TODAY)
    assert error_code(too_old) == "birth_too_old"


def test_year_and_date_must_agree() -> None:
    with pytest.raises(IdentityError) as excinfo:
        check_birth(date(2001, 3, 4), 2000, TODAY)
    assert error_code(excinfo) == "birth_mismatch"


def test_date_bounds_apply_when_the_year_agrees() -> None:
    with pytest.raises(IdentityError) as excinfo:
        check_birth(date(2024, 12, 1), 2024, TODAY)
    assert error_code(excinfo) == "birth_future"
