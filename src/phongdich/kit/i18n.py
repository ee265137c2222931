"""Vietnamese first, English second. Every user-facing string has a key here."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("vi", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # Errors
    "error.bad_request": ("Yêu cầu không hợp lệ.", "Bad request."),
    "error.not_found": ("Không tìm thấy.", "Not found."),
    "error.invalid": ("Dữ liệu không hợp lệ.", "Invalid data."),
    "error.invalid_fields": ("Dữ liệu không hợp lệ: {fields}.", "Invalid data: {fields}."),
    "error.conflict": ("Dữ liệu bị trùng.", "Conflict."),
    "error.conflict_retry": (
        "Dữ liệu vừa được người khác thay đổi, vui lòng thử lại.",
        "Someone else changed this at the same time; please try again.",
    ),
    "error.unauthenticated": ("Bạn cần đăng nhập.", "Please sign in."),
    "error.forbidden": (
        "Bạn không có quyền thực hiện thao tác này.",
        "You are not allowed to do this.",
    ),
    "error.too_many_requests": (
        "Quá nhiều yêu cầu, vui lòng thử lại sau.",
        "Too many requests, please try again later.",
    ),
    "error.csrf": (
        "Phiên biểu mẫu đã hết hạn, vui lòng tải lại trang và thử lại.",
        "The form has expired; reload the page and try again.",
    ),
    "error.internal": (
        "Đã có lỗi hệ thống, vui lòng thử lại.",
        "Something went wrong, please try again.",
    ),
    "error.unknown_unit": (
        "Mã đơn vị hành chính «{code}» không tồn tại.",
        "Unknown administrative unit code “{code}”.",
    ),
    "error.username": ("Tên đăng nhập không hợp lệ.", "Invalid username."),
    "error.username_taken": (
        "Tên đăng nhập «{username}» đã được dùng.",
        "Username “{username}” is taken.",
    ),
    "error.password_short": (
        "Mật khẩu phải có ít nhất 8 ký tự.",
        "The password needs at least 8 characters.",
    ),
    "error.role": ("Vai trò «{role}» không hợp lệ.", "Invalid role “{role}”."),
    "error.unit_required": (
        "Cán bộ phải thuộc một đơn vị hành chính.",
        "An official needs an administrative unit.",
    ),
    "error.bad_credentials": (
        "Tên đăng nhập hoặc mật khẩu không đúng.",
        "Wrong username or password.",
    ),
    "error.login_locked": (
        "Đăng nhập sai quá nhiều lần, vui lòng thử lại sau 15 phút.",
        "Too many failed sign-ins; try again in 15 minutes.",
    ),
    "error.outside_jurisdiction": (
        "Đối tượng này nằm ngoài địa bàn bạn quản lý.",
        "This is outside your jurisdiction.",
    ),
    "error.phone": (
        "Số điện thoại di động không hợp lệ (10 chữ số, bắt đầu bằng 0).",
        "Invalid Vietnamese mobile number (10 digits starting with 0).",
    ),
    "error.otp_too_many_requests": (
        "Bạn đã yêu cầu mã quá nhiều lần, vui lòng thử lại sau.",
        "Too many code requests; please try again later.",
    ),
    "error.otp_locked": (
        "Nhập sai mã quá nhiều lần; số điện thoại bị tạm khoá 24 giờ.",
        "Too many wrong codes; this number is locked for 24 hours.",
    ),
    "error.otp_expired": (
        "Mã xác thực đã hết hạn hoặc chưa được gửi, vui lòng yêu cầu mã mới.",
        "The code has expired or was never sent; request a new one.",
    ),
    "error.otp_wrong": ("Mã xác thực không đúng.", "Wrong code."),
    "error.name_length": (
        "Tên phải có từ 1 đến 200 ký tự.",
        "The name must have 1 to 200 characters.",
    ),
    "error.address_length": (
        "Địa chỉ phải có từ 1 đến 300 ký tự.",
        "The address must have 1 to 300 characters.",
    ),
    "error.checkpoint_type": (
        "Loại điểm kiểm dịch «{type}» không hợp lệ.",
        "Unknown checkpoint type “{type}”.",
    ),
    "error.coordinates": (
        "Toạ độ không hợp lệ (vĩ độ −90..90, kinh độ −180..180).",
        "Invalid coordinates (latitude −90..90, longitude −180..180).",
    ),
    "error.capacity": (
        "Sức chứa phải là số nguyên dương.",
        "Capacity must be a positive whole number.",
    ),
    "error.event_end_required": (
        "Sự kiện, hội nghị phải có thời gian kết thúc.",
        "An event needs an end time.",
    ),
    "error.event_window": (
        "Thời gian kết thúc phải sau thời gian bắt đầu và ở tương lai.",
        "The end must be after the start and in the future.",
    ),
    "error.entrances": (
        "Cần từ 1 đến 100 lối vào/phòng, mỗi tên từ 1 đến 120 ký tự.",
        "Give 1 to 100 entrances/rooms, each named with 1 to 120 characters.",
    ),
    "error.duplicate_checkpoint": (
        "Điểm kiểm dịch này đã được đăng ký (mã {code}).",
        "This venue is already registered (code {code}).",
    ),
    "error.unknown_action": ("Thao tác không hợp lệ.", "Unknown action."),
    "error.bad_transition": (
        "Không thể thực hiện thao tác này ở trạng thái hiện tại.",
        "This action is not possible in the current status.",
    ),
    "error.reason_required": ("Vui lòng nhập lý do.", "Please give a reason."),
    "error.reason_length": (
        "Lý do tối đa 500 ký tự.",
        "The reason may have at most 500 characters.",
    ),
    "error.not_active_for_posters": (
        "Chỉ in được mã QR khi điểm kiểm dịch đang hoạt động.",
        "Posters can be printed only for an active checkpoint.",
    ),
    "error.no_active_entrances": (
        "Điểm kiểm dịch không còn lối vào nào đang dùng để in mã QR.",
        "The checkpoint has no entrance in use to print a poster for.",
    ),
    "error.already_member": (
        "Số điện thoại này đã có trong danh sách nhân viên.",
        "This number is already on the staff list.",
    ),
    "error.qr_invalid": (
        "Mã QR không hợp lệ hoặc đã bị sửa đổi. Vui lòng quét lại mã QR do "
        "điểm kiểm dịch niêm yết.",
        "This QR code is invalid or has been altered. Scan the code posted by the checkpoint.",
    ),
    # Scan states
    "scan.ok": ("Bạn đang ở {name} — {entrance}.", "You are at {name} — {entrance}."),
    "scan.pending": (
        "Điểm kiểm dịch «{name}» đang chờ chính quyền phê duyệt, chưa thể ghi nhận.",
        "Checkpoint “{name}” is awaiting approval and cannot record visits yet.",
    ),
    "scan.suspended": (
        "Điểm kiểm dịch «{name}» đang bị tạm dừng: {reason}",
        "Checkpoint “{name}” is suspended: {reason}",
    ),
    "scan.closed": ("Điểm kiểm dịch «{name}» đã đóng.", "Checkpoint “{name}” is closed."),
    "scan.expired": (
        "Mã QR của sự kiện «{name}» đã hết hạn lúc {end}.",
        "The QR code of event “{name}” expired at {end}.",
    ),
    "scan.not_started": (
        "Sự kiện «{name}» bắt đầu lúc {start}.",
        "Event “{name}” starts at {start}.",
    ),
    "scan.entrance_closed": (
        "Lối vào này không còn sử dụng; vui lòng quét mã ở lối vào khác.",
        "This entrance is no longer in use; scan the code at another one.",
    ),
    "error.too_large": (
        "Dữ liệu gửi lên quá lớn (tối đa {limit} KB).",
        "The request body is too large (at most {limit} KB).",
    ),
    # Visits
    "error.scan_id": ("Mã lượt quét không hợp lệ.", "Invalid scan id."),
    "error.scan_time_future": (
        "Thời điểm quét ở tương lai — vui lòng kiểm tra đồng hồ của thiết bị.",
        "The scan time is in the future — check the device clock.",
    ),
    "error.scan_time_too_old": (
        "Lượt quét quá cũ (quá thời hạn lưu trữ), không thể ghi nhận.",
        "The scan is older than the retention period and cannot be stored.",
    ),
    "error.scan_time_naive": (
        "Thời điểm quét phải có múi giờ.",
        "The scan time needs a time zone.",
    ),
    "error.unknown_entrance": ("Không tìm thấy lối vào này.", "Unknown entrance."),
    "error.not_staff": (
        "Bạn không phải nhân viên của điểm kiểm dịch này.",
        "You are not staff at this checkpoint.",
    ),
    "error.nothing_to_check_out": (
        "Bạn chưa khai báo vào «{name}», không có gì để khai báo ra.",
        "You have not checked in at “{name}”; nothing to check out.",
    ),
    "error.person_qr": ("Mã QR cá nhân không hợp lệ.", "Invalid personal QR code."),
    "error.birth_year": ("Năm sinh không hợp lệ.", "Invalid year of birth."),
    "error.direction": (
        "Hướng quét phải là vào, ra hoặc tự động.",
        "Direction must be in, out or auto.",
    ),
    "error.too_many_scans": ("Tối đa 500 lượt quét mỗi lần gửi.", "At most 500 scans per request."),
    "visit.check_in": ("Đã khai báo VÀO {name}.", "Checked IN at {name}."),
    "visit.check_out": ("Đã khai báo RA khỏi {name}.", "Checked OUT of {name}."),
    "visit.duplicate": ("Bạn đã khai báo vào {name} rồi.", "Already checked in at {name}."),
    "visit.offer_check_out": (
        "Bạn đang ở {name}. Bạn muốn khai báo ra?",
        "You are at {name}. Check out?",
    ),
    # Statuses
    "status.registered": ("Chờ duyệt", "Awaiting approval"),
    "status.active": ("Đang hoạt động", "Active"),
    "status.suspended": ("Tạm dừng", "Suspended"),
    "status.closed": ("Đã đóng", "Closed"),
    "status.expired": ("Hết hạn", "Expired"),
    # Notifications
    # SMS bodies are written without diacritics on purpose: unaccented text fits the GSM-7
    # alphabet (160 characters a message), Vietnamese with diacritics needs UCS-2 (70).
    "sms.otp": (
        "PhongDich: ma xac thuc cua ban la {code}, hieu luc {minutes} phut. "
        "Khong chia se ma nay cho bat ky ai.",
        "PhongDich: your code is {code}, valid for {minutes} minutes. Do not share it.",
    ),
    "sms.staff_added": (
        "PhongDich: ban da duoc them lam nhan vien quet ma tai diem kiem dich {name} ({code}).",
        "PhongDich: you were added as staff at checkpoint {name} ({code}).",
    ),
    "sms.status_changed": (
        "PhongDich: diem kiem dich {code} chuyen sang trang thai: {status}. {reason}",
        "PhongDich: checkpoint {code} is now {status}. {reason}",
    ),
}


def t(key: str, lang: str = "vi", **params: Any) -> str:
    """The message for ``key`` in ``lang``; unknown keys come back as the key itself."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def pick_language(query: str | None, cookie: str | None, accept: str | None, default: str) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    if accept:
        first = accept.split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
        if first.startswith("vi"):
            return "vi"
    return default
