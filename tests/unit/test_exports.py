from __future__ import annotations

import io
import zipfile

from phongdich.web.exports import csv_stream, safe_cell, xlsx_stream

COLUMNS = (("name", "Họ và tên"), ("n", "Số"))


def test_cells_that_would_run_as_formulas_are_quoted() -> None:
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("+84912") == "'+84912"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("Nguyễn Văn An") == "Nguyễn Văn An"
    assert safe_cell(None) == ""


def test_csv_and_xlsx_carry_every_row_with_safe_cells() -> None:
    rows = [[{"name": "=1+1", "n": 3}], [{"name": "Trần Thị Mai", "n": 4}]]
    text = b"".join(csv_stream(COLUMNS, iter(rows))).decode("utf-8-sig")
    assert text.splitlines() == ["Họ và tên,Số", "'=1+1,3", "Trần Thị Mai,4"]
    data = b"".join(xlsx_stream(COLUMNS, "Tờ khai", iter(rows)))
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        xml = "".join(book.read(n).decode() for n in book.namelist() if n.endswith(".xml"))
    assert "'=1+1" in xml
    assert "Trần Thị Mai" in xml
    assert "<f>" not in xml  # no formula cell anywhere
