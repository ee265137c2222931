"""Reading a CSV line list of cases (pure)."""

from __future__ import annotations

from datetime import datetime

from phongdich.kit.clock import VN
from phongdich.tracing import line_list
from phongdich.tracing.line_list import CaseEntry, RowError

SOURCES = {"Trong ổ dịch đã biết": "cluster", "Known cluster": "cluster"}


def parse(text: str, limit: int = 10) -> line_list.LineList:
    return line_list.parse(text.encode("utf-8"), limit, SOURCES)


def test_columns_are_found_by_any_of_their_names_and_others_ignored() -> None:
    text = (
        "\ufeffHọ  tên,NGÀY XÉT NGHIỆM,Mã_người,person_id,Ghi chú,nguon_lay\n"
        '"Trần, An",01/12/2026 08:30,12,99,"dòng 1\ndòng 2",known cluster\n'
    )
    parsed = parse(text)
    assert parsed.errors == []
    # The first column of a name wins; the quoted note spans two lines of the one row 2.
    assert parsed.rows == [
        (
            2,
            CaseEntry(
                test_at=datetime(2026, 12, 1, 8, 30, tzinfo=VN),
                person_id=12,
                notes="dòng 1\ndòng 2",
                source="cluster",
            ),
        )
    ]


def test_rows_are_numbered_by_their_line_and_blank_lines_skipped() -> None:
    text = (
        "cccd;ngay_xet_nghiem;ngay_khoi_phat\n\n001;2026-12-01T08:00+00:00;1/12/2026 7:05:30\n"
        "002;02/12/2026;x\n"
    )
    parsed = parse(text)
    assert [(row, e.id_number, e.test_at, e.onset_at) for row, e in parsed.rows] == [
        (
            3,
            "001",
            datetime.fromisoformat("2026-12-01T08:00+00:00"),
            datetime(2026, 12, 1, 7, 5, 30, tzinfo=VN),  # a spreadsheet's own way
        )
    ]
    assert parsed.errors == [
        RowError(4, "error.line_list_time", {"column": "ngay_khoi_phat", "value": "x"})
    ]


def test_bad_files_and_cells() -> None:
    assert parse("").errors == [RowError(0, "error.batch_empty")]
    assert parse("ma_nguoi,ngay_xet_nghiem\n\n").errors == [RowError(0, "error.batch_empty")]
    assert parse("ho_ten,ngay_xet_nghiem\nA,01/12/2026\n").errors[0].key == (
        "error.line_list_columns"
    )
    assert line_list.parse("ma_nguoi\nLê".encode("cp1258"), 10, SOURCES).errors == [
        RowError(0, "error.line_list_encoding")
    ]
    cells = parse("ma_nguoi,ngay_xet_nghiem\nabc,01/12/2026\n12,\n#7,01/12/2026\n")
    assert [(e.row, e.key) for e in cells.errors] == [
        (2, "error.line_list_number"),
        (3, "error.line_list_missing"),
    ]
    assert [e.person_id for _row, e in cells.rows] == [7]
    many = "ma_nguoi,ngay_xet_nghiem\n" + "1,01/12/2026\n" * 11
    assert parse(many).errors == [RowError(0, "error.batch_too_large", {"limit": 10})]
    assert len(parse(many, limit=11).rows) == 11


def test_the_template_is_the_header_the_parser_reads() -> None:
    header = line_list.template()
    assert header == (
        "ma_nguoi,cccd,ngay_xet_nghiem,ngay_khoi_phat,ngay_cach_ly,nguon_lay,ma_don_vi,ghi_chu\r\n"
    )
    parsed = parse(header + "5,,01/12/2026 07:00,,,,00004,\r\n")
    assert parsed.errors == []
    assert parsed.rows[0][1].unit_code == "00004"
