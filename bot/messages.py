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
    "giúp Ông/Bà đánh giá mức độ hài lòng với dịch vụ hành chính công và gửi phản ánh, "
    "kiến nghị.\n\n"
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
# While a later question may still be skipped or added (skip logic), the total is not shown:
# once shown, it never changes.
QUESTION_OPEN: Final = "Câu {number}: {text}"
CHOICES_HINT: Final = "Bấm nút hoặc gõ số tương ứng."
MULTI_HINT: Final = (
    "Có thể chọn nhiều: gõ các số cách nhau bằng dấu phẩy (ví dụ 1,3) "
    "hoặc bấm từng nút rồi bấm «Xong»."
)
TEXT_HINT: Final = "Gõ câu trả lời của Ông/Bà."
OPTIONAL_HINT: Final = "Gõ «bỏ qua» nếu không muốn trả lời."
MULTI_DONE: Final = "Xong"
MULTI_TOO_MANY: Final = "Chỉ chọn tối đa {max} mục."
MULTI_EMPTY: Final = "Ông/Bà chưa chọn mục nào."

NOT_UNDERSTOOD: Final = "Xin lỗi, tôi chưa hiểu câu trả lời «{text}»."
STALE_BUTTON: Final = (
    "Nút này thuộc một câu hỏi trước nên không được ghi nhận. Xin Ông/Bà trả lời câu hỏi dưới đây."
)
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
MENU_COMPLAINT: Final = "Gửi phản ánh"

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
    "complaint": (
        "/phananh",
        "phản ánh",
        "gửi phản ánh",
        "kiến nghị",
        "gửi kiến nghị",
        "phản ánh kiến nghị",
    ),
    "track": ("/tracuu", "tra cứu", "tra cứu phản ánh"),
    "send": ("gửi", "gửi đi", "/gui", "send"),
    "cancel": ("huỷ", "hủy", "/huy", "cancel", "huỷ phản ánh", "hủy phản ánh"),
}

# The answer to a greeting (what is a greeting: nlp.intent).
SMALL_TALK_REPLY: Final = "Xin chào Ông/Bà! Hệ thống luôn sẵn sàng hỗ trợ."

