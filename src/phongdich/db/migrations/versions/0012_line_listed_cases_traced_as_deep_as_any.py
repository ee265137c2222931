"""tracing: the queue also traces the F2 of line-listed cases

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 00:00:00

A case entered alone is traced to the configured depth (F1 and F2) at once; a line list's
cases were traced to F1 only. ``trace_deeper`` marks a line-listed case whose deeper levels the
queue still has to trace, one case at a time after every waiting F1; the partial index of the
waiting cases covers both kinds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "traced_at IS NULL OR trace_deeper"
UNTRACED = "traced_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trace_deeper", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_index("ix_cases_untraced")
        batch_op.create_index(
            "ix_cases_waiting",
            ["id"],
            unique=False,
            postgresql_where=sa.text(WAITING),
            sqlite_where=sa.text(WAITING),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_waiting")
        batch_op.create_index(
            "ix_cases_untraced",
            ["id"],
            unique=False,
            postgresql_where=sa.text(UNTRACED),
            sqlite_where=sa.text(UNTRACED),
        )
        batch_op.drop_column("trace_deeper")
