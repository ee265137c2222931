"""Exposure risk scoring (GAEN v2 "exposure windows", German production values). Pure, stdlib only.

This is the text to read when someone asks "why did my phone warn me?". The same code scores the
windows a device builds from its own sightings (``phongdich.proximity.device``) and the scan
instances the radio simulator generates (``phongdich.proximity.sim``).

1. Attenuation
   A phone hears an advertisement at some RSSI. The advertiser states, inside its encrypted
   metadata (AEM), the power it transmitted at. Attenuation = TX power − (RSSI + the receiving
   phone model's RSSI correction), in dB. Less attenuation means closer. Attenuation below 0 (a
   badly calibrated phone) counts as 0.

2. Exposure windows and scan instances
   Every published key that matched gives, per UTC day, one exposure window. The phone scans
   every couple of minutes; sightings of the key within ``scan_merge_seconds`` of a scan's first
   sighting are one scan instance with a minimum and a typical (median) attenuation. Each scan
   instance stands for the time since the previous scan of that window, at most
   ``max_scan_credit_seconds`` (a key seen again after an hour is not credited an hour); the
   first scan of a window stands for one ``scan_interval_seconds``.

3. Transmission risk
   transmission risk = infectiousness offset + report-type offset. Infectiousness comes from the
   case's days since onset of symptoms: HIGH from 2 days before to 5 days after onset, STANDARD
   on the other days within ±14 days (and when the onset is unknown), NONE outside. Offsets:
   STANDARD 1, HIGH 2; confirmed test 6, clinical diagnosis 4, self-report 2, recursive 0. A key
   of unknown report type counts as a confirmed test; a revoked key never counts. Windows with a
   transmission risk of 1–2 are dropped.

4. A window's score
   Only time at a typical attenuation below 73 dB is "close"; a window with less than 10 such
   minutes is dropped (exactly 10 minutes counts). The minutes are weighted by attenuation:
   [0, 55) dB → 1.0, [55, 63) dB → 0.5, 63 dB and more → 0. Then
   normalizedTime = transmission risk × 0.2 × weighted minutes.

5. High risk
   A window with normalizedTime ≥ 15 is high risk; so is a day whose windows sum to ≥ 15.
   Examples: 15 minutes within [0, 55) dB from a case with transmission risk 5 is exactly 15 →
   high; from a confirmed-test case with standard infectiousness (risk 7), 11 minutes are
   enough (7 × 0.2 × 11 = 15.4).

Every number above is a field of :class:`RiskConfig`; ``RiskConfig()`` is the German production
configuration and any field can be overridden.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from phongdich.kit.i18n import t

__all__ = [
    "GERMAN_PRODUCTION",
    "INFECTIOUSNESS_HIGH",
    "INFECTIOUSNESS_NONE",
    "INFECTIOUSNESS_STANDARD",
    "REPORT_CONFIRMED_CLINICAL_DIAGNOSIS",
    "REPORT_CONFIRMED_TEST",
    "REPORT_RECURSIVE",
    "REPORT_REVOKED",
    "REPORT_SELF_REPORT",
    "REPORT_UNKNOWN",
    "DayRisk",
    "ExposureWindow",
    "RiskConfig",
    "RiskError",
    "RiskResult",
    "ScanInstance",
    "Sighting",
    "WindowScore",
    "assess",
    "attenuation",
    "infectiousness_for",
    "score_window",
    "transmission_risk",
    "windows_from_sightings",
]

INFECTIOUSNESS_NONE = 0
INFECTIOUSNESS_STANDARD = 1
INFECTIOUSNESS_HIGH = 2

REPORT_UNKNOWN = 0
REPORT_CONFIRMED_TEST = 1
REPORT_CONFIRMED_CLINICAL_DIAGNOSIS = 2
REPORT_SELF_REPORT = 3
REPORT_RECURSIVE = 4
REPORT_REVOKED = 5

# WindowScore.dropped_reason values (stable: explanations and callers branch on them).
DROP_NOT_INFECTIOUS = "not_infectious"
DROP_REVOKED = "revoked"
DROP_TRANSMISSION_RISK = "transmission_risk"
DROP_TOO_SHORT = "too_short"

LEVEL_HIGH = "high"
LEVEL_LOW = "low"
LEVEL_NONE = "none"

_DECIMALS = 6  # scores are rounded so that hand-computed boundaries (exactly 15) compare exactly


class RiskError(ValueError):
    """Invalid input to the risk rules; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ScanInstance:
    """One scan that heard the key: its minimum and typical attenuation, and the time it covers."""

    min_attenuation_db: int
    typical_attenuation_db: int
    seconds_since_last_scan: int

    def __post_init__(self) -> None:
        if self.seconds_since_last_scan < 0:
            raise RiskError("scan_seconds", "seconds_since_last_scan must not be negative")
        if self.min_attenuation_db > self.typical_attenuation_db:
            raise RiskError("scan_attenuation", "min attenuation is above the typical one")


