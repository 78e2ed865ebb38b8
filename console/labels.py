"""Every Vietnamese text of the console's pages (one catalogue; the complaint statuses,
history actions and refusals are the bot's own, from `bot.messages`, so both faces say the
same)."""

from __future__ import annotations

from typing import Final

TITLE: Final = "Hải Long — Bàn làm việc"
LOGIN_TITLE: Final = "Đăng nhập"
EMAIL: Final = "Email"
PASSWORD: Final = "Mật khẩu"
LOGIN_BUTTON: Final = "Đăng nhập"
LOGIN_FAILED: Final = "Sai email hoặc mật khẩu, hoặc tài khoản đã ngừng hoạt động."
LOGIN_THROTTLED: Final = "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."
LOGIN_FORM_EXPIRED: Final = "Biểu mẫu đã hết hạn, vui lòng đăng nhập lại."
LOGIN_UNCONFIGURED: Final = (
    "Bàn làm việc chưa được cấu hình (CONSOLE_SECRET hoặc LINK_SECRET). Liên hệ quản trị."
)
LOGOUT: Final = "Đăng xuất"
FORBIDDEN: Final = "Vai trò của bạn không được xem trang này."
NOT_FOUND: Final = "Không tìm thấy phản ánh."
CSRF_REFUSED: Final = "Biểu mẫu không hợp lệ hoặc đã hết hạn. Vui lòng tải lại trang."
BACK: Final = "← Hộp phản ánh"

INBOX: Final = "Hộp phản ánh"
NAV_DASHBOARD: Final = "Bảng số liệu"
INBOX_ALL_UNITS: Final = "Tất cả đơn vị"
FILTER_STATUS: Final = "Trạng thái"
FILTER_ANY: Final = "Tất cả"
FILTER_OPEN: Final = "Đang mở"
FILTER_CLOSED: Final = "Đã đóng"
FILTER_OVERDUE: Final = "Chỉ quá hạn"
FILTER_WARD: Final = "Phường/xã"
FILTER_FROM: Final = "Từ ngày"
FILTER_TO: Final = "Đến ngày"
FILTER_TEXT: Final = "Tìm trong nội dung"
FILTER_MINE: Final = "Giao cho tôi"
FILTER_BUTTON: Final = "Lọc"
COL_CODE: Final = "Mã"
COL_STATUS: Final = "Trạng thái"
COL_WARD: Final = "Phường/xã"
COL_RECEIVED: Final = "Ngày nhận"
COL_DUE: Final = "Hạn trả lời"
COL_TEXT: Final = "Nội dung"
COL_ASSIGNEE: Final = "Người xử lý"
EMPTY_INBOX: Final = "Không có phản ánh nào."
PAGE_OF: Final = "Trang {page}/{pages} · {total} phản ánh"
PAGE_OF_MANY: Final = "Trang {page} · hơn {total} phản ánh"
PREVIOUS: Final = "‹ Trước"
NEXT: Final = "Sau ›"

COUNTDOWN_LATE: Final = "Quá hạn {days} ngày"
COUNTDOWN_LATE_HOURS: Final = "Quá hạn {hours} giờ"
COUNTDOWN_LEFT: Final = "Còn {days} ngày"
COUNTDOWN_LEFT_HOURS: Final = "Còn {hours} giờ"

UNIT: Final = "Đơn vị"
RECEIVED: Final = "Ngày nhận"
DUE: Final = "Hạn trả lời"
TRACK_KHIEU_NAI: Final = "Khiếu nại/tố cáo: chuyển Thanh tra"
TEXT_MASKED: Final = "Nội dung (đã che thông tin cá nhân)"
PHOTOS: Final = "Ảnh"
PHOTO_TELEGRAM: Final = "ảnh qua Telegram"
PHOTO_LINK: Final = "ảnh (liên kết ngoài)"
NO_PHOTOS: Final = "Không có ảnh."
LOCATION: Final = "Vị trí"
OPEN_LOCATION: Final = "Mở trong ứng dụng bản đồ"
NO_LOCATION: Final = "Không có vị trí."
ROUTER: Final = "Phân loại tự động"
ROUTER_LINE: Final = "Dự đoán {unit} (độ tin cậy {confidence:.0%})"
ROUTER_CANDIDATES: Final = "Các khả năng"
ROUTER_MANUAL: Final = "Không phân loại tự động (theo quy tắc)."
HISTORY: Final = "Lịch sử xử lý"
ACTIONS: Final = "Xử lý"
NO_ACTIONS: Final = "Không còn thao tác nào ở bước này."
CONTACT: Final = "Liên hệ"
CONTACT_BUTTON: Final = "Xem liên hệ"
CONTACT_NOTE: Final = "Việc xem liên hệ được ghi vào nhật ký."
CONTACT_SHOWN: Final = "{name} — {phone}"
CONTACT_NONE: Final = "Công dân không để lại số điện thoại (hoặc đã yêu cầu xoá)."

