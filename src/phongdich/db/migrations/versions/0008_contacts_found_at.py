"""tracing: contacts remember the trace that found them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:00:00

The database now finds and stores a trace's contacts itself, level after level; each row it
writes is marked with the trace's start (``found_at``) so that later levels and the household,
trip and report links of the same trace extend it instead of replacing it, and the rows of
earlier traces not found again are removed. Until now ``updated_at`` served as the mark, which
a follow-up status saved during a trace could blur. Rows already listed keep no mark: the next
trace of their case replaces them, keeping their follow-up status and assignment.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("found_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("found_at")
