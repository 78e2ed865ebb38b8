"""Report output: terminal table, CSV (UTF-8 with BOM), JSON and XLSX.

Renderers take a built `Report` and a file; they never query the database. Opening files
(and the temp-file-then-rename dance) belongs to the CLI.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from reports import labels as L
from reports.build import Dim, DimValue, Figure, IndexRow, Report
from reports.complaints import COUNTS as COMPLAINT_COUNTS
from reports.complaints import LOCAL_TZ, ComplaintReport, ComplaintRow
from reports.complaints import PAIR_DIMENSIONS as COMPLAINT_PAIR_DIMENSIONS
from reports.queries import PAIR_DIMENSIONS, RATING3_LEVELS
from reports.stats import round4

FORMATS: tuple[str, ...] = ("table", "csv", "xlsx", "json")

# Long ("tidy") CSV: one line per figure, so every section fits one header and a pivot table
# in Excel rebuilds any wide view. Dimension columns not used by a section stay empty.
CSV_COLUMNS: tuple[str, ...] = (
    "section",
    "by",
    "unit_code",
    "unit_name",
    "procedure_code",
    "procedure_name",
    "element",
    "channel",
    "day",
    "month",
    "quarter",
    "year",
    "rank",
    "measure",
    "code",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "small_n",
    "meets_target",
    "count",
)


# --------------------------------------------------------------------------- JSON


def write_json(report: Report, out: TextIO) -> None:
    """The report as one JSON document (shape in reports/README.md)."""
    json.dump(report.to_dict(), out, ensure_ascii=False, indent=2)
    out.write("\n")


# --------------------------------------------------------------------------- CSV


def _dim_cells(keys: dict[str, DimValue]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for dim, value in keys.items():
        if isinstance(value, Dim):
            cells[f"{dim}_code"] = value.code or ""
            cells[f"{dim}_name"] = value.name
        else:
            cells[dim] = value or ""
    return cells


def _figure_cells(figure: Figure) -> dict[str, Any]:
    return {
        "value": _num(figure.value),
        "n": figure.n,
        "ci_low": _num(figure.ci_low),
        "ci_high": _num(figure.ci_high),
        "small_n": int(figure.small_n),
    }


def _num(value: float | None) -> Any:
    rounded = round4(value)
    return "" if rounded is None else rounded


def _index_lines(section: str, by: str, row: IndexRow) -> Iterator[dict[str, Any]]:
    base = {"section": section, "by": by, **_dim_cells(row.keys)}
    if row.rank is not None:
        base["rank"] = row.rank
    yield {
        **base,
        "measure": "overall_index",
        **_figure_cells(row.overall_index),
        "meets_target": _flag(row.meets_target),
        "count": row.respondents,
    }
    for code, figure in row.elements.items():
        yield {**base, "measure": "element_index", "code": code, **_figure_cells(figure)}
    for code, figure in row.criteria.items():
        yield {**base, "measure": "criterion_rate", "code": code, **_figure_cells(figure)}


def csv_lines(report: Report) -> Iterator[dict[str, Any]]:
    """Every figure of the report as a CSV line (dicts keyed by CSV_COLUMNS)."""
    yield from _index_lines("overall", "", report.overall)
    for breakdown in report.breakdowns:
        by = "+".join(breakdown.by)
        for row in breakdown.rows:
            yield from _index_lines("breakdown", by, row)
    for row in report.units:
        yield from _index_lines("units", "unit", row)
    period_by = "+".join(("unit", report.period) if report.period else ("unit",))
    for section_by, ratio in [("", report.overall_766)] + [
        (period_by, r) for r in report.ratio_766
    ]:
        base = {"section": "ratio_766", "by": section_by, **_dim_cells(ratio.keys)}
        yield {
            **base,
            "measure": "ratio_766",
            **_figure_cells(ratio.ratio),
            "meets_target": _flag(ratio.meets_target),
            "count": ratio.dossiers - ratio.excluded,
        }
        yield {**base, "measure": "dossiers", "count": ratio.dossiers}
        yield {**base, "measure": "rated_khong_hai_long", "count": ratio.rated_khong_hai_long}
        yield {**base, "measure": "late", "count": ratio.late}
        yield {**base, "measure": "excluded", "count": ratio.excluded}
    for section_by, dist in [("", report.overall_rating3)] + [
        (period_by, r) for r in report.rating3
    ]:
        base = {"section": "rating3", "by": section_by, **_dim_cells(dist.keys)}
        for level in RATING3_LEVELS:
            yield {
                **base,
                "measure": "rating3_share",
                "code": level,
                **_figure_cells(dist.shares[level]),
                "count": dist.counts[level],
            }
        yield {**base, "measure": "rating3_satisfied", **_figure_cells(dist.satisfied)}


def write_csv(report: Report, out: TextIO) -> None:
    """The report as long-format CSV. Open `out` with encoding "utf-8-sig" (BOM for Excel)."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for line in csv_lines(report):
        writer.writerow(line)


