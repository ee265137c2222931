"""tracing: the queue traces a case's deeper levels in steps

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 06:30:00

The tracing queue traced a case's F2 in one transaction: with a thousand F1 at 10 M visits,
seconds of writing, which on SQLite holds the write lock check-ins wait for. It now traces the
contacts of a few F1 per step, each step its own transaction. ``trace_found_at`` is the time
the case's last trace marked its contacts with (every step marks its rows the same, so that the
steps together equal one trace); ``trace_next_level`` and ``trace_after_person_id`` record how
far the steps got (the level, and the last person of the level before whose contacts are
stored).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trace_found_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trace_next_level", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("trace_after_person_id", BIG, server_default=sa.text("0"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("trace_after_person_id")
        batch_op.drop_column("trace_next_level")
        batch_op.drop_column("trace_found_at")
