"""``phongdich bench trace-quality``: how well tracing finds the true close contacts.

A province is simulated (``phongdich.tracing.simulate``: people, households, checkpoints of
every type, 16 days of visits with people who do not scan, forget to check out or are checked in
by staff, and an outbreak), loaded into a fresh database as the platform would have recorded it,
and every infected person who tested positive is entered as a case and traced (F1) with the
default rules. The traced F1 from visits are compared with the true exposures:

- truth: the case and the contact were really at the same checkpoint (the same room for rooms
  and events) for at least 15 minutes while the case was infectious (the rules' window), the
  contact arriving at most 30 minutes after the case left counting as exposed too (the rules'
  aerosol margin — reported separately: ``precision_copresence_only`` uses co-presence alone);
- recall: among true exposures where both people scanned (the platform cannot know of a visit
  nobody recorded), the share that tracing found;
- precision: among traced F1, the share that were truly exposed.
Misses and false alarms are explained by reason.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from phongdich.accounts.service import AccountService, Principal
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.repository import UnitRepository
from phongdich.geo.service import UnitService
from phongdich.tracing.service import TracingService
from phongdich.tracing.sim_load import load
from phongdich.tracing.simulate import ROOM_TYPES, SimConfig, Simulation, TrueStay, simulate

MIN_OVERLAP = timedelta(minutes=15)
MARGIN = timedelta(minutes=30)


def log(message: str) -> None:
    print(f"[bench trace-quality] {message}", file=sys.stderr, flush=True)


class Truth:
    """True co-presence from the simulation's stays (what really happened)."""

    def __init__(self, sim: Simulation) -> None:
        self.kind = {c.id: c.type for c in sim.checkpoints}
        self.recorded = {(v.person_id, v.checkpoint_id, v.check_in) for v in sim.visits}
        groups: dict[tuple[int, int], list[TrueStay]] = {}
        self.by_person: dict[int, list[TrueStay]] = {}
        for s in sim.stays:
            groups.setdefault(self._room(s), []).append(s)
            self.by_person.setdefault(s.person_id, []).append(s)
        self.groups = {}
        self.longest = max((s.end - s.start for s in sim.stays), default=timedelta(0))
        for key, stays in groups.items():
            stays.sort(key=lambda s: s.start)
            self.groups[key] = ([s.start for s in stays], stays)

    def _room(self, s: TrueStay) -> tuple[int, int]:
        return (s.checkpoint_id, s.entrance if self.kind[s.checkpoint_id] in ROOM_TYPES else 0)

    def scanned(self, s: TrueStay) -> bool:
        return (s.person_id, s.checkpoint_id, s.start) in self.recorded

    def exposures(
        self, case: int, window: tuple[datetime, datetime], margin: timedelta
    ) -> dict[int, list[tuple[TrueStay, TrueStay]]]:
        """contact -> the (case stay, contact stay) pairs that make a true exposure."""
        out: dict[int, list[tuple[TrueStay, TrueStay]]] = {}
        for s in self.by_person.get(case, []):
            a, b = max(s.start, window[0]), min(s.end, window[1])
            if b <= a:
                continue
            b = b + margin
            starts, stays = self.groups[self._room(s)]
            for o in stays[bisect_left(starts, a - self.longest) : bisect_left(starts, b)]:
                if o.person_id == case:
                    continue
                if min(b, o.end) - max(a, o.start) >= MIN_OVERLAP:
                    out.setdefault(o.person_id, []).append((s, o))
        return out


