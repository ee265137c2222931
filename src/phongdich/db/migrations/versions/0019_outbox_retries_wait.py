"""notify: a failed message waits before its next attempt

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 11:00:00

Delivery tried every pending message on each run, a second apart, so a mail server or SMS
gateway down for a few seconds used up a warning's five attempts and failed it for good. Each
message now has the time of its next attempt (``next_attempt_at``): at once when queued, then
later after each failure. Messages already queued are due from their creation. The pending
messages are found by status, due time and id (a warning to thousands queues them within the
same instant), which replaces the index by status and id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE outbox_messages SET next_attempt_at = created_at")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.alter_column(
            "next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_index("ix_outbox_messages_status_id")
        batch_op.create_index(
            "ix_outbox_messages_status_due", ["status", "next_attempt_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_messages_status_due")
        batch_op.create_index("ix_outbox_messages_status_id", ["status", "id"], unique=False)
        batch_op.drop_column("next_attempt_at")