# --------------------------------------------------------------------------- table


def _pct(figure: Figure) -> str:
    if figure.value is None:
        return "–"
    return f"{figure.value * 100:.1f}%" + ("*" if figure.small_n else "")


def _ci(figure: Figure) -> str:
    if figure.ci_low is None or figure.ci_high is None:
        return "–"
    return f"{figure.ci_low * 100:.1f}–{figure.ci_high * 100:.1f}"


def _dim_text(value: DimValue) -> str:
    if isinstance(value, Dim):
        return f"{value.code} {value.name}" if value.code else value.name
    return value or L.UNKNOWN_NAME


def _element_codes(rows: Sequence[IndexRow]) -> list[str]:
    codes: list[str] = []
    for row in rows:
        for code in row.elements:
            if code not in codes:
                codes.append(code)
    return codes


def write_table(report: Report, out: TextIO, *, width: int | None = None) -> None:
    """A readable terminal report: overall, each breakdown, unit ranking, 766, rating3."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=width or 140, highlight=False, soft_wrap=False)
    date_from = report.date_from.isoformat() if report.date_from else L.OPEN_DATE
    date_to = report.date_to.isoformat() if report.date_to else L.OPEN_DATE
    console.print(L.PERIOD_NOTE.format(date_from=date_from, date_to=date_to))

    def index_table(title: str, dims: Sequence[str], rows: Sequence[IndexRow]) -> None:
        table = Table(title=title, title_justify="left")
        ranked = any(row.rank is not None for row in rows)
        if ranked:
            table.add_column(L.HEADER_RANK, justify="right")
        for dim in dims:
            table.add_column(L.DIMENSION_HEADERS[dim])
        table.add_column(L.HEADER_RESPONDENTS, justify="right")
        table.add_column(L.HEADER_INDEX, justify="right")
        table.add_column(L.HEADER_CI, justify="right")
        elements = _element_codes(rows)
        for code in elements:
            table.add_column(code, justify="right")
        table.add_column(L.HEADER_TARGET)
        for row in rows:
            cells = [str(row.rank or "")] if ranked else []
            cells += [_dim_text(row.keys[d]) for d in dims]
            cells += [str(row.respondents), _pct(row.overall_index), _ci(row.overall_index)]
            cells += [_pct(row.elements[c]) if c in row.elements else "" for c in elements]
            cells.append(L.YES if row.meets_target else L.NO)
            table.add_row(*cells)
        console.print(table if rows else f"{title}: {L.NO_DATA}")

    index_table(L.TITLE_OVERALL, [], [report.overall])
    for breakdown in report.breakdowns:
        heads = " × ".join(L.DIMENSION_HEADERS[d] for d in breakdown.by)
        index_table(f"{L.TITLE_BREAKDOWN} {heads}", breakdown.by, breakdown.rows)
    index_table(L.TITLE_UNITS, ["unit"], report.units)

    dims = ["unit", report.period] if report.period else ["unit"]
    t766 = Table(title=L.TITLE_766, title_justify="left")
    for dim in dims:
        t766.add_column(L.DIMENSION_HEADERS[dim])
    for head in (L.HEADER_DOSSIERS, L.HEADER_RATED_BAD, L.HEADER_LATE, L.HEADER_EXCLUDED):
        t766.add_column(head, justify="right")
    t766.add_column(L.HEADER_RATIO, justify="right")
    t766.add_column(L.HEADER_CI, justify="right")
    t766.add_column(L.HEADER_TARGET)
    for r in report.ratio_766:
        t766.add_row(
            *[_dim_text(r.keys[d]) for d in dims],
            str(r.dossiers),
            str(r.rated_khong_hai_long),
            str(r.late),
            str(r.excluded),
            _pct(r.ratio),
            _ci(r.ratio),
            L.YES if r.meets_target else L.NO,
        )
    console.print(t766 if report.ratio_766 else f"{L.TITLE_766}: {L.NO_DATA}")

    t3 = Table(title=L.TITLE_RATING3, title_justify="left")
    for dim in dims:
        t3.add_column(L.DIMENSION_HEADERS[dim])
    t3.add_column("n", justify="right")
    for level in RATING3_LEVELS:
        t3.add_column(L.RATING3_NAMES[level], justify="right")
    t3.add_column(L.HEADER_SATISFIED, justify="right")
    for d3 in report.rating3:
        t3.add_row(
            *[_dim_text(d3.keys[d]) for d in dims],
            str(d3.n),
            *[f"{d3.counts[lv]} ({_pct(d3.shares[lv])})" for lv in RATING3_LEVELS],
            _pct(d3.satisfied),
        )
    console.print(t3 if report.rating3 else f"{L.TITLE_RATING3}: {L.NO_DATA}")
    console.print(L.SMALL_N_NOTE.format(min_n=report.min_n))


# --------------------------------------------------------------------------- XLSX


def _sheet_title(name: str, taken: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and unique in the workbook.
    clean = "".join("-" if ch in "[]:*?/\\" else ch for ch in name)[:31]
    title, suffix = clean, 2
    while title in taken:
        title = f"{clean[: 31 - len(str(suffix)) - 1]} {suffix}"
        suffix += 1
    taken.add(title)
    return title


def _dim_headers(dims: Sequence[str]) -> list[str]:
    heads: list[str] = []
    for dim in dims:
        if dim in PAIR_DIMENSIONS:
            heads += [f"{L.DIMENSION_HEADERS[dim]} (mã)", L.DIMENSION_HEADERS[dim]]
        else:
            heads.append(L.DIMENSION_HEADERS[dim])
    return heads


def _dim_values(keys: dict[str, DimValue], dims: Sequence[str]) -> list[Any]:
    values: list[Any] = []
    for dim in dims:
        value = keys.get(dim)
        if isinstance(value, Dim):
            values += [value.code, value.name]
        else:
            values.append(value)
    return values


def _criterion_codes(rows: Sequence[IndexRow]) -> list[str]:
    codes: list[str] = []
    for row in rows:
        for code in row.criteria:
            if code not in codes:
                codes.append(code)
    return codes


def write_xlsx(report: Report, path: Path) -> None:
    """The report as a workbook: overall, one sheet per breakdown, units with a bar chart of
    each unit's index against the target, the 766 ratios and the three-level distribution.

    Written with openpyxl's write-only mode, which streams rows to disk as they are added.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, LineChart, Reference

    wb = Workbook(write_only=True)
    taken: set[str] = set()

    def pct_cell(ws: Any, value: float | None) -> Any:
        cell = WriteOnlyCell(ws, value=round4(value))
        cell.number_format = "0.00%"
        return cell

    def fig_cells(ws: Any, figure: Figure) -> list[Any]:
        return [
            figure.n,
            pct_cell(ws, figure.value),
            pct_cell(ws, figure.ci_low),
            pct_cell(ws, figure.ci_high),
            figure.small_n,
        ]

    fig_heads = ["n", L.HEADER_INDEX, "KTC thấp", "KTC cao", "n nhỏ"]

    # Overall: one line per figure.
    ws = wb.create_sheet(_sheet_title(L.SHEET_OVERALL, taken))
    ws.append(["Chỉ tiêu", "Mã", *fig_heads, L.HEADER_TARGET])
    ov = report.overall
    ws.append([L.TITLE_OVERALL, "", *fig_cells(ws, ov.overall_index), ov.meets_target])
    for code, figure in ov.elements.items():
        ws.append(["Yếu tố", code, *fig_cells(ws, figure)])
    for code, figure in ov.criteria.items():
        ws.append(["Tiêu chí", code, *fig_cells(ws, figure)])
    r766 = report.overall_766
    ws.append([L.TITLE_766, "", *fig_cells(ws, r766.ratio), r766.meets_target])
    for level in RATING3_LEVELS:
        ws.append(
            [
                L.TITLE_RATING3,
                L.RATING3_NAMES[level],
                *fig_cells(ws, report.overall_rating3.shares[level]),
            ]
        )

    def index_sheet(title: str, dims: Sequence[str], rows: Sequence[IndexRow]) -> Any:
        sheet = wb.create_sheet(_sheet_title(title, taken))
        elements = _element_codes(rows)
        criteria = _criterion_codes(rows)
        ranked = any(row.rank is not None for row in rows)
        sheet.append(
            ([L.HEADER_RANK] if ranked else [])
            + _dim_headers(dims)
            + [L.HEADER_RESPONDENTS, *fig_heads[1:], L.HEADER_TARGET, L.HEADER_TARGET_LINE]
            + elements
            + criteria
        )
        for row in rows:
            sheet.append(
                ([row.rank] if ranked else [])
                + _dim_values(row.keys, dims)
                + [row.respondents, *fig_cells(sheet, row.overall_index)[1:]]
                + [row.meets_target, pct_cell(sheet, report.target)]
                + [
                    pct_cell(sheet, row.elements[c].value) if c in row.elements else None
                    for c in elements
                ]
                + [
                    pct_cell(sheet, row.criteria[c].value) if c in row.criteria else None
                    for c in criteria
                ]
            )
        return sheet

    for breakdown in report.breakdowns:
        heads = " × ".join(L.DIMENSION_HEADERS[d] for d in breakdown.by)
        index_sheet(heads, breakdown.by, breakdown.rows)

    units_sheet = index_sheet(L.SHEET_UNITS, ["unit"], report.units)
    if report.units:
        # Columns: rank, code, name, respondents, index, ci low, ci high, small n, meets, target.
        last = len(report.units) + 1
        bars = BarChart()
        bars.type = "col"
        bars.title = L.CHART_TITLE
        bars.y_axis.title = L.HEADER_INDEX
        bars.y_axis.scaling.min = 0
        bars.y_axis.scaling.max = 1
        bars.y_axis.number_format = "0%"
        bars.add_data(
            Reference(units_sheet, min_col=5, min_row=1, max_row=last), titles_from_data=True
        )
        bars.set_categories(Reference(units_sheet, min_col=3, min_row=2, max_row=last))
        target_line = LineChart()
        target_line.add_data(
            Reference(units_sheet, min_col=10, min_row=1, max_row=last), titles_from_data=True
        )
        bars += target_line
        bars.width = max(16, min(60, 1.2 * len(report.units)))
        bars.height = 9
        units_sheet.add_chart(bars, "M2")

    dims = ["unit", report.period] if report.period else ["unit"]
    ws = wb.create_sheet(_sheet_title(L.SHEET_766, taken))
    ws.append(
        [
            *_dim_headers(dims),
            L.HEADER_DOSSIERS,
            L.HEADER_RATED_BAD,
            L.HEADER_LATE,
            L.HEADER_EXCLUDED,
            L.HEADER_RATIO,
            "KTC thấp",
            "KTC cao",
            "n nhỏ",
            L.HEADER_TARGET,
        ]
    )
    for r in report.ratio_766:
        ws.append(
            [
                *_dim_values(r.keys, dims),
                r.dossiers,
                r.rated_khong_hai_long,
                r.late,
                r.excluded,
                *fig_cells(ws, r.ratio)[1:],
                r.meets_target,
            ]
        )

    ws = wb.create_sheet(_sheet_title(L.SHEET_RATING3, taken))
    ws.append(
        _dim_headers(dims)
        + ["n"]
        + [h for lv in RATING3_LEVELS for h in (L.RATING3_NAMES[lv], f"{L.RATING3_NAMES[lv]} (%)")]
        + [L.HEADER_SATISFIED]
    )
    for d3 in report.rating3:
        ws.append(
            _dim_values(d3.keys, dims)
            + [d3.n]
            + [
                c
                for lv in RATING3_LEVELS
                for c in (d3.counts[lv], pct_cell(ws, d3.shares[lv].value))
            ]
            + [pct_cell(ws, d3.satisfied.value)]
        )
    wb.save(path)


