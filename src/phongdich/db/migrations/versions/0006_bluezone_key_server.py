"""bluezone key server: verification codes and tokens, published keys, export batches and
files; Bluetooth evidence of shared contact reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:07:29.268989
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proximity_export_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proximity_export_batches")),
        sa.UniqueConstraint("start_at", name=op.f("uq_proximity_export_batches_start_at")),
    )
    with op.batch_alter_table("proximity_export_batches", schema=None) as batch_op:
        batch_op.create_index("ix_proximity_export_batches_end", ["end_at"], unique=False)

    op.create_table(
        "proximity_export_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("batch_num", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("key_count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["proximity_export_batches.id"],
            name=op.f("fk_proximity_export_files_batch_id_proximity_export_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proximity_export_files")),
        sa.UniqueConstraint("name", name=op.f("uq_proximity_export_files_name")),
    )
    with op.batch_alter_table("proximity_export_files", schema=None) as batch_op:
        batch_op.create_index("ix_proximity_export_files_batch", ["batch_id"], unique=False)

    op.create_table(
        "proximity_verification_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("report_type", sa.Integer(), nullable=False),
        sa.Column("symptom_onset", sa.Date(), nullable=True),
        sa.Column("test_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_proximity_verification_codes_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["officials.id"],
            name=op.f("fk_proximity_verification_codes_issued_by_officials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proximity_verification_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_proximity_verification_codes_code_hash")),
    )
    with op.batch_alter_table("proximity_verification_codes", schema=None) as batch_op:
        batch_op.create_index("ix_proximity_verification_codes_case", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_proximity_verification_codes_created", ["created_at"], unique=False
        )

    op.create_table(
        "proximity_published_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_data", sa.LargeBinary(length=16), nullable=False),
        sa.Column(
            "rolling_start", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("rolling_period", sa.Integer(), nullable=False),
        sa.Column("transmission_risk", sa.Integer(), nullable=False),
        sa.Column("report_type", sa.Integer(), nullable=False),
        sa.Column("days_since_onset", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visible_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "verification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["proximity_export_batches.id"],
            name=op.f("fk_proximity_published_keys_batch_id_proximity_export_batches"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["proximity_verification_codes.id"],
            name=op.f("fk_proximity_published_keys_verification_id_proximity_verification_codes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proximity_published_keys")),
        sa.UniqueConstraint("key_data", name=op.f("uq_proximity_published_keys_key_data")),
    )
    with op.batch_alter_table("proximity_published_keys", schema=None) as batch_op:
        batch_op.create_index("ix_proximity_published_keys_created", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_proximity_published_keys_pending", ["batch_id", "visible_after"], unique=False
        )
        batch_op.create_index(
            "ix_proximity_published_keys_verification", ["verification_id"], unique=False
        )

    op.create_table(
        "proximity_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_id", sa.String(length=32), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["proximity_verification_codes.id"],
            name=op.f("fk_proximity_tokens_code_id_proximity_verification_codes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proximity_tokens")),
        sa.UniqueConstraint("certificate_id", name=op.f("uq_proximity_tokens_certificate_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_proximity_tokens_token_hash")),
    )
    with op.batch_alter_table("proximity_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_proximity_tokens_code", ["code_id"], unique=False)

    with op.batch_alter_table("contact_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.Text(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("contact_reports", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("proximity_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_proximity_tokens_code")

    op.drop_table("proximity_tokens")
    with op.batch_alter_table("proximity_published_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_proximity_published_keys_verification")
        batch_op.drop_index("ix_proximity_published_keys_pending")
        batch_op.drop_index("ix_proximity_published_keys_created")

    op.drop_table("proximity_published_keys")
    with op.batch_alter_table("proximity_verification_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_proximity_verification_codes_created")
        batch_op.drop_index("ix_proximity_verification_codes_case")

    op.drop_table("proximity_verification_codes")
    with op.batch_alter_table("proximity_export_files", schema=None) as batch_op:
        batch_op.drop_index("ix_proximity_export_files_batch")

    op.drop_table("proximity_export_files")
    with op.batch_alter_table("proximity_export_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_proximity_export_batches_end")

    op.drop_table("proximity_export_batches")