ACTION_BUTTONS: Final = {
    "accept": "Tiếp nhận",
    "transfer": "Chuyển đơn vị",
    "request_info": "Yêu cầu bổ sung",
    "answer": "Trả lời & đóng",
    "reject": "Từ chối",
}
ACTION_TEXT: Final = {
    "transfer": "Lý do chuyển",
    "request_info": "Nội dung cần công dân bổ sung",
    "answer": "Nội dung trả lời công dân",
    "reject": "Lý do và hướng dẫn cho công dân",
}
TRANSFER_TO: Final = "Chuyển đến đơn vị"

# Assignment inside the unit (a lead gives a complaint to one of the unit's staff).
ASSIGNEE: Final = "Người xử lý"
UNASSIGNED: Final = "Chưa giao"
ASSIGN: Final = "Giao xử lý"
ASSIGN_TO: Final = "Giao cho"
ASSIGN_NOBODY: Final = "— Không giao cho ai —"
ASSIGN_BUTTON: Final = "Giao"
ASSIGNED: Final = "Đã giao cho {name}."
UNASSIGNED_DONE: Final = "Đã bỏ giao xử lý."
HISTORY_ACTIONS: Final = {"assign": "Giao xử lý", "unassign": "Bỏ giao xử lý"}
ASSIGN_REFUSED: Final = {
    "not_lead": "Chỉ lãnh đạo đơn vị (hoặc quản trị) được giao xử lý.",
    "bad_assignee": "Người được giao phải là cán bộ đang hoạt động của đơn vị đang giữ phản ánh.",
    "state": "Phản ánh đã đóng ({status}); không giao lại được.",
}
DONE: Final = "Đã thực hiện: {action}."
REFUSED: Final = "Không thực hiện được: {reason}"

