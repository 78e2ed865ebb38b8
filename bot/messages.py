"""The message catalogue: every Vietnamese sentence the bot says, in one place.

Wording is reviewed by the city's staff: change it here, never in the logic. Placeholders use
`str.format` names.
"""

from __future__ import annotations

from typing import Final

BOT_NAME: Final = "hailong"

# Shown before anything personal is stored; the exact text shown is kept as proof of consent.
CONSENT_REQUEST: Final = (
    "Xin chào! Đây là hệ thống trả lời tự động của chính quyền Thành phố Hồ Chí Minh, "
    "giúp Ông/Bà đánh giá mức độ hài lòng với dịch vụ hành chính công.\n\n"
    "Để thực hiện, hệ thống cần lưu mã định danh tài khoản chat và các câu trả lời của Ông/Bà. "
    "Dữ liệu chỉ dùng để đo lường và cải thiện chất lượng phục vụ; báo cáo thống kê không chứa "
    "thông tin cá nhân. Ông/Bà có thể yêu cầu xoá dữ liệu bất cứ lúc nào bằng lệnh /xoa.\n\n"
    "Ông/Bà có đồng ý không?"
)
CONSENT_YES: Final = "Đồng ý"
CONSENT_NO: Final = "Không đồng ý"
CONSENT_DECLINED: Final = (
    "Cảm ơn Ông/Bà. Hệ thống không lưu thông tin nào của Ông/Bà. "
    "Khi cần, Ông/Bà có thể nhắn lại bất cứ lúc nào."
)
CONSENT_REASK: Final = "Xin Ông/Bà chọn «Đồng ý» hoặc «Không đồng ý» (gõ 1 hoặc 2)."

SURVEY_INTRO: Final = "📋 {title}\n{intro}"
DOSSIER_INTRO: Final = "Hồ sơ {dossier}: {procedure} tại {unit}."
QUESTION: Final = "Câu {number}/{total}: {text}"
CHOICES_HINT: Final = "Bấm nút hoặc gõ số tương ứng."
MULTI_HINT: Final = (
    "Có thể chọn nhiều: gõ các số cách nhau bằng dấu phẩy (ví dụ 1,3) "
    "hoặc bấm từng nút rồi bấm «Xong»."
)
TEXT_HINT: Final = "Gõ câu trả lời của Ông/Bà."
OPTIONAL_HINT: Final = "Gõ «bỏ qua» nếu không muốn trả lời."
MULTI_SELECTED: Final = "Đã chọn: {labels}. Chọn thêm, hoặc bấm «Xong»."
MULTI_DONE: Final = "Xong"
MULTI_TOO_MANY: Final = "Chỉ chọn tối đa {max} mục."
MULTI_EMPTY: Final = "Ông/Bà chưa chọn mục nào."

NOT_UNDERSTOOD: Final = "Xin lỗi, tôi chưa hiểu câu trả lời «{text}»."
TOO_LONG: Final = "Nội dung quá dài (tối đa {max} ký tự). Xin Ông/Bà gửi ngắn gọn hơn."
EMPTY_TEXT: Final = "Ông/Bà chưa nhập nội dung."
REQUIRED: Final = "Câu này cần được trả lời để cơ quan biết lý do và khắc phục."
BACK_AT_START: Final = "Đây đã là câu đầu tiên."
ANSWER_KEPT: Final = "Câu trả lời trước: «{answer}». Gửi câu trả lời mới hoặc «bỏ qua»."

PAUSED: Final = (
    "Đã tạm dừng. Các câu trả lời của Ông/Bà đã được lưu. "
    "Nhắn bất kỳ lúc nào để tiếp tục từ câu đang dở."
)
RESUMED: Final = "Chào mừng Ông/Bà quay lại! Tiếp tục khảo sát từ câu đang dở."
THANKS_DONE: Final = (
    "Cảm ơn Ông/Bà đã hoàn thành khảo sát! Ý kiến của Ông/Bà giúp cải thiện chất lượng phục vụ."
)
OFFER_SIPAS: Final = (
    "Ông/Bà có thể dành thêm khoảng 3 phút trả lời khảo sát chi tiết về 5 yếu tố "
    "của dịch vụ (tiếp cận, thủ tục, công chức, kết quả, tiếp nhận phản ánh) không?"
)
YES: Final = "Có"
NO: Final = "Không"
GOODBYE: Final = "Cảm ơn Ông/Bà. Chúc Ông/Bà một ngày tốt lành!"
IDLE_MENU: Final = "Ông/Bà muốn làm gì?"
MENU_SURVEY: Final = "Khảo sát mức độ hài lòng"
MENU_HELP: Final = "Hướng dẫn"

