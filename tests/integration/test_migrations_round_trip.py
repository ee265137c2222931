"""Every migration can be undone: on both databases, each revision in turn is applied, undone
and applied again (the stairway), and the schema at the end is the one the models describe
(an operator rolling a release back relies on the downgrades)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.orm import Session

from phongdich.db.migrate import alembic_config, downgrade, upgrade
from phongdich.db.session import make_engine
from phongdich.tracing.models import TraceExposure
from tests.conftest import BACKENDS, empty_database
from tests.support.schema import differences


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return differences(connection)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_migration_goes_down_and_up_again(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = empty_database(backend, "stairway", tmp_path, request)
    script = ScriptDirectory.from_config(alembic_config(url))
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    assert len(revisions) >= 10
    for revision in revisions:
        below = revision.down_revision
        assert below is None or isinstance(below, str), "one line of history"
        upgrade(url, revision.revision)
        # Undoing it must leave exactly what was there before, or applying it again fails.
        downgrade(url, below or "base")
        upgrade(url, revision.revision)
    assert "contacts" in _tables(url)
    assert _differences(url) == []
    downgrade(url, "base")
    assert _tables(url) <= {"alembic_version"}


def _filled(table: Table, **given: object) -> dict[str, object]:
    """A row of ``table`` with ``given`` and a plain value in every other required column."""
    plain: dict[type, object] = {int: 1, str: "x", float: 0.0, bool: False}
    row = dict(given)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        kind = column.type.python_type
        row[column.name] = (
            datetime(2026, 12, 1, tzinfo=UTC) if kind is datetime else plain.get(kind, "x")
        )
    return row


@pytest.mark.parametrize("backend", BACKENDS)
def test_exposures_staged_before_0016_keep_their_evidence(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A case whose queue steps are under way during the upgrade goes on where it was: each
    staged evidence entry becomes the fields 0016 stages, and a downgrade writes it back."""
    url = empty_database(backend, "staged", tmp_path, request)
    upgrade(url, "0015")
    entry = {
        "level": 2,
        "source": "visit",
        "via_person_id": 1,
        "risk": 0.75,
        "last_exposure": "2026-12-04T07:50:30.000015+00:00",
        "checkpoint_id": 7,
        "checkpoint": "Quán cà phê Lá",
        "case_visit_id": 11,
        "contact_visit_id": 12,
        "start": "2026-12-04T07:30:00.000015+00:00",
        "end": "2026-12-04T07:50:30.000015+00:00",
        "minutes": 20.5,
        "certain_minutes": 10.25,
        "rule": "type:restaurant",
    }
    start, end = datetime(2026, 12, 4, 7, 30, 0, 15, UTC), datetime(2026, 12, 4, 7, 50, 30, 15, UTC)
    engine = make_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.begin() as connection:
            connection.execute(
                tables.tables["admin_units"].insert(),
                _filled(tables.tables["admin_units"], code="x"),
            )
            for table, row in (
                ("people", {"id": 1, "unit_code": "x"}),
                ("cases", {"id": 1, "person_id": 1, "unit_code": "x"}),
            ):
                connection.execute(
                    tables.tables[table].insert(), _filled(tables.tables[table], **row)
                )
            connection.execute(
                tables.tables["trace_exposures"].insert(),
                {
                    "id": 1,
                    "case_id": 1,
                    "found_at": datetime(2026, 12, 5, tzinfo=UTC),
                    "level": 2,
                    "person_id": 2,
                    "via_person_id": 1,
                    "case_visit_id": 11,
                    "contact_visit_id": 12,
                    "risk": 0.75,
                    "e": end,
                    "entry": json.dumps(entry, ensure_ascii=False),
                },
            )
        upgrade(url, "0016")
        with Session(engine) as session:
            staged = session.get_one(TraceExposure, 1)
            fields = (staged.checkpoint_id, staged.checkpoint, staged.s, staged.e, staged.rule)
            assert fields == (7, "Quán cà phê Lá", start, end, "type:restaurant")
            assert (staged.span_s, staged.certain_s) == (1230.0, 615.0)
        downgrade(url, "0015")
        with engine.connect() as connection:
            written = connection.scalar(text("SELECT entry FROM trace_exposures"))
        assert json.loads(written) == entry
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_messages_queued_before_0019_are_due_from_their_creation(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Messages waiting in the outbox during the upgrade are delivered at once: their next
    attempt is their creation (0019), and none is held back by an outage (0020)."""
    from phongdich.notify.models import OutboxMessage

    url = empty_database(backend, "outbox", tmp_path, request)
    upgrade(url, "0018")
    created = datetime(2026, 12, 5, 3, 15, 0, 250, UTC)
    engine = make_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        outbox = tables.tables["outbox_messages"]
        with engine.begin() as connection:
            connection.execute(outbox.insert(), _filled(outbox, id=1, created_at=created))
        upgrade(url, "0020")
        with Session(engine) as session:
            message = session.get_one(OutboxMessage, 1)
            assert (message.next_attempt_at, message.held) == (created, False)
        downgrade(url, "0018")
        columns = {c["name"] for c in inspect(engine).get_columns(outbox.name)}
        assert not columns & {"next_attempt_at", "held"}
    finally:
        engine.dispose()