@dataclass(frozen=True)
class ExposureWindow:
    """Sightings of one published key on one UTC day."""

    date: date
    report_type: int
    infectiousness: int
    calibration_confidence: int
    scan_instances: tuple[ScanInstance, ...]
    transmission_risk: int


@dataclass(frozen=True)
class Sighting:
    """One advertisement of a matched key as the receiving phone heard it.

    ``at`` is Unix seconds (UTC); ``tx_power`` is read from the decrypted AEM.
    """

    at: int
    rssi: int
    tx_power: int
    calibration_confidence: int = 0


def _weights_default() -> tuple[tuple[int, int | None, float], ...]:
    return ((0, 55, 1.0), (55, 63, 0.5), (63, None, 0.0))


@dataclass(frozen=True)
class RiskConfig:
    """Every parameter of the risk rules. ``RiskConfig()`` is the German production setting."""

    # A window counts only with at least this many minutes below the threshold attenuation.
    close_threshold_db: int = 73
    min_close_minutes: float = 10.0
    # (from dB inclusive, to dB exclusive or None for "and above", weight). Attenuation in no
    # range weighs 0.
    attenuation_weights: tuple[tuple[int, int | None, float], ...] = field(
        default_factory=_weights_default
    )
    # normalizedTime = transmission risk × this × weighted minutes.
    transmission_risk_multiplier: float = 0.2
    # Windows whose transmission risk lies in this inclusive range are dropped.
    drop_transmission_risk: tuple[int, int] = (1, 2)
    high_risk_window: float = 15.0
    high_risk_day: float = 15.0
    # Transmission risk encoding.
    infectiousness_offset_standard: int = 1
    infectiousness_offset_high: int = 2
    report_type_offset_confirmed_test: int = 6
    report_type_offset_clinical_diagnosis: int = 4
    report_type_offset_self_report: int = 2
    report_type_offset_recursive: int = 0
    report_type_when_missing: int = REPORT_CONFIRMED_TEST
    # Days since onset of symptoms → infectiousness (inclusive ranges).
    high_infectiousness_days: tuple[int, int] = (-2, 5)
    infectious_days: tuple[int, int] = (-14, 14)
    infectiousness_when_onset_missing: int = INFECTIOUSNESS_STANDARD
    # Sightings → scan instances.
    scan_merge_seconds: int = 60
    scan_interval_seconds: int = 120
    max_scan_credit_seconds: int = 300
    # Per-phone-model RSSI correction of the receiving phone (dB, added to the measured RSSI).
    rssi_correction: int = 0
    # The health hotline that the advice of a HIGH level names (the app's setting).
    hotline: str = "1022"

    def __post_init__(self) -> None:
        previous_end: int | None = 0
        for index, (low, high, weight) in enumerate(self.attenuation_weights):
            if previous_end is None or low < previous_end or (high is not None and high <= low):
                raise RiskError("weights", "attenuation ranges must be ascending and disjoint")
            if weight < 0:
                raise RiskError("weights", "attenuation weights must not be negative")
            if high is None and index != len(self.attenuation_weights) - 1:
                raise RiskError("weights", "only the last attenuation range may be open")
            previous_end = high
        if self.min_close_minutes < 0 or self.transmission_risk_multiplier < 0:
            raise RiskError("config", "minutes and multipliers must not be negative")
        if min(self.scan_merge_seconds, self.scan_interval_seconds) <= 0:
            raise RiskError("config", "scan durations must be positive")
        if self.max_scan_credit_seconds < self.scan_interval_seconds:
            raise RiskError("config", "max_scan_credit_seconds is below scan_interval_seconds")

    def weight(self, attenuation_db: int) -> float:
        """The weight of a minute at this (typical) attenuation."""
        for low, high, weight in self.attenuation_weights:
            if attenuation_db >= low and (high is None or attenuation_db < high):
                return weight
        return 0.0


