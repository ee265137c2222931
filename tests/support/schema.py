"""What Alembic finds different between a database's schema and the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from phongdich.db.models import include_for, metadata


def differences(connection: Connection) -> list[Any]:
    """Tables, columns, types, indexes and constraints (not server defaults), leaving out the
    models' objects meant for the other database."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": False,
            "include_object": include_for(connection.dialect.name),
        },
    )
    return list(compare_metadata(context, metadata))
