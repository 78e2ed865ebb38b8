"""Every Vietnamese word the reports print, in one place so wording is reviewed here only."""

from __future__ import annotations

UNKNOWN_NAME = "(không rõ)"  # a response without unit or procedure

DIMENSION_HEADERS: dict[str, str] = {
    "unit": "Đơn vị",
    "procedure": "Thủ tục",
    "element": "Yếu tố",
    "channel": "Kênh",
    "day": "Ngày",
    "month": "Tháng",
    "quarter": "Quý",
    "year": "Năm",
    "field": "Lĩnh vực",
}

RATING3_NAMES: dict[str, str] = {
    "rat_hai_long": "Rất hài lòng",
    "hai_long": "Hài lòng",
    "khong_hai_long": "Không hài lòng",
}

TITLE_OVERALL = "Chỉ số hài lòng chung"
TITLE_BREAKDOWN = "Chỉ số hài lòng theo"
TITLE_UNITS = "Xếp hạng đơn vị"
TITLE_766 = "Tỷ lệ hài lòng giải quyết TTHC (QĐ 766)"
TITLE_RATING3 = "Đánh giá 3 mức"

HEADER_RESPONDENTS = "Số phiếu"
HEADER_INDEX = "Chỉ số"
HEADER_CI = "KTC 95%"
HEADER_TARGET = "Đạt mục tiêu"
HEADER_TARGET_LINE = "Mục tiêu"
HEADER_RANK = "Hạng"
HEADER_DOSSIERS = "Số hồ sơ"
HEADER_RATED_BAD = "Không hài lòng"
HEADER_LATE = "Trễ hạn"
HEADER_EXCLUDED = "Bị trừ"
HEADER_RATIO = "Tỷ lệ"
HEADER_SATISFIED = "Hài lòng (2 mức trên)"

SMALL_N_NOTE = "* n nhỏ hơn {min_n}: chưa đủ để xếp hạng"
PERIOD_NOTE = "Từ {date_from} đến {date_to}"
OPEN_DATE = "…"
YES = "Đạt"
NO = "Chưa đạt"
NO_DATA = "Không có dữ liệu trong khoảng thời gian này."

SHEET_OVERALL = "Tổng hợp"
SHEET_UNITS = "Đơn vị"
SHEET_766 = "QĐ 766"
SHEET_RATING3 = "Đánh giá 3 mức"
CHART_TITLE = "Chỉ số hài lòng theo đơn vị so với mục tiêu"
SHEET_ANSWERS = "Trả lời"

# --------------------------------------------------------------------------- header lines
ELEMENT_NAMES: dict[str, str] = {
    "TCDV": "Tiếp cận dịch vụ",
    "TTHC": "Thủ tục hành chính",
    "CC": "Công chức",
    "KQ": "Kết quả dịch vụ",
    "PAKN": "Tiếp nhận, xử lý góp ý, phản ánh, kiến nghị",
}
REPORT_TITLE = "Báo cáo chỉ số hài lòng"
QUESTIONNAIRE_LINE = "Bộ câu hỏi: {code}{title}; phiên bản: {versions}"
NO_VERSIONS = "không có"
SPAN_LINE = "Kỳ báo cáo: từ {start} đến {end} (ngày theo giờ địa phương, {tz})"
SPAN_NONE = "Kỳ báo cáo: không có dữ liệu (giờ địa phương, {tz})"
RESPONSES_LINE = (
    "Phiếu: {complete} hoàn thành; {incomplete_kept} chưa hoàn thành (vẫn tính các câu đã trả"
    " lời); {without_answers} không có câu trả lời hợp lệ (không tính)"
)
TARGETS_LINE = (
    "Mục tiêu: chỉ số hài lòng ≥ {satisfaction}; hồ sơ đúng hạn ≥ {on_time}; hài lòng ≥"
    " {every_field} ở mọi lĩnh vực"
)
CLOSED_LINE = (
    "Tháng {month} đã chốt lúc {closed_at} bởi {closed_by}: số liệu dưới đây là số liệu đã lưu"
    " khi chốt."
)
TITLE_CHANGES = "Thay đổi sau khi chốt"
CHANGE_LINE = "{where}: khi chốt {stored}, hiện nay {now}"
NO_CHANGES = "không có thay đổi"
FIELD_TARGET_LINE = "Mọi lĩnh vực ≥ {target}: {verdict} ({met}/{total} lĩnh vực đạt)"

