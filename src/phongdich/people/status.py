"""The personal health status — pure, stdlib only.

The colour shown on a person's health QR (green / yellow / red) and the reasons behind it, so a
citizen can read why they are yellow or red. ``assess`` takes what is known about the person
(latest health declaration, tracing status, quarantine order) and the time, and returns the
colour, every reason that applies (most severe first) and until when that colour holds.

Time windows are half-open: a declaration submitted at ``t`` is fresh on [t, t + valid), a
quarantine ending at ``u`` is active before ``u``. So a green or quarantine-red assessment never
ends at the very instant it is made.

The reasons' texts live in ``MESSAGES`` (Vietnamese and English), which the platform merges into
its message catalogue; ``describe`` renders one reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GREEN, YELLOW, RED = "green", "yellow", "red"
COLORS = (GREEN, YELLOW, RED)  # least to most severe

SYMPTOMS = (
    "fever",
    "cough",
    "breath",
    "sore_throat",
    "taste_smell",
    "fatigue",
    "muscle_pain",
    "diarrhea",
)
TRACING_LEVELS = ("F0", "F1", "F2")

# Every reason code, in the order reasons are listed (most severe first).
REASON_CODES = (
    "status.f0",
    "status.f1",
    "status.quarantine",
    "status.f2",
    "status.no_declaration",
    "status.declaration_old",
    "status.symptoms",
    "status.contact",
    "status.outbreak_area",
    "status.ok",
)

try:
    _VN: timezone | ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")
except ZoneInfoNotFoundError:  # pragma: no cover - systems without a tz database (no tzdata)
    # Vietnam has kept UTC+7 without daylight saving since 1975.
    _VN = timezone(timedelta(hours=7), "ICT")


@dataclass(frozen=True)
class DeclarationFacts:
    """The person's latest health declaration (universal or daily)."""

    submitted_at: datetime  # aware
    symptoms: frozenset[str] = frozenset()
    contact_confirmed: bool = False  # declared contact with a confirmed case (F0)
    contact_suspected: bool = False  # with a suspected case
    outbreak_area: bool = False  # stayed in an outbreak area in the last 14 days


@dataclass(frozen=True)
class StatusInputs:
    declaration: DeclarationFacts | None
    tracing: str | None = None  # "F0" | "F1" | "F2" from tracing, None when not traced
    # Known to tracing; not shown in reasons (their messages take no parameter).
    tracing_since: datetime | None = None
    quarantine_until: datetime | None = None  # end of an active quarantine order, if any


@dataclass(frozen=True)
class StatusRules:
    """Every threshold of the rules; a province may adjust them."""

    declaration_valid: timedelta = timedelta(days=7)  # after that the person must declare again
    pass_lifetime: timedelta = timedelta(hours=24)  # longest validity of a phone QR
    symptoms_yellow: bool = True
    contact_yellow: bool = True
    outbreak_area_yellow: bool = True


@dataclass(frozen=True)
class Reason:
    code: str  # i18n key, e.g. "status.f0"
    # Values for the message; strings only, times as dd/mm/yyyy HH:MM in Vietnam time.
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    color: str
    reasons: tuple[
        Reason, ...
    ]  # every reason that applies, most severe first; "status.ok" if green
    # Until when this colour holds without new input; the QR expires then. Never before the
    # assessment time, never later than assessment time + pass_lifetime.
    valid_until: datetime


def _local(dt: datetime) -> str:
    return dt.astimezone(_VN).strftime("%d/%m/%Y %H:%M")


