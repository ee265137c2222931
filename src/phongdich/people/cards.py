"""A printable personal QR card (A6) for people without a phone.

The QR holds only the signed health pass of kind "card" (``PD1:…``: a pseudonymous subject, no
name, no ID number); the name is printed as text for the holder, never encoded in the code.
"""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from phongdich.checkpoints.posters import draw_qr, fonts


def render_card(full_name: str, birth_year: int | None, qr_text: str) -> bytes:
    regular, bold = fonts()
    width, height = A6
    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=A6, pageCompression=1)
    c.setTitle("Thẻ QR cá nhân")
    c.setFont(bold, 14)
    c.drawCentredString(width / 2, height - 14 * mm, "THẺ QR CÁ NHÂN")
    c.setFont(regular, 8)
    c.drawCentredString(width / 2, height - 19 * mm, "Đưa thẻ cho nhân viên quét khi vào / ra")
    side = 70 * mm  # at least 5 x 5 cm, the size officials asked for personal codes
    draw_qr(c, qr_text, (width - side) / 2, height - 24 * mm - side, side)
    c.setFont(bold, 12)
    c.drawCentredString(width / 2, 22 * mm, full_name[:60])
    if birth_year:
        c.setFont(regular, 10)
        c.drawCentredString(width / 2, 16 * mm, f"Năm sinh: {birth_year}")
    c.setFont(regular, 7)
    c.drawCentredString(width / 2, 8 * mm, "Mã QR không chứa thông tin cá nhân. PhongDich")
    c.showPage()
    c.save()
    return buffer.getvalue()
