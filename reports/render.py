"""Report output: terminal table, CSV (UTF-8 with BOM), JSON and XLSX.

Renderers take a built `Report` and a file; they never query the database. Opening files
(and the temp-file-then-rename dance) belongs to the CLI.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from reports import labels as L
from reports.build import Dim, DimValue, Figure, IndexRow, Report
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
        "meets_target": int(row.meets_target),
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
            "meets_target": int(ratio.meets_target),
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
