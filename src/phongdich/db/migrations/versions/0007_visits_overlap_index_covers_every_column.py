"""tracing: covering overlap index, trips in declarations, people by address

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:20:00

- On PostgreSQL the (checkpoint, check-in) index of visits also carries the visit id and how it
  was checked out, so the tracing overlap scans (one case, and a day's cases in bulk) read the
  index alone — no heap page per visit.
- Movement declarations get a ``trip_key`` (transport, vehicle, day; indexed), filled in for
  the declarations already there, so tracing finds who travelled with a case.
- People are indexed by (unit, address) for "same address" contacts.
"""

import json
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ["check_out_at", "auto_out_at", "person_id", "entrance_id"]
_NEW = ["id", "check_out_at", "auto_out_at", "person_id", "entrance_id", "out_method"]


def _recreate(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_visits_checkpoint_in", table_name="visits")
    op.create_index(
        "ix_visits_checkpoint_in",
        "visits",
        ["checkpoint_id", "check_in_at"],
        postgresql_include=include,
    )


def _trip_key(details: str) -> str | None:
    """``tracing.rules.trip_key`` as it was when this migration was written."""
    try:
        data = json.loads(details or "{}")
        day = date.fromisoformat(str(data.get("travel_date", "")))
    except ValueError:
        return None
    vehicle = "".join(ch for ch in str(data.get("vehicle_no", "")).upper() if ch.isalnum())
    if not vehicle:
        return None
    return f"{data.get('transport', '')}:{vehicle}:{day.isoformat()}"


def upgrade() -> None:
    _recreate(_NEW)
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trip_key", sa.String(length=48), nullable=True))
        batch_op.create_index("ix_declarations_trip", ["trip_key"], unique=False)
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_unit_address", ["unit_code", "address"], unique=False)
    bind = op.get_bind()
    declarations = sa.table(
        "declarations",
        sa.column("id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("details", sa.Text),
        sa.column("trip_key", sa.String),
    )
    rows = bind.execute(
        sa.select(declarations.c.id, declarations.c.details).where(
            declarations.c.kind == "movement"
        )
    ).all()
    keys = [{"_id": i, "trip_key": k} for i, d in rows if (k := _trip_key(d)) is not None]
    if keys:
        bind.execute(
            declarations.update()
            .where(declarations.c.id == sa.bindparam("_id"))
            .values(trip_key=sa.bindparam("trip_key")),
            keys,
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_unit_address")
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index("ix_declarations_trip")
        batch_op.drop_column("trip_key")
    _recreate(_OLD)
