"""Closed months: a month's figures stored when an analyst signs them, shown as stored later.

`hailong report close --month 2026-11` stores the whole report of that month (the breakdowns in
`CLOSED_BREAKDOWNS`, the unit ranking, Decision 766, the three-level distribution) as JSON,
with who closed it and when, in one transaction with its audit-log entry. A report of exactly
that month then shows the stored figures (`Report.from_dict`) and, separately, every figure a
recomputation today gives differently (`changes`): a late «Không hài lòng» rating, a late
dossier or a deleted response changes the recomputation, never the signed figures.
`hailong report reopen --month` ends the close (audit-logged); the month is live again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from reports.build import ClosedMonth, Report
from storage.db import DatabaseError

close_t = SQLModel.metadata.tables["report_close"]
audit_t = SQLModel.metadata.tables["audit_log"]

# What a close stores: the city's monthly table and the usual drill-downs.
CLOSED_BREAKDOWNS: tuple[tuple[str, ...], ...] = (
    ("unit", "month"),
    ("element",),
    ("procedure",),
    ("field",),
    ("channel",),
)
_MONTH_RE = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# Parts of the JSON that are about the run, not the figures.
_NOT_FIGURES = frozenset({"generated_at", "closed"})


class CloseError(ValueError):
    """A close or reopen that the rules refuse (already closed, not closed, month not over)."""


@dataclass(frozen=True)
class StoredMonth:
    """A close in force: its stored report and who closed it when."""

    report: Report
    closed_at: datetime
    closed_by: str


def parse_month(value: str) -> tuple[date, date]:
    """'2026-11' → (first day, last day). Raises ValueError naming the expected form."""
    match = _MONTH_RE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"--month {value!r} is not a month; use YYYY-MM, e.g. 2026-11")
    year, month = int(match.group(1)), int(match.group(2))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def close_month(
    engine: Engine,
    report: Report,
    month: str,
    *,
    closed_by: str,
    today: date,
    now: datetime | None = None,
) -> None:
    """Store `report` (built for exactly `month`) as the month's signed figures.

    Refuses a month that is not over yet in the report's calendar (`today` is local) and a
    month already closed; the close and its audit entry commit together.
    """
    _, last = parse_month(month)
    if last >= today:
        raise CloseError(f"{month} is not over yet (today is {today}); close it from the 1st")
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(
                close_t.insert().values(
                    questionnaire=report.questionnaire,
                    month=month,
                    timezone=report.timezone,
                    closed_at=now,
                    closed_by=closed_by,
                    figures=report.to_dict(),
                )
            )
            _audit(conn, now, closed_by, "report_close", report.questionnaire, month)
    except IntegrityError as exc:
        raise CloseError(
            f"{month} is already closed for {report.questionnaire}; reopen it first"
        ) from exc
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot store the close: {exc.orig}") from exc


def reopen_month(
    engine: Engine,
    questionnaire: str,
    month: str,
    *,
    by: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """End the close in force of `month`: later reports recompute it. Audit-logged."""
    parse_month(month)
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as conn:
            done = conn.execute(
                close_t.update()
                .where(
                    close_t.c.questionnaire == questionnaire,
                    close_t.c.month == month,
                    close_t.c.reopened_at.is_(None),
                )
                .values(reopened_at=now, reopened_by=by)
            ).rowcount
            if not done:
                raise CloseError(f"{month} is not closed for {questionnaire}")
            _audit(conn, now, by, "report_reopen", questionnaire, month, reason=reason)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot reopen: {exc.orig}") from exc


def stored_month(engine: Engine, questionnaire: str, month: str) -> StoredMonth | None:
    """The close in force of `month`, or None when the month is open."""
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(close_t.c.figures, close_t.c.closed_at, close_t.c.closed_by).where(
                    close_t.c.questionnaire == questionnaire,
                    close_t.c.month == month,
                    close_t.c.reopened_at.is_(None),
                )
            ).first()
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot read the closed months: {exc.orig}") from exc
    if row is None:
        return None
    return StoredMonth(Report.from_dict(row.figures), row.closed_at, row.closed_by)


def with_close(stored: StoredMonth, month: str, live: Report) -> Report:
    """The stored report, marked as closed, with what a recomputation today changes."""
    report = stored.report
    report.closed = ClosedMonth(
        month=month,
        closed_at=stored.closed_at,
        closed_by=stored.closed_by,
        changes=tuple(changes(report.to_dict(), live.to_dict())),
    )
    return report


def changes(stored: Mapping[str, Any], live: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """Every figure that differs between two report documents: (where, stored, now).

    Rows are matched by their dimension values (not their position), so a row that appears
    or disappears is one change, shown with None on the side that lacks it.
    """
    old = dict(_flatten({k: v for k, v in stored.items() if k not in _NOT_FIGURES}))
    new = dict(_flatten({k: v for k, v in live.items() if k not in _NOT_FIGURES}))
    for where in sorted(old.keys() | new.keys()):
        before, after = old.get(where), new.get(where)
        if before != after:
            yield where, before, after


_ROW_FIGURES = ("value", "n")


def _flatten(node: Any, path: str = "", row: bool = False) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        if "value" in node and "n" in node and "ci_low" in node:  # a Figure: value and n only
            for key in _ROW_FIGURES:
                yield f"{path}.{key}", node[key]
            return
        for key, value in node.items():
            if row and key in _DIMENSION_KEYS:
                continue  # the row's name, already in the path
            yield from _flatten(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _flatten(item, f"{path}[{_row_label(item, i)}]", row=True)
    else:
        yield path, node


_DIMENSION_KEYS = (
    "unit",
    "procedure",
    "field",
    "element",
    "channel",
    "day",
    "month",
    "quarter",
    "year",
    "by",
)


def _row_label(item: Any, index: int) -> str:
    """A list item named by its dimension values ("SXD 2026-11"), else by its position."""
    if not isinstance(item, dict):
        return str(index)
    parts = []
    for key in _DIMENSION_KEYS:
        if key in item:
            value = item[key]
            if isinstance(value, dict):
                value = value.get("code") or value.get("name")
            elif isinstance(value, list):
                value = ",".join(value)
            parts.append(str(value))
    return " ".join(parts) if parts else str(index)


def _audit(
    conn: sa.Connection,
    at: datetime,
    actor: str,
    action: str,
    questionnaire: str,
    month: str,
    **detail: Any,
) -> None:
    conn.execute(
        audit_t.insert().values(
            at=at,
            actor=actor[:100],
            action=action,
            subject=f"{questionnaire} {month}",
            detail={"questionnaire": questionnaire, "month": month, **detail},
        )
    )
