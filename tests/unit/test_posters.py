"""QR posters: rasterise the PDFs and check that the QR codes decode and the text is right."""

from __future__ import annotations

import io
import math
import unicodedata
import zipfile

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from reportlab.pdfbase import pdfmetrics

from phongdich.checkpoints import posters
from phongdich.checkpoints.posters import (
    QUIET_ZONE,
    TEXT_W,
    PosterSpec,
    poster_layout,
    qr_matrix,
    render_poster,
    render_posters,
    render_zip,
)

DPI = 120
CM = 72 / 2.54  # points per centimetre

LONG_NAME = (
    "Trung tâm Hội nghị – Triển lãm Quốc tế tỉnh Bình Dương – "
    "Khu liên hợp Công nghiệp, Dịch vụ và Đô thị"
)
LONG_ADDRESS = (
    "Số 1 Đại lộ Bình Dương, Phường Hòa Phú, Thành phố Thủ Dầu Một, Tỉnh Bình Dương – "
    "gần Trung tâm Hành chính tập trung tỉnh, đối diện Công viên Thành phố mới, "
    "cạnh bến xe buýt số 12, Bệnh viện Đa khoa tỉnh, Trường Đại học Thủ Dầu Một "
    "và Nhà thiếu nhi tỉnh, Việt Nam"
)


def _spec(i: int = 0, **kw: str | None) -> PosterSpec:
    fields: dict[str, str | None] = {
        "venue_name": "Nhà văn hoá Tổ dân phố số 12",
        "checkpoint_code": "KD-7QX2M4PA",
        "entrance_name": "Cổng chính",
        "address": "12 Lê Lợi, Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
        "url": f"http://127.0.0.1:8000/c/AQAAAAE3xYz{i:04d}abcDEF-_gh",
        "valid_until": None,
    }
    fields.update(kw)
    return PosterSpec(**fields)  # type: ignore[arg-type]


def _pages(pdf: bytes) -> list[tuple[Image.Image, str]]:
    """(raster at DPI, extracted text) per page."""
    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for page in doc:
            image = page.render(scale=DPI / 72).to_pil()
            text = page.get_textpage().get_text_range()
            out.append((image, text))
        return out
    finally:
        doc.close()


def _decode_one(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, f"expected one barcode, found {len(found)}"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0]


def _side_px(barcode: zxingcpp.Barcode) -> float:
    p = barcode.position
    top = math.dist((p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y))
    left = math.dist((p.top_left.x, p.top_left.y), (p.bottom_left.x, p.bottom_left.y))
    return (top + left) / 2


