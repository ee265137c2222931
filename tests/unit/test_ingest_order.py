"""The ingest threads' scheduling: batches about different people run side by side, a batch
that shares a person or a scan id with an earlier unfinished one waits for it.

``record`` (the database part, covered by the integration tests on both databases) is replaced
here by a recorder of when each batch ran, so only the scheduling is under test."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from phongdich.config import Settings
from phongdich.visits.ingest import Answer, Ingestor, Submission
from phongdich.visits.service import ScanCommand


class Recorder(Ingestor):
    def __init__(self, threads: int, hold: dict[str, float]) -> None:
        super().__init__(
            lambda: None,  # type: ignore[arg-type,return-value]
            Settings(),
            max_batch=1,
            linger=0.0,
            linger_until=1,
            threads=threads,
        )
        self.hold = hold  # person label -> seconds its batch takes
        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def record(self, batch: Sequence[Submission]) -> list[list[Answer]]:
        label = batch[0].session_token
        started = time.monotonic()
        time.sleep(self.hold.get(label, 0.0))
        with self.lock:
            self.spans[label] = (started, time.monotonic())
        return [[] for _ in batch]


def command(subject: str, scan_id: str | None = None) -> ScanCommand:
    return ScanCommand(
        scan_id=scan_id or str(uuid.uuid4()),
        entrance_id=1,
        person_id=0,
        direction="in",
        at=datetime.now(UTC),
        in_method="staff_scan",
        subject=subject,
    )


def run(ingestor: Recorder, submissions: list[tuple[str, ScanCommand]]) -> None:
    futures = []
    for label, cmd in submissions:
        futures.append(ingestor.submit(label, [cmd]))
        time.sleep(0.01)  # keep the submission order the taking order
    for future in futures:
        assert future.result(timeout=5) == []
    ingestor.stop()


def test_batches_of_different_people_overlap() -> None:
    ingestor = Recorder(threads=2, hold={"a": 0.3})
    run(ingestor, [("a", command("p1")), ("b", command("p2"))])
    a_start, a_end = ingestor.spans["a"]
    b_start, _ = ingestor.spans["b"]
    assert a_start < b_start < a_end  # b did not wait for a


@pytest.mark.parametrize("shared", ["person", "scan id"])
def test_a_batch_waits_for_an_earlier_one_it_shares_with(shared: str) -> None:
    ingestor = Recorder(threads=2, hold={"a": 0.3})
    scan_id = str(uuid.uuid4())
    second = command("p1") if shared == "person" else command("p2", scan_id)
    run(ingestor, [("a", command("p1", scan_id)), ("b", second)])
    _, a_end = ingestor.spans["a"]
    b_start, _ = ingestor.spans["b"]
    assert b_start >= a_end


def test_order_kept_behind_a_waiting_batch() -> None:
    """c (p2) shares nothing with a (p1) but shares with b (p1 and p2), which waits for a:
    c must not overtake b."""
    ingestor = Recorder(threads=2, hold={"a": 0.3})
    scan_b = str(uuid.uuid4())
    b = [command("p1"), command("p2", scan_b)]
    futures = [ingestor.submit("a", [command("p1")])]
    time.sleep(0.01)
    futures.append(ingestor.submit("b", b))
    time.sleep(0.01)
    futures.append(ingestor.submit("c", [command("p2")]))
    for future in futures:
        assert future.result(timeout=5) == []
    ingestor.stop()
    _, a_end = ingestor.spans["a"]
    b_start, b_end = ingestor.spans["b"]
    c_start, _ = ingestor.spans["c"]
    assert b_start >= a_end
    assert c_start >= b_end


def test_one_thread_runs_batches_one_after_another() -> None:
    ingestor = Recorder(threads=1, hold={"a": 0.2})
    run(ingestor, [("a", command("p1")), ("b", command("p2"))])
    assert ingestor.spans["b"][0] >= ingestor.spans["a"][1]
