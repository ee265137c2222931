"""Every migration can be undone: on both databases, each revision in turn is applied, undone
and applied again (the stairway), and the schema at the end is the one the models describe
(an operator rolling a release back relies on the downgrades)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from phongdich.db.migrate import alembic_config, downgrade, upgrade
from phongdich.db.session import make_engine
from tests.conftest import BACKENDS
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
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'stairway.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        server.create_database("phongdich_stairway")
        url = server.url("phongdich_stairway")
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
