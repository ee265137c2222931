"""The tracing speed benchmark end to end on small sizes (SQLite)."""

from __future__ import annotations

import pytest

from phongdich.bench.trace import Layout, layout, plan_sizes, run


def test_sizes_grow_up_to_the_requested_visits() -> None:
    assert plan_sizes(10_000_000, None, False) == [1_000_000, 10_000_000]
    assert plan_sizes(1_000_000, None, False) == [1_000_000]
    assert plan_sizes(3_000_000, None, False) == [1_000_000, 3_000_000]
    assert plan_sizes(10_000_000, None, True) == [1_000_000, 10_000_000, 100_000_000]
    assert plan_sizes(50_000, (20_000, 50_000), False) == [20_000, 50_000]


def test_each_size_is_a_province_with_the_reference_shape() -> None:
    # 10 M visits: the reference layout itself.
    assert layout(10_000_000) == Layout(100_000, 50.0, 1_000)
    # Smaller and larger provinces: as many visits per checkpoint, the same shape.
    assert layout(1_000_000) == Layout(10_000, 5.0, 100)
    assert layout(100_000_000) == Layout(1_000_000, 500.0, 10_000)
    assert layout(20_000) == Layout(200, 1.0, 2)  # the offset is at least 1
    assert layout(50) == Layout(1, 1.0, 1)
    # A fixed count keeps the reference's offset: the same venues, more crowded.
    assert layout(1_000_000, 100_000) == layout(10_000_000, 100_000) == Layout(100_000, 50.0, 1_000)
    assert layout(1_000_000, 50) == Layout(50, 50.0, 50)
    with pytest.raises(ValueError, match="at least 1"):
        layout(1_000_000, 0)


def test_trace_benchmark_measures_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small provinces give a case few F1: every F2 goes to the queue, two F1 a step.
    monkeypatch.setenv("PHONGDICH_TRACE_AT_ONCE", "0")
    monkeypatch.setenv("PHONGDICH_TRACE_STEP_PEOPLE", "2")
    result = run(
        db="sqlite", visits=50_000, sizes=(20_000, 50_000), cases=20, probes=60, f1f2_budget_s=2
    )
    assert result["bench"] == "trace"
    assert result["db"] == "sqlite"
    sizes = result["sizes"]
    assert [s["visits"] for s in sizes] == [20_000, 50_000]
    assert [s["checkpoints"] for s in sizes] == [200, 500]  # a province of its own each
    assert [s["zipf_q"] for s in sizes] == [1.0, 1.0]
    for size in sizes:
        for key in (
            "load_s",
            "load_visits_per_s",
            "f1_p50_ms",
            "f1_p99_ms",
            "f1f2_p50_ms",
            "f1f2_p99_ms",
            "bare_overlap_p50_ms",
            "bulk_f1_s",
            "f1_in_db_p50_ms",
            "bulk_in_db_s",
            "f1_us_per_contact_p50",
        ):
            assert size[key] > 0, key
        assert size["f1_p99_ms"] >= size["f1_p50_ms"]
        assert size["bulk_cases"] == 20
        assert size["probe_cases"] == 60
        assert size["case_visits_p50"] == 20  # the case-like people the generator made
        # ``find`` runs the same overlap queries and the rules on what they read.
        assert size["f1_find_p50_ms"] >= size["bare_overlap_p50_ms"]
        # Every F1 + F2 timed went down to F2 (far fewer F1 than the level limit).
        assert size["f1f2_f2_untraced"] == 0
        # The queue traced the F2 of two cases in steps of two F1.
        assert (size["queue_cases"], size["queue_step_people"], size["queue_errors"]) == (2, 2, [])
        assert size["queue_steps_per_case_p50"] > 1
        assert (
            0 < size["queue_step_p50_s"] <= size["queue_step_max_s"] <= size["queue_f2_s_p50"] * 2
        )
    assert sizes[-1]["contacts_per_case_p50"] > 0
    assert sizes[-1]["bulk_contacts"] > 0
    # The pairs the database counts are the contacts found from visits, a part of all found.
    assert 0 < sizes[-1]["bulk_in_db_pairs"] <= sizes[-1]["bulk_contacts"]
    assert result["growth_f1_p50_1m_to_10m"] is None  # neither size was measured
    assert result["growth_f1_us_per_contact_1m_to_10m"] is None
    # Per contact: no more than the whole trace of a case with at least one F1.
    last = sizes[-1]
    assert last["f1_us_per_contact_p50"] / 1000 <= last["f1_p99_ms"]
    assert set(result["targets"]["met"]) == {
        "f1_p50_ms_at_10m",
        "growth_f1_p50_1m_to_10m_max",
        "bulk_1000_f1_s_at_10m",
    }


def test_a_fixed_count_of_checkpoints_crowds_them() -> None:
    result = run(
        db="sqlite",
        visits=40_000,
        sizes=(10_000, 40_000),
        cases=5,
        probes=10,
        checkpoints=50,
        f1f2_budget_s=1,
    )
    sizes = result["sizes"]
    assert [(s["checkpoints"], s["zipf_q"]) for s in sizes] == [(50, 50.0), (50, 50.0)]
    assert result["data"]["checkpoints"].startswith("50 at every size")
    # The same venues, four times the visits: a case meets more people there.
    assert sizes[1]["candidate_visits_p50"] > sizes[0]["candidate_visits_p50"]
