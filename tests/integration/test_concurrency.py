"""Concurrent requests against a real server-side database (no outer test transaction)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from phongdich.app import create_app
from phongdich.checkpoints.models import Checkpoint
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.service import UnitService
from tests.conftest import empty_database
from tests.support.http import Client, last_code


@pytest.fixture(params=["sqlite", "postgresql"])
def live_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FastAPI]:
    url = empty_database(request.param, "race", tmp_path, request)
    upgrade(url)
    engine = make_engine(url)
    with unit_of_work(make_sessionmaker(engine)) as s:
        UnitService(s).load_default()
    engine.dispose()
    app = create_app(
        Settings(
            environment="test",
            database_url=url,
            deliver_in_process=False,
            schedule_in_process=False,
            notifier="none",
            public_base_url="http://testserver",
        )
    )
    yield app
    app.state.engine.dispose()


def test_same_venue_registered_twice_at_once(live_app: FastAPI) -> None:
    owner = Client(live_app)
    owner.post("/api/v1/auth/otp/request", json={"phone": "0912345678"})
    with live_app.state.sessionmaker() as s:
        code = last_code(s, "0912345678")
    assert (
        owner.post(
            "/api/v1/auth/otp/verify", json={"phone": "0912345678", "code": code}
        ).status_code
        == 200
    )
    cookies = dict(owner.cookies)
    for round_ in range(8):
        body = {
            "name": f"Chợ đầu mối số {round_}",
            "type": "market",
            "address": "Số 1 Kim Mã",
            "unit_code": "00004",
        }
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def post(
            body: dict[str, object] = body,
            barrier: threading.Barrier = barrier,
            statuses: list[int] = statuses,
        ) -> None:
            # No `with`: the app's lifespan (which disposes the engine) stays out of the race.
            c = Client(live_app, cookies=cookies)
            c.get("/healthz")
            barrier.wait()
            statuses.append(c.post("/api/v1/checkpoints", json=body).status_code)

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201, 409], statuses
        with live_app.state.sessionmaker() as s:
            n = s.scalar(
                select(func.count()).select_from(Checkpoint).where(Checkpoint.name == body["name"])
            )
        assert n == 1
