"""The anonymised answer-level export (`hailong export`), streamed end to end.

Rows come from a server-side cursor (PostgreSQL) or SQLite's lazy cursor in batches of
`BATCH` and go straight to the csv writer or a streamed XLSX sheet, so memory stays
flat whatever the number of answers. No citizen column is ever selected; free text is left
out unless asked for, and then masked: phones, e-mails (also as typed to dodge filters),
ids, bank accounts, house numbers and person names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from reports import labels as L
from reports.build import date_range
from reports.queries import export_answers_stmt
from storage.db import DatabaseError

EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx")
BATCH = 2000

EXPORT_COLUMNS: tuple[str, ...] = (
    "response_id",
    "questionnaire_code",
    "questionnaire_version",
    "unit_code",
    "procedure_code",
    "channel",
    "response_status",
    "started_at",
    "question_code",
    "element_code",
    "kind",
    "status",
    "score",
    "choice",
    "satisfied",
)


def _columns(include_text: bool) -> tuple[str, ...]:
    return (*EXPORT_COLUMNS, "text") if include_text else EXPORT_COLUMNS


def iter_answer_rows(
    engine: Engine,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    include_text: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """Yield export rows (in `EXPORT_COLUMNS` order, plus masked text if asked), streaming.

    Timestamps become ISO 8601 UTC strings and `satisfied` 1/0/None, so CSV and XLSX agree.
    """
    mask = None
    if include_text:
        from nlp.pii import mask_pii

        def mask(text: str) -> str:
            # Names too: the export leaves the handling unit (rules, ~30 us a text; see
            # nlp/README.md "Masking" for why not underthesea's NER).
            return mask_pii(text, names=True)

    stmt = export_answers_stmt(date_range(date_from, date_to), include_text=include_text)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(stmt)
            for batch in result.partitions():
                for row in batch:
                    values = list(row)
                    started = values[7]
                    values[7] = started.isoformat() if isinstance(started, datetime) else started
                    satisfied = values[14]
                    values[14] = None if satisfied is None else int(bool(satisfied))
                    if mask is not None and values[15]:
                        values[15] = mask(values[15])
                    yield tuple(values)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot read the answers: {exc.orig}") from exc


def write_export_csv(rows: Iterator[tuple[Any, ...]], out: TextIO, *, include_text: bool) -> int:
    """Write the header and rows as CSV as they arrive; return the number of answers.

    Open `out` with encoding "utf-8-sig" so Excel reads Vietnamese correctly.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_columns(include_text))
    count = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        count += 1
    return count


def write_export_xlsx(rows: Iterator[tuple[Any, ...]], path: Path, *, include_text: bool) -> int:
    """Write rows to a workbook streamed to disk (see reports.xlsx_stream); return the count.

    Rows past Excel's sheet limit continue on further sheets.
    """
    from reports.xlsx_stream import write_table_xlsx

    return write_table_xlsx(path, L.SHEET_ANSWERS, _columns(include_text), rows)


def export_answers(
    engine: Engine,
    fmt: str,
    out: Path | TextIO,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    include_text: bool = False,
) -> int:
    """Export every answer in the date range as `fmt` ("csv" or "xlsx"); return the count.

    `out` is a path (csv or xlsx) or an open text stream (csv only). Writing to a path writes
    that path directly: callers wanting all-or-nothing pass a temp path and rename it.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    rows = iter_answer_rows(engine, date_from, date_to, include_text=include_text)
    if fmt == "xlsx":
        if not isinstance(out, Path):
            raise ValueError("xlsx export needs a file path")
        return write_export_xlsx(rows, out, include_text=include_text)
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            return write_export_csv(rows, fh, include_text=include_text)
    return write_export_csv(rows, out, include_text=include_text)
