"""Fixtures: every integration test runs on SQLite and on a real PostgreSQL server.

The schema comes from the Alembic migrations. On PostgreSQL each test runs inside an outer
transaction that is rolled back (the app's commits become savepoints); on SQLite each test gets
a copy of a migrated database file.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from phongdich.accounts.models import Official, PhoneAccount
from phongdich.accounts.service import AccountService
from phongdich.app import create_app
from phongdich.bench.pg import PgServer
from phongdich.config import Settings
from phongdich.db.migrate import upgrade
from phongdich.db.session import make_engine, make_sessionmaker, unit_of_work
from phongdich.geo.service import UnitService
from tests.support.http import Client, last_code

BACKENDS = ["sqlite", "postgresql"]
PASSWORD = "mat-khau-thu-nghiem"


def _prepare(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        UnitService(session).load_default()
    engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_engine(pg_server: PgServer) -> Iterator[Engine]:
    pg_server.create_database("phongdich_test")
    url = pg_server.url("phongdich_test")
    _prepare(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@dataclass
class Env:
    backend: str
    settings: Settings
    factory: sessionmaker[Session]

    def session(self) -> Session:
        return self.factory()


def _settings(url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        deliver_in_process=False,
        schedule_in_process=False,
        notifier="none",
        public_base_url="http://testserver",
        secret_key="test-secret-" + "x" * 32,
    )


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Env("sqlite", _settings(url), make_sessionmaker(engine))
        engine.dispose()
        return
    engine = request.getfixturevalue("pg_engine")
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    try:
        yield Env("postgresql", _settings(str(engine.url.render_as_string(False))), factory)
    finally:
        outer.rollback()
        connection.close()


def empty_database(backend: str, name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a new empty database of ``backend``, for tests that need their own
    connections: a file under ``tmp_path``, or a new database on the session's PostgreSQL
    server."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / name}.db"
    server: PgServer = request.getfixturevalue("pg_server")
    database = f"{name}_{uuid.uuid4().hex[:10]}"
    server.create_database(database)
    return str(server.url(database))


def make_app(env: Env, **changes: object) -> FastAPI:
    """The platform on the test's database (its transaction, on PostgreSQL), with these
    settings changed."""
    # Without changes the app holds ``env.settings`` itself: tests may change it in place.
    settings = env.settings.model_copy(update=changes) if changes else env.settings
    application = create_app(settings)
    application.state.engine.dispose()
    application.state.sessionmaker = env.factory
    return application


@pytest.fixture
def app(env: Env) -> FastAPI:
    return make_app(env)


@pytest.fixture
def client(app) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    with Client(app) as c:
        yield c


@pytest.fixture
def make_client(app):  # type: ignore[no-untyped-def]
    clients: list[Client] = []

    def _make() -> Client:
        c = Client(app)
        c.__enter__()
        clients.append(c)
        return c

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


@dataclass
class World:
    """Officials across two communes of Hà Nội and one of Hồ Chí Minh City."""

    admin: Official
    hanoi: Official  # province 01
    badinh: Official  # commune 00004 (Hà Nội)
    hoankiem: Official  # commune 00070 (Hà Nội)
    health: Official  # health department, province 01
    hcm: Official  # province 79


@pytest.fixture
def world(env: Env) -> World:
    with env.session() as session:
        service = AccountService(session, env.settings)
        people = {
            name: service.create_official(name, PASSWORD, name.title(), role, unit)
            for name, role, unit in (
                ("admin", "admin", None),
                ("hanoi", "province", "01"),
                ("badinh", "commune", "00004"),
                ("hoankiem", "commune", "00070"),
                ("health", "health", "01"),
                ("hcm", "province", "79"),
            )
        }
        session.commit()
        return World(**people)


def login_official(client: Client, username: str) -> None:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text


def login_phone(client: Client, env: Env, phone: str, name: str = "") -> PhoneAccount:
    r = client.post("/api/v1/auth/otp/request", json={"phone": phone})
    assert r.status_code == 200, r.text
    with env.session() as session:
        code = last_code(session, r.json()["phone"])
    r = client.post(
        "/api/v1/auth/otp/verify", json={"phone": phone, "code": code, "full_name": name}
    )
    assert r.status_code == 200, r.text
    with env.session() as session:
        account = session.get(PhoneAccount, r.json()["id"])
        assert account is not None
        return account
