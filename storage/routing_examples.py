"""The router's labelled examples as the database holds them (`routing_example`), for
`hailong nlp eval|retrain --from-db`.

Reading only, and plain tuples out: the router (`nlp/`) stays a library without a database,
and the glue (`hailong/nlp_db.py`) maps units and computes the figures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from storage.models import RoutingExample, Unit, table

_example = table(RoutingExample)
_unit = table(Unit)

# (complaint_id, at (UTC, aware), masked_text, predicted_unit or None, final_unit, reason)
FinalExample = tuple[int, datetime, str, str | None, str, str]


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