# =========================================================================== complaints
# `hailong report complaints` (reports/complaints.py): the same four formats. Its Vietnamese
# words are kept here, beside the renderers that print them.

COMPLAINT_HEADERS: dict[str, str] = {**L.DIMENSION_HEADERS, "ward": "Phường/xã"}
COMPLAINT_COUNT_NAMES: dict[str, str] = {
    "received": "Tiếp nhận (có mã)",
    "feedback": "Góp ý ẩn danh",
    "routed_automatically": "Chuyển tự động",
    "routed_triage": "Qua bàn phân loại",
    "accepted": "Đã nhận xử lý",
    "answered": "Đã trả lời",
    "answered_on_time": "Trả lời đúng hạn",
    "answered_late": "Trả lời trễ hạn",
    "rejected": "Từ chối (ngoài phạm vi)",
    "open": "Đang xử lý",
    "overdue": "Quá hạn, chưa trả lời",
    "transfers": "Lượt chuyển đơn vị",
    "reopened": "Bị mở lại",
    "rated": "Được đánh giá",
    "satisfied": "Đánh giá hài lòng",
    "competence_766": "PAKN thuộc thẩm quyền (QĐ 766)",
    "rated_khong_hai_long_766": "Không hài lòng (QĐ 766)",
    "late_766": "Trễ hạn (QĐ 766)",
    "excluded_766": "Bị trừ (QĐ 766)",
}
COMPLAINT_SHORT: dict[str, str] = {
    "received": "Tiếp nhận",
    "feedback": "Ẩn danh",
    "routed_automatically": "Tự động",
    "routed_triage": "Phân loại",
    "answered": "Trả lời",
    "answered_on_time": "Đúng hạn",
    "answered_late": "Trễ",
    "rejected": "Từ chối",
    "open": "Đang mở",
    "overdue": "Quá hạn",
    "transfers": "Chuyển",
    "reopened": "Mở lại",
}
COMPLAINT_FRACTION_NAMES: dict[str, str] = {
    "on_time_rate": "Tỷ lệ trả lời đúng hạn",
    "satisfaction_rate": "Tỷ lệ hài lòng với việc xử lý",
    "ratio_766_on_time": "QĐ 766: tỷ lệ xử lý đúng hạn",
    "ratio_766_satisfaction": "QĐ 766: tỷ lệ hài lòng",
}
COMPLAINT_HOURS_NAMES: dict[str, str] = {
    "hours_to_accept": "Số giờ đến khi nhận xử lý",
    "hours_to_answer": "Số giờ đến khi trả lời",
}
COMPLAINT_TITLE_OVERALL = "Phản ánh, kiến nghị: tổng hợp"
COMPLAINT_TITLE_COUNTS = "Phản ánh, kiến nghị theo"
COMPLAINT_TITLE_RATES = "Thời gian, đúng hạn và hài lòng theo"
COMPLAINT_PERIOD_NOTE = (
    "Từ {date_from} đến {date_to} (giờ Việt Nam); đang mở và quá hạn tính đến {now}"
)
COMPLAINT_TARGET_NOTE = "Mục tiêu: trả lời đúng hạn {on_time}, hài lòng {satisfaction}."
COMPLAINT_SHEET_OVERALL = "Tổng hợp PAKN"
COMPLAINT_MEASURE = "Chỉ tiêu"
COMPLAINT_VALUE = "Giá trị"

