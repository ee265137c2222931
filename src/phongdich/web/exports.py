"""Line-list exports streamed as CSV (UTF-8 with BOM, so Excel reads Vietnamese) or XLSX
(written row by row in constant memory to a temporary file, then streamed).

Cells are made safe for spreadsheets: names and notes are typed by citizens, and a cell that
starts with ``= + - @`` would run as a formula.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

Columns = Sequence[tuple[str, str]]  # (row key, column title)
Batches = Iterator[list[dict[str, object]]]


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_stream(columns: Columns, batches: Batches) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _key, title in columns])
    yield ("\ufeff" + out.getvalue()).encode()
    for rows in batches:
        out.seek(0)
        out.truncate()
        for row in rows:
            writer.writerow([safe_cell(row.get(key, "")) for key, _title in columns])
        yield out.getvalue().encode()


def xlsx_stream(columns: Columns, sheet_name: str, batches: Batches) -> Iterator[bytes]:
    import xlsxwriter

    with tempfile.TemporaryDirectory(prefix="phongdich-export-") as folder:
        path = Path(folder) / "export.xlsx"
        book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "tmpdir": folder, "strings_to_formulas": False}
        )
        sheet = book.add_worksheet(sheet_name)
        bold = book.add_format({"bold": True})
        for col, (_key, title) in enumerate(columns):
            sheet.write_string(0, col, title, bold)
        r = 1
        for rows in batches:
            for row in rows:
                for col, (key, _title) in enumerate(columns):
                    value = row.get(key, "")
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        sheet.write_number(r, col, value)
                    else:
                        sheet.write_string(r, col, safe_cell(value))
                r += 1
        book.close()
        with path.open("rb") as done:
            while chunk := done.read(64 * 1024):
                yield chunk