def _flat(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def test_single_poster_decodes_and_is_big_enough() -> None:
    spec = _spec(valid_until="31/12/2021 18:00", venue_name=LONG_NAME, address=LONG_ADDRESS)
    pdf = render_poster(spec)
    assert pdf.startswith(b"%PDF-")

    [(image, text)] = _pages(pdf)
    # A4 portrait.
    width, height = image.size
    assert width == pytest.approx(210 / 25.4 * DPI, abs=1.5)
    assert height == pytest.approx(297 / 25.4 * DPI, abs=1.5)

    barcode = _decode_one(image)
    assert barcode.text == spec.url
    assert barcode.ec_level == "M"

    # Printed size: the decoder's corners give the symbol without quiet zone.
    n = len(qr_matrix(spec.url))
    symbol_cm = _side_px(barcode) / DPI * 2.54
    # The symbol itself (dark modules' extent, no quiet zone) is at least 15 x 15 cm.
    assert symbol_cm >= 15.0
    # ... and the layout says the same thing as the rendered image.
    layout = poster_layout(spec)
    assert layout.qr_modules == n
    assert layout.qr_size >= 15 * CM
    assert symbol_cm == pytest.approx(layout.qr_size / CM, rel=0.03)
    # Symbol plus quiet zone inside the page.
    assert layout.qr_x - QUIET_ZONE * layout.module >= 0
    assert layout.qr_x + layout.qr_size + QUIET_ZONE * layout.module <= 210 / 25.4 * 72

    flat = _flat(text)
    assert "ĐIỂM KIỂM DỊCH" in flat
    assert "Quét mã QR để khai báo vào / ra" in flat
    assert "Scan to check in and out" in flat
    assert _flat(LONG_NAME) in flat
    assert "Cổng chính" in flat
    assert "KD-7QX2M4PA" in flat
    assert "1. Mở camera điện thoại hoặc ứng dụng và quét mã QR này." in flat
    assert "2. Chọn «Vào» khi đến và «Ra» khi rời đi." in flat
    assert "Hãy nhờ nhân viên tại đây ghi nhận giúp." in flat
    assert "Mã có hiệu lực đến 31/12/2021 18:00" in flat
    # The address is too long for two lines: it starts as given and ends with an ellipsis.
    assert "Số 1 Đại lộ Bình Dương, Phường Hòa Phú" in flat
    assert "…" in flat
    assert "Nhà thiếu nhi tỉnh, Việt Nam" not in flat


def test_text_survives_decomposed_input_and_has_no_validity_line_without_date() -> None:
    nfd_name = unicodedata.normalize("NFD", "Trường THCS Nguyễn Du – Điểm Ấp Đồng Khởi")
    spec = _spec(venue_name=nfd_name)
    [(image, text)] = _pages(render_poster(spec))
    assert _decode_one(image).text == spec.url
    assert _flat(nfd_name) in _flat(text)
    assert "hiệu lực" not in text


def test_long_venue_name_wraps_within_three_lines_and_page_width() -> None:
    name = (LONG_NAME + " – " + LONG_NAME)[:200]
    layout = poster_layout(_spec(venue_name=name))
    assert 1 <= len(layout.venue_lines) <= 3
    for line in layout.venue_lines:
        width = pdfmetrics.stringWidth(line, "PD-Roboto-Bold", layout.venue_size)
        assert width <= TEXT_W
    # Nothing lost: the 200 characters fit (at a smaller size).
    assert _flat(" ".join(layout.venue_lines)) == _flat(name)
    assert layout.venue_size < poster_layout(_spec()).venue_size


def test_unbreakable_venue_name_is_truncated_not_overflowing() -> None:
    name = "Đ" * 400  # more than the 200 allowed, and no spaces to break at
    layout = poster_layout(_spec(venue_name=name))
    assert len(layout.venue_lines) <= 3
    assert layout.venue_lines[-1].endswith("…")
    for line in layout.venue_lines:
        assert pdfmetrics.stringWidth(line, "PD-Roboto-Bold", layout.venue_size) <= TEXT_W
    [(image, _)] = _pages(render_poster(_spec(venue_name=name)))
    assert _decode_one(image).text == _spec().url


def test_multi_page_document_one_url_per_page() -> None:
    specs = [_spec(i, entrance_name=f"Cổng số {i + 1}") for i in range(5)]
    buf = io.BytesIO()
    assert render_posters(specs, buf) == 5
    pages = _pages(buf.getvalue())
    assert len(pages) == 5
    for spec, (image, text) in zip(specs, pages, strict=True):
        assert _decode_one(image).text == spec.url
        assert spec.entrance_name in _flat(text)
        assert "ĐIỂM KIỂM DỊCH" in _flat(text)


def test_render_posters_needs_at_least_one_spec() -> None:
    with pytest.raises(ValueError, match="no posters"):
        render_posters([], io.BytesIO())


def test_qr_matrix_is_square_level_m_for_both_libraries() -> None:
    url = _spec().url
    for backend in ("zxing-cpp", "segno"):
        matrix = qr_matrix(url, backend=backend)
        n = len(matrix)
        assert n >= 21
        assert (n - 17) % 4 == 0  # QR versions are 21, 25, 29, ... modules wide
        assert all(len(row) == n for row in matrix)
        # Finder pattern top-left: a dark 7x7 ring.
        assert all(matrix[0][:7])
        assert all(matrix[6][:7])
        assert not matrix[1][1]
        assert matrix[3][3]


def test_poster_with_segno_fallback_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(posters, "qr_backend", lambda: "segno")
    spec = _spec(7, valid_until="01/01/2022 07:30")
    [(image, _)] = _pages(render_poster(spec))
    assert _decode_one(image).text == spec.url


def test_render_zip_in_worker_processes() -> None:
    groups = [
        ("KD-AAAA1111.pdf", [_spec(0, checkpoint_code="KD-AAAA1111")]),
        (
            "KD-BBBB2222.pdf",
            [
                _spec(10 + i, checkpoint_code="KD-BBBB2222", entrance_name=f"Lối {i}")
                for i in range(2)
            ],
        ),
        (
            "KD-CCCC3333.pdf",
            [
                _spec(20 + i, checkpoint_code="KD-CCCC3333", entrance_name=f"Cửa {i}")
                for i in range(3)
            ],
        ),
    ]
    done: list[int] = []
    buf = io.BytesIO()
    # chunk_pages=1: one group per task, so the three groups really go to the workers.
    total = render_zip(groups, buf, processes=2, progress=done.append, chunk_pages=1)
    assert total == 6
    assert sum(done) == 6

    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        assert zf.namelist() == [name for name, _ in groups]
        for name, specs in groups:
            pages = _pages(zf.read(name))
            assert len(pages) == len(specs)
            for spec, (image, text) in zip(specs, pages, strict=True):
                assert _decode_one(image).text == spec.url
                assert spec.checkpoint_code in text


def test_render_zip_in_process_rejects_duplicate_names() -> None:
    groups = [("same.pdf", [_spec(1)]), ("same.pdf", [_spec(2)])]
    with pytest.raises(ValueError, match="duplicate"):
        render_zip(groups, io.BytesIO(), processes=1)


def test_render_zip_rejects_empty_group() -> None:
    with pytest.raises(ValueError, match="no posters"):
        render_zip([("empty.pdf", [])], io.BytesIO(), processes=1)