GERMAN_PRODUCTION = RiskConfig()


@dataclass(frozen=True)
class WindowScore:
    """The score of one window. A dropped window has ``normalized_time`` 0 and is never high."""

    normalized_time: float
    weighted_minutes: float
    minutes_below_threshold: float
    dropped_reason: str | None
    high: bool
    # minutes per attenuation range of the config, in its order (for explanations)
    minutes_by_range: tuple[float, ...] = ()
    min_attenuation_db: int | None = None
    minutes: float = 0.0  # all the time the window covers, at any attenuation


@dataclass(frozen=True)
class DayRisk:
    """Figures of one UTC day: the sum over its windows that were not dropped."""

    date: date
    normalized_time: float
    weighted_minutes: float
    minutes_below_threshold: float
    minutes_by_range: tuple[float, ...]
    min_attenuation_db: int | None
    windows: int
    windows_dropped: int
    high: bool
    dropped_reasons: tuple[str, ...] = ()
    dropped_minutes_below_threshold: float = 0.0


@dataclass(frozen=True)
class RiskResult:
    """The overall level ("high", "low" or "none"), the per-day figures and the explanation.

    ``explanations`` holds (Vietnamese, English) pairs; ``reasons`` the same as bilingual
    strings, Vietnamese first.
    """

    level: str
    days: tuple[DayRisk, ...]
    explanations: tuple[tuple[str, str], ...]

    @property
    def reasons(self) -> list[str]:
        return [f"{vi}\n{en}" for vi, en in self.explanations]

    def text(self, lang: str = "vi") -> str:
        """The explanation in one language, one reason per line."""
        return "\n".join(en if lang == "en" else vi for vi, en in self.explanations)

    @property
    def high_days(self) -> tuple[DayRisk, ...]:
        return tuple(day for day in self.days if day.high)


# --------------------------------------------------------------------------- rules


def attenuation(tx_power: int, rssi: int, rssi_correction: int = 0) -> int:
    """TX power − (RSSI + RSSI correction), never below 0 dB."""
    return max(0, tx_power - (rssi + rssi_correction))


def infectiousness_for(days_since_onset: int | None, config: RiskConfig = GERMAN_PRODUCTION) -> int:
    """Infectiousness (NONE 0, STANDARD 1, HIGH 2) of a key from the case's days since onset."""
    if days_since_onset is None:
        return config.infectiousness_when_onset_missing
    low, high = config.high_infectiousness_days
    if low <= days_since_onset <= high:
        return INFECTIOUSNESS_HIGH
    low, high = config.infectious_days
    if low <= days_since_onset <= high:
        return INFECTIOUSNESS_STANDARD
    return INFECTIOUSNESS_NONE


def transmission_risk(
    report_type: int, infectiousness: int, config: RiskConfig = GERMAN_PRODUCTION
) -> int:
    """Infectiousness offset + report-type offset; 0 when the key never counts.

    A key that is not infectious (NONE) or revoked gives 0; an unknown report type counts as
    ``config.report_type_when_missing``.
    """
    if infectiousness == INFECTIOUSNESS_NONE or report_type == REPORT_REVOKED:
        return 0
    if report_type == REPORT_UNKNOWN:
        report_type = config.report_type_when_missing
    report_offsets = {
        REPORT_CONFIRMED_TEST: config.report_type_offset_confirmed_test,
        REPORT_CONFIRMED_CLINICAL_DIAGNOSIS: config.report_type_offset_clinical_diagnosis,
        REPORT_SELF_REPORT: config.report_type_offset_self_report,
        REPORT_RECURSIVE: config.report_type_offset_recursive,
    }
    if report_type not in report_offsets:
        raise RiskError("report_type", f"report type must be 0..5: {report_type!r}")
    if infectiousness == INFECTIOUSNESS_HIGH:
        offset = config.infectiousness_offset_high
    elif infectiousness == INFECTIOUSNESS_STANDARD:
        offset = config.infectiousness_offset_standard
    else:
        raise RiskError("infectiousness", f"infectiousness must be 0..2: {infectiousness!r}")
    return offset + report_offsets[report_type]


def _utc_date(unix_seconds: int) -> date:
    return datetime.fromtimestamp(unix_seconds, tz=UTC).date()