def _require_aware(name: str, dt: datetime | None) -> None:
    if dt is not None and (dt.tzinfo is None or dt.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware")


def _validate(inputs: StatusInputs, now: datetime, rules: StatusRules) -> None:
    _require_aware("now", now)
    _require_aware("tracing_since", inputs.tracing_since)
    _require_aware("quarantine_until", inputs.quarantine_until)
    if inputs.tracing is not None and inputs.tracing not in TRACING_LEVELS:
        raise ValueError(f"unknown tracing status {inputs.tracing!r}")
    if inputs.declaration is not None:
        _require_aware("declaration.submitted_at", inputs.declaration.submitted_at)
        unknown = inputs.declaration.symptoms - frozenset(SYMPTOMS)
        if unknown:
            raise ValueError(f"unknown symptom codes {sorted(unknown)}")
    if rules.declaration_valid <= timedelta(0) or rules.pass_lifetime <= timedelta(0):
        raise ValueError("declaration_valid and pass_lifetime must be positive")


def assess(inputs: StatusInputs, now: datetime, rules: StatusRules = StatusRules()) -> Assessment:
    """The colour of a person's health status at ``now``, with its reasons and validity."""
    _validate(inputs, now, rules)
    red: list[Reason] = []
    yellow: list[Reason] = []

    if inputs.tracing == "F0":
        red.append(Reason("status.f0", {}))
    elif inputs.tracing == "F1":
        red.append(Reason("status.f1", {}))
    if inputs.quarantine_until is not None and inputs.quarantine_until > now:
        red.append(Reason("status.quarantine", {"until": _local(inputs.quarantine_until)}))

    if inputs.tracing == "F2":
        yellow.append(Reason("status.f2", {}))
    declaration = inputs.declaration
    # When the colour ends if nothing else applies: the declaration expires.
    fresh_until = now
    if declaration is None:
        yellow.append(Reason("status.no_declaration", {}))
    else:
        fresh_until = declaration.submitted_at + rules.declaration_valid
        if now >= fresh_until:
            yellow.append(
                Reason("status.declaration_old", {"date": _local(declaration.submitted_at)})
            )
        # The latest declaration's answers still count once it is old: they are the most
        # recent facts known, and the person sees everything that a new declaration must clear.
        if rules.symptoms_yellow and declaration.symptoms:
            listed = [code for code in SYMPTOMS if code in declaration.symptoms]
            yellow.append(Reason("status.symptoms", {"list": ",".join(listed)}))
        if rules.contact_yellow and (
            declaration.contact_confirmed or declaration.contact_suspected
        ):
            yellow.append(Reason("status.contact", {}))
        if rules.outbreak_area_yellow and declaration.outbreak_area:
            yellow.append(Reason("status.outbreak_area", {}))

    longest = now + rules.pass_lifetime
    if red:
        color = RED
        only_quarantine = all(r.code == "status.quarantine" for r in red)
        # Red from a quarantine order alone lasts until the order ends; F0/F1 until tracing
        # changes, which nothing here can foresee.
        until = inputs.quarantine_until if only_quarantine and inputs.quarantine_until else longest
        reasons = tuple(red + yellow)
    elif yellow:
        color = YELLOW
        until = longest  # yellow ends only with new input (a declaration, a tracing update)
        reasons = tuple(yellow)
    else:
        color = GREEN  # which needs a fresh declaration: it holds until that expires
        until = fresh_until
        reasons = (Reason("status.ok", {}),)
    return Assessment(color=color, reasons=reasons, valid_until=max(now, min(until, longest)))


# Texts of every reason code, symptom and colour. Placeholders are str.format names and match
# the params ``assess`` puts in each reason.
MESSAGES: dict[str, dict[str, str]] = {
    "vi": {
        "status.ok": "Bạn đã khai báo y tế và không có yếu tố nguy cơ nào.",
        "status.f0": "Bạn đang là ca bệnh đã được xác nhận (F0).",
        "status.f1": "Bạn là người tiếp xúc gần với ca bệnh (F1).",
        "status.quarantine": "Bạn đang trong thời gian cách ly, đến {until}.",
        "status.f2": "Bạn là người tiếp xúc với người tiếp xúc gần ca bệnh (F2).",
        "status.no_declaration": "Bạn chưa khai báo y tế. Vui lòng khai báo y tế.",
        "status.declaration_old": (
            "Tờ khai y tế gần nhất của bạn ({date}) đã hết hạn. Vui lòng khai báo lại."
        ),
        "status.symptoms": "Bạn đã khai báo có triệu chứng: {list}.",
        "status.contact": "Bạn đã khai báo có tiếp xúc với ca bệnh hoặc người nghi nhiễm.",
        "status.outbreak_area": "Bạn đã khai báo có ở vùng có dịch trong 14 ngày qua.",
        "status.color.green": "Xanh",
        "status.color.yellow": "Vàng",
        "status.color.red": "Đỏ",
        "symptom.fever": "Sốt",
        "symptom.cough": "Ho",
        "symptom.breath": "Khó thở",
        "symptom.sore_throat": "Đau họng",
        "symptom.taste_smell": "Mất vị giác hoặc khứu giác",
        "symptom.fatigue": "Mệt mỏi",
        "symptom.muscle_pain": "Đau cơ",
        "symptom.diarrhea": "Tiêu chảy",
    },
    "en": {
        "status.ok": "You have declared your health and have no risk factors.",
        "status.f0": "You are a confirmed case (F0).",
        "status.f1": "You are a close contact of a confirmed case (F1).",
        "status.quarantine": "You are in quarantine until {until}.",
        "status.f2": "You are a contact of a close contact (F2).",
        "status.no_declaration": "You have not made a health declaration yet. Please declare.",
        "status.declaration_old": (
            "Your latest health declaration ({date}) has expired. Please declare again."
        ),
        "status.symptoms": "You declared symptoms: {list}.",
        "status.contact": "You declared contact with a confirmed or suspected case.",
        "status.outbreak_area": "You declared a stay in an outbreak area in the last 14 days.",
        "status.color.green": "Green",
        "status.color.yellow": "Yellow",
        "status.color.red": "Red",
        "symptom.fever": "Fever",
        "symptom.cough": "Cough",
        "symptom.breath": "Shortness of breath",
        "symptom.sore_throat": "Sore throat",
        "symptom.taste_smell": "Loss of taste or smell",
        "symptom.fatigue": "Fatigue",
        "symptom.muscle_pain": "Muscle pain",
        "symptom.diarrhea": "Diarrhoea",
    },
}


def describe(reason: Reason, lang: str = "vi") -> str:
    """The text of one reason in ``lang``; the symptom list is shown with its labels.

    ``Reason.params["list"]`` holds symptom codes (stable, language-neutral); a catalogue that
    renders reasons itself should translate them the same way.
    """
    texts = MESSAGES[lang]
    params = dict(reason.params)
    if "list" in params:
        params["list"] = ", ".join(
            texts.get(f"symptom.{code}", code) for code in params["list"].split(",") if code
        )
    return texts[reason.code].format(**params)
