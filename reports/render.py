"""Report output: terminal table, CSV (UTF-8 with BOM), JSON and XLSX.

Renderers take a built `Report` and a file; they never query the database. Opening files
(and the temp-file-then-rename dance) belongs to the CLI.
"""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports import labels as L
from reports.build import Dim, DimValue, Figure, IndexRow, Ratio766Row, Report
from reports.complaints import COUNTS as COMPLAINT_COUNTS
from reports.complaints import PAIR_DIMENSIONS as COMPLAINT_PAIR_DIMENSIONS
from reports.complaints import ComplaintReport, ComplaintRow
from reports.queries import PAIR_DIMENSIONS, RATING3_LEVELS
from reports.stats import round4

FORMATS: tuple[str, ...] = ("table", "csv", "xlsx", "json")
TABLE_WIDTH = 100  # columns of the terminal table when the terminal does not say

# Long ("tidy") CSV: one line per figure, so every section fits one header and a pivot table
# in Excel rebuilds any wide view. Dimension columns not used by a section stay empty.
# This is the machine form (`--format csv --machine`): columns are only ever added at the end.
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
    "field",
    "unranked",
)
# The analyst's CSV: the same lines, dimensions together, the statement text beside its code,
# headers and words in Vietnamese (labels.CSV_HEADERS).
ANALYST_CSV_COLUMNS: tuple[str, ...] = (
    "section",
    "by",
    "unit_code",
    "unit_name",
    "procedure_code",
    "procedure_name",
    "field",
    "element",
    "channel",
    "day",
    "month",
    "quarter",
    "year",
    "rank",
    "unranked",
    "measure",
    "code",
    "statement",
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


def _dim_cells(keys: Mapping[str, DimValue]) -> dict[str, Any]:
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


def _unranked_reason(row: IndexRow) -> str | None:
    """Why a unit-ranking row has no rank (build.py says so; older reports: worked out)."""
    if row.rank is not None:
        return None
    if row.unranked is not None:
        return row.unranked
    unit = row.keys.get("unit")
    if isinstance(unit, Dim) and unit.code is None:
        return "unknown_unit"
    return "no_data" if row.no_data else "small_n"


def _index_lines(section: str, by: str, row: IndexRow) -> Iterator[dict[str, Any]]:
    base = {"section": section, "by": by, **_dim_cells(row.keys)}
    if row.rank is not None:
        base["rank"] = row.rank
    if section == "units":
        base["unranked"] = _unranked_reason(row) or ""
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


def _ratio_lines(by: str, ratio: Ratio766Row) -> Iterator[dict[str, Any]]:
    base = {"section": "ratio_766", "by": by, **_dim_cells(ratio.keys)}
    yield {
        **base,
        "measure": "ratio_766",
        **_figure_cells(ratio.ratio),
        "meets_target": _flag(ratio.meets_target),
        "count": ratio.dossiers - ratio.excluded,
    }
    if ratio.on_time is not None:
        yield {
            **base,
            "measure": "dossiers_on_time",
            **_figure_cells(ratio.on_time),
            "meets_target": _flag(ratio.meets_on_time_target),
            "count": ratio.dossiers - ratio.late,
        }
    yield {**base, "measure": "dossiers", "count": ratio.dossiers}
    yield {**base, "measure": "rated_khong_hai_long", "count": ratio.rated_khong_hai_long}
    yield {**base, "measure": "late", "count": ratio.late}
    yield {**base, "measure": "excluded", "count": ratio.excluded}


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
    yield from _ratio_lines("", report.overall_766)
    for ratio in report.ratio_766:
        yield from _ratio_lines(period_by, ratio)
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


def _yes_no(value: Any) -> str:
    return "" if value in ("", None) else (L.CSV_YES if int(value) else L.CSV_NO)


def _met(value: Any) -> str:
    return "" if value in ("", None) else (L.YES if int(value) else L.NO)


def _by_text(by: str) -> str:
    return " × ".join(L.DIMENSION_HEADERS.get(d, d) for d in by.split("+")) if by else ""


def _analyst_line(line: Mapping[str, Any], report: Report) -> dict[str, Any]:
    """A machine CSV line in the analyst's words (values unchanged, labels translated)."""
    out = dict(line)
    out["section"] = L.CSV_SECTIONS.get(line["section"], line["section"])
    out["by"] = _by_text(line.get("by", ""))
    measure = line.get("measure", "")
    code = line.get("code", "")
    out["measure"] = L.CSV_MEASURES.get(measure, measure)
    if measure == "criterion_rate":
        out["statement"] = report.criteria_text.get(code, "")
    elif measure == "element_index":
        out["statement"] = L.ELEMENT_NAMES.get(code, "")
    elif measure == "rating3_share":
        out["statement"] = L.RATING3_NAMES.get(code, "")
    if line.get("unranked"):
        out["unranked"] = L.UNRANKED_REASONS.get(line["unranked"], line["unranked"])
    out["small_n"] = _yes_no(line.get("small_n"))
    out["meets_target"] = _met(line.get("meets_target"))
    return out


def _write_rows(
    out: TextIO,
    columns: Sequence[str],
    lines: Iterable[Mapping[str, Any]],
    headers: Mapping[str, str] | None = None,
) -> None:
    writer = csv.DictWriter(
        out, fieldnames=columns, restval="", lineterminator="\r\n", extrasaction="ignore"
    )
    if headers is None:
        writer.writeheader()
    else:
        writer.writerow({c: headers.get(c, c) for c in columns})
    for line in lines:
        writer.writerow(line)


def write_csv(report: Report, out: TextIO, *, machine: bool = False) -> None:
    """The report as long-format CSV. Open `out` with encoding "utf-8-sig" (BOM for Excel).

    Default: for analysts (Vietnamese headers, section and measure names, statement texts).
    `machine=True`: the stable form other programs read (English snake_case columns and
    codes, booleans 1/0; documented in reports/README.md).
    """
    if machine:
        _write_rows(out, CSV_COLUMNS, csv_lines(report))
    else:
        lines = (_analyst_line(line, report) for line in csv_lines(report))
        _write_rows(out, ANALYST_CSV_COLUMNS, lines, L.CSV_HEADERS)


# --------------------------------------------------------------------------- table


def _pct(figure: Figure | None) -> str:
    if figure is None or figure.value is None:
        return "–"
    return f"{figure.value * 100:.1f}%" + ("*" if figure.small_n else "")


def _fits(console: Any, table: Any) -> bool:
    """Whether `table` fits the console's width with every no-wrap column (numbers,
    intervals, marks) whole and each wrapping column (names) at its min_width.

    Padding and borders come from rich's own accounting (private helpers of rich's Table,
    rich 13+); beyond the width rich would cut the last columns off.
    """
    from rich.cells import cell_len

    total = table._extra_width
    for index, column in enumerate(table.columns):
        if column.no_wrap:
            lines = [str(column.header)]
            lines += [line for cell in column.cells for line in str(cell).split("\n")]
            content = max(cell_len(line) for line in lines)
        else:
            content = column.min_width or 1
        total += content + table._get_padding_width(index)
    return bool(total <= console.width)


def _points(figure: Figure | None) -> str:
    """A rate in percentage points without the % sign (element columns; saves the width)."""
    if figure is None or figure.value is None:
        return "–" if figure is not None else ""
    return f"{figure.value * 100:.1f}" + ("*" if figure.small_n else "")


def _ci(figure: Figure | None) -> str:
    if figure is None or figure.ci_low is None or figure.ci_high is None:
        return "–"
    return f"{figure.ci_low * 100:.1f}–{figure.ci_high * 100:.1f}"


def _mark(meets: bool | None, *, cell: bool = False) -> str:
    """A target mark for every row: met, missed, or nothing to judge (`cell`: in a narrow
    table column, where rich may drop a word when it wraps the text itself)."""
    if meets is None:
        return L.NO_DATA_MARK_CELL if cell else L.NO_DATA_MARK
    return L.YES if meets else L.NO


def _share(value: float) -> str:
    return f"{value * 100:g}%"


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


def _zone(report: Report) -> ZoneInfo | None:
    try:
        return ZoneInfo(report.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local_time(moment: datetime, report: Report) -> str:
    zone = _zone(report)
    local = moment.astimezone(zone) if zone else moment
    return local.strftime("%Y-%m-%d %H:%M")


def _change_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return f"{value * 100:.1f}%"
    return str(value)


def header_lines(report: Report) -> list[str]:
    """What, when and on which questionnaire: the lines above the table (and the cover)."""
    title = f" – {report.questionnaire_title}" if report.questionnaire_title else ""
    lines = [
        L.QUESTIONNAIRE_LINE.format(
            code=report.questionnaire,
            title=title,
            versions=", ".join(report.versions) or L.NO_VERSIONS,
        )
    ]
    start = report.span[0] if report.span else report.date_from
    end = report.span[1] if report.span else report.date_to
    if start is None and end is None:
        lines.append(L.SPAN_NONE.format(tz=report.timezone))
    else:
        lines.append(
            L.SPAN_LINE.format(
                start=start.isoformat() if start else L.OPEN_DATE,
                end=end.isoformat() if end else L.OPEN_DATE,
                tz=report.timezone,
            )
        )
    lines.append(L.RESPONSES_LINE.format(**report.responses.to_dict()))
    lines.append(
        L.TARGETS_LINE.format(
            satisfaction=_share(report.target),
            on_time=_share(report.targets.dossiers_on_time),
            every_field=_share(report.targets.every_field),
        )
    )
    if report.closed is not None:
        lines.append(
            L.CLOSED_LINE.format(
                month=report.closed.month,
                closed_at=_local_time(report.closed.closed_at, report),
                closed_by=report.closed.closed_by,
            )
        )
    return lines


def change_lines(report: Report) -> list[str]:
    """A closed month's changes since closing, one line each (empty when not closed)."""
    if report.closed is None:
        return []
    if not report.closed.changes:
        return [L.NO_CHANGES]
    return [
        L.CHANGE_LINE.format(where=where, stored=_change_value(old), now=_change_value(new))
        for where, old, new in report.closed.changes
    ]


def _field_verdict(report: Report, rows: Sequence[IndexRow]) -> str:
    """The "≥ 95% in every field" target over a field breakdown's rows that have data."""
    target = report.targets.every_field
    judged = [r for r in rows if r.overall_index.value is not None]
    met = sum(1 for r in judged if (r.overall_index.value or 0.0) >= target)
    verdict = L.NO_DATA_MARK if not judged else (L.YES if met == len(judged) else L.NO)
    return L.FIELD_TARGET_LINE.format(
        target=_share(target), verdict=verdict.lower(), met=met, total=len(judged)
    )


def write_table(report: Report, out: TextIO, *, width: int | None = None) -> None:
    """A readable terminal report: what and when, overall, each breakdown, the unit ranking
    (then the units without a rank and why), 766 with dossiers on time, the three levels,
    the changes since a month was closed, and a legend of the abbreviated headers.

    Fits `width` columns (default TABLE_WIDTH): headers are short, long names wrap.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(
        file=out, width=width or TABLE_WIDTH, highlight=False, soft_wrap=False, emoji=False
    )
    console.print(L.REPORT_TITLE)
    for line in header_lines(report):
        console.print(line, markup=False)

    def new_table(title: str) -> Table:
        return Table(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,  # two more columns for the names
            pad_edge=False,
            collapse_padding=True,
        )

    def name_column(table: Table, head: str) -> None:
        # Names wrap (at word boundaries, folding a word longer than the column).
        table.add_column(head, overflow="fold", min_width=16, ratio=1)

    def number_column(table: Table, head: str) -> None:
        table.add_column(head, justify="right", no_wrap=True)

    def mark_column(table: Table, head: str) -> None:
        # Marks are at most 8 characters a line ("Chưa đạt"; no data on two lines).
        table.add_column(head, no_wrap=True, min_width=8)

    def dim_column(table: Table, dim: str) -> None:
        head = L.DIMENSION_HEADERS.get(dim, dim)
        if dim in PAIR_DIMENSIONS or dim == "field":
            name_column(table, head)
        else:  # periods and channels: short codes
            table.add_column(head, no_wrap=True)

    def index_table(
        title: str, dims: Sequence[str], rows: Sequence[IndexRow], *, ranked: bool = False
    ) -> None:
        if not rows:
            console.print(f"{title}: {L.NO_DATA}", markup=False)
            return
        table = build_index_table(title, dims, rows, ranked, with_elements=True)
        if not _fits(console, table):
            # Too many columns for this width: the element indices are left to the other
            # formats rather than squeezing the names or cutting off the marks.
            table = build_index_table(title, dims, rows, ranked, with_elements=False)
            console.print(table)
            console.print(L.ELEMENTS_OMITTED, markup=False)
        else:
            console.print(table)
        console.print()  # a blank line between tables

    def build_index_table(
        title: str,
        dims: Sequence[str],
        rows: Sequence[IndexRow],
        ranked: bool,
        *,
        with_elements: bool,
    ) -> Table:
        table = new_table(title)
        if ranked:
            number_column(table, L.HEADER_RANK)
        for dim in dims:
            dim_column(table, dim)
        for head in (L.SHORT_RESPONDENTS, L.HEADER_INDEX, L.HEADER_CI):
            number_column(table, head)
        elements = _element_codes(rows) if with_elements else []
        for code in elements:
            number_column(table, code)
        mark_column(table, L.SHORT_TARGET)
        for row in rows:
            cells = [str(row.rank or "")] if ranked else []
            cells += [_dim_text(row.keys.get(d)) for d in dims]
            cells += [str(row.respondents), _pct(row.overall_index), _ci(row.overall_index)]
            cells += [_points(row.elements.get(c)) for c in elements]
            cells.append(_mark(row.meets_target, cell=True))
            table.add_row(*cells)
        return table

    index_table(L.TITLE_OVERALL, [], [report.overall])
    for breakdown in report.breakdowns:
        heads = " × ".join(L.DIMENSION_HEADERS.get(d, d) for d in breakdown.by)
        index_table(f"{L.TITLE_BREAKDOWN} {heads}", breakdown.by, breakdown.rows)
        if "field" in breakdown.by and breakdown.rows:
            console.print(_field_verdict(report, breakdown.rows), markup=False)
            console.print()

    ranked_units = [r for r in report.units if r.rank is not None]
    unranked_units = [r for r in report.units if r.rank is None]
    if ranked_units or not unranked_units:
        index_table(L.TITLE_UNITS, ["unit"], ranked_units, ranked=True)
    if unranked_units:
        table = new_table(L.TITLE_UNRANKED)
        dim_column(table, "unit")
        for head in (L.SHORT_RESPONDENTS, L.HEADER_INDEX, L.HEADER_CI):
            number_column(table, head)
        mark_column(table, L.SHORT_TARGET)
        table.add_column(L.HEADER_REASON, min_width=16, ratio=1)
        for row in unranked_units:
            reason = _unranked_reason(row) or ""
            table.add_row(
                _dim_text(row.keys.get("unit")),
                str(row.respondents),
                _pct(row.overall_index),
                _ci(row.overall_index),
                _mark(row.meets_target, cell=True),
                L.UNRANKED_REASONS.get(reason, reason),
            )
        console.print(table)
        console.print()  # a blank line between tables

    dims = ["unit", report.period] if report.period else ["unit"]
    if report.ratio_766:
        t766 = new_table(L.TITLE_766)
        for dim in dims:
            dim_column(t766, dim)
        for head in (
            L.SHORT_DOSSIERS,
            L.SHORT_RATED_BAD,
            L.SHORT_LATE,
            L.SHORT_EXCLUDED,
            L.HEADER_RATIO,
            L.HEADER_CI,
        ):
            number_column(t766, head)
        mark_column(t766, L.SHORT_TARGET)
        number_column(t766, L.SHORT_ON_TIME)
        mark_column(t766, L.SHORT_ON_TIME_TARGET)

        def add_766(r: Ratio766Row, keys: list[str]) -> None:
            t766.add_row(
                *keys,
                str(r.dossiers),
                str(r.rated_khong_hai_long),
                str(r.late),
                str(r.excluded),
                _pct(r.ratio),
                _ci(r.ratio),
                _mark(r.meets_target, cell=True),
                _pct(r.on_time),
                _mark(r.meets_on_time_target, cell=True),
            )

        for r in report.ratio_766:
            add_766(r, [_dim_text(r.keys.get(d)) for d in dims])
        t766.add_section()
        add_766(report.overall_766, [L.TOTAL] + [""] * (len(dims) - 1))
        console.print(t766)
        console.print()  # a blank line between tables
    else:
        console.print(f"{L.TITLE_766}: {L.NO_DATA}", markup=False)

    if report.rating3:
        t3 = new_table(L.TITLE_RATING3)
        for dim in dims:
            dim_column(t3, dim)
        number_column(t3, "n")
        for level in RATING3_LEVELS:
            t3.add_column(L.RATING3_NAMES[level], justify="right")
        t3.add_column(L.HEADER_SATISFIED, justify="right")
        for d3 in report.rating3:
            t3.add_row(
                *[_dim_text(d3.keys.get(d)) for d in dims],
                str(d3.n),
                *[f"{d3.counts[lv]} ({_pct(d3.shares[lv])})" for lv in RATING3_LEVELS],
                _pct(d3.satisfied),
            )
        console.print(t3)
        console.print()  # a blank line between tables
    else:
        console.print(f"{L.TITLE_RATING3}: {L.NO_DATA}", markup=False)

    if report.closed is not None:
        console.print(f"{L.TITLE_CHANGES} ({report.closed.month})", markup=False)
        for line in change_lines(report):
            console.print(f"- {line}", markup=False)

    elements = [
        code for code in _element_codes([report.overall, *report.units]) if code in L.ELEMENT_NAMES
    ]
    console.print(
        L.LEGEND_INDEX.format(target=_share(report.target), min_n=report.min_n), markup=False
    )
    if elements:
        console.print(
            L.LEGEND_ELEMENTS.format(
                elements="; ".join(f"{c}: {L.ELEMENT_NAMES[c]}" for c in elements)
            ),
            markup=False,
        )
    console.print(
        L.LEGEND_766.format(
            target=_share(report.target), on_time=_share(report.targets.dossiers_on_time)
        ),
        markup=False,
    )


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
        head = L.DIMENSION_HEADERS.get(dim, dim)
        if dim in PAIR_DIMENSIONS:
            heads += [f"{head} (mã)", head]
        else:
            heads.append(head)
    return heads


def _dim_values(keys: Mapping[str, DimValue], dims: Sequence[str]) -> list[Any]:
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


def _column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index))


def _set_widths(ws: Any, heads: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Columns wide enough for their longest text (up to 80 characters)."""
    for i, head in enumerate(heads, start=1):
        longest = max(
            [len(str(head)) if len(str(head)) <= 24 else 12]
            + [len(str(r[i - 1])) for r in rows if i - 1 < len(r) and isinstance(r[i - 1], str)]
        )
        ws.column_dimensions[_column_letter(i)].width = max(9, min(80, longest + 2))


def write_xlsx(report: Report, path: Path) -> None:
    """The report as a workbook: a cover sheet (what, when, which questionnaire, how), the
    overall figures, one sheet per breakdown, the units (ranked first) with a bar chart of
    each ranked unit's index and the target as a line, the 766 ratios with dossiers on time,
    and the three-level distribution.

    Written with openpyxl's write-only mode, which streams rows to disk as they are added.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.chart.shapes import GraphicalProperties
    from openpyxl.styles import Alignment, Font

    wb = Workbook(write_only=True)
    taken: set[str] = set()
    wrap = Alignment(wrap_text=True, vertical="top")

    def new_sheet(title: str, *, one_page_wide: bool = True) -> Any:
        sheet = wb.create_sheet(_sheet_title(title, taken))
        # Printed (or exported to PDF) landscape; narrow sheets one page wide. The wide
        # breakdown sheets (a column per criterion) keep their size, or they would be unreadable.
        sheet.page_setup.orientation = "landscape"
        if one_page_wide:
            sheet.page_setup.fitToWidth = 1
            sheet.page_setup.fitToHeight = 0
            sheet.sheet_properties.pageSetUpPr.fitToPage = True
        return sheet

    def pct_cell(ws: Any, value: float | None) -> Any:
        cell = WriteOnlyCell(ws, value=round4(value))
        cell.number_format = "0.00%"
        return cell

    def head_cells(ws: Any, heads: Sequence[str]) -> list[Any]:
        cells = []
        for head in heads:
            cell = WriteOnlyCell(ws, value=head)
            cell.font = Font(bold=True)
            cell.alignment = wrap
            cells.append(cell)
        return cells

    def fig_cells(ws: Any, figure: Figure | None) -> list[Any]:
        if figure is None:
            return [None, None, None, None, None]
        return [
            figure.n,
            pct_cell(ws, figure.value),
            pct_cell(ws, figure.ci_low),
            pct_cell(ws, figure.ci_high),
            L.CSV_YES if figure.small_n else L.CSV_NO,
        ]

    def target_mark(meets: bool | None) -> str:
        return _mark(meets)

    fig_heads = ["n", L.HEADER_INDEX, "KTC thấp", "KTC cao", "n nhỏ"]

    # Cover: what was computed, over which days, on which questionnaire, and how.
    ws = new_sheet(L.SHEET_COVER)
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = COVER_TEXT_WIDTH + 5
    for label, text in cover_rows(report):
        # A long text goes on several rows: write-only sheets cannot size a row to its
        # wrapped text, and spreadsheet programs do not all do it on opening.
        for i, part in enumerate(_cover_parts(text)):
            first = WriteOnlyCell(ws, value=label if i == 0 else None)
            first.font = Font(bold=True)
            ws.append([first, part or None])  # None: the title spills into column B

    # Overall: one line per figure; criteria carry their statement text next to the code.
    ws = new_sheet(L.SHEET_OVERALL)
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 14
    # Statements on one line each (a write-only sheet cannot grow a row for wrapped text).
    statements = [*report.criteria_text.values(), *L.ELEMENT_NAMES.values()]
    ws.column_dimensions["C"].width = min(120, max(len(t) for t in statements) + 2)
    for letter in "DEFGHIJ":
        ws.column_dimensions[letter].width = 12
    ws.append(
        head_cells(
            ws, [L.HEADER_MEASURE, L.HEADER_CODE, L.HEADER_STATEMENT, *fig_heads, L.HEADER_TARGET]
        )
    )
    ov = report.overall
    ws.append(
        [L.TITLE_OVERALL, "", "", *fig_cells(ws, ov.overall_index), target_mark(ov.meets_target)]
    )
    for code, figure in ov.elements.items():
        ws.append(["Yếu tố", code, L.ELEMENT_NAMES.get(code, ""), *fig_cells(ws, figure)])
    for code, figure in ov.criteria.items():
        text = report.criteria_text.get(code, "")
        ws.append(["Tiêu chí", code, text, *fig_cells(ws, figure)])
    r766 = report.overall_766
    ws.append([L.TITLE_766, "", "", *fig_cells(ws, r766.ratio), target_mark(r766.meets_target)])
    if r766.on_time is not None:
        ws.append(
            [
                L.HEADER_ON_TIME,
                "",
                "",
                *fig_cells(ws, r766.on_time),
                target_mark(r766.meets_on_time_target),
            ]
        )
    for level in RATING3_LEVELS:
        ws.append(
            [
                L.TITLE_RATING3,
                level,
                L.RATING3_NAMES[level],
                *fig_cells(ws, report.overall_rating3.shares[level]),
            ]
        )

    def index_sheet(
        title: str, dims: Sequence[str], rows: Sequence[IndexRow], *, units: bool = False
    ) -> tuple[Any, list[str]]:
        sheet = new_sheet(title, one_page_wide=False)
        elements = _element_codes(rows)
        criteria = _criterion_codes(rows)
        ranked = units or any(row.rank is not None for row in rows)
        heads = (
            ([L.HEADER_RANK] if ranked else [])
            + _dim_headers(dims)
            + [L.HEADER_RESPONDENTS, *fig_heads[1:], L.HEADER_TARGET, L.HEADER_TARGET_LINE]
            + ([L.HEADER_REASON_UNRANKED] if units else [])
            + [f"{c}: {L.ELEMENT_NAMES[c]}" if c in L.ELEMENT_NAMES else c for c in elements]
            + [
                f"{c}: {report.criteria_text[c]}" if c in report.criteria_text else c
                for c in criteria
            ]
        )
        body: list[list[Any]] = []
        for row in rows:
            reason = _unranked_reason(row) if units else None
            body.append(
                ([row.rank] if ranked else [])
                + _dim_values(row.keys, dims)
                + [row.respondents, *fig_cells(sheet, row.overall_index)[1:]]
                + [target_mark(row.meets_target), pct_cell(sheet, report.target)]
                + ([L.UNRANKED_REASONS.get(reason, reason) if reason else None] if units else [])
                + [
                    pct_cell(sheet, row.elements[c].value) if c in row.elements else None
                    for c in elements
                ]
                + [
                    pct_cell(sheet, row.criteria[c].value) if c in row.criteria else None
                    for c in criteria
                ]
            )
        _set_widths(sheet, heads, body)
        sheet.freeze_panes = "A2"
        sheet.append(head_cells(sheet, heads))
        for cells in body:
            sheet.append(cells)
        return sheet, heads

    for breakdown in report.breakdowns:
        heads_title = " × ".join(L.DIMENSION_HEADERS.get(d, d) for d in breakdown.by)
        index_sheet(heads_title, breakdown.by, breakdown.rows)

    units_sheet, unit_heads = index_sheet(L.SHEET_UNITS, ["unit"], report.units, units=True)
    charted = sum(1 for r in report.units if r.rank is not None) or len(report.units)
    if charted:
        # Ranked units come first: the chart shows them (all rows when none is ranked).
        last = charted + 1
        name_col = unit_heads.index(L.DIMENSION_HEADERS["unit"]) + 1
        index_col = unit_heads.index(L.HEADER_INDEX) + 1
        target_col = unit_heads.index(L.HEADER_TARGET_LINE) + 1
        bars = BarChart()
        bars.type = "col"
        bars.title = L.CHART_TITLE
        bars.y_axis.title = L.HEADER_INDEX
        bars.y_axis.scaling.min = 0
        bars.y_axis.scaling.max = 1
        bars.y_axis.number_format = "0%"
        bars.add_data(
            Reference(units_sheet, min_col=index_col, min_row=1, max_row=last),
            titles_from_data=True,
        )
        bars.set_categories(Reference(units_sheet, min_col=name_col, min_row=2, max_row=last))
        target_line = LineChart()
        target_line.add_data(
            Reference(units_sheet, min_col=target_col, min_row=1, max_row=last),
            titles_from_data=True,
        )
        target_line.series[0].graphicalProperties.line.solidFill = "C00000"
        target_line.series[0].graphicalProperties.line.width = 28575  # 2.25 pt
        target_line.series[0].smooth = False
        # A dash on each unit as well: with a single ranked unit there is no line to draw.
        target_line.series[0].marker.symbol = "dash"
        target_line.series[0].marker.size = 20
        target_line.series[0].marker.graphicalProperties = GraphicalProperties(solidFill="C00000")
        target_line.series[0].marker.graphicalProperties.line.solidFill = "C00000"
        bars += target_line
        bars.width = max(18, min(60, 2.0 * charted))  # cm
        bars.height = 12  # room for the unit names under the bars
        # Below the table, so it hides no column.
        units_sheet.add_chart(bars, f"A{len(report.units) + 3}")

    dims = ["unit", report.period] if report.period else ["unit"]
    ws = new_sheet(L.SHEET_766)
    heads_766 = [
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
        L.HEADER_ON_TIME,
        "KTC thấp",
        "KTC cao",
        L.HEADER_ON_TIME_TARGET,
    ]
    body_766: list[list[Any]] = []
    for r in [*report.ratio_766, report.overall_766]:
        keys = (
            _dim_values(r.keys, dims)
            if r.keys
            else [L.TOTAL] + [None] * (len(_dim_headers(dims)) - 1)
        )
        on_time = fig_cells(ws, r.on_time)
        body_766.append(
            [
                *keys,
                r.dossiers,
                r.rated_khong_hai_long,
                r.late,
                r.excluded,
                *fig_cells(ws, r.ratio)[1:],
                target_mark(r.meets_target),
                on_time[1],
                on_time[2],
                on_time[3],
                target_mark(r.meets_on_time_target) if r.on_time is not None else None,
            ]
        )
    _set_widths(ws, heads_766, body_766)
    ws.append(head_cells(ws, heads_766))
    for cells in body_766:
        ws.append(cells)

    ws = new_sheet(L.SHEET_RATING3)
    heads_3 = (
        _dim_headers(dims)
        + ["n"]
        + [h for lv in RATING3_LEVELS for h in (L.RATING3_NAMES[lv], f"{L.RATING3_NAMES[lv]} (%)")]
        + [L.HEADER_SATISFIED]
    )
    body_3: list[list[Any]] = [
        _dim_values(d3.keys, dims)
        + [d3.n]
        + [c for lv in RATING3_LEVELS for c in (d3.counts[lv], pct_cell(ws, d3.shares[lv].value))]
        + [pct_cell(ws, d3.satisfied.value)]
        for d3 in report.rating3
    ]
    _set_widths(ws, heads_3, body_3)
    ws.append(head_cells(ws, heads_3))
    for cells in body_3:
        ws.append(cells)
    wb.save(path)


COVER_TEXT_WIDTH = 110  # characters per row of the cover sheet's text column


def _cover_parts(text: str) -> list[str]:
    parts: list[str] = []
    for paragraph in text.split("\n"):
        parts += textwrap.wrap(paragraph, COVER_TEXT_WIDTH) or [""]
    return parts


def cover_rows(report: Report) -> list[list[str]]:
    """The cover sheet's rows (label, text): what, when, which questionnaire, how."""
    weights = (
        ", ".join(f"{code} {w:g}" for code, w in report.element_weights.items())
        if report.element_weights
        else L.COVER_WEIGHTS_EQUAL
    )
    start = report.span[0] if report.span else report.date_from
    end = report.span[1] if report.span else report.date_to
    span = (
        f"{start.isoformat() if start else L.OPEN_DATE} – {end.isoformat() if end else L.OPEN_DATE}"
        if start or end
        else L.NO_DATA
    )
    title = f" – {report.questionnaire_title}" if report.questionnaire_title else ""
    closed = L.COVER_OPEN
    if report.closed is not None:
        closed = L.CLOSED_LINE.format(
            month=report.closed.month,
            closed_at=_local_time(report.closed.closed_at, report),
            closed_by=report.closed.closed_by,
        )
        closed += f"\n{L.TITLE_CHANGES}:\n" + "\n".join(f"- {c}" for c in change_lines(report))
    formats = {
        "weights": weights,
        "min_n": report.min_n,
        "satisfaction": _share(report.target),
        "on_time": _share(report.targets.dossiers_on_time),
        "every_field": _share(report.targets.every_field),
    }
    rows: list[list[str]] = [
        [L.COVER_TITLE, ""],
        [L.COVER_QUESTIONNAIRE, f"{report.questionnaire}{title}"],
        [L.COVER_VERSIONS, ", ".join(report.versions) or L.NO_VERSIONS],
        [L.COVER_SPAN, span],
        [L.COVER_TIMEZONE, report.timezone],
        [L.COVER_GENERATED, _local_time(report.generated_at, report)],
        [L.COVER_RESPONSES, L.RESPONSES_LINE.format(**report.responses.to_dict())],
        [L.COVER_CLOSED, closed],
        ["", ""],
    ]
    rows += [[label, text.format(**formats)] for label, text in L.COVER_ITEMS]
    return rows


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


def _complaint_measure_name(measure: str) -> str:
    if measure in COMPLAINT_COUNT_NAMES:
        return COMPLAINT_COUNT_NAMES[measure]
    if measure in COMPLAINT_FRACTION_NAMES:
        return COMPLAINT_FRACTION_NAMES[measure]
    for name, text in COMPLAINT_HOURS_NAMES.items():
        if measure == f"{name}_median":
            return f"{text} (trung vị)"
        if measure == f"{name}_p90":
            return f"{text} (P90)"
    return measure


def _complaint_analyst_line(line: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(line)
    out["section"] = L.CSV_SECTIONS.get(line["section"], line["section"])
    by = line.get("by", "")
    out["by"] = " × ".join(COMPLAINT_HEADERS.get(d, d) for d in by.split("+")) if by else ""
    out["measure"] = _complaint_measure_name(line.get("measure", ""))
    out["small_n"] = _yes_no(line.get("small_n"))
    out["meets_target"] = _met(line.get("meets_target"))
    return out


def write_complaints_csv(report: ComplaintReport, out: TextIO, *, machine: bool = False) -> None:
    """Long-format CSV. Open `out` with encoding "utf-8-sig" (BOM for Excel).

    Default: Vietnamese headers and measure names for analysts; `machine=True`: the stable
    English columns and codes (COMPLAINT_CSV_COLUMNS), as for the satisfaction report.
    """
    if machine:
        _write_rows(out, COMPLAINT_CSV_COLUMNS, complaint_csv_lines(report))
    else:
        lines = (_complaint_analyst_line(line) for line in complaint_csv_lines(report))
        _write_rows(out, COMPLAINT_CSV_COLUMNS, lines, L.CSV_HEADERS)


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
    local_now = report.now.astimezone(ZoneInfo(report.timezone)).strftime("%Y-%m-%d %H:%M")
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