def windows_from_sightings(
    sightings: Iterable[Sighting],
    *,
    report_type: int,
    days_since_onset: int | None = None,
    config: RiskConfig = GERMAN_PRODUCTION,
) -> list[ExposureWindow]:
    """Exposure windows (one per UTC day) of the sightings of ONE matched key.

    Returns no window for a key that never counts (revoked, or not infectious on that day).
    The receiving phone's RSSI correction is ``config.rssi_correction``.
    """
    infectiousness = infectiousness_for(days_since_onset, config)
    risk = transmission_risk(report_type, infectiousness, config)
    if risk == 0:
        return []
    by_day: dict[date, list[Sighting]] = defaultdict(list)
    for sighting in sightings:
        by_day[_utc_date(sighting.at)].append(sighting)
    windows = []
    for day in sorted(by_day):
        day_sightings = sorted(by_day[day], key=lambda s: s.at)
        scans: list[list[Sighting]] = []
        for sighting in day_sightings:
            if scans and sighting.at - scans[-1][0].at < config.scan_merge_seconds:
                scans[-1].append(sighting)
            else:
                scans.append([sighting])
        instances = []
        previous_start: int | None = None
        for scan in scans:
            levels = [attenuation(s.tx_power, s.rssi, config.rssi_correction) for s in scan]
            start = scan[0].at
            if previous_start is None:
                credit = config.scan_interval_seconds
            else:
                credit = min(start - previous_start, config.max_scan_credit_seconds)
            previous_start = start
            instances.append(
                ScanInstance(
                    min_attenuation_db=min(levels),
                    typical_attenuation_db=int(statistics.median_low(levels)),
                    seconds_since_last_scan=credit,
                )
            )
        windows.append(
            ExposureWindow(
                date=day,
                report_type=report_type,
                infectiousness=infectiousness,
                calibration_confidence=min(s.calibration_confidence for s in day_sightings),
                scan_instances=tuple(instances),
                transmission_risk=risk,
            )
        )
    return windows


def score_window(window: ExposureWindow, config: RiskConfig = GERMAN_PRODUCTION) -> WindowScore:
    """Minutes, weighted minutes and normalizedTime of one window, and whether it is dropped."""
    seconds_below = 0
    weighted_seconds = 0.0
    total_seconds = 0
    by_range = [0] * len(config.attenuation_weights)
    for scan in window.scan_instances:
        seconds = scan.seconds_since_last_scan
        level = max(0, scan.typical_attenuation_db)
        total_seconds += seconds
        if level < config.close_threshold_db:
            seconds_below += seconds
        weighted_seconds += seconds * config.weight(level)
        for index, (low, high, _weight) in enumerate(config.attenuation_weights):
            if level >= low and (high is None or level < high):
                by_range[index] += seconds
                break
    minutes_below = round(seconds_below / 60, _DECIMALS)
    weighted_minutes = round(weighted_seconds / 60, _DECIMALS)
    min_attenuation = min(
        (max(0, scan.min_attenuation_db) for scan in window.scan_instances), default=None
    )
    dropped: str | None = None
    low_risk, high_risk = config.drop_transmission_risk
    if window.report_type == REPORT_REVOKED:
        dropped = DROP_REVOKED
    elif window.infectiousness == INFECTIOUSNESS_NONE or window.transmission_risk <= 0:
        dropped = DROP_NOT_INFECTIOUS
    elif low_risk <= window.transmission_risk <= high_risk:
        dropped = DROP_TRANSMISSION_RISK
    elif minutes_below < config.min_close_minutes:
        dropped = DROP_TOO_SHORT
    normalized = 0.0
    if dropped is None:
        normalized = round(
            window.transmission_risk * config.transmission_risk_multiplier * weighted_minutes,
            _DECIMALS,
        )
    return WindowScore(
        normalized_time=normalized,
        weighted_minutes=weighted_minutes,
        minutes_below_threshold=minutes_below,
        dropped_reason=dropped,
        high=dropped is None and normalized >= config.high_risk_window,
        minutes_by_range=tuple(round(s / 60, _DECIMALS) for s in by_range),
        min_attenuation_db=min_attenuation,
        minutes=round(total_seconds / 60, _DECIMALS),
    )


