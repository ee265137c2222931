"""people: the language messages reach them in

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:00:00

Warnings went out in Vietnamese only: the registry recorded no language to choose by. A
person's entry now says which (``vi`` or ``en``; none is Vietnamese), for the foreign
residents and arrivals the platform also serves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("language")
