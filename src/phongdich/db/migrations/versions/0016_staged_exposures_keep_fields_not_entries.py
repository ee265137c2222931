"""tracing: staged exposures keep the evidence entry's fields, not the entry

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 09:00:00

The queue's steps staged each exposure with its evidence entry as JSON, about 390 bytes a row,
which the store steps read back and deleted again: at 10 M visits a case's F2 stages millions of
them. The rows now keep the entry's fields (checkpoint, start, seconds, rule) and the store
steps write the entry. Rows staged before the upgrade are converted, so that a case whose steps
are under way goes on where it was.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# An entry's times are ISO 8601 in UTC ("2026-12-05T01:02:03.000004+00:00"); the columns keep
# them as the application writes them (SQLite: "2026-12-05 01:02:03.000004"). Seconds come
# back from minutes, which may differ from the staged seconds in the last binary digit.
_FROM_ENTRY = {
    "postgresql": {
        "checkpoint_id": "CAST(CAST(entry AS json)->>'checkpoint_id' AS bigint)",
        "checkpoint": "CAST(entry AS json)->>'checkpoint'",
        "s": "CAST(CAST(entry AS json)->>'start' AS timestamptz)",
        "span_s": "CAST(CAST(entry AS json)->>'minutes' AS double precision) * 60",
        "certain_s": "CAST(CAST(entry AS json)->>'certain_minutes' AS double precision) * 60",
        "rule": "CAST(entry AS json)->>'rule'",
    },
    "sqlite": {
        "checkpoint_id": "json_extract(entry, '$.checkpoint_id')",
        "checkpoint": "json_extract(entry, '$.checkpoint')",
        "s": "replace(substr(json_extract(entry, '$.start'), 1,"
        " length(json_extract(entry, '$.start')) - 6), 'T', ' ')",
        "span_s": "json_extract(entry, '$.minutes') * 60",
        "certain_s": "json_extract(entry, '$.certain_minutes') * 60",
        "rule": "json_extract(entry, '$.rule')",
    },
}
_ENTRY = {
    "postgresql": """CAST(json_build_object(
        'level', level, 'source', 'visit', 'via_person_id', via_person_id,
        'risk', ROUND(CAST(risk AS numeric), 2),
        'last_exposure', to_char(e AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'checkpoint_id', checkpoint_id, 'checkpoint', checkpoint,
        'case_visit_id', case_visit_id, 'contact_visit_id', contact_visit_id,
        'start', to_char(s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'end', to_char(e AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        'minutes', span_s / 60.0, 'certain_minutes', certain_s / 60.0, 'rule', rule) AS text)""",
    "sqlite": """json_object(
        'level', level, 'source', 'visit', 'via_person_id', via_person_id, 'risk', risk,
        'last_exposure', replace(e, ' ', 'T') || '+00:00', 'checkpoint_id', checkpoint_id,
        'checkpoint', checkpoint, 'case_visit_id', case_visit_id,
        'contact_visit_id', contact_visit_id, 'start', replace(s, ' ', 'T') || '+00:00',
        'end', replace(e, ' ', 'T') || '+00:00', 'minutes', span_s / 60.0,
        'certain_minutes', certain_s / 60.0, 'rule', rule)""",
}
_FIELDS: tuple[tuple[str, Any], ...] = (
    ("checkpoint_id", BIG),
    ("checkpoint", sa.String(length=200)),
    ("s", sa.DateTime(timezone=True)),
    ("span_s", sa.Float()),
    ("certain_s", sa.Float()),
    ("rule", sa.String(length=40)),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("trace_exposures", schema=None) as batch_op:
        for name, type_ in _FIELDS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    assignments = ", ".join(f"{name} = {sql}" for name, sql in _FROM_ENTRY[dialect].items())
    op.execute(f"UPDATE trace_exposures SET {assignments}")  # noqa: S608 - constants above
    with op.batch_alter_table("trace_exposures", schema=None) as batch_op:
        for name, type_ in _FIELDS:
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.drop_column("entry")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("trace_exposures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry", sa.Text(), nullable=True))
    op.execute(f"UPDATE trace_exposures SET entry = {_ENTRY[dialect]}")  # noqa: S608 - constants above
    with op.batch_alter_table("trace_exposures", schema=None) as batch_op:
        batch_op.alter_column("entry", existing_type=sa.Text(), nullable=False)
        for name, _type in reversed(_FIELDS):
            batch_op.drop_column(name)
