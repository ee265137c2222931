"""tracing cases and contacts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:41:05.197115
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("test_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("onset_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("isolated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("traced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["officials.id"],
            name=op.f("fk_cases_created_by_officials"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_cases_person_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["admin_units.code"],
            name=op.f("fk_cases_unit_code_admin_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_person", ["person_id"], unique=False)
        batch_op.create_index("ix_cases_unit_created", ["unit_code", "created_at"], unique=False)

    op.create_table(
        "contact_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("exposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column(
            "reported_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_contact_reports_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_contact_reports_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["officials.id"],
            name=op.f("fk_contact_reports_reported_by_officials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_reports")),
    )
    with op.batch_alter_table("contact_reports", schema=None) as batch_op:
        batch_op.create_index("ix_contact_reports_case", ["case_id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column(
            "via_person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("last_exposure", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("assigned_unit", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_unit"],
            ["admin_units.code"],
            name=op.f("fk_contacts_assigned_unit_admin_units"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_contacts_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_contacts_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["via_person_id"],
            ["people.id"],
            name=op.f("fk_contacts_via_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("case_id", "person_id", name=op.f("uq_contacts_case_id_person_id")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_assigned", ["assigned_unit", "status"], unique=False)
        batch_op.create_index("ix_contacts_person", ["person_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # The tracing overlap query reads only the index (check-out times and the person ride
        # along): drop and recreate the visits index with included columns.
        op.drop_index("ix_visits_checkpoint_in", table_name="visits")
        op.create_index(
            "ix_visits_checkpoint_in",
            "visits",
            ["checkpoint_id", "check_in_at"],
            postgresql_include=["check_out_at", "auto_out_at", "person_id", "entrance_id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_visits_checkpoint_in", table_name="visits")
        op.create_index("ix_visits_checkpoint_in", "visits", ["checkpoint_id", "check_in_at"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_person")
        batch_op.drop_index("ix_contacts_assigned")

    op.drop_table("contacts")
    with op.batch_alter_table("contact_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_reports_case")

    op.drop_table("contact_reports")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_unit_created")
        batch_op.drop_index("ix_cases_person")

    op.drop_table("cases")
