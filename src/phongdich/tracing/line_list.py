"""A line list of confirmed cases: the rows a laboratory or a district sends each day, read
from CSV. Pure: bytes in, entries or per-row errors out (no database, no framework).

Columns are found by their header, in Vietnamese without diacritics (as the template writes
them), with diacritics, or in English; other columns (names, phones) are ignored. The person is
given by registry number (``ma_nguoi``) or by ID document number (``cccd``). Times are
``dd/mm/yyyy HH:MM``, ``dd/mm/yyyy`` or ISO 8601, in Vietnam time unless they say otherwise."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phongdich.kit.clock import parse_local


@dataclass(frozen=True)
class CaseEntry:
    """One case of a line list: the person by registry number or by ID document number, and
    what ``TracingService.open_case`` takes."""

    test_at: datetime
    person_id: int | None = None
    id_number: str | None = None
    onset_at: datetime | None = None
    isolated_at: datetime | None = None
    source: str = "community"
    unit_code: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class RowError:
    """A row refused (``row`` as a spreadsheet numbers it; 0: the file as a whole), as a
    message key."""

    row: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LineList:
    rows: list[tuple[int, CaseEntry]]
    errors: list[RowError]


# Column -> the headers it is known by (the first is the template's).
COLUMNS: dict[str, tuple[str, ...]] = {
    "person_id": ("ma_nguoi", "mã người", "mã người dân", "person_id"),
    "id_number": ("cccd", "số giấy tờ", "so_giay_to", "cmnd", "cccd/cmnd", "id_number"),
    "test_at": ("ngay_xet_nghiem", "ngày xét nghiệm", "test_at"),
    "onset_at": ("ngay_khoi_phat", "ngày khởi phát", "onset_at"),
    "isolated_at": ("ngay_cach_ly", "ngày cách ly", "isolated_at"),
    "source": ("nguon_lay", "nguồn lây", "source"),
    "unit_code": ("ma_don_vi", "mã đơn vị", "unit_code"),
    "notes": ("ghi_chu", "ghi chú", "notes"),
}
TEMPLATE_HEADER = [names[0] for names in COLUMNS.values()]
TIME_COLUMNS = ("test_at", "onset_at", "isolated_at")


def _norm(header: str) -> str:
    return " ".join(unicodedata.normalize("NFC", header).strip().lower().replace("_", " ").split())


_HEADERS = {_norm(name): column for column, names in COLUMNS.items() for name in names}


def template() -> str:
    """The header line of an empty line list."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(TEMPLATE_HEADER)
    return out.getvalue()


def parse(data: bytes, limit: int, sources: Mapping[str, str]) -> LineList:
    """The entries of a CSV line list, numbered by their row in a spreadsheet, or what is wrong
    with it. ``sources`` maps a case source's label (any case) to its code; codes pass as
    they are (the service refuses unknown ones). More than ``limit`` rows are refused."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return LineList([], [RowError(0, "error.line_list_encoding")])
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return LineList([], [RowError(0, "error.batch_empty")])
    at: dict[str, int] = {}
    for i, name in enumerate(header):
        column = _HEADERS.get(_norm(name))
        if column is not None and column not in at:
            at[column] = i
    if "test_at" not in at or not ({"person_id", "id_number"} & at.keys()):
        return LineList(
            [], [RowError(1, "error.line_list_columns", {"columns": ", ".join(TEMPLATE_HEADER)})]
        )
    labels = {_norm(label): code for label, code in sources.items()}
    rows: list[tuple[int, CaseEntry]] = []
    errors: list[RowError] = []
    # Rows are numbered as a spreadsheet shows them (the header is row 1; blank rows count, a
    # quoted cell spanning lines does not add any).
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(rows) + len(errors) >= limit:
            return LineList([], [RowError(0, "error.batch_too_large", {"limit": limit})])
        cell = {c: (values[i].strip() if i < len(values) else "") for c, i in at.items()}
        try:
            rows.append((line, _entry(cell, header, at, labels)))
        except _Bad as bad:
            errors.append(RowError(line, bad.key, bad.params))
    if not rows and not errors:
        return LineList([], [RowError(0, "error.batch_empty")])
    return LineList(rows, errors)


class _Bad(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def _entry(
    cell: dict[str, str], header: list[str], at: dict[str, int], labels: dict[str, str]
) -> CaseEntry:
    times: dict[str, datetime | None] = {}
    for column in TIME_COLUMNS:
        value = cell.get(column, "")
        if not value:
            times[column] = None
            continue
        try:
            times[column] = parse_local(value)
        except ValueError:
            raise _Bad(
                "error.line_list_time", column=header[at[column]].strip(), value=value[:40]
            ) from None
    test_at = times["test_at"]
    if test_at is None:
        raise _Bad("error.line_list_missing", column=header[at["test_at"]].strip())
    person = cell.get("person_id", "").lstrip("#")
    if person and (not person.isdigit() or len(person) > 18):
        raise _Bad("error.line_list_number", column=header[at["person_id"]].strip(), value=person)
    id_number = cell.get("id_number", "")
    if len(id_number) > 20:
        raise _Bad("error.line_list_number", column=header[at["id_number"]].strip(), value="…")
    source = cell.get("source", "")
    return CaseEntry(
        test_at=test_at,
        person_id=int(person) if person else None,
        id_number=id_number or None,
        onset_at=times["onset_at"],
        isolated_at=times["isolated_at"],
        source=labels.get(_norm(source), source) if source else "community",
        unit_code=cell.get("unit_code") or None,
        notes=cell.get("notes", "")[:2000],
    )