def assess(windows: Sequence[ExposureWindow], config: RiskConfig = GERMAN_PRODUCTION) -> RiskResult:
    """The overall risk of a set of windows, per day, with an explanation (vi + en).

    "high": some window or some day's sum reaches the threshold; "low": windows counted but none
    reaches it; "none": no window counted (no encounter, or all were dropped — the explanation
    then says why).
    """
    by_day: dict[date, list[WindowScore]] = defaultdict(list)
    for window in windows:
        by_day[window.date].append(score_window(window, config))
    days = []
    for day in sorted(by_day):
        scores = by_day[day]
        counted = [s for s in scores if s.dropped_reason is None]
        dropped = [s for s in scores if s.dropped_reason is not None]
        normalized = round(sum(s.normalized_time for s in counted), _DECIMALS)
        ranges = len(config.attenuation_weights)
        attenuations = [s.min_attenuation_db for s in counted if s.min_attenuation_db is not None]
        days.append(
            DayRisk(
                date=day,
                normalized_time=normalized,
                weighted_minutes=round(sum(s.weighted_minutes for s in counted), _DECIMALS),
                minutes_below_threshold=round(
                    sum(s.minutes_below_threshold for s in counted), _DECIMALS
                ),
                minutes_by_range=tuple(
                    round(sum(s.minutes_by_range[i] for s in counted), _DECIMALS)
                    for i in range(ranges)
                ),
                min_attenuation_db=min(attenuations, default=None),
                windows=len(counted),
                windows_dropped=len(dropped),
                high=any(s.high for s in counted) or normalized >= config.high_risk_day,
                dropped_reasons=tuple(sorted({str(s.dropped_reason) for s in dropped})),
                dropped_minutes_below_threshold=round(
                    sum(s.minutes_below_threshold for s in dropped), _DECIMALS
                ),
            )
        )
    if any(day.high for day in days):
        level = LEVEL_HIGH
    elif any(day.windows for day in days):
        level = LEVEL_LOW
    else:
        level = LEVEL_NONE
    return RiskResult(level=level, days=tuple(days), explanations=_explain(level, days, config))


# --------------------------------------------------------------------------- explanation


def _number(value: float) -> str:
    """Minutes and scores for people: at most one decimal, no trailing ``.0``."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded}"


def _pair(
    key: str, translated: dict[str, tuple[str, str]] | None = None, **params: object
) -> tuple[str, str]:
    """The message in Vietnamese and English; ``translated`` holds parameters that are
    themselves text in each language (name -> (Vietnamese, English))."""
    vi = {name: pair[0] for name, pair in (translated or {}).items()}
    en = {name: pair[1] for name, pair in (translated or {}).items()}
    return t(key, "vi", **params, **vi), t(key, "en", **params, **en)


def _range_label(low: int, high: int | None) -> str:
    return f"{low}–{high}" if high is not None else f"≥ {low}"


def _explain(level: str, days: list[DayRisk], config: RiskConfig) -> tuple[tuple[str, str], ...]:
    lines: list[tuple[str, str]] = []
    if not days:
        return (_pair("risk.none"),)
    for day in days:
        shown = day.date.strftime("%d/%m/%Y")
        if day.windows:
            parts_vi, parts_en = [], []
            for (low, high, weight), minutes in zip(
                config.attenuation_weights, day.minutes_by_range, strict=True
            ):
                if minutes and weight > 0:
                    vi, en = _pair(
                        "risk.range",
                        minutes=_number(minutes),
                        range=_range_label(low, high),
                        weight=_number(weight),
                    )
                    parts_vi.append(vi)
                    parts_en.append(en)
            key = "risk.day_high" if day.high else "risk.day_low"
            threshold = config.high_risk_day
            vi, en = _pair(
                key,
                date=shown,
                minutes=_number(day.minutes_below_threshold),
                threshold_db=config.close_threshold_db,
                score=_number(day.normalized_time),
                threshold=_number(threshold),
                min_db=day.min_attenuation_db if day.min_attenuation_db is not None else "–",
                translated={"ranges": ("; ".join(parts_vi) or "0", "; ".join(parts_en) or "0")},
            )
            lines.append((vi, en))
        for reason in day.dropped_reasons:
            lines.append(
                _pair(
                    f"risk.dropped.{reason}",
                    date=shown,
                    minutes=_number(day.dropped_minutes_below_threshold),
                    min_minutes=_number(config.min_close_minutes),
                    threshold_db=config.close_threshold_db,
                )
            )
    lines.append(_pair(f"risk.level.{level}", hotline=config.hotline))
    return tuple(lines)
