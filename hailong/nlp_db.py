"""`hailong nlp eval|retrain --from-db`: the router learns from handled complaints.

Every transfer and every answer of a complaint stores a labelled example (`routing_example`:
the masked text, the unit the router predicted, the unit that took it). Of each complaint only
the last example counts: its final unit, the staff's last word on where it belonged.

- ``eval --from-db``: live routing accuracy, predicted unit vs final unit, by local month
  (Asia/Ho_Chi_Minh) and overall, with the most common confusions.
- ``retrain --from-db``: every final example becomes a `Correction` (masked text, predicted
  unit, final unit) for `nlp.retrain.retrain`, which replaces the model only if not worse.
  Examples the router got right are fed too: `retrain` trains on (text, right unit) pairs
  and ignores the wrong unit, so a confirmed example is real traffic with a staff-checked
  label, and feeding only the misses would skew the classes toward the confused units.

The classifier knows the catalogue's 18 codes only, so a unit under another (a ward, e.g.
``p-ben-thanh``, under ``UBND_XA``) counts as its parent, on both sides. The router's
``predicted_unit`` is its best guess even when the complaint went to the triage desk
(`bot/desk.py`), so the accuracy is the classifier's top-1 accuracy on live traffic.

The database is read through `storage.routing_examples`; `nlp/` itself never touches it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import typer

from base.errors import UserError
from nlp.retrain import Correction
from storage.routing_examples import (
    LOCAL_TZ,
    TZ_NAME,
    FinalExample,
    live_accuracy,
    to_catalogue,
)

Period = tuple[date | None, date | None]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- options ------------------------------------------------------------------------------


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    if not _DAY.fullmatch(value.strip()):
        raise UserError(f"{option} {value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise UserError(f"{option} {value!r} is not a valid date: {exc}") from exc


def period(from_db: bool, date_from: str | None, date_to: str | None) -> Period:
    """The checked ``--from``/``--to`` days (local, inclusive); UserError on bad input."""
    if not from_db and (date_from is not None or date_to is not None):
        raise UserError("--from and --to need --from-db")
    start, end = _day("--from", date_from), _day("--to", date_to)
    if start and end and start > end:
        raise UserError(f"--from {start} is after --to {end}")
    return start, end


def _utc_bounds(days: Period) -> tuple[datetime | None, datetime | None]:
    """Local days as a half-open UTC interval: --to includes its whole day."""
    start, end = days
    return (
        datetime.combine(start, time(), LOCAL_TZ) if start else None,
        datetime.combine(end + timedelta(days=1), time(), LOCAL_TZ) if end else None,
    )


# --- reading ------------------------------------------------------------------------------


def load_examples(days: Period) -> tuple[list[FinalExample], dict[str, str]]:
    """The final examples in the period and the units' parents, from DATABASE_URL."""
    from base.settings import get_settings
    from hailong.app import open_database
    from storage import routing_examples

    engine = open_database(get_settings())
    try:
        start, end = _utc_bounds(days)
        rows = routing_examples.final_examples(engine, start, end)
        parents = dict(routing_examples.unit_parents(engine))
    finally:
        engine.dispose()
    return rows, parents


def _pairs(confusions: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['predicted']}→{c['final']} ({c['n']})" for c in confusions) or "—"


def eval_from_db(days: Period, *, as_json: bool) -> None:
    """Print the live routing accuracy (the body of ``hailong nlp eval --from-db``)."""
    rows, parents = load_examples(days)
    report = live_accuracy(rows, parents)
    report["from"] = days[0].isoformat() if days[0] else None
    report["to"] = days[1].isoformat() if days[1] else None
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    if report["n"] == 0:
        if any(days):
            typer.echo(f"Không có phản ánh nào đã xử lý{_where(days)} để đo.")
        elif report["unpredicted"]:
            typer.echo("Chưa có phản ánh nào đã xử lý có đơn vị dự đoán để đo.")
        else:
            typer.echo("Chưa có phản ánh nào đã xử lý để đo: bảng routing_example trống.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Định tuyến thực tế{_where(days)}: dự đoán so với đơn vị cuối cùng "
        f"(tháng theo giờ {TZ_NAME})"
    )
    table.add_column("tháng")
    for column in ("số PA", "đúng", "độ chính xác"):
        table.add_column(column, justify="right")
    table.add_column("nhầm nhiều nhất (dự đoán→cuối)")
    for row in [*report["months"], {**report, "month": "tổng"}]:
        table.add_row(
            row["month"],
            str(row["n"]),
            str(row["correct"]),
            f"{row['accuracy']:.1%}",
            _pairs(row["confusions"]),
        )
    Console().print(table)
    if report["unpredicted"]:
        typer.echo(f"{report['unpredicted']} phản ánh không có đơn vị dự đoán: không tính.")


def _where(days: Period) -> str:
    start, end = days
    if start and end:
        return f" từ {start} đến {end}"
    if start:
        return f" từ {start}"
    return f" đến {end}" if end else ""


# --- retraining ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Learned:
    """What the database gave a retrain."""

    corrections: list[Correction]
    n_examples: int  # final examples read
    n_router_wrong: int  # of those used, the router's prediction differed from the final unit
    n_skipped: int  # empty text, or a final unit the catalogue does not know


def as_corrections(
    rows: Iterable[FinalExample], parents: dict[str, str], known_labels: Sequence[str]
) -> Learned:
    """Every final example as (masked text, predicted unit, final unit), units mapped to the
    catalogue; oldest first, so a later decision on the same text wins in `nlp.retrain.merge`."""
    known = set(known_labels)
    out: list[Correction] = []
    n = skipped = wrong = 0
    for _cid, _at, text, predicted, final, _reason in rows:
        n += 1
        right = to_catalogue(final, parents)
        if not text.strip() or right not in known:
            skipped += 1
            continue
        guess = to_catalogue(predicted, parents) if predicted else ""
        wrong += guess != right
        out.append(Correction(text.strip(), guess, right))
    return Learned(out, n, wrong, skipped)


def corrections_from_db(days: Period, known_labels: Sequence[str]) -> Learned:
    rows, parents = load_examples(days)
    return as_corrections(rows, parents, known_labels)
