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
