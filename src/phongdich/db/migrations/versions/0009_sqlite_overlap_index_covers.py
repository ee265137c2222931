"""visits: on SQLite the overlap index covers the tracing scans too

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:10:00

SQLite has no ``INCLUDE``: the columns the tracing overlap scans read (how the visit ended,
who, through which entrance) follow (checkpoint, check-in) as key columns, so those scans read
the index alone instead of one visit row per index entry. On SQLite the index is renamed
``ix_visits_checkpoint_cover`` (the model declares one index per database, and Alembic tells
them apart by name). PostgreSQL's ``ix_visits_checkpoint_in`` (0007) already covers those
columns and is left as it is.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["checkpoint_id", "check_in_at"]
_COVERED = ["check_out_at", "auto_out_at", "person_id", "entrance_id", "out_method"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_visits_checkpoint_in", table_name="visits")
    op.create_index("ix_visits_checkpoint_cover", "visits", _KEY + _COVERED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_visits_checkpoint_cover", table_name="visits")
    op.create_index("ix_visits_checkpoint_in", "visits", _KEY)
