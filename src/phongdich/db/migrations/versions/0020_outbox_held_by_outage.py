"""notify: messages held back by a channel outage go out when it is back

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 14:30:00

A message that found its channel down waits out its backoff (up to two hours) even after the
channel works again. Such messages are now marked ``held``, and the first message of the
channel that goes out makes them due at once. The few held messages are found through a
partial index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_outbox_messages_held",
            ["channel"],
            unique=False,
            postgresql_where=sa.text("held"),
            sqlite_where=sa.text("held"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_held")
        batch_op.drop_column("held")