# --- complaints (phản ánh, kiến nghị): the citizen's side ---
COMPLAINT_START: Final = (
    "📝 Gửi phản ánh, kiến nghị\n"
    "Xin Ông/Bà mô tả sự việc: nội dung, địa điểm, thời gian. Có thể gửi nhiều tin nhắn, "
    "kèm ảnh và vị trí. Khi xong, bấm «Gửi» (hoặc gõ «gửi»); gõ «huỷ» để huỷ."
)
COMPLAINT_PART_KEPT: Final = (
    "Đã ghi nhận ({chars} ký tự, {photos} ảnh{location}). Gửi thêm nội dung, "
    "hoặc bấm «Gửi» khi xong."
)
COMPLAINT_LOCATION_KEPT: Final = ", có vị trí"
COMPLAINT_SEND: Final = "Gửi"
COMPLAINT_CANCEL: Final = "Huỷ"
COMPLAINT_CANCELLED: Final = "Đã huỷ phản ánh đang soạn."
COMPLAINT_EMPTY: Final = "Ông/Bà chưa nhập nội dung phản ánh. Xin mô tả sự việc rồi bấm «Gửi»."
COMPLAINT_PHOTOS_ONLY: Final = (
    "Đã nhận ảnh. Xin Ông/Bà gõ thêm vài dòng mô tả sự việc (ở đâu, việc gì) rồi bấm «Gửi»."
)
COMPLAINT_UNCLEAR: Final = (
    "Nội dung chưa mô tả sự việc (chỉ có số điện thoại, biểu tượng hoặc ký hiệu). "
    "Xin Ông/Bà gõ vài dòng cho biết việc gì, ở đâu."
)
COMPLAINT_TOO_LONG: Final = (
    "Phản ánh đã dài tối đa {max} ký tự; phần vừa gửi chưa được thêm. Xin Ông/Bà rút gọn, "
    "hoặc bấm «Gửi» để gửi phần đã ghi nhận."
)
COMPLAINT_TOO_MANY_PHOTOS: Final = "Mỗi phản ánh kèm tối đa {max} ảnh; ảnh này chưa được thêm."
COMPLAINT_HELP: Final = (
    "Đang soạn phản ánh: gõ nội dung (có thể nhiều tin nhắn), gửi ảnh hoặc vị trí; "
    "bấm «Gửi» khi xong, «huỷ» để huỷ, «dừng» để tạm dừng (nội dung đã gõ được giữ lại)."
)
COMPLAINT_RESUMED: Final = "Tiếp tục soạn phản ánh. Nội dung đã ghi nhận vẫn được giữ."
COMPLAINT_OFFER: Final = "Ông/Bà có muốn gửi nội dung vừa nhắn thành phản ánh, kiến nghị không?"
COMPLAINT_OFFER_IN_SURVEY: Final = (
    "Nội dung vừa nhắn không phải một lựa chọn của câu khảo sát. Ông/Bà có muốn gửi nội dung "
    "này thành phản ánh, kiến nghị không? (Chọn «Không» để tiếp tục khảo sát.)"
)
COMPLAINT_OFFER_YES: Final = "Gửi thành phản ánh"
COMPLAINT_OFFER_NO: Final = "Không"
DOSSIER_REASON_OFFER: Final = (
    "Lý do chưa hài lòng đã được ghi nhận để đơn vị khắc phục. Ông/Bà có muốn gửi thành "
    "phản ánh để được trả lời, theo dõi bằng mã tra cứu không?"
)
WARD_ASK: Final = (
    "Sự việc xảy ra ở phường/xã nào? Gõ tên (ví dụ «Bến Thành», «phường 5 quận 3»), "
    "hoặc bấm «Bỏ qua» nếu không gắn với địa bàn cụ thể."
)
WARD_PICK: Final = "Ông/Bà chọn phường/xã:"
WARD_PICK_NEAR: Final = "Theo vị trí Ông/Bà gửi, sự việc ở phường/xã nào? (Hoặc gõ tên phường/xã.)"
WARD_NOT_FOUND: Final = "Chưa tìm thấy phường/xã «{text}». Xin gõ lại tên, hoặc bấm «Bỏ qua»."
WARD_FOUND: Final = "Địa bàn: {ward}."
WARD_SKIP: Final = "Bỏ qua"
CONTACT_CONSENT: Final = (
    "Theo Nghị định 20/2008/NĐ-CP, phản ánh cần họ tên và số điện thoại của người gửi. "
    "Họ tên và số điện thoại của Ông/Bà chỉ được chuyển cho cán bộ đơn vị xử lý phản ánh "
    "(để liên hệ khi cần), không công khai và không có trong báo cáo thống kê. "
    "Ông/Bà có thể xoá bằng lệnh /xoa.\n\nÔng/Bà đồng ý cung cấp không?"
)
CONTACT_WHY: Final = (
    "Phản ánh không có họ tên, số điện thoại sẽ không được xử lý và trả lời theo quy định "
    "(Nghị định 20/2008/NĐ-CP), nhưng nội dung vẫn được ghi nhận ẩn danh như một góp ý. "
    "Ông/Bà muốn làm gì?"
)
CONTACT_PROVIDE: Final = "Cung cấp họ tên, số điện thoại"
CONTACT_ANONYMOUS: Final = "Gửi ẩn danh (góp ý)"
ASK_NAME: Final = "Xin Ông/Bà cho biết họ và tên."
SHARE_CONTACT: Final = "📱 Chia sẻ số điện thoại"
ASK_PHONE: Final = "Xin Ông/Bà cho biết số điện thoại liên hệ (ví dụ 0901234567)."
BAD_NAME: Final = "Họ tên chưa hợp lệ. Xin gõ họ và tên (ví dụ Nguyễn Văn An)."
BAD_PHONE: Final = (
    "Số điện thoại «{text}» chưa hợp lệ. Xin gõ số di động 10 chữ số (ví dụ 0901234567) "
    "hoặc số cố định có mã vùng."
)
FEEDBACK_KEPT: Final = (
    "Cảm ơn Ông/Bà. Nội dung đã được ghi nhận ẩn danh như một góp ý (không có mã tra cứu, "
    "không được trả lời). Khi cần được trả lời, Ông/Bà gửi lại phản ánh kèm họ tên, số điện thoại."
)
COMPLAINT_RECEIVED: Final = (
    "✅ Đã tiếp nhận phản ánh {code}.\n"
    "Đơn vị xử lý: {unit}.\nHạn trả lời: {due}.\n"
    "Ông/Bà sẽ được báo khi có kết quả. Tra cứu bất cứ lúc nào: /tracuu {code}"
)
COMPLAINT_RECEIVED_TRIAGE: Final = (
    "✅ Đã tiếp nhận phản ánh {code}.\n"
    "Bộ phận tiếp nhận ({unit}) sẽ chuyển đến đơn vị có thẩm quyền trong thời gian sớm nhất.\n"
    "Hạn trả lời: {due}. Tra cứu: /tracuu {code}"
)
COMPLAINT_RECEIVED_KHIEU_NAI: Final = (
    "✅ Đã tiếp nhận đơn {code}, chuyển {unit}.\n"
    "Lưu ý: nội dung có tính chất khiếu nại/tố cáo được giải quyết theo Luật Khiếu nại, "
    "Luật Tố cáo (trình tự và thời hạn khác với phản ánh, kiến nghị); cơ quan thanh tra sẽ "
    "hướng dẫn Ông/Bà. Tra cứu: /tracuu {code}"
)
NOTICE_ACCEPTED: Final = "📌 Phản ánh {code} đã được {unit} tiếp nhận xử lý. Hạn trả lời: {due}."
NOTICE_TRANSFERRED: Final = (
    "🔀 Phản ánh {code} được chuyển đến {unit} (lý do: {reason}). Hạn trả lời: {due}."
)
NOTICE_ROUTED: Final = "🔀 Phản ánh {code} đã được chuyển đến {unit}. Hạn trả lời: {due}."
NOTICE_INFO_REQUESTED: Final = (
    "❓ {unit} cần Ông/Bà bổ sung thông tin cho phản ánh {code}:\n«{question}»\n"
    "Xin Ông/Bà gõ nội dung trả lời vào đây."
)
NOTICE_INFO_RECEIVED: Final = "Đã chuyển thông tin bổ sung cho phản ánh {code} đến {unit}."
NOTICE_ANSWERED: Final = (
    "📨 {unit} trả lời phản ánh {code}:\n«{text}»\n\n"
    "Ông/Bà có hài lòng với kết quả xử lý không? Nếu chưa được giải quyết, Ông/Bà có thể "
    "mở lại phản ánh trong {days} ngày."
)
RATE_SATISFIED: Final = "Hài lòng"
RATE_UNSATISFIED: Final = "Không hài lòng"
RATE_REOPEN: Final = "Mở lại phản ánh"
NOTICE_REJECTED: Final = (
    "ℹ️ Phản ánh {code} không thuộc phạm vi xử lý của {unit}.\nHướng dẫn: {guidance}"
)
NOTICE_RATED_THANKS: Final = "Cảm ơn Ông/Bà đã đánh giá kết quả xử lý phản ánh {code}."
RATE_REASON_ASK: Final = (
    "Xin Ông/Bà cho biết lý do chưa hài lòng (hoặc gõ «bỏ qua»). Nếu vấn đề chưa được giải "
    "quyết, Ông/Bà có thể mở lại phản ánh."
)
NOTICE_REOPENED: Final = "🔁 Phản ánh {code} đã được mở lại và chuyển {unit}. Hạn trả lời: {due}."
TRACK_HEAD: Final = "Phản ánh {code} — {status}\nĐơn vị: {unit}\nNgày gửi: {received}\nHạn: {due}"
TRACK_LINE: Final = "• {at}: {action}{note}"
TRACK_NOT_FOUND: Final = (
    "Không tìm thấy phản ánh «{code}» do Ông/Bà gửi từ tài khoản này. Xin kiểm tra lại mã."
)
TRACK_NONE: Final = "Ông/Bà chưa gửi phản ánh nào từ tài khoản này."
TRACK_MINE: Final = "Phản ánh của Ông/Bà (gõ /tracuu MÃ để xem chi tiết):"
TRACK_MINE_LINE: Final = "• {code}: {status} — {unit}"
CITIZEN_REFUSED: Final = {
    "too_late": "Phản ánh {code} đã quá {days} ngày kể từ khi trả lời nên không mở lại được. "
    "Xin Ông/Bà gửi phản ánh mới.",
    "state": "Phản ánh {code} hiện không ở bước này (trạng thái: {status}).",
    "not_owner": "Không tìm thấy phản ánh {code} do Ông/Bà gửi từ tài khoản này.",
    "empty": "Nội dung trống, chưa gửi được.",
}
STATUS_LABELS: Final = {
    "triage": "Đang phân loại",
    "routed": "Đã chuyển đơn vị xử lý",
    "accepted": "Đang xử lý",
    "info_requested": "Chờ Ông/Bà bổ sung thông tin",
    "reopened": "Đã mở lại, đang xử lý",
    "answered": "Đã trả lời",
    "rated": "Đã trả lời, đã đánh giá",
    "rejected": "Không thuộc phạm vi, đã hướng dẫn",
    "feedback": "Góp ý ẩn danh",
}
ACTION_LABELS: Final = {
    "submit": "Tiếp nhận",
    "accept": "Đơn vị tiếp nhận xử lý",
    "transfer": "Chuyển đơn vị",
    "request_info": "Đề nghị bổ sung thông tin",
    "provide_info": "Ông/Bà bổ sung thông tin",
    "answer": "Trả lời",
    "reject": "Không thuộc phạm vi",
    "rate": "Ông/Bà đánh giá",
    "reopen": "Mở lại",
    "remind": "Nhắc hạn",
    "escalate": "Quá hạn, báo lãnh đạo",
    "triage_alarm": "Cảnh báo phân loại chậm",
    "assign": "Giao xử lý",
    "unassign": "Bỏ giao xử lý",
}

