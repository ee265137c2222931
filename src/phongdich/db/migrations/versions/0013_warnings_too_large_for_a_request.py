"""tracing: warnings too large for one request go to the tracing queue

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 04:10:00

A warning of more contact rows than one request marks (a large line list's) is kept as a
``warning_jobs`` row: the cases, channels, level and statuses the tracer chose. The queue warns
it in steps of people, each step in its own transaction, ``after_person_id`` recording how far
it got; ``claimed_at`` keeps two workers off the same job. The partial index lists the jobs
not done, which are few.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = "done_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "warning_jobs",
        sa.Column("id", BIG, nullable=False),
        sa.Column("official_id", BIG, nullable=True),
        sa.Column("case_ids", sa.Text(), nullable=False),
        sa.Column("channels", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("statuses", sa.String(length=120), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("after_person_id", BIG, server_default=sa.text("0"), nullable=False),
        sa.Column("warned", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("contacts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("no_phone", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skipped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["officials.id"],
            name=op.f("fk_warning_jobs_official_id_officials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_jobs")),
    )
    with op.batch_alter_table("warning_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_warning_jobs_open",
            ["id"],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("warning_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_warning_jobs_open")
    op.drop_table("warning_jobs")
