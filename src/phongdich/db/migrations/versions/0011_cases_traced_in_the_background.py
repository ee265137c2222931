"""tracing: cases of a line list are traced in the background

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:50:00

A line list enters its cases at once and leaves their tracing to the tracing queue (the
server's in-process worker, or ``phongdich trace-pending`` from cron): a case not traced yet
(``traced_at`` empty) is claimed by one worker (``trace_claimed_at``) and traced; a claim
older than the lease (a worker that stopped) is taken over. The partial index lists the cases
waiting, which are few among many traced ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trace_claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_cases_untraced",
            ["id"],
            unique=False,
            postgresql_where=sa.text("traced_at IS NULL"),
            sqlite_where=sa.text("traced_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_untraced")
        batch_op.drop_column("trace_claimed_at")
