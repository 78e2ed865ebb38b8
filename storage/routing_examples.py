"""The router's labelled examples as the database holds them (`routing_example`), for
`hailong nlp eval|retrain --from-db`.

Reading only, and plain tuples out: the router (`nlp/`) stays a library without a database,
and the glue (`hailong/nlp_db.py`) maps units and computes the figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from storage.models import RoutingExample, Unit, table

_example = table(RoutingExample)
_unit = table(Unit)

# (complaint_id, at (UTC, aware), masked_text, predicted_unit or None, final_unit, reason)
FinalExample = tuple[int, datetime, str, str | None, str, str]
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TZ_NAME = "Asia/Ho_Chi_Minh"
TOP_CONFUSIONS_MONTH = 3
TOP_CONFUSIONS_OVERALL = 5


def final_examples(
    engine: Engine, start: datetime | None = None, end: datetime | None = None
) -> list[FinalExample]:
    """The last example of each complaint (its latest transfer or its answer: the unit that
    ended up with it), oldest first; kept when its time is in ``[start, end)``.

    The last example is picked over all of a complaint's examples before the period filter,
    so a period never turns an intermediate transfer into a complaint's "final" unit.
    """
    e = _example.c
    rank = (
        func.row_number()
        .over(partition_by=e.complaint_id, order_by=(e.at.desc(), e.id.desc()))
        .label("rank")
    )
    ranked = select(
        e.complaint_id, e.at, e.masked_text, e.predicted_unit, e.final_unit, e.reason, rank
    ).subquery()
    r = ranked.c
    query = select(
        r.complaint_id, r.at, r.masked_text, r.predicted_unit, r.final_unit, r.reason
    ).where(r.rank == 1)
    if start is not None:
        query = query.where(r.at >= start)
    if end is not None:
        query = query.where(r.at < end)
    query = query.order_by(r.at, r.complaint_id)
    with engine.connect() as conn:
        return [
            (int(row[0]), row[1], str(row[2]), row[3], str(row[4]), str(row[5]))
            for row in conn.execute(query)
        ]


def unit_parents(engine: Engine) -> list[tuple[str, str]]:
    """(code, parent_code) of every unit that sits under another (the wards under
    ``UBND_XA``)."""
    query = (
        select(_unit.c.code, _unit.c.parent_code)
        .where(_unit.c.parent_code.is_not(None))
        .order_by(_unit.c.code)
    )
    with engine.connect() as conn:
        return [(str(code), str(parent)) for code, parent in conn.execute(query)]


# --- live accuracy: the one rule, for `hailong nlp eval --from-db` and the console ---------


def to_catalogue(unit: str, parents: dict[str, str]) -> str:
    """The catalogue code the classifier knows: a ward counts as its parent, ``UBND_XA``."""
    return parents.get(unit, unit)


def _confusions(pairs: Counter[tuple[str, str]], top: int) -> list[dict[str, Any]]:
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [{"predicted": p, "final": f, "n": n} for (p, f), n in ranked]


def _figures(label: str, key: str, outcomes: Sequence[tuple[str, str]], top: int) -> dict[str, Any]:
    n = len(outcomes)
    correct = sum(1 for predicted, final in outcomes if predicted == final)
    misses = Counter((p, f) for p, f in outcomes if p != f)
    return {
        key: label,
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "confusions": _confusions(misses, top),
    }


def live_accuracy(rows: Iterable[FinalExample], parents: dict[str, str]) -> dict[str, Any]:
    """Predicted vs final unit over final examples: by local month and overall.

    An example without a predicted unit (none was stored) is counted apart, not scored.
    """
    by_month: dict[str, list[tuple[str, str]]] = {}
    every: list[tuple[str, str]] = []
    unpredicted = 0
    for _cid, at, _text, predicted, final, _reason in rows:
        if not predicted:
            unpredicted += 1
            continue
        outcome = (to_catalogue(predicted, parents), to_catalogue(final, parents))
        by_month.setdefault(at.astimezone(LOCAL_TZ).strftime("%Y-%m"), []).append(outcome)
        every.append(outcome)
    overall = _figures("overall", "period", every, TOP_CONFUSIONS_OVERALL)
    return {
        **{k: v for k, v in overall.items() if k != "period"},
        "unpredicted": unpredicted,
        "timezone": TZ_NAME,
        "months": [
            _figures(month, "month", outcomes, TOP_CONFUSIONS_MONTH)
            for month, outcomes in sorted(by_month.items())
        ],
    }