# Target marks, on every row.
NO_DATA_MARK = "Không có dữ liệu"
NO_DATA_MARK_CELL = "Không có\ndữ liệu"  # the same, broken for a narrow table column
TOTAL = "Tổng"
UNRANKED_REASONS: dict[str, str] = {
    "small_n": "chưa đủ số phiếu để xếp hạng",
    "no_data": "không có dữ liệu",
    "unknown_unit": "phiếu không gắn với đơn vị",
}
TITLE_UNRANKED = "Đơn vị chưa xếp hạng"
HEADER_REASON = "Lý do"

# --------------------------------------------------------------------------- table (abbreviated)
# Short headers so a table fits 100 columns; LEGEND explains each under the table.
SHORT_RESPONDENTS = "n"
SHORT_TARGET = "MT"
SHORT_RATED_BAD = "KHL"
SHORT_LATE = "Trễ"
SHORT_EXCLUDED = "Trừ"
SHORT_ON_TIME = "Đúng hạn"
SHORT_ON_TIME_TARGET = "MT98"
LEGEND_INDEX = (
    "n: số phiếu có câu trả lời hợp lệ; Chỉ số: chỉ số hài lòng chung; KTC 95%: khoảng tin cậy"
    " Wilson 95%; MT: đạt mục tiêu ≥ {target}; *: mẫu nhỏ (n < {min_n}), chưa đủ để xếp hạng"
)
LEGEND_ELEMENTS = "Yếu tố (chỉ số, %): {elements}"
ELEMENTS_OMITTED = (
    "Chỉ số từng yếu tố không đủ chỗ ở độ rộng này: xem --by element, hoặc --format xlsx/csv."
)
LEGEND_766 = (
    "QĐ 766: Hồ sơ: số hồ sơ đã giải quyết; KHL: bị đánh giá Không hài lòng; Trễ: trễ hạn;"
    " Trừ: bị trừ (mỗi hồ sơ một lần); Tỷ lệ: (hồ sơ − bị trừ) / hồ sơ; MT: tỷ lệ ≥ {target};"
    " Đúng hạn: hồ sơ đúng hạn / hồ sơ; MT98: đúng hạn ≥ {on_time}"
)
SHORT_DOSSIERS = "Hồ sơ"

# --------------------------------------------------------------------------- XLSX cover sheet
SHEET_COVER = "Giới thiệu"
SHEET_CRITERIA = "Tiêu chí"
HEADER_STATEMENT = "Nội dung"
HEADER_CODE = "Mã"
HEADER_MEASURE = "Chỉ tiêu"
HEADER_ON_TIME = "Hồ sơ đúng hạn"
HEADER_ON_TIME_TARGET = "Đạt mục tiêu đúng hạn"
HEADER_REASON_UNRANKED = "Chưa xếp hạng vì"
CHART_TARGET_SERIES = "Mục tiêu"
COVER_TITLE = "Báo cáo chỉ số hài lòng của người dân, tổ chức"
COVER_ITEMS: tuple[tuple[str, str], ...] = (
    (
        "Đã tính",
        "Tỷ lệ hài lòng từng tiêu chí, chỉ số từng yếu tố và chỉ số hài lòng chung; xếp"
        " hạng đơn vị; tỷ lệ hài lòng về giải quyết TTHC và tỷ lệ hồ sơ đúng hạn (QĐ 766); đánh"
        " giá 3 mức.",
    ),
    (
        "Tỷ lệ tiêu chí",
        "Số câu trả lời hài lòng (mức 4, 5) / số câu trả lời hợp lệ của tiêu chí."
        " «Không ý kiến» và câu bỏ qua không nằm trong mẫu số.",
    ),
    ("Chỉ số yếu tố", "Trung bình cộng tỷ lệ các tiêu chí có dữ liệu của yếu tố."),
    (
        "Chỉ số chung",
        "Trung bình có trọng số các chỉ số yếu tố có dữ liệu (trọng số: {weights});"
        " yếu tố không có dữ liệu bị bỏ qua, không tính là 0.",
    ),
    (
        "Cỡ mẫu n",
        "Tiêu chí: số câu trả lời hợp lệ. Yếu tố, chỉ số chung: số phiếu có ít nhất"
        " một câu trả lời hợp lệ trong đó.",
    ),
    ("Khoảng tin cậy", "Khoảng Wilson 95% tính trên n."),
    (
        "Mẫu nhỏ",
        "n < {min_n}: đánh dấu, không xếp hạng; đơn vị chưa đủ số phiếu được liệt kê"
        " sau các đơn vị đã xếp hạng.",
    ),
    (
        "Phiếu chưa hoàn thành",
        "Người dân có thể dừng bất cứ lúc nào; mọi câu đã trả lời được"
        " giữ và tính. Phiếu không có câu trả lời hợp lệ nào không được tính.",
    ),
    (
        "QĐ 766",
        "Tỷ lệ = (hồ sơ − hồ sơ bị đánh giá Không hài lòng, trễ hạn hoặc có phản ánh về"
        " việc giải quyết, mỗi hồ sơ một lần) / hồ sơ đã giải quyết, theo ngày hoàn thành."
        " Hồ sơ đúng hạn = hồ sơ hoàn thành không quá hạn / hồ sơ đã giải quyết.",
    ),
    (
        "Mục tiêu",
        "Chỉ số hài lòng và tỷ lệ QĐ 766 ≥ {satisfaction}; hồ sơ đúng hạn ≥ {on_time};"
        " hài lòng ≥ {every_field} ở mọi lĩnh vực. Hàng không có dữ liệu: không đánh giá.",
    ),
)
COVER_QUESTIONNAIRE = "Bộ câu hỏi"
COVER_VERSIONS = "Phiên bản được tính"
COVER_SPAN = "Từ ngày – đến ngày"
COVER_TIMEZONE = "Múi giờ"
COVER_GENERATED = "Lập lúc"
COVER_RESPONSES = "Phiếu"
COVER_CLOSED = "Tình trạng chốt số liệu"
COVER_OPEN = "Chưa chốt: số liệu tính lại từ dữ liệu hiện có ở mỗi lần chạy."
COVER_WEIGHTS_EQUAL = "bằng nhau"