# --- web chat page (bot/channels/web.py, bot/channels/static/web/) ---
WEB_PAGE_TITLE: Final = "Đánh giá mức độ hài lòng – TP. Hồ Chí Minh"
WEB_HEADING: Final = "Đánh giá mức độ hài lòng"
WEB_SUBHEADING: Final = "Dịch vụ công · Phản ánh, kiến nghị · TP. Hồ Chí Minh"
WEB_LOG_LABEL: Final = "Hội thoại với hệ thống khảo sát"
WEB_BOT_NAME: Final = "Hệ thống"
WEB_YOU: Final = "Ông/Bà"
WEB_INPUT_LABEL: Final = "Câu trả lời của Ông/Bà"
WEB_INPUT_PLACEHOLDER: Final = "Bấm nút hoặc gõ câu trả lời…"
WEB_SEND: Final = "Gửi"
WEB_SENDING: Final = "Đang gửi…"
WEB_ERROR: Final = "Chưa gửi được tin nhắn. Xin Ông/Bà kiểm tra kết nối mạng rồi thử lại."
WEB_RETRY: Final = "Thử lại"
WEB_PHOTO: Final = "Ảnh"
WEB_PHOTO_LABEL: Final = "Gửi ảnh kèm phản ánh"
WEB_PHOTO_SENT: Final = "[Ảnh]"
WEB_PHOTO_REFUSED: Final = "Chưa gửi được ảnh: chỉ nhận ảnh JPEG, PNG hoặc WebP, tối đa 5 MB."
WEB_NEEDS_JS: Final = "Trang khảo sát cần bật JavaScript trên trình duyệt."
WEB_FOOTER: Final = (
    "Hệ thống tự động của chính quyền Thành phố. Câu trả lời được lưu ngay khi Ông/Bà gửi."
)

