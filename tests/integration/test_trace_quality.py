"""The tracing quality benchmark end to end on a small simulated province (SQLite)."""

from __future__ import annotations

from phongdich.bench.trace_quality import run


def test_trace_quality_measures_recall_and_precision_against_the_simulation() -> None:
    result = run(people=600, days=8, seed=7)
    assert result["cases_traced"] > 0
    assert result["true_exposures_both_scanned"] > 0
    assert result["traced_f1_from_visits"] > 0
    # Both figures are shares, computed from the pairs they report.
    assert 0 < result["recall"] <= 1
    assert 0 < result["precision"] <= 1
    found = result["true_exposures_both_scanned"] - result["missed"]
    assert abs(result["recall"] - found / result["true_exposures_both_scanned"]) < 1e-3
    assert sum(result["missed_by_reason"].values()) == result["missed"]
    assert sum(result["false_alarms_by_reason"].values()) == result["false_alarms"]