# --- admin pages (console/admin.py) -------------------------------------------------------------
ADMIN: Final = "Quản trị"
ADMIN_QUESTIONNAIRES: Final = "Bộ câu hỏi"
ADMIN_STAFF: Final = "Cán bộ"
ADMIN_UNITS: Final = "Đơn vị và phường/xã"
ADMIN_MODEL: Final = "Mô hình phân loại"
Q_STORED: Final = "Các phiên bản đã lưu"
Q_FILES: Final = "Các tệp YAML (hỏi khi mã của tệp chưa có phiên bản nào lưu trong cơ sở dữ liệu)"
Q_ASKED: Final = "Đang hỏi"
Q_ASKED_NOW: Final = "✓ đang hỏi người dân"
Q_CODE: Final = "Mã"
Q_VERSION: Final = "Phiên bản"
Q_TITLE: Final = "Tiêu đề"
Q_ANSWERS: Final = "Số câu trả lời"
Q_CREATED: Final = "Ngày lưu"
Q_FILE: Final = "Tệp"
Q_NONE: Final = "Chưa có phiên bản nào được lưu."
Q_UPLOAD: Final = "Tải lên bộ câu hỏi (YAML hoặc XLSForm .xlsx, tối đa 1 MB)"
Q_UPLOAD_BUTTON: Final = "Tải lên và xem trước"
Q_REFUSED: Final = "Tệp không dùng được:"
Q_PREVIEW: Final = "Xem trước: {title} (mã {code}, phiên bản {version})"
Q_PREVIEW_NOTE: Final = (
    "Mỗi câu hiển thị đúng như người dân thấy trong khung chat (nội dung và các nút)."
)
Q_ASKED_WHEN: Final = "Chỉ hỏi khi câu {question} được trả lời: {answers}"
Q_ELEMENT: Final = "Yếu tố: {element}"
Q_PUBLISH: Final = "Xuất bản"
Q_PUBLISHED: Final = "Đã xuất bản {code} phiên bản {version}."
Q_ALREADY: Final = "{code} phiên bản {version} đã được lưu trước đó, không thay đổi."
Q_REWORDED: Final = (
    "Không xuất bản: phiên bản {version} đã lưu có câu hỏi khác nội dung ({codes}). "
    "Đổi nội dung câu hỏi cần một phiên bản mới."
)
Q_TOO_LARGE: Final = "Tệp lớn hơn 1 MB."
Q_NO_FILE: Final = "Chưa chọn tệp."
S_NAME: Final = "Họ tên"
S_ROLE: Final = "Vai trò"
S_UNIT: Final = "Đơn vị"
S_TELEGRAM: Final = "Telegram"
S_EMAIL: Final = "Email đăng nhập"
S_ACTIVE: Final = "Hoạt động"
S_YES: Final = "Có"
S_NO: Final = "Không"
S_DEACTIVATE: Final = "Ngừng hoạt động"
S_REACTIVATE: Final = "Cho hoạt động lại"
S_DEACTIVATED: Final = "Đã ngừng tài khoản {name}."
S_REACTIVATED: Final = "Đã cho tài khoản {name} hoạt động lại."
S_NOT_SELF: Final = "Không thể tự ngừng tài khoản của chính mình."
S_SIGN_OUT: Final = "Đăng xuất mọi nơi"
S_SIGNED_OUT: Final = "Đã kết thúc mọi phiên đăng nhập của {name}."
U_KIND: Final = "Loại"
U_WARDS: Final = "Số phường/xã"
U_LINK_CODE: Final = "Tạo mã liên kết nhóm Telegram"
U_LINK_CODE_SHOWN: Final = (
    "Gõ «/lienket {code}» trong nhóm Telegram của {unit} trong vòng {hours:g} giờ "
    "(mã dùng một lần)."
)
M_NONE: Final = "Chưa có mô hình (thẻ mô hình) trong NLP_MODEL_DIR."
M_TRAINED_AT: Final = "Huấn luyện lúc"
M_SAMPLES: Final = "Số mẫu huấn luyện"
M_SOURCE: Final = "Nguồn dữ liệu"
M_LABELS: Final = "Số đơn vị phân loại"
M_HOLDOUT: Final = "Độ chính xác trên tập kiểm tra"
M_MACRO_F1: Final = "Macro-F1 trên tập kiểm tra"
M_LIVE: Final = "Độ chính xác thực tế (theo đơn vị cuối cùng cán bộ xác định)"
M_LIVE_LINE: Final = "{correct}/{scored} phản ánh đúng ({rate:.1%})"
M_LIVE_NONE: Final = "Chưa có phản ánh nào đã xử lý để đo."
M_UNPREDICTED: Final = "{n} phản ánh không có đơn vị dự đoán: không tính."
M_RETRAIN: Final = "Huấn luyện lại"
M_RETRAIN_NOTE: Final = (
    "Học từ các phản ánh đã xử lý (như «hailong nlp retrain --from-db»); "
    "chỉ thay mô hình khi mô hình mới không kém hơn."
)
M_RETRAIN_STARTED: Final = "Đã bắt đầu huấn luyện lại. Tải lại trang để xem kết quả."
M_RETRAIN_BUSY: Final = "Đang huấn luyện lại, vui lòng đợi lần này xong."
M_RETRAIN_RUNNING: Final = "Đang huấn luyện lại (bắt đầu {at})."
M_RETRAIN_REPLACED: Final = (
    "Lần huấn luyện lại gần nhất ({at}): đã thay mô hình, macro-F1 {old:.3f} → {new:.3f}."
)
M_RETRAIN_KEPT: Final = (
    "Lần huấn luyện lại gần nhất ({at}): giữ mô hình cũ (macro-F1 cũ {old:.3f}, mới {new:.3f})."
)
M_RETRAIN_NOTHING: Final = (
    "Lần huấn luyện lại gần nhất ({at}): chưa có phản ánh đã xử lý để học, giữ mô hình."
)
M_RETRAIN_FAILED: Final = "Lần huấn luyện lại gần nhất ({at}) thất bại: {error}"
S_INVITE: Final = "Mời cán bộ (tạo tài khoản và liên kết đặt mật khẩu dùng một lần)"
S_INVITE_BUTTON: Final = "Tạo liên kết mời"
S_INVITE_NAME: Final = "Cần họ tên."
S_INVITE_EMAIL: Final = "Email không hợp lệ."
S_INVITE_ROLE: Final = "Vai trò không hợp lệ."
S_INVITE_UNIT: Final = "Vai trò cán bộ và lãnh đạo đơn vị cần một mã đơn vị có trong danh mục."
S_INVITE_LINK: Final = (
    "Gửi liên kết này cho {email} (dùng một lần, hết hạn sau {hours} giờ). "
    "Liên kết chỉ hiện một lần:"
)
S_INVITE_TITLE: Final = "Đặt mật khẩu"
S_INVITE_FOR: Final = "Tài khoản {email}: đặt mật khẩu để đăng nhập Bàn làm việc."
S_INVITE_AGAIN: Final = "Nhập lại mật khẩu"
S_INVITE_SAVE: Final = "Lưu mật khẩu"
S_INVITE_SHORT: Final = "Mật khẩu cần ít nhất {n} ký tự."
S_INVITE_MISMATCH: Final = "Hai mật khẩu không khớp."
S_INVITE_INVALID: Final = "Liên kết mời không hợp lệ, đã dùng hoặc đã hết hạn."
ADMIN_NOT_FOUND: Final = "Không tìm thấy (đã bị xoá hoặc mã sai)."