# --- complaints: the unit staff's side (Telegram groups) ---
STAFF_BUTTONS: Final = {
    "acc": "✅ Tiếp nhận",
    "tr": "🔀 Chuyển đơn vị",
    "inf": "❓ Yêu cầu bổ sung",
    "ans": "📨 Trả lời & đóng",
    "rej": "⛔ Từ chối",
    "ct": "👤 Xem liên hệ",
}
STAFF_NOTICES: Final = {
    "info_provided": "📥 {code}: công dân bổ sung thông tin:\n«{text}»",
    "rated_unsatisfied": "👎 {code}: công dân KHÔNG hài lòng với kết quả. Lý do: {reason}",
    "reminder": "⏰ {code}: còn dưới 2 ngày đến hạn trả lời ({due}).",
    "overdue": "🚨 {code}: QUÁ HẠN trả lời ({due}), đơn vị {unit}.",
    "triage_alarm": "🚨 {code}: bàn phân loại giữ quá 1 giờ, cần chuyển đơn vị có thẩm quyền.",
}
CARD_HEAD: Final = "📮 {code} · {status}"
CARD_UNIT: Final = "Đơn vị: {unit}"
CARD_WARD: Final = "Địa bàn: {ward}"
CARD_DUE: Final = "Hạn trả lời: {due}"
CARD_ASSIGNEE: Final = "Người xử lý: {name}"
CARD_KHIEU_NAI: Final = "⚖️ Khiếu nại/tố cáo: giải quyết theo Luật Khiếu nại, Luật Tố cáo"
CARD_ROUTER: Final = "Phân loại tự động: {unit} ({confidence:.0%}); {ranked}"
CARD_PHOTOS: Final = "📷 {n} ảnh"
CARD_UPDATED: Final = "Cập nhật: {action} · {who} · {at}"
STAFF_LINKED: Final = (
    "✅ Nhóm này đã được liên kết với {unit}. Phản ánh của đơn vị sẽ được gửi vào đây."
)
STAFF_LINK_REFUSED: Final = "Mã liên kết không đúng, đã dùng hoặc đã hết hạn."
STAFF_PROMPTS: Final = {
    "answer": "✍️ {who}: gửi nội dung TRẢ LỜI công dân cho {code} (tin nhắn tiếp theo của bạn "
    "trong nhóm này sẽ được gửi đi và đóng phản ánh). Gõ /huy để thôi.",
    "request_info": "✍️ {who}: gửi CÂU HỎI cần công dân bổ sung cho {code} (tin nhắn tiếp theo "
    "của bạn). Gõ /huy để thôi.",
    "reject": "✍️ {who}: gửi HƯỚNG DẪN cho công dân (vì sao không thuộc phạm vi, cần gửi đâu) "
    "cho {code}. Gõ /huy để thôi.",
    "transfer": "✍️ {who}: gửi LÝ DO chuyển {code} đến {unit}. Gõ /huy để thôi.",
}
STAFF_PICK_UNIT: Final = "Chuyển {code} đến đơn vị nào?"
STAFF_PROMPT_CANCELLED: Final = "Đã huỷ thao tác đang chờ."
STAFF_DONE: Final = "Đã ghi nhận."
STAFF_CONTACT: Final = "{code}: {name}, ĐT {phone}"
STAFF_NO_CONTACT: Final = "{code}: không có thông tin liên hệ (công dân đã xoá dữ liệu)."
STAFF_REFUSED: Final = {
    "not_staff": "Bạn chưa được đăng ký là cán bộ xử lý phản ánh.",
    "wrong_unit": "Phản ánh này không thuộc đơn vị của bạn (hoặc đã được chuyển đơn vị khác).",
    "wrong_group": "Chỉ thao tác được từ nhóm đã liên kết với đơn vị đang giữ phản ánh.",
    "inactive": "Tài khoản cán bộ của bạn đã ngừng hoạt động.",
    "state": "Phản ánh đã chuyển sang bước khác ({status}); thao tác không còn hiệu lực.",
    "empty": "Nội dung trống.",
    "same_unit": "Phản ánh đang ở chính đơn vị này.",
    "unknown_unit": "Không có đơn vị này.",
    "not_owner": "Chỉ công dân gửi phản ánh mới thực hiện được.",
    "too_late": "Đã quá hạn.",
    "unknown": "Không tìm thấy phản ánh.",
}