# --------------------------------------------------------------------------- CSV for analysts
# Vietnamese header of each machine column (same order); the machine form keeps the keys.
CSV_HEADERS: dict[str, str] = {
    "section": "Phần",
    "by": "Phân tổ theo",
    "unit_code": "Mã đơn vị",
    "unit_name": "Đơn vị",
    "procedure_code": "Mã thủ tục",
    "procedure_name": "Thủ tục",
    "element": "Yếu tố",
    "channel": "Kênh",
    "day": "Ngày",
    "month": "Tháng",
    "quarter": "Quý",
    "year": "Năm",
    "rank": "Hạng",
    "measure": "Chỉ tiêu",
    "code": "Mã tiêu chí/mức",
    "value": "Giá trị",
    "n": "n",
    "ci_low": "KTC 95% thấp",
    "ci_high": "KTC 95% cao",
    "small_n": "Mẫu nhỏ",
    "meets_target": "Đạt mục tiêu",
    "count": "Số lượng",
    "field": "Lĩnh vực",
    "unranked": "Chưa xếp hạng vì",
    "statement": "Nội dung",
    "ward_code": "Mã phường/xã",
    "ward_name": "Phường/xã",
    "target": "Mục tiêu",
}
CSV_SECTIONS: dict[str, str] = {
    "overall": "Tổng hợp",
    "breakdown": "Phân tổ",
    "units": "Xếp hạng đơn vị",
    "ratio_766": "QĐ 766",
    "rating3": "Đánh giá 3 mức",
}
CSV_MEASURES: dict[str, str] = {
    "overall_index": "Chỉ số hài lòng chung",
    "element_index": "Chỉ số yếu tố",
    "criterion_rate": "Tỷ lệ hài lòng tiêu chí",
    "ratio_766": "Tỷ lệ hài lòng QĐ 766",
    "dossiers_on_time": "Tỷ lệ hồ sơ đúng hạn",
    "dossiers": "Số hồ sơ",
    "rated_khong_hai_long": "Hồ sơ bị đánh giá Không hài lòng",
    "late": "Hồ sơ trễ hạn",
    "excluded": "Hồ sơ bị trừ",
    "rating3_share": "Tỷ lệ mức đánh giá",
    "rating3_satisfied": "Tỷ lệ hài lòng (2 mức trên)",
}
CSV_YES = "Có"
CSV_NO = "Không"