# Long CSV: one line per figure, as the satisfaction report's.
COMPLAINT_CSV_COLUMNS: tuple[str, ...] = (
    "section",
    "by",
    "unit_code",
    "unit_name",
    "ward_code",
    "ward_name",
    "channel",
    "day",
    "month",
    "quarter",
    "year",
    "measure",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "small_n",
    "meets_target",
    "target",
    "count",
)


def _complaint_fractions(row: ComplaintRow, report: ComplaintReport) -> list[_Fraction]:
    """A row's four fractions: (measure, figure, meets target, target, numerator)."""
    c = row.counts
    return [
        _Fraction(
            "on_time_rate",
            row.on_time,
            row.meets_on_time_target,
            report.on_time_target,
            c["answered_on_time"],
        ),
        _Fraction(
            "satisfaction_rate",
            row.satisfaction,
            row.meets_satisfaction_target,
            report.satisfaction_target,
            c["satisfied"],
        ),
        _Fraction(
            "ratio_766_on_time",
            row.on_time_766,
            row.on_time_766_meets_target,
            report.on_time_target,
            c["answered_on_time"],
        ),
        _Fraction(
            "ratio_766_satisfaction",
            row.satisfaction_766,
            row.satisfaction_766_meets_target,
            report.satisfaction_target,
            c["competence_766"] - c["excluded_766"],
        ),
    ]