# --- Open311 GeoReport v2 (bot/open311.py): what a city system shows its user -----------------
OPEN311_NOTICE: Final = {
    "routed": "Đã tiếp nhận phản ánh {code}, chuyển {unit}. Hạn trả lời: {due}.",
    "triage": "Đã tiếp nhận phản ánh {code}. Bộ phận tiếp nhận ({unit}) sẽ chuyển đến đơn vị có "
    "thẩm quyền trong thời gian sớm nhất. Hạn trả lời: {due}.",
    "khieu_nai": "Đã tiếp nhận đơn {code}, chuyển {unit}. Nội dung có tính chất khiếu nại/tố cáo "
    "được giải quyết theo Luật Khiếu nại, Luật Tố cáo (trình tự và thời hạn khác với phản ánh, "
    "kiến nghị).",
}
# Services are grouped by the kind of unit (Unit.kind).
OPEN311_GROUPS: Final = {
    "so": "Sở, ngành",
    "xa": "UBND phường, xã, đặc khu",
    "dich_vu": "Dịch vụ công ích",
    "khac": "Cơ quan khác",
}
OPEN311_ADDRESS: Final = "Địa chỉ: {address}"
OPEN311_CONSENT: Final = (
    "Đồng ý (consent=true qua Open311) cho đơn vị xử lý dùng họ tên, số điện thoại để liên hệ "
    "về phản ánh này."
)

