from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from phongdich.people.status import (
    GREEN,
    MESSAGES,
    REASON_CODES,
    RED,
    SYMPTOMS,
    YELLOW,
    Assessment,
    DeclarationFacts,
    StatusInputs,
    StatusRules,
    assess,
    describe,
)

NOW = datetime(2021, 9, 27, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
RULES = StatusRules()
DAY = timedelta(days=1)


def declared(
    ago: timedelta = timedelta(hours=2),
    *,
    symptoms: frozenset[str] = frozenset(),
    contact_confirmed: bool = False,
    contact_suspected: bool = False,
    outbreak_area: bool = False,
) -> DeclarationFacts:
    return DeclarationFacts(
        submitted_at=NOW - ago,
        symptoms=symptoms,
        contact_confirmed=contact_confirmed,
        contact_suspected=contact_suspected,
        outbreak_area=outbreak_area,
    )


def codes(assessment: Assessment) -> list[str]:
    return [reason.code for reason in assessment.reasons]


def run(
    declaration: DeclarationFacts | None = None,
    *,
    fresh: bool = True,
    rules: StatusRules = RULES,
    tracing: str | None = None,
    tracing_since: datetime | None = None,
    quarantine_until: datetime | None = None,
) -> Assessment:
    """Assess at NOW; without a declaration given, a fresh clean one unless ``fresh=False``."""
    if declaration is None and fresh:
        declaration = declared()
    inputs = StatusInputs(declaration, tracing, tracing_since, quarantine_until)
    return assess(inputs, NOW, rules)


# --- each rule alone ----------------------------------------------------------------------------


def test_fresh_clean_declaration_is_green() -> None:
    result = run()
    assert result.color == GREEN
    assert codes(result) == ["status.ok"]
    assert result.reasons[0].params == {}


@pytest.mark.parametrize(("tracing", "code"), [("F0", "status.f0"), ("F1", "status.f1")])
def test_f0_and_f1_are_red(tracing: str, code: str) -> None:
    result = run(tracing=tracing, tracing_since=NOW - 3 * DAY)
    assert result.color == RED
    assert codes(result) == [code]


def test_active_quarantine_is_red_until_its_end() -> None:
    until = datetime(2021, 10, 1, 17, 0, tzinfo=UTC)  # 02/10/2021 00:00 in Vietnam
    result = run(quarantine_until=until)
    assert result.color == RED
    assert codes(result) == ["status.quarantine"]
    assert result.reasons[0].params == {"until": "02/10/2021 00:00"}


def test_quarantine_ended_yesterday_is_not_red() -> None:
    result = run(quarantine_until=NOW - DAY)
    assert result.color == GREEN
    assert codes(result) == ["status.ok"]


def test_quarantine_ending_now_is_over() -> None:
    assert run(quarantine_until=NOW).color == GREEN
    assert run(quarantine_until=NOW + timedelta(seconds=1)).color == RED


def test_f2_is_yellow() -> None:
    result = run(tracing="F2")
    assert result.color == YELLOW
    assert codes(result) == ["status.f2"]


def test_no_declaration_is_yellow() -> None:
    result = run(fresh=False)
    assert result.color == YELLOW
    assert codes(result) == ["status.no_declaration"]


def test_old_declaration_is_yellow_with_its_date() -> None:
    old = DeclarationFacts(submitted_at=datetime(2021, 9, 10, 1, 30, tzinfo=UTC))
    result = run(old)
    assert result.color == YELLOW
    assert codes(result) == ["status.declaration_old"]
    assert result.reasons[0].params == {"date": "10/09/2021 08:30"}


def test_declaration_age_boundary() -> None:
    # Fresh on [submitted, submitted + 7 days): at exactly 7 days it has expired.
    assert run(declared(ago=RULES.declaration_valid - timedelta(microseconds=1))).color == GREEN
    at_limit = run(declared(ago=RULES.declaration_valid))
    assert at_limit.color == YELLOW
    assert codes(at_limit) == ["status.declaration_old"]


def test_symptoms_are_yellow_and_listed_in_a_stable_order() -> None:
    result = run(declared(symptoms=frozenset({"cough", "fever", "taste_smell"})))
    assert result.color == YELLOW
    assert codes(result) == ["status.symptoms"]
    assert result.reasons[0].params == {"list": "fever,cough,taste_smell"}


@pytest.mark.parametrize("field", ["contact_confirmed", "contact_suspected"])
def test_declared_contact_is_yellow(field: str) -> None:
    result = run(
        declared(
            contact_confirmed=field == "contact_confirmed",
            contact_suspected=field == "contact_suspected",
        )
    )
    assert result.color == YELLOW
    assert codes(result) == ["status.contact"]


def test_both_contacts_give_one_reason() -> None:
    result = run(declared(contact_confirmed=True, contact_suspected=True))
    assert codes(result) == ["status.contact"]


def test_outbreak_area_is_yellow() -> None:
    result = run(declared(outbreak_area=True))
    assert result.color == YELLOW
    assert codes(result) == ["status.outbreak_area"]


# --- combinations -------------------------------------------------------------------------------


def test_f2_with_symptoms_lists_both() -> None:
    result = run(declared(symptoms=frozenset({"fever"})), tracing="F2")
    assert result.color == YELLOW
    assert codes(result) == ["status.f2", "status.symptoms"]


def test_most_severe_first() -> None:
    result = run(
        declared(symptoms=frozenset({"fever"}), contact_confirmed=True, outbreak_area=True),
        tracing="F0",
        quarantine_until=NOW + 10 * DAY,
    )
    assert result.color == RED
    assert codes(result) == [
        "status.f0",
        "status.quarantine",
        "status.symptoms",
        "status.contact",
        "status.outbreak_area",
    ]


def test_old_declaration_still_shows_its_answers() -> None:
    result = run(declared(ago=10 * DAY, outbreak_area=True), tracing="F2")
    assert codes(result) == ["status.f2", "status.declaration_old", "status.outbreak_area"]


def test_every_reason_code_in_order() -> None:
    f1 = run(
        declared(ago=8 * DAY, symptoms=frozenset(SYMPTOMS), contact_suspected=True),
        tracing="F1",
        quarantine_until=NOW + DAY,
    )
    assert codes(f1)[:3] == ["status.f1", "status.quarantine", "status.declaration_old"]
    # The produced codes follow REASON_CODES' order.
    order = [REASON_CODES.index(code) for code in codes(f1)]
    assert order == sorted(order)


# --- rules switched off -------------------------------------------------------------------------


def test_symptoms_rule_off_is_green() -> None:
    rules = StatusRules(symptoms_yellow=False)
    result = run(declared(symptoms=frozenset({"fever", "cough"})), rules=rules)
    assert result.color == GREEN
    assert codes(result) == ["status.ok"]


def test_contact_and_outbreak_rules_off_are_green() -> None:
    rules = StatusRules(contact_yellow=False, outbreak_area_yellow=False)
    result = run(declared(contact_confirmed=True, outbreak_area=True), rules=rules)
    assert result.color == GREEN


def test_switching_a_rule_off_keeps_the_others() -> None:
    rules = StatusRules(symptoms_yellow=False)
    result = run(declared(symptoms=frozenset({"fever"}), outbreak_area=True), rules=rules)
    assert codes(result) == ["status.outbreak_area"]


def test_declaration_validity_is_configurable() -> None:
    rules = StatusRules(declaration_valid=timedelta(days=1))
    assert run(declared(ago=timedelta(hours=23)), rules=rules).color == GREEN
    assert run(declared(ago=timedelta(hours=25)), rules=rules).color == YELLOW


# --- valid_until --------------------------------------------------------------------------------


def test_green_holds_until_the_declaration_expires() -> None:
    result = run(declared(ago=6 * DAY + timedelta(hours=20)))
    assert result.color == GREEN
    assert result.valid_until == NOW + timedelta(hours=4)


def test_green_is_capped_by_the_pass_lifetime() -> None:
    result = run(declared(ago=timedelta(hours=1)))
    assert result.valid_until == NOW + RULES.pass_lifetime
    short = StatusRules(pass_lifetime=timedelta(hours=2))
    assert run(declared(), rules=short).valid_until == NOW + timedelta(hours=2)


def test_green_just_before_expiry_is_still_after_now() -> None:
    result = run(declared(ago=RULES.declaration_valid - timedelta(seconds=1)))
    assert result.color == GREEN
    assert result.valid_until == NOW + timedelta(seconds=1)


def test_red_from_quarantine_alone_holds_until_it_ends() -> None:
    result = run(quarantine_until=NOW + timedelta(hours=5), tracing="F2")
    assert result.color == RED
    assert result.valid_until == NOW + timedelta(hours=5)


def test_red_from_a_long_quarantine_is_capped() -> None:
    result = run(quarantine_until=NOW + 14 * DAY)
    assert result.valid_until == NOW + RULES.pass_lifetime


def test_red_from_tracing_holds_a_pass_lifetime() -> None:
    result = run(tracing="F1", quarantine_until=NOW + timedelta(hours=5))
    assert result.valid_until == NOW + RULES.pass_lifetime


@pytest.mark.parametrize(
    "case",
    ["no_declaration", "old_declaration", "symptoms", "f2"],
)
def test_yellow_holds_a_pass_lifetime(case: str) -> None:
    result = {
        "no_declaration": lambda: run(fresh=False),
        "old_declaration": lambda: run(declared(ago=30 * DAY)),
        "symptoms": lambda: run(declared(symptoms=frozenset({"fever"}))),
        "f2": lambda: run(tracing="F2"),
    }[case]()
    assert result.color == YELLOW
    assert result.valid_until == NOW + RULES.pass_lifetime


def test_declaration_from_the_future_is_capped() -> None:
    # A phone clock ahead of the server: the pass still lasts no longer than its lifetime.
    result = run(DeclarationFacts(submitted_at=NOW + DAY))
    assert result.color == GREEN
    assert NOW < result.valid_until <= NOW + RULES.pass_lifetime


def test_any_aware_time_zone_is_accepted() -> None:
    vn_now = NOW.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    old = DeclarationFacts(submitted_at=datetime(2021, 9, 10, 8, 30, tzinfo=vn_now.tzinfo))
    result = assess(StatusInputs(declaration=old), vn_now)
    assert result.reasons[0].params == {"date": "10/09/2021 08:30"}
    assert result.valid_until == NOW + RULES.pass_lifetime


# --- invalid inputs -----------------------------------------------------------------------------


def test_naive_now_raises() -> None:
    with pytest.raises(ValueError, match="now"):
        assess(StatusInputs(declaration=declared()), NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "inputs",
    [
        StatusInputs(declaration=DeclarationFacts(submitted_at=NOW.replace(tzinfo=None))),
        StatusInputs(declaration=None, tracing="F1", tracing_since=NOW.replace(tzinfo=None)),
        StatusInputs(declaration=None, quarantine_until=NOW.replace(tzinfo=None)),
    ],
)
def test_naive_datetimes_raise(inputs: StatusInputs) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assess(inputs, NOW)


@pytest.mark.parametrize("tracing", ["F3", "f0", "", "F"])
def test_unknown_tracing_raises(tracing: str) -> None:
    with pytest.raises(ValueError, match="tracing"):
        run(tracing=tracing)


def test_unknown_symptom_raises() -> None:
    with pytest.raises(ValueError, match="headache"):
        run(declared(symptoms=frozenset({"fever", "headache"})))


def test_non_positive_thresholds_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        run(rules=StatusRules(pass_lifetime=timedelta(0)))
    with pytest.raises(ValueError, match="positive"):
        run(rules=StatusRules(declaration_valid=-DAY))


# --- messages -----------------------------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def every_reason() -> list[Assessment]:
    """Assessments that between them produce every reason code."""
    return [
        run(),
        run(
            declared(ago=8 * DAY, symptoms=frozenset({"fever"}), contact_confirmed=True),
            tracing="F0",
            quarantine_until=NOW + DAY,
        ),
        run(declared(outbreak_area=True), tracing="F1"),
        run(fresh=False, tracing="F2"),
    ]


def test_every_reason_code_is_produced_by_the_fixtures() -> None:
    produced = {code for result in every_reason() for code in codes(result)}
    assert produced == set(REASON_CODES)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_reason_has_a_message_whose_placeholders_match(lang: str) -> None:
    for result in every_reason():
        for reason in result.reasons:
            assert placeholders(MESSAGES[lang][reason.code]) == set(reason.params), reason.code
            assert all(isinstance(value, str) for value in reason.params.values())
            assert describe(reason, lang)


def test_both_languages_have_the_same_keys() -> None:
    assert set(MESSAGES) == {"vi", "en"}
    assert set(MESSAGES["vi"]) == set(MESSAGES["en"])
    expected = (
        set(REASON_CODES)
        | {f"symptom.{code}" for code in SYMPTOMS}
        | {f"status.color.{color}" for color in (GREEN, YELLOW, RED)}
    )
    assert set(MESSAGES["vi"]) == expected
    for key in expected:
        assert placeholders(MESSAGES["vi"][key]) == placeholders(MESSAGES["en"][key]), key


def test_vietnamese_labels() -> None:
    vi = MESSAGES["vi"]
    assert [vi[f"symptom.{code}"] for code in SYMPTOMS] == [
        "Sốt",
        "Ho",
        "Khó thở",
        "Đau họng",
        "Mất vị giác hoặc khứu giác",
        "Mệt mỏi",
        "Đau cơ",
        "Tiêu chảy",
    ]
    assert (vi["status.color.green"], vi["status.color.yellow"], vi["status.color.red"]) == (
        "Xanh",
        "Vàng",
        "Đỏ",
    )


def test_describe_shows_symptom_labels() -> None:
    result = run(declared(symptoms=frozenset({"fever", "breath"})))
    assert describe(result.reasons[0]) == "Bạn đã khai báo có triệu chứng: Sốt, Khó thở."
    assert describe(result.reasons[0], "en") == "You declared symptoms: Fever, Shortness of breath."


def test_describe_formats_the_quarantine_end() -> None:
    result = run(quarantine_until=datetime(2021, 10, 1, 17, 0, tzinfo=UTC))
    assert describe(result.reasons[0]) == "Bạn đang trong thời gian cách ly, đến 02/10/2021 00:00."
