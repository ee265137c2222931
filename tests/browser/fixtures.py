"""Helpers for the scanner tests: a personal QR as a picture, and that picture as a Y4M video
Chromium's fake camera plays in a loop (``--use-file-for-fake-video-capture``)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from phongdich.checkpoints.posters import QUIET_ZONE, qr_matrix


def qr_image(content: str, width: int = 640, height: int = 480, fill: float = 0.9) -> Image.Image:
    """``content`` as a QR code (with its quiet zone) as large as fits, centred on white."""
    matrix = qr_matrix(content)
    n = len(matrix) + 2 * QUIET_ZONE
    symbol = Image.new("L", (n, n), 255)
    symbol.putdata(
        [
            0
            if QUIET_ZONE <= r < n - QUIET_ZONE
            and QUIET_ZONE <= c < n - QUIET_ZONE
            and matrix[r - QUIET_ZONE][c - QUIET_ZONE]
            else 255
            for r in range(n)
            for c in range(n)
        ]
    )
    scale = max(1, int(min(width, height) * fill) // n)
    symbol = symbol.resize((n * scale, n * scale), Image.Resampling.NEAREST)
    frame = Image.new("RGB", (width, height), "white")
    frame.paste(symbol, ((width - symbol.width) // 2, (height - symbol.height) // 2))
    return frame


def write_y4m(path: Path, image: Image.Image, frames: int = 10, fps: int = 10) -> Path:
    """A YUV4MPEG2 file (4:2:0, full-range JPEG YCbCr) showing ``image`` for ``frames`` frames."""
    width, height = image.size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs even dimensions")
    y, cb, cr = image.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (
        y.tobytes()
        + cb.resize(half, Image.Resampling.BOX).tobytes()
        + cr.resize(half, Image.Resampling.BOX).tobytes()
    )
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    with path.open("wb") as out:
        out.write(header)
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path
