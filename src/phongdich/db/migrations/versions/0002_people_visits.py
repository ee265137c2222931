"""people and visits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:23:05.573021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=15), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "registered_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["phone_accounts.id"],
            name=op.f("fk_people_account_id_phone_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"],
            ["phone_accounts.id"],
            name=op.f("fk_people_registered_by_phone_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_people_phone", ["phone"], unique=False)

    op.create_table(
        "visits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "checkpoint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "entrance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("check_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("check_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("in_method", sa.String(length=16), nullable=False),
        sa.Column("out_method", sa.String(length=12), nullable=True),
        sa.Column(
            "recorded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_visits_checkpoint_id_checkpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entrance_id"],
            ["checkpoint_entrances.id"],
            name=op.f("fk_visits_entrance_id_checkpoint_entrances"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_visits_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["phone_accounts.id"],
            name=op.f("fk_visits_recorded_by_phone_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index("ix_visits_check_in_at", ["check_in_at"], unique=False)
        batch_op.create_index(
            "ix_visits_checkpoint_in", ["checkpoint_id", "check_in_at"], unique=False
        )
        batch_op.create_index("ix_visits_person_in", ["person_id", "check_in_at"], unique=False)

    op.create_table(
        "visit_scans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("visit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visits.id"],
            name=op.f("fk_visit_scans_visit_id_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_scans")),
    )
    with op.batch_alter_table("visit_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_scans_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visit_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_scans_received_at"))

    op.drop_table("visit_scans")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index("ix_visits_person_in")
        batch_op.drop_index("ix_visits_checkpoint_in")
        batch_op.drop_index("ix_visits_check_in_at")

    op.drop_table("visits")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_phone")
        batch_op.drop_index("ix_people_account_id")

    op.drop_table("people")