DOSSIER_ALREADY_RATED: Final = (
    "Hồ sơ {dossier} đã được đánh giá. Mỗi hồ sơ chỉ được đánh giá một lần. "
    "Cảm ơn Ông/Bà đã quan tâm!"
)
DOSSIER_UNKNOWN: Final = (
    "Không tìm thấy hồ sơ «{dossier}». Xin Ông/Bà kiểm tra lại đường dẫn hoặc mã QR trên phiếu hẹn."
)
LINK_INVALID: Final = (
    "Đường dẫn đánh giá không hợp lệ hoặc đã hết hạn. Xin Ông/Bà dùng mã QR trên phiếu "
    "hẹn trả kết quả, hoặc liên hệ Bộ phận Một cửa."
)

FORGET_CONFIRM: Final = (
    "Ông/Bà muốn xoá thông tin cá nhân (tài khoản chat, tên, số điện thoại) khỏi hệ thống? "
    "Các câu trả lời khảo sát được giữ lại ở dạng ẩn danh để thống kê."
)
FORGET_DONE: Final = "Đã xoá thông tin cá nhân của Ông/Bà. Cảm ơn Ông/Bà."
FORGET_CANCELLED: Final = "Đã huỷ yêu cầu xoá."

HELP: Final = (
    "Hướng dẫn:\n"
    "• Trả lời bằng cách bấm nút, gõ số (ví dụ 5) hoặc gõ nội dung (ví dụ «rat hai long»).\n"
    "• «quay lại»: về câu trước  • «bỏ qua»: bỏ qua câu này\n"
    "• «dừng»: tạm dừng, nhắn lại để tiếp tục  • /xoa: xoá thông tin cá nhân\n"
    "Đây là hệ thống tự động; câu trả lời được lưu ngay khi Ông/Bà gửi."
)

# Words a citizen types for each command. Typed with diacritics they must match exactly
# (so "đúng" is not "dừng"); typed without, they are compared with these words folded.
COMMAND_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "help": ("/help", "help", "trợ giúp", "giúp", "hướng dẫn", "?"),
    "back": ("/back", "back", "quay lại", "lùi", "trở lại", "câu trước"),
    "skip": ("/skip", "skip", "bỏ qua", "không trả lời"),
    "stop": ("/stop", "stop", "dừng", "tạm dừng", "thoát"),
    "forget": ("/xoa", "/delete", "xoá dữ liệu", "xóa dữ liệu", "xoá thông tin", "xóa thông tin"),
    "yes": ("có", "đồng ý", "ok", "yes", "vâng", "dạ", "ừ", "được"),
    "no": ("không", "không đồng ý", "no", "ko", "k", "thôi"),
    "done": ("xong", "done", "hết"),
    "survey": ("khảo sát", "/khaosat", "đánh giá"),
}

# --- web chat page (bot/channels/web.py, bot/channels/static/web/) ---
WEB_PAGE_TITLE: Final = "Đánh giá mức độ hài lòng – TP. Hồ Chí Minh"
WEB_HEADING: Final = "Đánh giá mức độ hài lòng"
WEB_SUBHEADING: Final = "Dịch vụ hành chính công · Thành phố Hồ Chí Minh"
WEB_LOG_LABEL: Final = "Hội thoại với hệ thống khảo sát"
WEB_BOT_NAME: Final = "Hệ thống"
WEB_YOU: Final = "Ông/Bà"
WEB_INPUT_LABEL: Final = "Câu trả lời của Ông/Bà"
WEB_INPUT_PLACEHOLDER: Final = "Bấm nút hoặc gõ câu trả lời…"
WEB_SEND: Final = "Gửi"
WEB_SENDING: Final = "Đang gửi…"
WEB_ERROR: Final = "Chưa gửi được tin nhắn. Xin Ông/Bà kiểm tra kết nối mạng rồi thử lại."
WEB_RETRY: Final = "Thử lại"
WEB_NEEDS_JS: Final = "Trang khảo sát cần bật JavaScript trên trình duyệt."
WEB_FOOTER: Final = (
    "Hệ thống tự động của chính quyền Thành phố. Câu trả lời được lưu ngay khi Ông/Bà gửi."
)
