"""PostgreSQL array literals built for driver-level statements (``db.raw.pg_array``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from phongdich.db.raw import pg_array


def test_ints_and_nulls() -> None:
    assert pg_array([1, 22, None, -3]) == "{1,22,NULL,-3}"
    assert pg_array([]) == "{}"


def test_strings_are_quoted_and_escaped() -> None:
    assert pg_array(["a", 'say "hi"', "back\\slash", "NULL", "x,y{z}"]) == (
        '{"a","say \\"hi\\"","back\\\\slash","NULL","x,y{z}"}'
    )


def test_datetimes_keep_their_offset() -> None:
    at = datetime(2026, 12, 4, 7, 30, 0, 15, tzinfo=UTC)
    hanoi = at.astimezone(timezone(timedelta(hours=7)))
    assert pg_array([at, hanoi]) == (
        '{"2026-12-04T07:30:00.000015+00:00","2026-12-04T14:30:00.000015+07:00"}'
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        pg_array([datetime(2026, 12, 4)])  # noqa: DTZ001
