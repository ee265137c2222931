from __future__ import annotations

import threading

from phongdich.kit.periodic import Periodic


def test_runs_repeatedly_survives_errors_and_stops() -> None:
    calls: list[int] = []
    third = threading.Event()

    def job() -> None:
        calls.append(1)
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    worker = Periodic("test job", job, 0.01)
    worker.start()
    assert third.wait(timeout=10), "the job kept running after its first failure"
    worker.stop()
    seen = len(calls)
    assert seen >= 3
    assert not worker._thread.is_alive()
