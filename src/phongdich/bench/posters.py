"""Benchmark: QR posters, bare QR encoding versus complete A4 posters in a ZIP.

``run(count, processes)`` builds ``count`` synthetic posters (Vietnamese venue
names, random 24-character base64url tokens in the URLs), then measures

(a) bare QR encoding of the same URLs with the QR library the renderer uses,
    single process, and
(b) ``render_zip`` over checkpoints of 1-4 entrances into a temporary file with
    ``processes`` workers.
"""

from __future__ import annotations

import os
import random
import string
import sys
import tempfile
import time
import zipfile
from typing import Any

from tqdm import tqdm

from phongdich.checkpoints.posters import PosterSpec, qr_backend, render_zip

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"
_VENUES = (
    "Nhà văn hoá Tổ dân phố số {n}",
    "Trường Tiểu học Nguyễn Văn Trỗi – Điểm trường số {n}",
    "Chợ đầu mối Bình Điền – Khu {n}",
    "Bệnh viện Đa khoa khu vực Củ Chi – Khoa Khám bệnh {n}",
    "Siêu thị Co.opmart Phú Lâm – Quầy {n}",
    "Ủy ban nhân dân phường Bến Nghé – Bộ phận Một cửa {n}",
    "Trung tâm Hội nghị – Triển lãm Quốc tế tỉnh Bình Dương – Sảnh {n}",
    "Nhà thờ Giáo xứ Đức Bà – Cổng số {n}",
)
_STREETS = ("Lê Lợi", "Nguyễn Huệ", "Trần Hưng Đạo", "Hai Bà Trưng", "Điện Biên Phủ")
_WARDS = (
    "Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
    "Phường Hàng Bài, Quận Hoàn Kiếm, Hà Nội",
    "Phường Hòa Phú, TP. Thủ Dầu Một, Bình Dương",
    "Xã Tân Thông Hội, Huyện Củ Chi, TP. Hồ Chí Minh",
)
_ENTRANCES = ("Cổng chính", "Cổng phụ", "Lối vào khu B", "Phòng họp 2")


def synthetic_groups(count: int, seed: int = 2021) -> list[tuple[str, list[PosterSpec]]]:
    """``count`` posters as checkpoints of 1-4 entrances: (zip entry name, specs)."""
    rng = random.Random(seed)
    groups: list[tuple[str, list[PosterSpec]]] = []
    made = 0
    while made < count:
        n = min(rng.randint(1, 4), count - made)
        code = "KD-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))
        venue = rng.choice(_VENUES).format(n=len(groups) + 1)
        address = f"Số {rng.randint(1, 999)} {rng.choice(_STREETS)}, {rng.choice(_WARDS)}"
        valid = f"{rng.randint(1, 28):02d}/12/2021 18:00" if rng.random() < 0.2 else None
        specs = [
            PosterSpec(
                venue_name=venue,
                checkpoint_code=code,
                entrance_name=_ENTRANCES[i],
                address=address,
                url="https://phongdich.example.vn/c/" + "".join(rng.choices(_TOKEN_ALPHABET, k=24)),
                valid_until=valid,
            )
            for i in range(n)
        ]
        groups.append((f"{code}.pdf", specs))
        made += n
    return groups


def _bare_qr_rate(urls: list[str]) -> float:
    """QR symbols per second with the renderer's QR library alone (matrix included)."""
    start = time.perf_counter()
    if qr_backend() == "zxing-cpp":
        import zxingcpp

        fmt = zxingcpp.BarcodeFormat.QRCode
        for url in urls:
            barcode = zxingcpp.create_barcode(url, fmt, ec_level="M")
            image: Any = barcode.to_image(scale=1, add_quiet_zones=False)
            bytes(memoryview(image))
    else:
        import segno

        for url in urls:
            segno.make_qr(url, error="m", boost_error=False).matrix  # noqa: B018
    return len(urls) / (time.perf_counter() - start)


def run(count: int, processes: int | None) -> dict[str, Any]:
    """Measure bare QR encoding and complete posters; return the figures."""
    if count < 1:
        raise ValueError("count must be at least 1")
    procs = max(1, processes if processes is not None else os.cpu_count() or 1)
    groups = synthetic_groups(count)
    urls = [spec.url for _, specs in groups for spec in specs]

    qr_per_s = _bare_qr_rate(urls)

    with tempfile.TemporaryDirectory(prefix="phongdich-bench-") as tmp:
        path = os.path.join(tmp, "posters.zip")
        with (
            open(path, "wb") as out,
            tqdm(total=count, unit="poster", file=sys.stderr, desc="posters") as bar,
        ):

            def advance(pages: int) -> None:
                bar.update(pages)

            start = time.perf_counter()
            pages = render_zip(groups, out, processes=procs, progress=advance)
            seconds = time.perf_counter() - start
        with zipfile.ZipFile(path) as zf:
            pdf_bytes = sum(info.file_size for info in zf.infolist())

    posters_per_s = pages / seconds
    return {
        "bench": "posters",
        "count": pages,
        "processes": procs,
        "seconds": round(seconds, 3),
        "posters_per_s": round(posters_per_s, 1),
        "qr_per_s": round(qr_per_s, 1),
        "ratio": round(posters_per_s / qr_per_s, 4),
        "pdf_bytes_per_poster": round(pdf_bytes / pages),
        "qr_library": qr_backend(),
    }
