"""A hand-built `Report` for the renderer tests: long unit names, every kind of row (ranked,
unranked for each reason, no data), a field breakdown, Decision 766 with dossiers on time, and
a closed month with changes. Built directly, so the tests hold whatever build.py computes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from reports.build import (
    Breakdown,
    ClosedMonth,
    Dim,
    Figure,
    IndexRow,
    Rating3Row,
    Ratio766Row,
    Report,
    ResponseCounts,
    Targets,
)
from reports.queries import RATING3_LEVELS

MIN_N = 30
LONG_NAME = "Ủy ban nhân dân phường Bến Thành, Thành phố Hồ Chí Minh (bộ phận một cửa)"
OTHER_LONG_NAME = "Trung tâm Phục vụ hành chính công Thành phố Hồ Chí Minh – chi nhánh số 2"
ELEMENTS = ("TCDV", "TTHC", "CC", "KQ", "PAKN")
CRITERIA_TEXT = {
    "TCDV1": "Thông tin về thủ tục được cung cấp đầy đủ, dễ tiếp cận bằng nhiều hình thức",
    "TCDV2": "Nơi tiếp nhận có biển chỉ dẫn rõ ràng",
    "TTHC1": "Thủ tục được niêm yết công khai, dễ hiểu",
    "CC1": "Công chức lịch sự, tôn trọng người dân",
    "CC2": "Công chức trả lời đầy đủ, kịp thời",
    "KQ1": "Kết quả được trả đúng hạn",
    "PAKN1": "Có kênh góp ý, phản ánh dễ sử dụng",
}


def fig(value: float | None, n: int) -> Figure:
    """A figure as build.py makes it (Wilson interval, small-n flag against MIN_N)."""
    return Figure.of(value, n, MIN_N)


def index_row(
    keys: dict[str, object],
    n: int,
    value: float | None,
    *,
    target: float = 0.95,
    rank: int | None = None,
    unranked: str | None = None,
) -> IndexRow:
    """An index row whose elements and criteria all equal `value` (None: no data)."""
    elements = {} if value is None else {e: fig(value, n) for e in ELEMENTS}
    criteria = {} if value is None else {c: fig(value, n) for c in CRITERIA_TEXT}
    return IndexRow(
        keys=dict(keys),  # type: ignore[arg-type]
        respondents=n,
        overall_index=fig(value, n),
        elements=elements,
        criteria=criteria,
        meets_target=None if value is None else value >= target,
        rank=rank,
        unranked=unranked,
    )


BTH = Dim("BTH", LONG_NAME)
TTHCC = Dim("TTHCC2", OTHER_LONG_NAME)
SXD = Dim("SXD", "Sở Xây dựng")
XTD = Dim("XTD", "UBND phường Tân Định")
NOWHERE = Dim(None, "(không rõ)")


def ratio_row(keys: dict[str, object], dossiers: int, excluded: int, late: int) -> Ratio766Row:
    """A 766 row with the dossiers-on-time figure (98% target)."""
    ratio = fig((dossiers - excluded) / dossiers if dossiers else None, dossiers)
    on_time = fig((dossiers - late) / dossiers if dossiers else None, dossiers)
    return Ratio766Row(
        keys=dict(keys),  # type: ignore[arg-type]
        dossiers=dossiers,
        rated_khong_hai_long=excluded - late,
        late=late,
        excluded=excluded,
        ratio=ratio,
        meets_target=None if ratio.value is None else ratio.value >= 0.95,
        on_time=on_time,
        meets_on_time_target=None if on_time.value is None else on_time.value >= 0.98,
    )


def rating3_row(keys: dict[str, object], counts: tuple[int, int, int]) -> Rating3Row:
    """A three-level distribution."""
    n = sum(counts)
    by_level = dict(zip(RATING3_LEVELS, counts, strict=True))
    return Rating3Row(
        keys=dict(keys),  # type: ignore[arg-type]
        n=n,
        counts=by_level,
        shares={lv: Figure.proportion(c, n, MIN_N) for lv, c in by_level.items()},
        satisfied=Figure.proportion(counts[0] + counts[1], n, MIN_N),
    )


def sample_report(*, closed: bool = True, units: int = 4) -> Report:
    """The sample report; `units` > 4 adds more ranked units (for a wide chart)."""
    ranked = [
        index_row({"unit": BTH}, 120, 0.9712, rank=1),
        index_row({"unit": TTHCC}, 64, 0.9021, rank=2),
    ]
    for i in range(units - 4):
        name = f"UBND phường số {i + 1} Thành phố Hồ Chí Minh"
        ranked.append(index_row({"unit": Dim(f"P{i:02d}", name)}, 40, 0.8 - i / 200, rank=3 + i))
    unit_rows = [
        *ranked,
        index_row({"unit": SXD}, 3, 0.7083, unranked="small_n"),
        index_row({"unit": XTD}, 0, None, unranked="no_data"),
        index_row({"unit": NOWHERE}, 1, 1.0, unranked="unknown_unit"),
    ]
    monthly = [
        index_row({"unit": BTH, "month": "2026-11"}, 60, 0.9712),
        index_row({"unit": TTHCC, "month": "2026-11"}, 64, 0.9021),
        index_row({"unit": SXD, "month": "2026-11"}, 3, 0.7083),
        index_row({"unit": XTD, "month": "2026-11"}, 0, None),
        index_row({"unit": NOWHERE, "month": "2026-11"}, 1, 1.0),  # the widest cells
    ]
    fields = [
        index_row({"field": "Xây dựng"}, 80, 0.96, target=0.95),
        index_row({"field": "Đất đai"}, 70, 0.91, target=0.95),
    ]
    month = {"month": "2026-11"}
    report = Report(
        generated_at=datetime(2026, 12, 2, 1, 30, tzinfo=UTC),
        date_from=None,
        date_to=None,
        target=0.95,
        min_n=MIN_N,
        element_weights={},
        overall=index_row({}, 188, 0.9402),
        overall_766=ratio_row({}, 200, 9, 3),
        overall_rating3=rating3_row({}, (120, 60, 20)),
        breakdowns=[Breakdown(("unit", "month"), monthly), Breakdown(("field",), fields)],
        units=unit_rows,
        period="month",
        ratio_766=[
            ratio_row({"unit": BTH, **month}, 150, 5, 2),
            ratio_row({"unit": SXD, **month}, 50, 4, 1),
        ],
        rating3=[
            rating3_row({"unit": BTH, **month}, (100, 45, 5)),
            rating3_row({"unit": SXD, **month}, (20, 15, 15)),
        ],
        questionnaire="sipas",
        questionnaire_title="Khảo sát sự hài lòng (SIPAS)",
        versions=["2025.1", "2026.1"],
        timezone="Asia/Ho_Chi_Minh",
        span=(date(2026, 11, 1), date(2026, 11, 30)),
        targets=Targets(),
        responses=ResponseCounts(complete=170, incomplete_kept=18, without_answers=7),
        criteria_text=dict(CRITERIA_TEXT),
        closed=ClosedMonth(
            month="2026-11",
            closed_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
            closed_by="chuyenvien.snv",
            changes=(("QĐ 766 · SXD · 2026-11 · tỷ lệ", 0.92, 0.9),),
        )
        if closed
        else None,
    )
    return report
