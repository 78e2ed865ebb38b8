"""Vietnamese strings the NLP command line shows, in one place so wording can be reviewed."""

from __future__ import annotations

# The same one-line error form as every other hailong command.
ERROR_PREFIX = "hailong: error"
NO_MODEL = "không có mô hình trong {path}; chạy 'hailong nlp train --data TỆP.csv --model {path}'"
TRAINING_DEFAULT = "Chưa có mô hình: đang huấn luyện mô hình mặc định từ kho dữ liệu mẫu..."
STEP_READ = "Đọc dữ liệu"
STEP_MEASURE = "Đo trên tập giữ lại"
STEP_FIT = "Huấn luyện"
STEP_SAVE = "Lưu mô hình"
STEP_PREDICT = "Dự đoán"
STEP_RETRAIN = "So sánh mô hình cũ và mới"
STEP_BENCH = "Đo tốc độ"
TRAINED = "Đã lưu mô hình vào {path} ({n} mẫu, {k} đơn vị)."
HOLDOUT_METRICS = "Tập giữ lại: độ chính xác {accuracy:.3f}, macro-F1 {macro_f1:.3f}, " \
    "không dấu {accuracy_unaccented:.3f}, ECE {ece:.3f}"
EVAL_TITLE = "Đánh giá trên {n} mẫu"
EVAL_SUMMARY = "Độ chính xác {accuracy:.3f} · macro-F1 {macro_f1:.3f} · weighted-F1 " \
    "{weighted_f1:.3f} · không dấu {accuracy_unaccented:.3f}"
COL_UNIT = "Đơn vị"
COL_PRECISION = "Precision"
COL_RECALL = "Recall"
COL_F1 = "F1"
COL_SUPPORT = "Số mẫu"
CONFUSION_TITLE = "Ma trận nhầm lẫn (hàng: đúng, cột: dự đoán)"
CONFUSION_SAVED = "Đã lưu ma trận nhầm lẫn: {path}"
ROUTE_UNIT = "Đơn vị: {unit} ({name})"
ROUTE_TRIAGE = "Độ tin cậy thấp ({confidence:.2f} < {threshold:.2f}): chuyển bàn phân loại {unit}"
ROUTE_CONFIDENCE = "Độ tin cậy: {confidence:.2f}"
ROUTE_CANDIDATES = "Ứng viên:"
ROUTE_WARD = "Phường/xã: {ward}"
ROUTE_NO_WARD = "Phường/xã: (không nêu)"
ROUTE_MASKED = "Văn bản đã che: {text}"
BENCH_RESULT = "{router:,.0f} tin/giây (định tuyến đầy đủ), {classifier:,.0f} tin/giây " \
    "(chỉ bộ phân loại), 1 lõi, {n} tin"
RETRAIN_REPLACED = "Đã thay mô hình: macro-F1 {old:.3f} -> {new:.3f} trên {n} mẫu giữ lại."
RETRAIN_KEPT = "Giữ mô hình cũ: mô hình mới kém hơn (macro-F1 {old:.3f} -> {new:.3f})."
