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
    "error.gateway_token": (
        "Mã xác thực của cổng gửi tin không đúng.",
        "The gateway's token is not valid.",
    ),
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
    "error.email": (
        "Địa chỉ email không hợp lệ (ví dụ: ten@example.vn).",
        "Invalid e-mail address (e.g. name@example.vn).",
    ),
    "error.language": (
        "Ngôn ngữ không hợp lệ (vi hoặc en).",
        "Invalid language (vi or en).",
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
    # People, identity documents and declarations
    "error.health_qr_expired": (
        "Mã QR sức khỏe đã hết hạn: mở lại ứng dụng để lấy mã mới.",
        "This health QR has expired: open the app again for a new one.",
    ),
    "error.relation": ("Quan hệ với chủ hộ không hợp lệ.", "Invalid household relation."),
    "error.not_household": (
        "Người này không thuộc hộ gia đình của bạn: bạn không thể khai báo thay.",
        "This person is not in your household: you cannot declare for them.",
    ),
    "error.declaration_kind": ("Loại tờ khai không hợp lệ.", "Invalid declaration type."),
    "error.declaration_corrects": (
        "Tờ khai cần sửa không tồn tại hoặc không cùng loại, cùng người.",
        "The declaration to correct does not exist or is of another type or person.",
    ),
    "error.symptom": ("Triệu chứng không hợp lệ: {code}.", "Unknown symptom: {code}."),
    "error.transport": ("Phương tiện di chuyển không hợp lệ.", "Invalid means of transport."),
    "error.travel_date": (
        "Ngày đi phải trong vòng 14 ngày trước đến 30 ngày tới.",
        "The travel date must be within the last 14 days or the next 30.",
    ),
    "error.search_short": (
        "Nhập ít nhất 2 ký tự để tìm kiếm.",
        "Type at least 2 characters to search.",
    ),
    "error.merge_same": (
        "Không thể gộp một người với chính họ.",
        "Cannot merge a person into themselves.",
    ),
    "error.merge_merged": (
        "Một trong hai hồ sơ đã được gộp trước đó.",
        "One of the two records was already merged.",
    ),
    "error.date_range": (
        "Khoảng thời gian không hợp lệ (tối đa 366 ngày).",
        "Invalid date range (at most 366 days).",
    ),
    "error.gender": ("Giới tính không hợp lệ.", "Invalid gender."),
    "error.id_kind": (
        "Chọn loại giấy tờ: CCCD, CMND hoặc hộ chiếu.",
        "Choose the document type: citizen ID, old ID or passport.",
    ),
    "error.id_cccd_length": (
        "Số CCCD phải có 12 chữ số (bạn nhập {length}).",
        "A citizen ID number has 12 digits (you typed {length}).",
    ),
    "error.id_cccd_format": ("Số CCCD chỉ gồm chữ số.", "A citizen ID number is digits only."),
    "error.id_cccd_province": (
        "Mã tỉnh {province} ở đầu số CCCD không tồn tại.",
        "Province code {province} at the start of the citizen ID does not exist.",
    ),
    "error.id_cccd_birth_year": (
        "Số CCCD không khớp với năm sinh {year}.",
        "The citizen ID number does not match the birth year {year}.",
    ),
    "error.id_cccd_gender": (
        "Số CCCD không khớp với giới tính.",
        "The citizen ID number does not match the gender.",
    ),
    "error.id_cmnd_length": (
        "Số CMND phải có 9 hoặc 12 chữ số (bạn nhập {length}).",
        "An old ID number has 9 or 12 digits (you typed {length}).",
    ),
    "error.id_cmnd_format": ("Số CMND chỉ gồm chữ số.", "An old ID number is digits only."),
    "error.id_passport_format": ("Số hộ chiếu không hợp lệ.", "Invalid passport number."),
    "error.insurance_format": (
        "Mã BHYT phải có 10 chữ số hoặc 15 ký tự (ví dụ DN4010123456789).",
        "The health-insurance number has 10 digits or 15 characters (e.g. DN4010123456789).",
    ),
    "error.birth_future": ("Ngày sinh không thể ở tương lai.", "The birth date is in the future."),
    "error.birth_too_old": (
        "Ngày sinh quá {max_age} năm trước.",
        "The birth date is more than {max_age} years ago.",
    ),
    "error.birth_mismatch": (
        "Năm sinh {year} không khớp ngày sinh (năm {date_year}).",
        "Birth year {year} does not match the birth date ({date_year}).",
    ),
    # Tracing
    "error.unknown_person": ("Không tìm thấy người này.", "No such person."),
    "error.batch_rows": (
        "{count} dòng không hợp lệ; chưa nhập ca bệnh nào. "
        "Sửa các dòng này rồi gửi lại cả danh sách.",
        "{count} rows are invalid; no case was entered. Fix them and send the whole list again.",
    ),
    "error.line_list_encoding": (
        "Tệp phải là CSV mã hoá UTF-8 (trong Excel: Lưu thành “CSV UTF-8”).",
        "The file must be CSV in UTF-8 (in Excel: save as “CSV UTF-8”).",
    ),
    "error.line_list_columns": (
        "Dòng tiêu đề cần cột ngày xét nghiệm và cột mã người hoặc CCCD. Các cột: {columns}.",
        "The header needs a test date column and a registry number or ID number column. "
        "Columns: {columns}.",
    ),
    "error.line_list_time": (
        "Cột “{column}”: không đọc được thời gian “{value}” (dd/mm/yyyy HH:MM).",
        "Column “{column}”: “{value}” is not a time (dd/mm/yyyy HH:MM).",
    ),
    "error.line_list_missing": (
        "Cột “{column}” đang trống.",
        "Column “{column}” is empty.",
    ),
    "error.line_list_number": (
        "Cột “{column}”: “{value}” không phải là mã hợp lệ.",
        "Column “{column}”: “{value}” is not a valid number.",
    ),
    "error.batch_empty": ("Danh sách không có ca bệnh nào.", "The list holds no case."),
    "error.batch_too_large": (
        "Mỗi lần nhập tối đa {limit} ca bệnh; hãy chia danh sách.",
        "At most {limit} cases at once; split the list.",
    ),
    "error.batch_duplicate": (
        "Người này đã có trong danh sách (dòng {row}).",
        "This person is already in the list (row {row}).",
    ),
    "error.batch_no_person": (
        "Cần mã người dân hoặc số CCCD/CMND/hộ chiếu.",
        "A registry number or an ID document number is needed.",
    ),
    "error.unknown_id_number": (
        "Không có ai đăng ký với số giấy tờ {number}.",
        "Nobody is registered with ID number {number}.",
    ),
    "error.ambiguous_id_number": (
        "Nhiều người đăng ký cùng số giấy tờ {number}; hãy dùng mã người dân.",
        "Several people are registered with ID number {number}; use the registry number.",
    ),
    "error.case_source": ("Nguồn lây không hợp lệ.", "Invalid case source."),
    "error.case_unit": (
        "Cần mã đơn vị hành chính của ca bệnh (người này chưa có địa chỉ).",
        "The case needs an administrative unit (this person has no address).",
    ),
    "error.case_naive": (
        "Thời gian phải có múi giờ.",
        "Times must carry a time zone.",
    ),
    "error.case_test_future": (
        "Ngày xét nghiệm không thể ở tương lai.",
        "The test date cannot be in the future.",
    ),
    "error.case_onset_after_test": (
        "Ngày khởi phát quá xa sau ngày xét nghiệm.",
        "The symptom onset is too long after the test.",
    ),
    "error.case_onset_future": (
        "Ngày khởi phát không thể ở tương lai.",
        "The symptom onset cannot be in the future.",
    ),
    "error.case_onset_too_early": (
        "Ngày khởi phát quá xa trước ngày xét nghiệm.",
        "The symptom onset is too long before the test.",
    ),
    "error.case_isolated_before_start": (
        "Ngày cách ly trước khi bắt đầu thời kỳ lây nhiễm.",
        "Isolation before the start of the infectious period.",
    ),
    "error.case_isolated_future": (
        "Ngày cách ly không thể ở tương lai.",
        "The isolation date cannot be in the future.",
    ),
    "error.contact_source": ("Nguồn tiếp xúc không hợp lệ.", "Invalid contact source."),
    "error.exposure_future": (
        "Thời điểm tiếp xúc không thể ở tương lai.",
        "The exposure cannot be in the future.",
    ),
    "error.follow_up_status": (
        "Trạng thái theo dõi không hợp lệ.",
        "Invalid follow-up status.",
    ),
    # Bluezone key server
    "error.bz_report_type": (
        "Loại kết quả phải là 1 (xét nghiệm khẳng định) hoặc 2 (chẩn đoán lâm sàng).",
        "The report type must be 1 (confirmed test) or 2 (clinical diagnosis).",
    ),
    "error.bz_code_unknown": (
        "Mã xác nhận không đúng.",
        "Wrong verification code.",
    ),
    "error.bz_code_used": (
        "Mã xác nhận này đã được dùng.",
        "This verification code has already been used.",
    ),
    "error.bz_code_expired": (
        "Mã xác nhận đã hết hạn (chỉ có hiệu lực 1 giờ); hãy xin cán bộ y tế mã mới.",
        "The verification code has expired (valid 1 hour); ask the health official for a new one.",
    ),
    "error.bz_token_unknown": (
        "Mã phiên xác nhận không đúng.",
        "Unknown verification token.",
    ),
    "error.bz_token_used": (
        "Mã phiên xác nhận này đã được dùng để lấy chứng nhận.",
        "This verification token has already been exchanged for a certificate.",
    ),
    "error.bz_token_expired": (
        "Mã phiên xác nhận đã hết hạn (24 giờ).",
        "The verification token has expired (24 hours).",
    ),
    "error.bz_ekeyhmac": (
        "ekeyhmac phải là HMAC-SHA256 (32 byte, base64).",
        "ekeyhmac must be an HMAC-SHA256 (32 bytes, base64).",
    ),
    "error.bz_hmac_key": (
        "hmacKey phải là base64 của 16 đến 128 byte.",
        "hmacKey must be base64 of 16 to 128 bytes.",
    ),
    "error.bz_certificate": (
        "Chứng nhận (verificationPayload) không hợp lệ.",
        "The certificate (verificationPayload) is not valid.",
    ),
    "error.bz_certificate_expired": (
        "Chứng nhận đã hết hạn (15 phút); hãy xin chứng nhận mới.",
        "The certificate has expired (15 minutes); request a new one.",
    ),
    "error.bz_certificate_used": (
        "Chứng nhận này đã được dùng để gửi khóa.",
        "This certificate has already been used to publish keys.",
    ),
    "error.bz_hmac_mismatch": (
        "Các khóa gửi lên không khớp với chứng nhận (HMAC khác).",
        "The keys do not match the certificate (different HMAC).",
    ),
    "error.bz_key_format": (
        "Khóa phải là base64 của đúng 16 byte.",
        "A key must be base64 of exactly 16 bytes.",
    ),
    "error.bz_no_keys": ("Không có khóa nào để gửi.", "No keys to publish."),
    "error.bz_too_many_keys": (
        "Mỗi lần gửi tối đa 20 khóa.",
        "At most 20 keys per request.",
    ),
    "error.bz_key_length": (
        "Khóa phải dài đúng 16 byte.",
        "A key must be exactly 16 bytes long.",
    ),
    "error.bz_duplicate_key": (
        "Một khóa bị gửi hai lần.",
        "The same key was sent twice.",
    ),
    "error.bz_rolling_period": (
        "rollingPeriod phải từ 1 đến 144.",
        "rollingPeriod must be between 1 and 144.",
    ),
    "error.bz_transmission_risk": (
        "transmissionRisk phải từ 0 đến 8.",
        "transmissionRisk must be between 0 and 8.",
    ),
    "error.bz_rolling_start": (
        "rollingStartNumber nằm ngoài phạm vi.",
        "rollingStartNumber is out of range.",
    ),
    "error.bz_future": (
        "Có khóa bắt đầu trong tương lai.",
        "A key starts in the future.",
    ),
    "error.bz_too_old": (
        "Có khóa cũ hơn 15 ngày.",
        "A key is older than 15 days.",
    ),
    "error.bz_same_start": (
        "Tối đa 3 khóa có cùng thời điểm bắt đầu.",
        "At most 3 keys may share the same start interval.",
    ),
    "error.bz_key_exists": (
        "Khóa này đã được gửi trước đó.",
        "This key has already been published.",
    ),
    "error.bz_consent": (
        "Cần sự đồng ý rõ ràng của bạn (consent: true) để chia sẻ tiếp xúc.",
        "Your explicit consent (consent: true) is needed to share exposures.",
    ),
    "error.bz_key_unknown": (
        "Không tìm thấy khóa đã công bố khớp với tiếp xúc này.",
        "No published key matches this exposure.",
    ),
    "error.bz_exposure_date": (
        "Ngày tiếp xúc không khớp với khóa hoặc quá 15 ngày.",
        "The exposure date does not match the key or is more than 15 days ago.",
    ),
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
    "sms.exposure": (
        "PhongDich: ban co the da tiep xuc gan voi ca benh COVID-19 tai {place} ngay {date}. "
        "Han che tiep xuc, theo doi suc khoe va lien he tram y te hoac so {hotline}.",
        "PhongDich: you may have been close to a COVID-19 case at {place} on {date}. "
        "Limit contacts, watch your health and call your health station or {hotline}.",
    ),
    # An e-mail's first line is its subject (``notify.adapters.email_parts``).
    "email.exposure": (
        "Cảnh báo tiếp xúc COVID-19 tại {place} ngày {date}\n\n"
        "Kính gửi anh/chị,\n\n"
        "Hệ thống PhongDich ghi nhận anh/chị có thể đã tiếp xúc gần với một ca bệnh COVID-19 "
        "tại {place} ngày {date}.\n\n"
        "Đề nghị anh/chị hạn chế tiếp xúc với người khác, tự theo dõi sức khỏe, khai báo y tế "
        "và liên hệ trạm y tế xã/phường nơi cư trú hoặc đường dây nóng {hotline} để được hướng dẫn "
        "xét nghiệm và cách ly.\n\n"
        "Thư này được gửi tự động, vui lòng không trả lời.",
        "COVID-19 exposure warning: {place} on {date}\n\n"
        "Dear Sir or Madam,\n\n"
        "PhongDich records that you may have been close to a COVID-19 case at {place} on "
        "{date}.\n\n"
        "Please limit your contacts with others, watch your health, make a health declaration "
        "and call the health station of your commune or the {hotline} hotline for advice on "
        "testing and quarantine.\n\n"
        "This message was sent automatically; please do not reply.",
    ),
    "ott.exposure": (
        "PhongDich — Cảnh báo tiếp xúc: bạn có thể đã tiếp xúc gần với một ca bệnh COVID-19 "
        "tại {place} ngày {date}. Hãy hạn chế tiếp xúc, tự theo dõi sức khỏe, khai báo y tế và "
        "liên hệ trạm y tế nơi cư trú hoặc đường dây nóng {hotline} để được hướng dẫn.",
        "PhongDich — exposure warning: you may have been close to a COVID-19 case at {place} "
        "on {date}. Limit contacts, watch your health, declare it and call your health station "
        "or the {hotline} hotline for advice.",
    ),
    "exposure.household": ("nơi ở", "home"),
    "exposure.match": (
        "Bạn ở {place} từ {visit_start} đến {visit_end}; ca bệnh đã có mặt ở đó từ {start} "
        "đến {end} (trùng {minutes} phút).",
        "You were at {place} from {visit_start} to {visit_end}; a case was there from {start} "
        "to {end} ({minutes} minutes in common).",
    ),
    "error.no_case_selected": (
        "Chưa chọn ca bệnh nào: đánh dấu các ca cần cảnh báo trong danh sách.",
        "No case selected: tick the cases to warn in the list.",
    ),
    "error.warn_channel": (
        "Chọn ít nhất một kênh gửi hợp lệ (SMS, OTT, email).",
        "Choose at least one valid channel (SMS, OTT, e-mail).",
    ),
    "sms.status_changed": (
        "PhongDich: diem kiem dich {code} chuyen sang trang thai: {status}. {reason}",
        "PhongDich: checkpoint {code} is now {status}. {reason}",
    ),
    # Bluezone risk explanation (phongdich.proximity.risk)
    "risk.none": (
        "Không phát hiện tiếp xúc gần với người đã xác nhận dương tính.",
        "No close contact with a person who tested positive was found.",
    ),
    "risk.range": (
        "{minutes} phút ở mức suy hao {range} dB (hệ số {weight})",
        "{minutes} min at {range} dB attenuation (weight {weight})",
    ),
    "risk.day_high": (
        "Ngày {date}: bạn đã ở gần một người đã xác nhận dương tính trong {minutes} phút (tín hiệu "
        "suy hao dưới {threshold_db} dB, gần nhất {min_db} dB): {ranges}. Điểm rủi ro "
        "{score} đạt ngưỡng {threshold}, nên đây là nguy cơ CAO.",
        "On {date}: you were near a person who tested positive for {minutes} minutes "
        "(attenuation below {threshold_db} dB, closest {min_db} dB): {ranges}. Risk score "
        "{score} reaches the threshold of {threshold}, so this is a HIGH risk.",
    ),
    "risk.day_low": (
        "Ngày {date}: bạn đã ở gần một người đã xác nhận dương tính trong {minutes} phút (tín hiệu "
        "suy hao dưới {threshold_db} dB, gần nhất {min_db} dB): {ranges}. Điểm rủi ro "
        "{score} dưới ngưỡng {threshold}, nên đây là nguy cơ thấp.",
        "On {date}: you were near a person who tested positive for {minutes} minutes "
        "(attenuation below {threshold_db} dB, closest {min_db} dB): {ranges}. Risk score "
        "{score} is below the threshold of {threshold}, so this is a low risk.",
    ),
    "risk.dropped.too_short": (
        "Ngày {date}: chỉ {minutes} phút ở gần (suy hao dưới {threshold_db} dB), ít hơn "
        "{min_minutes} phút nên không tính.",
        "On {date}: only {minutes} minutes close by (attenuation below {threshold_db} dB), "
        "less than {min_minutes} minutes, so it does not count.",
    ),
    "risk.dropped.transmission_risk": (
        "Ngày {date}: người đó có mức lây truyền thấp vào ngày này nên tiếp xúc không tính.",
        "On {date}: that person's transmission risk was low that day, so it does not count.",
    ),
    "risk.dropped.not_infectious": (
        "Ngày {date}: người đó chưa hoặc không còn khả năng lây vào ngày này nên không tính.",
        "On {date}: that person was not infectious that day, so it does not count.",
    ),
    "risk.dropped.revoked": (
        "Ngày {date}: kết quả dương tính của người đó đã bị thu hồi nên không tính.",
        "On {date}: that person's positive report was revoked, so it does not count.",
    ),
    "risk.level.high": (
        "Nguy cơ CAO: hãy tự cách ly, theo dõi sức khỏe và liên hệ trạm y tế hoặc đường dây "
        "nóng {hotline} để được xét nghiệm.",
        "HIGH risk: stay at home, watch your health and call your health station or the "
        "{hotline} hotline to get tested.",
    ),
    "risk.level.low": (
        "Nguy cơ thấp: chưa cần cách ly; hãy tiếp tục theo dõi sức khỏe.",
        "Low risk: no need to isolate; keep watching your health.",
    ),
    "risk.level.none": (
        "Không có nguy cơ từ các tiếp xúc đã ghi nhận.",
        "No risk from the recorded encounters.",
    ),
    "risk.notify.high": (
        "Bluezone: cảnh báo nguy cơ phơi nhiễm CAO",
        "Bluezone: HIGH exposure risk warning",
    ),
    "risk.notify.low": (
        "Bluezone: có tiếp xúc, nguy cơ phơi nhiễm thấp",
        "Bluezone: an encounter with a low exposure risk",
    ),
    "risk.notify.none": (
        "Bluezone: không có nguy cơ phơi nhiễm",
        "Bluezone: no exposure risk",
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