@dataclass(frozen=True)
class _Fraction:
    measure: str
    figure: Figure
    meets: bool
    target: float
    count: int


def write_complaints_json(report: ComplaintReport, out: TextIO) -> None:
    """The complaints report as one JSON document (shape in reports/README.md)."""
    json.dump(report.to_dict(), out, ensure_ascii=False, indent=2)
    out.write("\n")


def _hours_cell(value: float | None) -> Any:
    return "" if value is None else round(value, 2)


def _complaint_row_lines(
    section: str, by: str, row: ComplaintRow, report: ComplaintReport
) -> Iterator[dict[str, Any]]:
    base = {"section": section, "by": by, **_dim_cells(row.keys)}
    for name in COMPLAINT_COUNTS:
        yield {**base, "measure": name, "count": row.counts[name]}
    for name, durations in (
        ("hours_to_accept", row.hours_to_accept),
        ("hours_to_answer", row.hours_to_answer),
    ):
        yield {
            **base,
            "measure": f"{name}_median",
            "value": _hours_cell(durations.median),
            "n": durations.n,
        }
        yield {
            **base,
            "measure": f"{name}_p90",
            "value": _hours_cell(durations.p90),
            "n": durations.n,
        }
    for f in _complaint_fractions(row, report):
        yield {
            **base,
            "measure": f.measure,
            **_figure_cells(f.figure),
            "meets_target": int(f.meets),
            "target": f.target,
            "count": f.count,
        }


