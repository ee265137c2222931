"""tracing: a case remembers the level its last trace did not go down to

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:40:00

A trace goes one level deeper only from at most ``trace_level_limit`` people of the level
before (the F2 of thousands of F1 would run for minutes and list millions). The case keeps
which level was left untraced and how many people the level before had, so that its page can
say so. Existing cases were traced as deep as asked: both columns stay empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trace_stopped_level", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("trace_stopped_people", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("trace_stopped_people")
        batch_op.drop_column("trace_stopped_level")
