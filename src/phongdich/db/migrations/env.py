"""Alembic environment: the URL comes from the Config that phongdich.db.migrate builds."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from phongdich.db.models import include_for, metadata
from phongdich.db.session import make_engine

config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = (
        make_engine(url, poolclass=pool.NullPool)
        if not url.startswith("sqlite")
        else make_engine(url)
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_object=include_for(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
