"""people: an e-mail address, for exposure warnings by e-mail

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:30:00

Tracers could warn contacts by SMS and OTT only: the registry knew nobody's e-mail. A person's
entry now has an optional address, given by the person or the household's declarer, and the
warnings can go by e-mail too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("email")
