"""people registry, households, declarations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:12:15.433506
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from phongdich.kit.text import fold

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "declarations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "submitted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "corrects_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("unit_code", sa.String(length=16), nullable=True),
        sa.Column("assessed", sa.String(length=8), nullable=False),
        sa.Column("symptoms", sa.String(length=200), nullable=False),
        sa.Column("contact_confirmed", sa.Boolean(), nullable=False),
        sa.Column("contact_suspected", sa.Boolean(), nullable=False),
        sa.Column("outbreak_area", sa.Boolean(), nullable=False),
        sa.Column("travelled", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["declarations.id"],
            name=op.f("fk_declarations_corrects_id_declarations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_declarations_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"],
            ["phone_accounts.id"],
            name=op.f("fk_declarations_submitted_by_phone_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["admin_units.code"],
            name=op.f("fk_declarations_unit_code_admin_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declarations")),
    )
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.create_index("ix_declarations_at", ["submitted_at"], unique=False)
        batch_op.create_index(
            "ix_declarations_person_at", ["person_id", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_declarations_unit_at", ["unit_code", "submitted_at"], unique=False
        )

    op.create_table(
        "household_members",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["phone_accounts.id"],
            name=op.f("fk_household_members_account_id_phone_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_household_members_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "person_id", name=op.f("pk_household_members")),
    )
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.create_index("ix_household_members_person", ["person_id"], unique=False)

    op.create_table(
        "person_duplicates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("other_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved", sa.String(length=12), nullable=True),
        sa.Column(
            "resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["people.id"],
            name=op.f("fk_person_duplicates_other_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_duplicates_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["officials.id"],
            name=op.f("fk_person_duplicates_resolved_by_officials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_duplicates")),
    )
    with op.batch_alter_table("person_duplicates", schema=None) as batch_op:
        batch_op.create_index("ix_person_duplicates_open", ["resolved", "found_at"], unique=False)
        batch_op.create_index("ix_person_duplicates_other", ["other_id"], unique=False)
        batch_op.create_index("ix_person_duplicates_person", ["person_id"], unique=False)

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("gender", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("id_kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("id_number", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("insurance_no", sa.String(length=15), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("unit_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("qr_subject", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "merged_into", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    # Existing people: folded names, a fresh QR subject each, updated_at = created_at.
    conn = op.get_bind()
    people = sa.table(
        "people",
        sa.column("id", sa.BigInteger()),
        sa.column("full_name", sa.String()),
        sa.column("name_key", sa.String()),
        sa.column("qr_subject", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    rows = conn.execute(sa.select(people.c.id, people.c.full_name)).all()
    for start in range(0, len(rows), 1000):
        conn.execute(
            people.update()
            .where(people.c.id == sa.bindparam("pid"))
            .values(name_key=sa.bindparam("key"), qr_subject=sa.bindparam("subject")),
            [
                {"pid": pid, "key": fold(name), "subject": secrets.token_hex(8)}
                for pid, name in rows[start : start + 1000]
            ],
        )
    conn.execute(people.update().values(updated_at=people.c.created_at))

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column("qr_subject", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_index(batch_op.f("ix_people_phone"))
        batch_op.create_index("ix_people_id_number", ["id_number"], unique=False)
        batch_op.create_index("ix_people_merged_into", ["merged_into"], unique=False)
        batch_op.create_index("ix_people_phone_name", ["phone", "name_key"], unique=False)
        batch_op.create_index("ix_people_qr_subject", ["qr_subject"], unique=True)
        batch_op.create_index("ix_people_unit_name", ["unit_code", "name_key"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_people_merged_into_people"),
            "people",
            ["merged_into"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_people_unit_code_admin_units"),
            "admin_units",
            ["unit_code"],
            ["code"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_people_unit_code_admin_units"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_people_merged_into_people"), type_="foreignkey")
        batch_op.drop_index("ix_people_unit_name")
        batch_op.drop_index("ix_people_qr_subject")
        batch_op.drop_index("ix_people_phone_name")
        batch_op.drop_index("ix_people_merged_into")
        batch_op.drop_index("ix_people_id_number")
        batch_op.create_index(batch_op.f("ix_people_phone"), ["phone"], unique=False)
        batch_op.drop_column("updated_at")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("qr_subject")
        batch_op.drop_column("unit_code")
        batch_op.drop_column("address")
        batch_op.drop_column("insurance_no")
        batch_op.drop_column("id_number")
        batch_op.drop_column("id_kind")
        batch_op.drop_column("gender")
        batch_op.drop_column("birth_date")
        batch_op.drop_column("name_key")

    with op.batch_alter_table("person_duplicates", schema=None) as batch_op:
        batch_op.drop_index("ix_person_duplicates_person")
        batch_op.drop_index("ix_person_duplicates_other")
        batch_op.drop_index("ix_person_duplicates_open")

    op.drop_table("person_duplicates")
    with op.batch_alter_table("household_members", schema=None) as batch_op:
        batch_op.drop_index("ix_household_members_person")

    op.drop_table("household_members")
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index("ix_declarations_unit_at")
        batch_op.drop_index("ix_declarations_person_at")
        batch_op.drop_index("ix_declarations_at")

    op.drop_table("declarations")
