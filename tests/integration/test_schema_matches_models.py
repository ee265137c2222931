"""The schema the migrations build is the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from phongdich.db.models import include_for, metadata
from tests.conftest import Env


def test_migrations_build_what_the_models_describe(env: Env) -> None:
    with env.factory() as session:
        connection = session.connection()
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": include_for(connection.dialect.name),
            },
        )
        differences: list[Any] = compare_metadata(context, metadata)
        session.rollback()
    assert differences == [], differences
