"""The venue-side scanner page: staff scan visitors' personal QR codes with the phone's camera
or a USB / Bluetooth barcode reader. The page itself only renders the form; the scans go to
``POST /api/v1/visits/scans`` from ``static/scanner.js`` (queued offline, sent in batches)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from phongdich.visits.service import VisitService
from phongdich.web.deps import OptionalPrincipal, SessionDep, SettingsDep, csrf_protect
from phongdich.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

SCAN_PATH = "/staff/scan/{checkpoint_id}"
BATCH_SIZE = 100  # scans per POST; the API takes up to 500
RESCAN_MS = 3000  # the same code is not scanned again within this time
FRAME_MS = 150  # camera frames are decoded this often
FLUSH_MS = 10_000  # the offline queue is retried this often
TIMEOUT_MS = 15_000  # a request that has not answered by then is abandoned (and resent later)


def _strings(lang: str) -> dict[str, str]:
    """Messages the script shows itself (the server's messages come with its answers)."""
    vi = lang != "en"
    pairs = {
        "pending": ("Đang chờ gửi: {n}", "Waiting to send: {n}"),
        "queued": (
            "Đã lưu lượt quét — sẽ gửi khi có mạng.",
            "Scan saved — it will be sent when online.",
        ),
        "sending": ("Đang gửi…", "Sending…"),
        "too_long": ("Mã QR cá nhân không hợp lệ.", "Invalid personal QR code."),
        "health_green": ("XANH", "GREEN"),
        "health_yellow": ("VÀNG", "YELLOW"),
        "health_red": ("ĐỎ", "RED"),
        "signed_out": (
            "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại; lượt quét vẫn được giữ.",
            "Your session has expired. Please sign in again; the scans are kept.",
        ),
        "server_error": (
            "Máy chủ đang bận; lượt quét được giữ lại và sẽ gửi lại sau.",
            "The server is busy; the scans are kept and will be sent again.",
        ),
        "camera_on": ("Bật camera", "Start camera"),
        "camera_off": ("Tắt camera", "Stop camera"),
        "camera_error": (
            "Không mở được camera. Hãy cho phép trình duyệt dùng camera (cần HTTPS).",
            "Cannot open the camera. Allow the browser to use it (HTTPS is required).",
        ),
        "no_entrance": ("Hãy chọn lối vào.", "Choose an entrance."),
    }
    return {key: (v if vi else e) for key, (v, e) in pairs.items()}


@router.get(SCAN_PATH, response_class=HTMLResponse)
def staff_scan_page(
    request: Request,
    checkpoint_id: int,
    principal: OptionalPrincipal,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    if principal is None:
        # Scanning is for phone accounts (owners and staff): their sign-in page, not officials'.
        return RedirectResponse("/owner/signin", status_code=303)
    service = VisitService(db, settings)
    cp = service.checkpoints.get(checkpoint_id)
    service.require_staff(principal, cp)
    entrances = [e for e in service.checkpoints.repo.entrances(cp.id) if e.is_active]
    config = {
        "checkpointId": cp.id,
        "csrf": getattr(request.state, "csrf", ""),
        "endpoint": "/api/v1/visits/scans",
        "jsqr": "/static/vendor/jsQR.js",
        "batch": BATCH_SIZE,
        "rescanMs": RESCAN_MS,
        "frameMs": FRAME_MS,
        "flushMs": FLUSH_MS,
        "timeoutMs": TIMEOUT_MS,
        "strings": _strings(request.state.lang),
    }
    return render(request, "staff_scan.html", {"cp": cp, "entrances": entrances, "config": config})
