"""Bulk tracing (a day's new cases at once) against the one-case reference, on both databases.

``find_many`` computes the overlap of every case stay in the database (the arithmetic of
``rules.expose`` in SQL); ``find`` runs the pure rules in Python. On a simulated province —
markets, offices, meeting rooms, traffic posts, forgotten check-outs — both must name the same
contacts with the same strongest risk and exposure time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from phongdich.accounts.models import Official
from phongdich.accounts.service import Principal
from phongdich.geo.repository import UnitRepository
from phongdich.tracing.models import Case
from phongdich.tracing.service import TracingService
from phongdich.tracing.sim_load import load
from phongdich.tracing.simulate import SimConfig, simulate
from tests.conftest import Env, World


def _province_with_cases(env: Env, world: World) -> list[int]:
    with env.session() as s:
        communes = [u.code for u in UnitRepository(s).children("01")][:6]
        sim = simulate(SimConfig(people=500, days=8, seed=11, initial_cases=6), communes)
        loaded = load(s, sim)
        official = s.get(Official, world.admin.id)
        assert official is not None
        service = TracingService(s, env.settings)
        principal = Principal(kind="official", official=official)
        ids = []
        for infection in sim.infections:
            if infection.test_at > sim.end:
                continue
            case = service.open_case(
                principal,
                official,
                loaded.person_ids[infection.person_id],
                infection.test_at,
                infection.onset_at,
                infection.test_at,
            )
            ids.append(case.id)
        s.commit()
    return ids


def test_bulk_finds_the_same_contacts_as_the_one_case_rules(env: Env, world: World) -> None:
    case_ids = _province_with_cases(env, world)
    assert len(case_ids) >= 5
    with env.session() as s:
        cases = [s.get(Case, i) for i in case_ids]
        service = TracingService(s, env.settings)
        bulk = service.find_many([c for c in cases if c is not None])
        compared = 0
        rules_seen: set[str] = set()
        for case in cases:
            assert case is not None
            one = service.find(case, depth=1)
            assert set(bulk[case.id].best) == set(one.best), case.id
            for pid, link in one.best.items():
                other = bulk[case.id].best[pid]
                assert other.source == link.source
                assert other.via_person_id == link.via_person_id
                assert abs(other.risk - link.risk) <= 0.011, (case.id, pid)
                assert abs(other.last_exposure - link.last_exposure) <= timedelta(seconds=2)
                if link.source == "visit":
                    rules_seen.add(str(link.evidence["rule"]))
                    assert other.evidence["rule"] == link.evidence["rule"]
                compared += 1
        # The province gives enough contacts, under more than the default rule, to mean it.
        assert compared > 50
        assert "default" in rules_seen
        assert len(rules_seen) > 1


def test_bulk_trace_stores_what_one_case_traces_store(env: Env, world: World) -> None:
    case_ids = _province_with_cases(env, world)
    with env.session() as s:
        cases = [c for c in (s.get(Case, i) for i in case_ids) if c is not None]
        service = TracingService(s, env.settings)
        summaries = service.trace_many(cases)
        s.commit()
        stored = {c.id: service.repo.contacts(c.id) for c in cases}
        assert sum(x.f1 for x in summaries) == sum(len(v) for v in stored.values()) > 0
        assert all(c.traced_at is not None for c in cases)
        # Tracing one case again keeps its rows (follow-up status survives) and finds the same.
        first = next(c for c in cases if stored[c.id])
        row = next(iter(stored[first.id].values()))
        service.set_status(_official(s, world), row.id, "notified")
        s.commit()
        service.trace(first, depth=1)
        s.commit()
        again = service.repo.contacts(first.id)
        assert set(again) == set(stored[first.id])
        assert again[row.person_id].status == "notified"
        assert again[row.person_id].id == row.id


def _official(s: Session, world: World) -> Official:
    official = s.get(Official, world.admin.id)
    assert official is not None
    return official


def test_trace_stores_what_find_finds_down_to_f2(env: Env, world: World) -> None:
    """``trace`` lets the database find and store the contacts from visits; ``find`` (the
    pure rules) must name the same people at the same level with the same strongest link."""
    case_ids = _province_with_cases(env, world)
    compared = 0
    levels: set[int] = set()
    with env.session() as s:
        service = TracingService(s, env.settings)
        for case_id in case_ids[:4]:
            case = s.get(Case, case_id)
            assert case is not None
            expected = service.find(case, depth=2).best
            summary = service.trace(case, depth=2)
            stored = service.repo.contacts(case_id)
            assert set(stored) == set(expected), case_id
            assert summary.f1 + summary.f2 == len(stored)
            # Every row carries the mark of the trace that wrote it.
            marks = {row.found_at for row in stored.values()}
            assert len(marks) <= 1
            assert None not in marks
            for pid, link in expected.items():
                row = stored[pid]
                assert (row.level, row.source) == (link.level, link.source), (case_id, pid)
                assert abs(row.risk - link.risk) <= 0.011, (case_id, pid)
                evidence = json.loads(row.evidence)
                assert 1 <= len(evidence) <= 20
                assert evidence[0]["level"] == row.level
                visits = [e for e in evidence if e["source"] == "visit" and e["level"] == row.level]
                # Strongest first, each entry with where and when.
                risks = [e["risk"] for e in visits]
                assert risks == sorted(risks, reverse=True), (case_id, pid)
                for entry in visits:
                    assert entry["checkpoint"]
                    assert datetime.fromisoformat(entry["start"]) < datetime.fromisoformat(
                        entry["end"]
                    )
                levels.add(row.level)
                compared += 1
        s.rollback()
    assert compared > 50
    assert levels == {1, 2}


def test_a_trace_rolled_back_leaves_nothing_behind(env: Env, world: World) -> None:
    """The contacts a trace stores belong to its transaction: a request that fails after
    tracing leaves no contact behind (SQLite included, whose driver opens transactions by
    the first word of a statement)."""
    case_ids = _province_with_cases(env, world)
    with env.session() as s:
        cases = [c for c in (s.get(Case, i) for i in case_ids) if c is not None]
        service = TracingService(s, env.settings)
        summaries = service.trace_many(cases)
        summaries.append(service.trace(cases[0], depth=2))
        assert sum(x.f1 + x.f2 for x in summaries) > 0
        s.rollback()
    with env.session() as s:
        repo = TracingService(s, env.settings).repo
        assert [repo.contacts(i) for i in case_ids] == [{} for _ in case_ids]


def test_count_exposed_counts_what_trace_many_finds_from_visits(env: Env, world: World) -> None:
    """``count_exposed`` (finding alone, counted by the database) counts the (case, person)
    pairs that the visits give ``trace_many``: the F1 rows with a visit among their evidence."""
    case_ids = _province_with_cases(env, world)
    with env.session() as s:
        cases = [c for c in (s.get(Case, i) for i in case_ids) if c is not None]
        service = TracingService(s, env.settings)
        counted = service.count_exposed(cases)
        service.trace_many(cases)
        from_visits = sum(
            1
            for case_id in case_ids
            for row in service.repo.contacts(case_id).values()
            if any(e["source"] == "visit" for e in json.loads(row.evidence))
        )
        s.rollback()
    assert counted > 50
    assert counted == from_visits
    assert service.count_exposed([]) == 0


def _visit_evidence(
    service: TracingService, case_ids: list[int]
) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """The stored visit evidence of every F1 row, per (case, person)."""
    out = {}
    for case_id in case_ids:
        for row in service.repo.contacts(case_id).values():
            entries = [e for e in json.loads(row.evidence) if e["source"] == "visit"]
            if row.level == 1 and entries:
                out[(case_id, row.person_id)] = entries
    return out


def _strength(entry: dict[str, Any]) -> tuple[float, float, int, int]:
    """The order of the evidence: highest risk, then latest, then the lower visit ids."""
    end = datetime.fromisoformat(entry["end"]).timestamp()
    return (-entry["risk"], -end, entry["contact_visit_id"], entry["case_visit_id"])


def test_evidence_ranks_every_exposure_and_keeps_the_strongest(
    env: Env, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person exposed to a case more than once: the stored evidence lists the exposures the
    rules find, strongest first (risk, then the latest, then the lower visit ids), and a
    smaller evidence limit keeps the strongest of them."""
    case_ids = _province_with_cases(env, world)
    with env.session() as s:
        cases = [c for c in (s.get(Case, i) for i in case_ids) if c is not None]
        service = TracingService(s, env.settings)
        service.trace_many(cases)
        full = _visit_evidence(service, case_ids)
        s.rollback()
        found = {c.id: service.find(c, depth=1) for c in cases}
        monkeypatch.setattr("phongdich.tracing.service.EVIDENCE_LIMIT", 2)
        service.trace_many(cases)
        cut = _visit_evidence(service, case_ids)
        s.rollback()
    repeated = 0
    for (case_id, person_id), entries in full.items():
        pairs = [(e["case_visit_id"], e["contact_visit_id"]) for e in entries]
        expected = [
            (x.evidence["case_visit_id"], x.evidence["contact_visit_id"])
            for x in found[case_id].evidence[person_id]
            if x.source == "visit"
        ]
        assert sorted(pairs) == sorted(expected), (case_id, person_id)
        assert entries == sorted(entries, key=_strength), (case_id, person_id)
        assert cut[(case_id, person_id)] == entries[:2]
        repeated += len(entries) > 2
    assert set(cut) == set(full)
    # The province has people met more than twice by one case: the cut is exercised.
    assert repeated > 0