# --- messages that are no complaint (nlp.intent): the chat answers them itself ---
# A greeting gets SMALL_TALK_REPLY and the menu.
THANKS_REPLY: Final = (
    "Dạ, không có chi ạ. Chúc Ông/Bà một ngày tốt lành! Khi cần, Ông/Bà cứ nhắn vào đây."
)
SURVEY_EXPLAINED: Final = (
    "Khảo sát do chính quyền Thành phố Hồ Chí Minh thực hiện để đo mức độ hài lòng của người "
    "dân với dịch vụ hành chính công và cải thiện chất lượng phục vụ.\n"
    "• Câu trả lời được dùng ẩn danh: báo cáo chỉ có số liệu tổng hợp, không có tên, số điện "
    "thoại hay tài khoản chat của Ông/Bà.\n"
    "• Trả lời là tự nguyện, chỉ vài phút; có thể «bỏ qua» một câu, «dừng» để tạm dừng, "
    "/xoa để xoá thông tin cá nhân.\n"
    "• Muốn cơ quan xử lý và trả lời một việc cụ thể, Ông/Bà chọn «Gửi phản ánh»."
)
SPAM_REPLY: Final = (
    "Hệ thống chỉ tiếp nhận khảo sát và phản ánh, kiến nghị gửi chính quyền; tin nhắn này "
    "không được ghi nhận."
)
NOT_VIETNAMESE: Final = (
    "Hệ thống hiện chỉ hỗ trợ tiếng Việt. Xin Ông/Bà nhắn bằng tiếng Việt (gõ không dấu cũng "
    "được).\n"
    "This service works in Vietnamese only. Please write in Vietnamese (without accents is fine)."
)
