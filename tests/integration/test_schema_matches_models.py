"""The schema the migrations build is the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from phongdich.db.models import metadata
from tests.conftest import Env


def test_migrations_build_what_the_models_describe(env: Env) -> None:
    with env.factory() as session:
        context = MigrationContext.configure(
            session.connection(), opts={"compare_type": True, "compare_server_default": False}
        )
        differences: list[Any] = compare_metadata(context, metadata)
        session.rollback()
    assert differences == [], differences