# --- the analysts' dashboard (templates/dashboard.html; dashboard.js reads the chart labels
# from its data-* attributes) ---
D_TITLE: Final = "Bảng số liệu hài lòng"
D_HEADING: Final = "Mức độ hài lòng của người dân"
D_TARGET: Final = "Mục tiêu {pct}%"
D_COMPLAINT_TARGET: Final = "Mục tiêu 100%"
D_SMALL: Final = "mẫu nhỏ"
D_NO_DATA: Final = "chưa có dữ liệu"
D_ERROR: Final = "Không tải được số liệu"
D_LOADING: Final = "Đang tải số liệu…"
D_AS_OF: Final = "Số liệu tính lúc"
D_N: Final = "số người trả lời"
D_PERIOD: Final = "Kỳ báo cáo"
D_FROM: Final = "Từ ngày"
D_TO: Final = "Đến ngày"
D_APPLY: Final = "Xem"
D_DOWNLOADS: Final = "Tải về (đúng tệp của lệnh hailong report / hailong export)"
D_DL_REPORT_XLSX: Final = "Báo cáo hài lòng (Excel)"
D_DL_REPORT_CSV: Final = "Báo cáo hài lòng (CSV)"
D_DL_COMPLAINTS_XLSX: Final = "Báo cáo phản ánh (Excel)"
D_DL_COMPLAINTS_CSV: Final = "Báo cáo phản ánh (CSV)"
D_DL_EXPORT_XLSX: Final = "Dữ liệu câu trả lời, ẩn danh (Excel)"
D_DL_EXPORT_CSV: Final = "Dữ liệu câu trả lời, ẩn danh (CSV)"
D_UNITS: Final = "Chỉ số hài lòng chung theo đơn vị"
D_UNITS_NOTE: Final = (
    "Đường đỏ: mục tiêu {pct}%. Cột màu nhạt, dấu *: mẫu nhỏ (dưới {min_n} người trả lời), "
    "chưa đủ tin cậy để xếp hạng. Bấm vào một đơn vị để xem chi tiết."
)
D_OVERALL_PCT: Final = "Chỉ số hài lòng chung (%)"
D_UNITS_ARIA: Final = "Chỉ số hài lòng theo đơn vị"
D_DRILL: Final = "Chi tiết: đơn vị → thủ tục → tiêu chí"
D_UNIT: Final = "Đơn vị"
D_PICK_UNIT: Final = "— chọn đơn vị —"
D_TREND: Final = "Xu hướng 12 tháng gần nhất"
D_TREND_LABEL: Final = "Chỉ số hài lòng chung theo tháng (%)"
D_TREND_ARIA: Final = "Xu hướng 12 tháng của đơn vị"
D_ELEMENTS: Final = "Theo yếu tố"
D_ELEMENTS_LABEL: Final = "Chỉ số yếu tố (%)"
D_ELEMENTS_ARIA: Final = "Chỉ số hài lòng theo yếu tố của đơn vị"
D_PROCEDURES: Final = "Theo thủ tục"
D_PROCEDURE: Final = "Thủ tục"
D_PICK_PROCEDURE: Final = "— chọn thủ tục —"
D_PROCEDURES_ARIA: Final = "Chỉ số hài lòng theo thủ tục"
D_CRITERIA: Final = "Theo tiêu chí"
D_CRITERIA_LABEL: Final = "Tỷ lệ hài lòng của tiêu chí (%)"
D_CRITERIA_ARIA: Final = "Tỷ lệ hài lòng theo tiêu chí"
D_766: Final = "Quyết định 766: hài lòng về giải quyết hồ sơ, hồ sơ đúng hạn"
D_766_NOTE: Final = (
    "Tỷ lệ hài lòng theo Quyết định 766 so với mục tiêu {pct}%; hồ sơ giải quyết đúng hạn so "
    "với mục tiêu {on_time}%."
)
D_766_RATIO: Final = "Tỷ lệ hài lòng QĐ 766 (%)"
D_766_ON_TIME: Final = "Hồ sơ đúng hạn (%)"
D_766_ARIA: Final = "Tỷ lệ theo Quyết định 766"
D_COMPLAINTS: Final = "Phản ánh, kiến nghị"
D_C_ON_TIME: Final = "Trả lời đúng hạn (%)"
D_C_SATISFACTION: Final = "Hài lòng với cách xử lý (%)"
D_C_RATES_ARIA: Final = "Tỷ lệ xử lý phản ánh"
D_C_OPEN: Final = "Đang xử lý"
D_C_OVERDUE: Final = "Quá hạn"
D_C_COUNTS_ARIA: Final = "Phản ánh đang xử lý và quá hạn"
D_C_MEDIAN: Final = "Thời gian trả lời, trung vị (giờ)"
D_C_P90: Final = "Thời gian trả lời, 90% phản ánh (giờ)"
D_C_HOURS_ARIA: Final = "Thời gian trả lời phản ánh"