def run(people: int = 20_000, days: int = 16, seed: int = 2021) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pd-trace-quality-") as folder:
        url = f"sqlite:///{Path(folder) / 'sim.db'}"
        settings = Settings(
            environment="test",
            database_url=url,
            notifier="none",
            deliver_in_process=False,
            schedule_in_process=False,
        )
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        with unit_of_work(factory) as s:
            UnitService(s).load_default()
            communes = [u.code for u in UnitRepository(s).children("01")][:30]
        log(f"simulating {people:,} people for {days} days in {len(communes)} communes")
        sim = simulate(SimConfig(people=people, days=days, seed=seed), communes)
        log(
            f"{len(sim.stays):,} true stays, {len(sim.visits):,} recorded visits, "
            f"{len(sim.infections):,} infections"
        )
        with unit_of_work(factory) as s:
            loaded = load(s, sim, lambda what, n: log(f"loaded {n:,} {what}"))
            admin = AccountService(s, settings).create_official(
                "bench-tracer", "bench-password-1234", "Cán bộ truy vết", "admin", None
            )
            admin_id = admin.id
        truth = Truth(sim)
        back = {db: sim_id for sim_id, db in loaded.person_ids.items()}
        pairs_truth_scanned: set[tuple[int, int]] = set()
        pairs_truth_any: set[tuple[int, int]] = set()
        pairs_copresence: set[tuple[int, int]] = set()
        pairs_traced: set[tuple[int, int]] = set()
        traced_evidence: dict[tuple[int, int], dict[str, Any]] = {}
        exposure_stays: dict[tuple[int, int], list[tuple[TrueStay, TrueStay]]] = {}
        trace_seconds: list[float] = []
        cases = [i for i in sim.infections if i.test_at <= sim.end]
        log(f"tracing {len(cases):,} cases (F1, default rules)")
        for n, infection in enumerate(cases, 1):
            with unit_of_work(factory) as s:
                service = TracingService(s, settings)
                official = s.get(type(admin), admin_id)
                assert official is not None
                principal = Principal(kind="official", official=official)
                case = service.open_case(
                    principal,
                    official,
                    loaded.person_ids[infection.person_id],
                    infection.test_at,
                    infection.onset_at,
                    infection.test_at,
                )
                window = (case.window_start, case.window_end)
                t0 = time.perf_counter()
                service.trace(case, depth=1)
                trace_seconds.append(time.perf_counter() - t0)
                for contact in service.repo.contacts(case.id).values():
                    links = json.loads(contact.evidence)
                    visit_links = [x for x in links if x["source"] == "visit"]
                    if contact.level == 1 and visit_links:
                        pair = (infection.person_id, back[contact.person_id])
                        pairs_traced.add(pair)
                        traced_evidence[pair] = visit_links[0]
            for contact_id, stays in truth.exposures(infection.person_id, window, MARGIN).items():
                pair = (infection.person_id, contact_id)
                pairs_truth_any.add(pair)
                scanned = [(a, b) for a, b in stays if truth.scanned(a) and truth.scanned(b)]
                if scanned:
                    pairs_truth_scanned.add(pair)
                    exposure_stays[pair] = scanned
            for contact_id in truth.exposures(infection.person_id, window, timedelta(0)):
                pairs_copresence.add((infection.person_id, contact_id))
            if n % 50 == 0:
                log(f"traced {n:,}/{len(cases):,} cases")
        engine.dispose()

    found = pairs_truth_scanned & pairs_traced
    missed = pairs_truth_scanned - pairs_traced
    false = pairs_traced - pairs_truth_any
    recall = len(found) / len(pairs_truth_scanned) if pairs_truth_scanned else 1.0
    precision = len(pairs_traced & pairs_truth_any) / len(pairs_traced) if pairs_traced else 1.0
    precision_co = len(pairs_traced & pairs_copresence) / len(pairs_traced) if pairs_traced else 1.0
    visits_of: dict[tuple[int, int], list[Any]] = {}
    for v in sim.visits:
        visits_of.setdefault((v.person_id, v.checkpoint_id), []).append(v)
    cp_back = {db: sim_id for sim_id, db in loaded.checkpoint_ids.items()}
    miss_reasons = Counter(_why_missed(truth, visits_of, exposure_stays[p]) for p in missed)
    false_reasons = Counter(
        _why_false(visits_of, p, cp_back.get(int(traced_evidence[p]["checkpoint_id"]), -1))
        for p in false
    )
    trace_seconds.sort()
    return {
        "bench": "trace-quality",
        "people": people,
        "days": days,
        "seed": seed,
        "checkpoints": len(sim.checkpoints),
        "true_stays": len(sim.stays),
        "recorded_visits": loaded.visits,
        "cases_traced": len(cases),
        "true_exposures_both_scanned": len(pairs_truth_scanned),
        "true_exposures_any": len(pairs_truth_any),
        "traced_f1_from_visits": len(pairs_traced),
        "recall": round(recall, 4),
        "precision": round(precision, 4),
        "precision_copresence_only": round(precision_co, 4),
        "targets": {"recall": 0.95, "precision": 0.90},
        "missed": len(missed),
        "missed_by_reason": dict(miss_reasons.most_common()),
        "false_alarms": len(false),
        "false_alarms_by_reason": dict(false_reasons.most_common()),
        "trace_ms_p50": round(1000 * trace_seconds[len(trace_seconds) // 2], 1)
        if trace_seconds
        else None,
        "rules": {
            "min_overlap_minutes": 15,
            "after_margin_minutes": 30,
            "window": "2 days before onset (or test) until isolation (the test)",
        },
        "truth": "co-presence >= 15 min at the same checkpoint/room inside the window, the "
        "contact arriving up to 30 min after the case left counted as exposed",
        "seconds": round(time.monotonic() - started, 1),
    }


def _why_missed(
    truth: Truth,
    visits_of: dict[tuple[int, int], list[Any]],
    stays: list[tuple[TrueStay, TrueStay]],
) -> str:
    """The main reason a true exposure between two people who scanned was not traced, from
    the stays that made it."""
    reasons = []
    for s, o in stays:
        mine = [
            v for v in visits_of.get((s.person_id, s.checkpoint_id), []) if v.check_in == s.start
        ]
        theirs = [
            v for v in visits_of.get((o.person_id, o.checkpoint_id), []) if v.check_in == o.start
        ]
        if mine and theirs and (mine[0].check_out is None or theirs[0].check_out is None):
            reasons.append("estimated check-out earlier than the real departure")
        elif truth.kind[s.checkpoint_id] == "traffic_post":
            reasons.append("traffic-post rule: no after-departure margin")
        elif truth.kind[s.checkpoint_id] in ROOM_TYPES:
            reasons.append("room rule")
        else:
            reasons.append("other")
    return sorted(reasons)[0]


def _why_false(
    visits_of: dict[tuple[int, int], list[Any]], pair: tuple[int, int], checkpoint: int
) -> str:
    """Why tracing listed someone who was not truly exposed."""
    case, contact = pair
    recorded = visits_of.get((case, checkpoint), []) + visits_of.get((contact, checkpoint), [])
    if any(v.check_out is None for v in recorded):
        return "estimated check-out later than the real departure"
    return "recorded times differ from the real stay"
