"""Time: stored in UTC, shown in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local(dt: datetime | None) -> datetime | None:
    return dt.astimezone(VN) if dt is not None else None


def fmt_local(dt: datetime | None, with_time: bool = True) -> str:
    """dd/mm/yyyy HH:MM in Vietnam time, the local convention."""
    if dt is None:
        return ""
    return dt.astimezone(VN).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def parse_local(value: str) -> datetime:
    """Parse an ISO 8601 or ``dd/mm/yyyy HH:MM`` string (seconds allowed, as spreadsheets
    write them); naive values are Vietnam time."""
    value = value.strip()
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=VN)
        except ValueError:
            continue
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=VN)
