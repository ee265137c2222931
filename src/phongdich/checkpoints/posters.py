"""Printable QR posters for venue checkpoints ("điểm kiểm dịch").

Pure rendering: no database, no web framework. One A4 portrait page per
entrance, drawn straight onto a reportlab canvas (no platypus) so that
thousands of posters can be produced per minute:

* the QR symbol is a single vector path of rectangles (one per horizontal run
  of dark modules), drawn in module units under one scaling matrix;
* the parts that are identical on every page (heading, instructions) are one
  Form XObject per document, placed on each page with ``doForm``;
* Vietnamese text uses the Roboto TTF from the ``font-roboto`` package,
  registered once per process on first use (never at import time).

The QR matrix comes from zxing-cpp when it is installed (about 15x faster than
segno, which then dominates the cost of a poster) and from segno otherwise.
Both produce a standard QR Code, error-correction level M, byte mode, no ECI.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import re
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "PAGE_COMPRESSION",
    "QR_MIN_BOX",
    "QUIET_ZONE",
    "PosterSpec",
    "poster_layout",
    "qr_backend",
    "qr_matrix",
    "render_poster",
    "render_posters",
    "render_zip",
]


@dataclass(frozen=True)
class PosterSpec:
    """What goes on one poster (one entrance of one checkpoint)."""

    venue_name: str  # Vietnamese with diacritics, up to 200 chars
    checkpoint_code: str  # e.g. "KD-7QX2M4PA"
    entrance_name: str  # e.g. "Cổng chính" or "Phòng họp 2"
    address: str  # one line, may be long
    url: str  # the QR content
    valid_until: str | None = None  # "dd/mm/yyyy HH:MM" for time-bounded events


# --------------------------------------------------------------------------- fonts

REGULAR = "PD-Roboto"
BOLD = "PD-Roboto-Bold"


@functools.cache
def _fonts() -> tuple[str, str]:
    """Register Roboto Regular/Bold with reportlab once per process."""
    import font_roboto
    from reportlab.pdfbase.ttfonts import TTFont

    registered = pdfmetrics.getRegisteredFontNames()
    for name, key in ((REGULAR, "Roboto"), (BOLD, "RobotoBold")):
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, font_roboto.font_files[key]))
    return REGULAR, BOLD


def _width(text: str, font: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, font, size))


# ------------------------------------------------------------------------------ QR

QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004)
_DARK_RUN = re.compile(rb"\x01+")


def _qr_rows_zxing(url: str) -> tuple[int, bytes]:
    import zxingcpp

    barcode = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image: Any = barcode.to_image(scale=1, add_quiet_zones=False)
    n = int(image.shape[0])
    raw = bytes(memoryview(image))  # 8-bit grey, 0x00 = dark, 0xff = light
    return n, raw.translate(_ZX_TO_BITS)


_ZX_TO_BITS = bytes([1] + [0] * 255)


def _qr_rows_segno(url: str) -> tuple[int, bytes]:
    import segno

    qr = segno.make_qr(url, error="m", boost_error=False)
    return len(qr.matrix), b"".join(bytes(row) for row in qr.matrix).translate(_NONZERO_TO_BITS)


_NONZERO_TO_BITS = bytes([0] + [1] * 255)


def _zxing_available() -> bool:
    try:
        import zxingcpp
    except ImportError:
        return False
    return hasattr(zxingcpp, "create_barcode")


@functools.cache
def qr_backend() -> str:
    """Name of the QR encoder in use: ``"zxing-cpp"`` if importable, else ``"segno"``."""
    return "zxing-cpp" if _zxing_available() else "segno"


def _qr_rows(url: str) -> tuple[int, bytes]:
    """Module matrix as (size, row-major bytes with 1 = dark), no quiet zone."""
    if qr_backend() == "zxing-cpp":
        return _qr_rows_zxing(url)
    return _qr_rows_segno(url)


def qr_matrix(url: str, *, backend: str | None = None) -> list[list[bool]]:
    """The QR symbol for ``url`` (level M) as rows of booleans, True = dark, no quiet zone."""
    backend = backend or qr_backend()
    if backend == "zxing-cpp":
        n, bits = _qr_rows_zxing(url)
    elif backend == "segno":
        n, bits = _qr_rows_segno(url)
    else:
        raise ValueError(f"unknown QR backend {backend!r}")
    return [[b == 1 for b in bits[r * n : (r + 1) * n]] for r in range(n)]


def _qr_path(n: int, bits: bytes, x: float, y: float, module: float) -> str:
    """PDF operators filling the symbol: one rect per horizontal dark run, one path.

    Drawn in module units under a scaling ``cm``; (x, y) is the bottom-left corner
    of the symbol (without quiet zone) in points.
    """
    parts = [f"q 0 g {module:.5f} 0 0 {module:.5f} {x:.3f} {y:.3f} cm"]
    append = parts.append
    finditer = _DARK_RUN.finditer
    for r in range(n):
        start = r * n
        row_y = n - 1 - r
        for m in finditer(bits, start, start + n):
            s, e = m.span()
            append(f"{s - start} {row_y} {e - s} 1 re")
    append("f Q")
    return "\n".join(parts)


# -------------------------------------------------------------------------- layout

PAGE_W, PAGE_H = A4
MARGIN_X = 14 * mm
TEXT_W = PAGE_W - 2 * MARGIN_X

HEADING = "ĐIỂM KIỂM DỊCH"
SUBHEADING = "Quét mã QR để khai báo vào / ra"
ENGLISH = "Scan to check in and out"
INSTRUCTIONS = (
    "1. Mở camera điện thoại hoặc ứng dụng và quét mã QR này.",
    "2. Chọn «Vào» khi đến và «Ra» khi rời đi.",
    "3. Không có điện thoại thông minh? Hãy nhờ nhân viên tại đây ghi nhận giúp.",
)
ELLIPSIS = "…"

# Static header (y = baselines, measured from the page top).
HEADING_SIZE = 28.0
HEADING_Y = 16 * mm
SUB_SIZE = 13.0
SUB_Y = 23 * mm
ENGLISH_SIZE = 9.0
ENGLISH_Y = 27.5 * mm
RULE_Y = 30 * mm
HEADER_BOTTOM = 32 * mm  # dynamic text starts below this

# Venue name: at most 3 lines inside a block of fixed maximum height.
VENUE_MAX_LINES = 3
VENUE_MAX_SIZE = 22.0
VENUE_MIN_SIZE = 11.0
VENUE_LEADING = 1.2
VENUE_BLOCK_H = 18 * mm
ENTRANCE_SIZE = 14.0
ENTRANCE_MIN_SIZE = 10.0
ADDRESS_SIZE = 9.5
ADDRESS_MAX_LINES = 1
ADDRESS_LEADING = 1.3

# Static footer (y = baselines, measured from the page bottom).
VALID_Y = 6 * mm
VALID_SIZE = 10.0
INSTR_SIZE = 10.0
INSTR_LEADING = 12.5
INSTR_LAST_Y = 11 * mm
CODE_SIZE = 24.0
CODE_MIN_SIZE = 16.0
CODE_Y = INSTR_LAST_Y + (len(INSTRUCTIONS) - 1) * INSTR_LEADING + 9 * mm
QR_BOTTOM = CODE_Y + CODE_SIZE * 0.75 + 1.5 * mm  # lowest edge of the quiet zone

# QR box = symbol plus its 4-module quiet zone. It takes whatever height the text
# leaves, up to QR_MAX_BOX; the layout guarantees at least QR_MIN_BOX, which keeps the
# symbol itself at least 15 cm wide: check-in URLs carry a 30-character token, so the
# symbol is version 3 (29 modules) or larger and 192 mm x 29 / 37 > 150 mm.
QR_MAX_BOX = 200 * mm
QR_MIN_BOX = 192 * mm

PAGE_COMPRESSION = 1


def _top_block_height(venue_lines: int, venue_size: float, address_lines: int) -> float:
    return (
        HEADER_BOTTOM
        + venue_lines * venue_size * VENUE_LEADING
        + ENTRANCE_SIZE * 1.45
        + address_lines * ADDRESS_SIZE * ADDRESS_LEADING
        + 1.5 * mm
    )


# Tallest possible top block: 3 venue lines filling their block, 2 address lines.
_WORST_TOP = (
    HEADER_BOTTOM + VENUE_BLOCK_H + ENTRANCE_SIZE * 1.45 + 2 * ADDRESS_SIZE * ADDRESS_LEADING
) + 1.5 * mm
if PAGE_H - _WORST_TOP - QR_BOTTOM < QR_MIN_BOX or PAGE_W - 6 * mm < QR_MAX_BOX:
    raise RuntimeError(
        "poster layout constants leave too little room for the QR code: "
        f"{(PAGE_H - _WORST_TOP - QR_BOTTOM) / mm:.1f} mm"
    )


# ------------------------------------------------------------------------ wrapping


def _clean(text: str) -> str:
    """NFC (Roboto has the precomposed Vietnamese letters) and collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _fit_prefix(text: str, font: str, size: float, width: float, suffix: str = "") -> str:
    """Longest prefix of ``text`` (plus ``suffix``) no wider than ``width`` (>= 1 char)."""
    lo, hi = 1, len(text)
    while lo < hi:  # binary search on the prefix length
        mid = (lo + hi + 1) // 2
        if _width(text[:mid] + suffix, font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _ellipsize(text: str, font: str, size: float, width: float) -> str:
    if _width(text, font, size) <= width:
        return text
    return _fit_prefix(text, font, size, width, ELLIPSIS).rstrip() + ELLIPSIS


def _wrap(
    words: list[str], unit: list[float], space: float, size: float, width: float
) -> list[str]:
    """Greedy wrap using per-word widths at size 1 (widths scale linearly, no kerning)."""
    lines: list[str] = []
    cur: list[str] = []
    cur_w = 0.0
    limit = width / size
    for word, w in zip(words, unit, strict=True):
        if cur and cur_w + space + w <= limit:
            cur.append(word)
            cur_w += space + w
            continue
        if cur:
            lines.append(" ".join(cur))
        cur, cur_w = [word], w
    if cur:
        lines.append(" ".join(cur))
    return lines


def _split_long_words(words: list[str], font: str, size: float, width: float) -> list[str]:
    out: list[str] = []
    for word in words:
        while _width(word, font, size) > width:
            head = _fit_prefix(word, font, size, width)
            out.append(head)
            word = word[len(head) :]
        if word:
            out.append(word)
    return out


def _wrap_block(
    text: str,
    font: str,
    sizes: Iterable[float],
    width: float,
    max_lines: int,
    max_height: float | None,
    leading: float,
) -> tuple[float, list[str]]:
    """Largest size at which ``text`` wraps into ``max_lines`` (and ``max_height``).

    Falls back to the smallest size, truncating the last line with an ellipsis.
    """
    words = text.split() or [""]
    unit = [_width(w, font, 1.0) for w in words]
    space = _width(" ", font, 1.0)
    size = 0.0
    for size in sizes:
        if max_height is not None and size * leading > max_height:
            continue
        if max(unit) * size > width:
            continue  # a single word wider than the line: try smaller
        lines = _wrap(words, unit, space, size, width)
        fits_h = max_height is None or len(lines) * size * leading <= max_height
        if len(lines) <= max_lines and fits_h:
            return size, lines
    # Smallest size: break words that are still too long, then truncate.
    pieces = _split_long_words(words, font, size, width)
    lines = _wrap(pieces, [_width(p, font, 1.0) for p in pieces], space, size, width)
    n_lines = max_lines
    if max_height is not None:
        n_lines = max(1, min(max_lines, int(max_height // (size * leading))))
    if len(lines) > n_lines:
        rest = " ".join(lines[n_lines - 1 :])
        lines = [*lines[: n_lines - 1], _ellipsize(rest, font, size, width)]
    return size, lines


def _sizes(hi: float, lo: float, step: float = 1.0) -> list[float]:
    out: list[float] = []
    s = hi
    while s >= lo - 1e-9:
        out.append(s)
        s -= step
    return out


_VENUE_SIZES = _sizes(VENUE_MAX_SIZE, VENUE_MIN_SIZE)


@functools.lru_cache(maxsize=512)
def _venue_lines(name: str) -> tuple[float, tuple[str, ...]]:
    _, bold = _fonts()
    size, lines = _wrap_block(
        name, bold, _VENUE_SIZES, TEXT_W, VENUE_MAX_LINES, VENUE_BLOCK_H, VENUE_LEADING
    )
    return size, tuple(lines)


@functools.lru_cache(maxsize=512)
def _address_lines(address: str) -> tuple[str, ...]:
    regular, _ = _fonts()
    _, lines = _wrap_block(
        address, regular, [ADDRESS_SIZE], TEXT_W, ADDRESS_MAX_LINES, None, ADDRESS_LEADING
    )
    return tuple(line for line in lines if line)


def _fit_line(text: str, font: str, hi: float, lo: float, width: float) -> tuple[float, str]:
    """One line: shrink from ``hi`` down to ``lo`` points, then truncate with an ellipsis."""
    w1 = _width(text, font, 1.0)
    if w1 * hi <= width:
        return hi, text
    size = max(lo, float(int(width / w1 * 2)) / 2) if w1 else hi
    if w1 * size <= width:
        return size, text
    return lo, _ellipsize(text, font, lo, width)


@dataclass(frozen=True)
class PosterLayout:
    """Where things land on one page (points, PDF coordinates, origin bottom-left)."""

    venue_size: float
    venue_lines: tuple[str, ...]
    address_lines: tuple[str, ...]
    qr_modules: int  # symbol size in modules, without quiet zone
    module: float  # module size in points
    qr_x: float  # bottom-left corner of the symbol (without quiet zone)
    qr_y: float

    @property
    def qr_size(self) -> float:
        """Printed side of the symbol without quiet zone, in points."""
        return self.qr_modules * self.module

    @property
    def qr_box(self) -> float:
        """Printed side of the symbol including its quiet zone, in points."""
        return (self.qr_modules + 2 * QUIET_ZONE) * self.module


def _layout(spec: PosterSpec, n: int) -> PosterLayout:
    venue_size, venue = _venue_lines(_clean(spec.venue_name))
    address = _address_lines(_clean(spec.address))
    top = _top_block_height(len(venue), venue_size, len(address))
    box = min(QR_MAX_BOX, PAGE_H - top - QR_BOTTOM)
    module = box / (n + 2 * QUIET_ZONE)
    size = module * n
    # Centre the box in the free band between the text blocks.
    box_bottom = QR_BOTTOM + (PAGE_H - top - QR_BOTTOM - box) / 2
    qr_y = box_bottom + QUIET_ZONE * module
    qr_x = (PAGE_W - size) / 2
    return PosterLayout(venue_size, venue, address, n, module, qr_x, qr_y)


def poster_layout(spec: PosterSpec) -> PosterLayout:
    """The computed layout of ``spec``'s page (for tests and previews)."""
    n, _ = _qr_rows(spec.url)
    return _layout(spec, n)


# ----------------------------------------------------------------------- rendering

_STATIC_FORM = "pdStatic"


def _draw_static(c: Canvas) -> None:
    """Heading, sub-headings, rule and the instructions: the same on every page."""
    regular, bold = _fonts()
    cx = PAGE_W / 2
    c.setFillGray(0)
    c.setFont(bold, HEADING_SIZE)
    c.drawCentredString(cx, PAGE_H - HEADING_Y, HEADING)
    c.setFont(regular, SUB_SIZE)
    c.drawCentredString(cx, PAGE_H - SUB_Y, SUBHEADING)
    c.setFillGray(0.35)
    c.setFont(regular, ENGLISH_SIZE)
    c.drawCentredString(cx, PAGE_H - ENGLISH_Y, ENGLISH)
    c.setStrokeGray(0.6)
    c.setLineWidth(0.8)
    c.line(PAGE_W / 2 - 40 * mm, PAGE_H - RULE_Y, PAGE_W / 2 + 40 * mm, PAGE_H - RULE_Y)
    c.setFillGray(0)
    c.setFont(regular, INSTR_SIZE)
    widest = max(_width(line, regular, INSTR_SIZE) for line in INSTRUCTIONS)
    x = max(MARGIN_X, (PAGE_W - widest) / 2)
    y = INSTR_LAST_Y + (len(INSTRUCTIONS) - 1) * INSTR_LEADING
    for line in INSTRUCTIONS:
        c.drawString(x, y, line)
        y -= INSTR_LEADING


def _draw_page(c: Canvas, spec: PosterSpec) -> None:
    regular, bold = _fonts()
    n, bits = _qr_rows(spec.url)
    lay = _layout(spec, n)
    cx = PAGE_W / 2
    c.doForm(_STATIC_FORM)
    c.setFillGray(0)

    # Venue name: up to three centred lines.
    y = PAGE_H - HEADER_BOTTOM
    c.setFont(bold, lay.venue_size)
    for line in lay.venue_lines:
        y -= lay.venue_size * VENUE_LEADING
        c.drawCentredString(cx, y + lay.venue_size * 0.25, line)

    # Entrance name.
    size, entrance = _fit_line(
        _clean(spec.entrance_name), regular, ENTRANCE_SIZE, ENTRANCE_MIN_SIZE, TEXT_W
    )
    y -= ENTRANCE_SIZE * 1.45
    c.setFont(regular, size)
    c.drawCentredString(cx, y + ENTRANCE_SIZE * 0.4, entrance)

    # Address.
    c.setFillGray(0.25)
    c.setFont(regular, ADDRESS_SIZE)
    for line in lay.address_lines:
        y -= ADDRESS_SIZE * ADDRESS_LEADING
        c.drawCentredString(cx, y + ADDRESS_SIZE * 0.3, line)

    # QR symbol as vector path.
    c.addLiteral(_qr_path(n, bits, lay.qr_x, lay.qr_y, lay.module))

    # Checkpoint code, large, under the symbol.
    c.setFillGray(0)
    size, code = _fit_line(_clean(spec.checkpoint_code), bold, CODE_SIZE, CODE_MIN_SIZE, TEXT_W)
    c.setFont(bold, size)
    c.drawCentredString(cx, CODE_Y, code)

    if spec.valid_until:
        text = f"Mã có hiệu lực đến {_clean(spec.valid_until)}"
        size, text = _fit_line(text, bold, VALID_SIZE, 8.0, TEXT_W)
        c.setFont(bold, size)
        c.drawCentredString(cx, VALID_Y, text)


def fonts() -> tuple[str, str]:
    """The registered (regular, bold) Unicode font names, for other printed documents."""
    return _fonts()


def draw_qr(c: Canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR symbol of ``text`` (no quiet zone) as vector paths, ``size`` points wide,
    with its bottom-left corner at (x, y)."""
    n, bits = _qr_rows(text)
    c.addLiteral(_qr_path(n, bits, x, y, size / n))


def render_posters(specs: Iterable[PosterSpec], out: BinaryIO) -> int:
    """Write one multi-page PDF (one A4 page per spec) to ``out``; return the page count.

    Raises ValueError if ``specs`` is empty (a PDF needs at least one page).
    """
    _fonts()
    c = Canvas(out, pagesize=A4, pageCompression=PAGE_COMPRESSION)
    c.setCreator("PhongDich")
    c.setTitle("Điểm kiểm dịch – mã QR")
    pages = 0
    for spec in specs:
        if pages == 0:
            c.beginForm(_STATIC_FORM)
            _draw_static(c)
            c.endForm()
        _draw_page(c, spec)
        c.showPage()
        pages += 1
    if pages == 0:
        raise ValueError("no posters to render")
    c.save()
    return pages


def render_poster(spec: PosterSpec) -> bytes:
    """A single-page PDF for ``spec``."""
    buf = io.BytesIO()
    render_posters([spec], buf)
    return buf.getvalue()


# ------------------------------------------------------------------------ ZIP jobs

Group = tuple[str, list[PosterSpec]]
_Rendered = list[tuple[str, bytes, int]]


def _render_chunk(chunk: list[Group]) -> _Rendered:
    """Worker task: render each group's PDF; return (name, pdf bytes, pages)."""
    done: _Rendered = []
    for name, specs in chunk:
        buf = io.BytesIO()
        pages = render_posters(specs, buf)
        done.append((name, buf.getvalue(), pages))
    return done


def _chunks(groups: Iterable[Group], chunk_pages: int) -> Iterator[list[Group]]:
    chunk: list[Group] = []
    pages = 0
    for name, specs in groups:
        if not specs:
            raise ValueError(f"no posters for {name!r}")
        chunk.append((name, list(specs)))
        pages += len(specs)
        if pages >= chunk_pages:
            yield chunk
            chunk, pages = [], 0
    if chunk:
        yield chunk


def _mp_context() -> multiprocessing.context.BaseContext:
    # Not "fork": the caller may be a threaded web server, and forking a threaded
    # process can deadlock the child. forkserver is cheap after the first start.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def render_zip(
    groups: Iterable[Group],
    out: BinaryIO,
    *,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_pages: int = 48,
) -> int:
    """Write a ZIP holding one PDF per group; return the total number of pages.

    ``groups`` yields (file name inside the zip, that checkpoint's entrance specs).
    PDFs are rendered in chunks of about ``chunk_pages`` pages per task across
    ``processes`` worker processes (default: CPU count; 1 renders in-process) and
    written in input order as they complete, with at most two chunks per worker in
    flight, so memory stays bounded however many groups there are.
    ``progress(n)`` is called with the number of pages just written.
    Entries are stored uncompressed (the PDFs are already compressed).
    A job that fits in one chunk is rendered in-process. Workers are started with
    "forkserver" (or "spawn"), so a script calling this needs the usual
    ``if __name__ == "__main__":`` guard. Raises ValueError for an empty group or a
    repeated file name (the ZIP written so far is then incomplete).
    """
    if processes is None:
        processes = os.cpu_count() or 1
    processes = max(1, processes)
    seen: set[str] = set()
    total = 0

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:

        def write(rendered: _Rendered) -> None:
            nonlocal total
            pages_here = 0
            for name, pdf, pages in rendered:
                if name in seen:
                    raise ValueError(f"duplicate file name in zip: {name!r}")
                seen.add(name)
                zf.writestr(name, pdf)
                pages_here += pages
            total += pages_here
            if progress is not None and pages_here:
                progress(pages_here)

        chunks = _chunks(groups, max(1, chunk_pages))
        first = next(chunks, None)
        second = next(chunks, None) if first is not None else None
        if first is None:
            return 0
        if processes == 1 or second is None:
            # In-process: also for jobs too small to be worth starting workers.
            for chunk in _chain(first, second, chunks):
                write(_render_chunk(chunk))
            return total

        max_in_flight = 2 * processes
        pending: deque[Future[_Rendered]] = deque()
        with ProcessPoolExecutor(max_workers=processes, mp_context=_mp_context()) as pool:
            try:
                for chunk in _chain(first, second, chunks):
                    pending.append(pool.submit(_render_chunk, chunk))
                    if len(pending) >= max_in_flight:
                        write(pending.popleft().result())
                while pending:
                    write(pending.popleft().result())
            except BaseException:
                for fut in pending:
                    fut.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return total


def _chain(
    first: list[Group], second: list[Group] | None, rest: Iterator[list[Group]]
) -> Iterator[list[Group]]:
    yield first
    if second is not None:
        yield second
        yield from rest