def complaint_csv_lines(report: ComplaintReport) -> Iterator[dict[str, Any]]:
    """Every figure of the complaints report as a CSV line (keyed by COMPLAINT_CSV_COLUMNS)."""
    yield from _complaint_row_lines("overall", "", report.overall, report)
    for breakdown in report.breakdowns:
        by = "+".join(breakdown.by)
        for row in breakdown.rows:
            yield from _complaint_row_lines("breakdown", by, row, report)


def write_complaints_csv(report: ComplaintReport, out: TextIO) -> None:
    """Long-format CSV. Open `out` with encoding "utf-8-sig" (BOM for Excel)."""
    writer = csv.DictWriter(
        out, fieldnames=COMPLAINT_CSV_COLUMNS, restval="", lineterminator="\r\n"
    )
    writer.writeheader()
    for line in complaint_csv_lines(report):
        writer.writerow(line)


def _hours_text(median: float | None, p90: float | None) -> str:
    if median is None or p90 is None:
        return "–"
    return f"{median:.1f} / {p90:.1f}"


def _target_text(target: float) -> str:
    return f"{target * 100:.0f}%"


def write_complaints_table(
    report: ComplaintReport, out: TextIO, *, width: int | None = None
) -> None:
    """A readable terminal report: the overall figures, then for each breakdown a table of
    counts and a table of times, on-time and satisfaction rates (targets marked)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=width or 140, highlight=False, soft_wrap=False)
    local_now = report.now.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    console.print(
        COMPLAINT_PERIOD_NOTE.format(
            date_from=report.date_from.isoformat() if report.date_from else L.OPEN_DATE,
            date_to=report.date_to.isoformat() if report.date_to else L.OPEN_DATE,
            now=local_now,
        )
    )
    overall = Table(title=COMPLAINT_TITLE_OVERALL, title_justify="left")
    overall.add_column(COMPLAINT_MEASURE)
    overall.add_column(COMPLAINT_VALUE, justify="right")
    overall.add_column(L.HEADER_CI, justify="right")
    overall.add_column(L.HEADER_TARGET)
    row = report.overall
    for name in COMPLAINT_COUNTS:
        overall.add_row(COMPLAINT_COUNT_NAMES[name], str(row.counts[name]), "", "")
    for name, durations in (
        ("hours_to_accept", row.hours_to_accept),
        ("hours_to_answer", row.hours_to_answer),
    ):
        overall.add_row(
            f"{COMPLAINT_HOURS_NAMES[name]} (trung vị / P90)",
            _hours_text(durations.median, durations.p90),
            "",
            "",
        )
    for f in _complaint_fractions(row, report):
        overall.add_row(
            f"{COMPLAINT_FRACTION_NAMES[f.measure]} (mục tiêu {_target_text(f.target)})",
            f"{_pct(f.figure)} (n={f.figure.n})",
            _ci(f.figure),
            L.YES if f.meets else L.NO,
        )
    console.print(overall)

    for breakdown in report.breakdowns:
        dims = breakdown.by
        heads = " × ".join(COMPLAINT_HEADERS[d] for d in dims)
        if not breakdown.rows:
            console.print(f"{COMPLAINT_TITLE_COUNTS} {heads}: {L.NO_DATA}")
            continue
        counts = Table(title=f"{COMPLAINT_TITLE_COUNTS} {heads}", title_justify="left")
        for dim in dims:
            counts.add_column(COMPLAINT_HEADERS[dim])
        for name in COMPLAINT_SHORT:
            counts.add_column(COMPLAINT_SHORT[name], justify="right")
        for r in breakdown.rows:
            counts.add_row(
                *[_dim_text(r.keys[d]) for d in dims],
                *[str(r.counts[name]) for name in COMPLAINT_SHORT],
            )
        console.print(counts)
        rates = Table(title=f"{COMPLAINT_TITLE_RATES} {heads}", title_justify="left")
        for dim in dims:
            rates.add_column(COMPLAINT_HEADERS[dim])
        for head in (
            "Nhận (giờ) TV / P90",
            "Trả lời (giờ) TV / P90",
            "Đúng hạn",
            L.HEADER_TARGET,
            "Hài lòng",
            "n",
            L.HEADER_TARGET,
            "766 đúng hạn",
            "766 hài lòng",
        ):
            rates.add_column(head, justify="right" if head != L.HEADER_TARGET else "left")
        for r in breakdown.rows:
            rates.add_row(
                *[_dim_text(r.keys[d]) for d in dims],
                _hours_text(r.hours_to_accept.median, r.hours_to_accept.p90),
                _hours_text(r.hours_to_answer.median, r.hours_to_answer.p90),
                _pct(r.on_time),
                L.YES if r.meets_on_time_target else L.NO,
                _pct(r.satisfaction),
                str(r.satisfaction.n),
                L.YES if r.meets_satisfaction_target else L.NO,
                _pct(r.on_time_766),
                _pct(r.satisfaction_766),
            )
        console.print(rates)
    console.print(
        COMPLAINT_TARGET_NOTE.format(
            on_time=_target_text(report.on_time_target),
            satisfaction=_target_text(report.satisfaction_target),
        )
        + " "
        + L.SMALL_N_NOTE.format(min_n=report.min_n)
    )


def write_complaints_xlsx(report: ComplaintReport, path: Path) -> None:
    """The complaints report as a workbook: the overall figures, then one wide sheet per
    breakdown (dimensions, counts, hours, each fraction with its interval and target)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    taken: set[str] = set()

    def pct_cell(ws: Any, value: float | None) -> Any:
        cell = WriteOnlyCell(ws, value=round4(value))
        cell.number_format = "0.00%"
        return cell

    ws = wb.create_sheet(_sheet_title(COMPLAINT_SHEET_OVERALL, taken))
    ws.append(
        [
            COMPLAINT_MEASURE,
            "Mã",
            COMPLAINT_VALUE,
            "n",
            "KTC thấp",
            "KTC cao",
            "n nhỏ",
            L.HEADER_TARGET,
            L.HEADER_TARGET_LINE,
        ]
    )
    row = report.overall
    for name in COMPLAINT_COUNTS:
        ws.append([COMPLAINT_COUNT_NAMES[name], name, row.counts[name]])
    for name, durations in (
        ("hours_to_accept", row.hours_to_accept),
        ("hours_to_answer", row.hours_to_answer),
    ):
        ws.append(
            [
                f"{COMPLAINT_HOURS_NAMES[name]} (trung vị)",
                f"{name}_median",
                _hours(durations.median),
                durations.n,
            ]
        )
        ws.append(
            [
                f"{COMPLAINT_HOURS_NAMES[name]} (P90)",
                f"{name}_p90",
                _hours(durations.p90),
                durations.n,
            ]
        )
    for f in _complaint_fractions(row, report):
        ws.append(
            [
                COMPLAINT_FRACTION_NAMES[f.measure],
                f.measure,
                pct_cell(ws, f.figure.value),
                f.figure.n,
                pct_cell(ws, f.figure.ci_low),
                pct_cell(ws, f.figure.ci_high),
                f.figure.small_n,
                f.meets,
                pct_cell(ws, f.target),
            ]
        )

    fraction_heads: list[str] = []
    for name in COMPLAINT_FRACTION_NAMES.values():
        fraction_heads += [name, "n", "KTC thấp", "KTC cao", "n nhỏ", L.HEADER_TARGET]
    for breakdown in report.breakdowns:
        dims = breakdown.by
        sheet = wb.create_sheet(_sheet_title(" × ".join(COMPLAINT_HEADERS[d] for d in dims), taken))
        sheet.append(
            _complaint_dim_headers(dims)
            + [COMPLAINT_COUNT_NAMES[name] for name in COMPLAINT_COUNTS]
            + [
                f"{COMPLAINT_HOURS_NAMES['hours_to_accept']} (trung vị)",
                f"{COMPLAINT_HOURS_NAMES['hours_to_accept']} (P90)",
                f"{COMPLAINT_HOURS_NAMES['hours_to_answer']} (trung vị)",
                f"{COMPLAINT_HOURS_NAMES['hours_to_answer']} (P90)",
            ]
            + fraction_heads
        )
        for r in breakdown.rows:
            cells: list[Any] = _dim_values(r.keys, dims)
            cells += [r.counts[name] for name in COMPLAINT_COUNTS]
            cells += [
                _hours(r.hours_to_accept.median),
                _hours(r.hours_to_accept.p90),
                _hours(r.hours_to_answer.median),
                _hours(r.hours_to_answer.p90),
            ]
            for f in _complaint_fractions(r, report):
                cells += [
                    pct_cell(sheet, f.figure.value),
                    f.figure.n,
                    pct_cell(sheet, f.figure.ci_low),
                    pct_cell(sheet, f.figure.ci_high),
                    f.figure.small_n,
                    f.meets,
                ]
            sheet.append(cells)
    wb.save(path)


def _complaint_dim_headers(dims: Sequence[str]) -> list[str]:
    heads: list[str] = []
    for dim in dims:
        if dim in COMPLAINT_PAIR_DIMENSIONS:
            heads += [f"{COMPLAINT_HEADERS[dim]} (mã)", COMPLAINT_HEADERS[dim]]
        else:
            heads.append(COMPLAINT_HEADERS[dim])
    return heads


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _flag(value: bool | None) -> int | str:
    """A yes/no column for CSV: 1/0, empty when there is no data to judge."""
    return "" if value is None else int(value)
