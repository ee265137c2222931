"""A check-in the server acknowledged survives the server's crash.

The real server (``phongdich serve``, as deployed) runs as a subprocess group on a migrated
database; client threads send staff scans and remember every scan id answered 200 with
``ok: true``. After ~2 s of load the whole process group (parent and workers) is SIGKILLed —
no shutdown, no chance to flush anything — and a new server is started on the same database.
Every acknowledged scan must be stored with its visit, no visit may be recorded twice, and
re-sending acknowledged scan ids must be answered ``replayed: true`` without creating anything.

PostgreSQL runs with the test suite's fast settings (fsync off): what is tested is that the
application commits before it answers, not that PostgreSQL survives a power cut.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from phongdich.bench.checkin import Seeded, bench_settings, seed
from phongdich.bench.server import Server
from phongdich.config import Settings
from phongdich.db.session import make_engine, make_sessionmaker
from phongdich.visits.models import Scan, Visit
from tests.conftest import empty_database

PERSONS = 3_000
CLIENTS = 8
LOAD_SECONDS = 2.0
MIN_ACKNOWLEDGED = 100
REPLAY_SAMPLE = 50


@dataclass
class Backend:
    name: str
    settings: Settings
    workers: int


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    url = empty_database(request.param, "durable", tmp_path, request)
    return Backend(request.param, bench_settings(url), 1 if request.param == "sqlite" else 2)


@dataclass
class Acked:
    scan_id: str
    person_token: str
    visit_id: int


@dataclass
class Load:
    acked: list[Acked] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # answered, but not ok (e.g. 5xx)
    unexpected: list[dict[str, object]] = field(default_factory=list)  # ok, but not a check-in
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_scan(
    conn: http.client.HTTPConnection, seeded: Seeded, scan_id: str, token: str
) -> tuple[int, dict[str, object]]:
    conn.request("POST", "/api/v1/visits/scans", seeded.scan_body(scan_id, token), seeded.headers())
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        return response.status, {}
    results = json.loads(body)["results"]
    assert len(results) == 1
    result: dict[str, object] = results[0]
    return response.status, result


def client(port: int, seeded: Seeded, tokens: list[str], stop: threading.Event, load: Load) -> None:
    """Scan the people of ``tokens`` one by one until stopped or the server disappears."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        for token in tokens:
            if stop.is_set():
                return
            scan_id = str(uuid.uuid4())
            try:
                status, result = post_scan(conn, seeded, scan_id, token)
            except (OSError, http.client.HTTPException):
                return  # killed mid-request: this scan was never acknowledged
            except (ValueError, KeyError, AssertionError) as exc:  # a malformed answer
                with load.lock:
                    load.unexpected.append({"error": repr(exc)})
                continue
            with load.lock:
                if status == 200 and result.get("ok") is True:
                    visit_id = result.get("visit_id")
                    if result.get("action") != "check_in" or not isinstance(visit_id, int):
                        load.unexpected.append(result)  # each person is scanned only once
                    else:
                        load.acked.append(Acked(scan_id, token, visit_id))
                else:
                    load.refused.append(f"{status} {result.get('message', '')}")
    finally:
        conn.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def test_acknowledged_checkins_survive_sigkill(backend: Backend, servers: list[Server]) -> None:
    seeded = seed(backend.settings, PERSONS, quiet=True)
    # Staff scan what people show: their signed health QR passes.
    assert all(t.startswith("PD1:") for t in seeded.person_tokens)
    first = Server(backend.settings, workers=backend.workers)
    servers.append(first)
    first.start()
    group = first.pid
    assert len(first.worker_pids()) == backend.workers

    load = Load()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=client,
            args=(first.port, seeded, seeded.person_tokens[:-1][i::CLIENTS], stop, load),
            daemon=True,
        )
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    with load.lock:
        before_kill = len(load.acked)
    first.kill()  # SIGKILL to the whole process group, requests still in flight
    stop.set()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    assert first.group_alive() == [], f"process group {group} survived SIGKILL"
    assert first.proc is None

    assert load.unexpected == []
    acked = {a.scan_id: a for a in load.acked}
    print(
        f"{backend.name}: {len(acked)} acknowledged ({before_kill} before the kill), "
        f"{len(load.refused)} refused {sorted(set(load.refused))[:3]}"
    )
    assert len(acked) == len(load.acked)
    assert before_kill >= MIN_ACKNOWLEDGED, (
        f"only {before_kill} check-ins acknowledged in {LOAD_SECONDS} s "
        f"(refused: {load.refused[:5]})"
    )

    second = Server(backend.settings, workers=backend.workers)
    servers.append(second)
    second.start()

    engine = make_engine(backend.settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            stored = dict(
                s.execute(select(Scan.id, Scan.visit_id).where(Scan.id.in_(list(acked)))).all()
            )
            missing = sorted(set(acked) - set(stored))
            assert not missing, f"{len(missing)} of {len(acked)} acknowledged scans lost"
            for scan_id, a in acked.items():
                assert stored[scan_id] == a.visit_id, scan_id
            visit_ids = {a.visit_id for a in acked.values()}
            assert len(visit_ids) == len(acked), "two acknowledged scans share one visit"
            found = set(s.scalars(select(Visit.id).where(Visit.id.in_(visit_ids))))
            assert found == visit_ids, f"{len(visit_ids - found)} acknowledged visits lost"
            # No visit without its scan, none recorded twice: a crash rolled back whole
            # transactions, never half of one.
            n_visits = s.scalar(select(func.count()).select_from(Visit)) or 0
            n_checkin_scans = s.scalar(
                select(func.count()).select_from(Scan).where(Scan.action == "check_in")
            )
            n_scans = s.scalar(select(func.count()).select_from(Scan)) or 0
            twice = s.execute(
                select(Scan.visit_id)
                .where(Scan.visit_id.is_not(None))
                .group_by(Scan.visit_id)
                .having(func.count() > 1)
            ).all()
            assert twice == []
            assert n_visits == n_checkin_scans == n_scans
            assert n_visits >= len(acked)
            per_person = s.execute(
                select(Visit.person_id).group_by(Visit.person_id).having(func.count() > 1)
            ).all()
            assert per_person == [], "a person was checked in twice"

        # Offline queues resend: the restarted server replays, records nothing new.
        sample = random.Random(7).sample(sorted(acked), min(REPLAY_SAMPLE, len(acked)))
        conn = http.client.HTTPConnection("127.0.0.1", second.port, timeout=15)
        try:
            for scan_id in sample:
                status, result = post_scan(conn, seeded, scan_id, acked[scan_id].person_token)
                assert status == 200
                assert result["ok"] is True, result
                assert result["replayed"] is True, result
                assert result["visit_id"] == acked[scan_id].visit_id
                assert result["action"] == "check_in"
            # And the restarted server still records new check-ins.
            fresh = seeded.person_tokens[-1]
            status, result = post_scan(conn, seeded, str(uuid.uuid4()), fresh)
            assert status == 200
            assert result["ok"] is True, result
            assert result["health"] == "green"  # the colour of the seeded pass
        finally:
            conn.close()

        with make_sessionmaker(engine)() as s:
            assert s.scalar(select(func.count()).select_from(Visit)) == n_visits + 1
            assert s.scalar(select(func.count()).select_from(Scan)) == n_scans + 1
    finally:
        engine.dispose()
