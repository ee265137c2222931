"""The schema the migrations build is the schema the models describe, on both databases."""

from __future__ import annotations

from tests.conftest import Env
from tests.support.schema import differences


def test_migrations_build_what_the_models_describe(env: Env) -> None:
    with env.factory() as session:
        found = differences(session.connection())
        session.rollback()
    assert found == [], found
