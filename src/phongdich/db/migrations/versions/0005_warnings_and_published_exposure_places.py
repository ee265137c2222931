"""warnings and published exposure places

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:48:44.905486
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exposure_places",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "checkpoint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "published_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_exposure_places_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_exposure_places_checkpoint_id_checkpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["officials.id"],
            name=op.f("fk_exposure_places_published_by_officials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposure_places")),
    )
    with op.batch_alter_table("exposure_places", schema=None) as batch_op:
        batch_op.create_index("ix_exposure_places_case", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_exposure_places_checkpoint_start", ["checkpoint_id", "start"], unique=False
        )
        batch_op.create_index("ix_exposure_places_published", ["published_at"], unique=False)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "warning_message_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_contacts_warning_message_id_outbox_messages"),
            "outbox_messages",
            ["warning_message_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_contacts_warning_message_id_outbox_messages"), type_="foreignkey"
        )
        batch_op.drop_column("warning_message_id")
        batch_op.drop_column("warned_at")

    with op.batch_alter_table("exposure_places", schema=None) as batch_op:
        batch_op.drop_index("ix_exposure_places_published")
        batch_op.drop_index("ix_exposure_places_checkpoint_start")
        batch_op.drop_index("ix_exposure_places_case")

    op.drop_table("exposure_places")
