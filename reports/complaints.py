"""`hailong report complaints`: how citizens' complaints (phản ánh, kiến nghị) are handled.

Every count is a GROUP BY in the database over the complaints received in the period, at the
finest combination of the dimensions the report asks for (unit by id, ward, channel, the local
periods); each breakdown and the overall figures are sums of those rows (a complaint has one
value of each dimension, so they add up exactly). The only figures computed in Python from
complaint-level rows are the medians and 90th percentiles of the times to acceptance and to
answer (percentiles are not portable SQL): one read of three timestamps per complaint.

Periods and the `--from`/`--to` days are Ho Chi Minh City local time (Asia/Ho_Chi_Minh), the
calendar the units report in: a complaint received at 23:30 UTC on 31 March is an April one.
The unit is the one holding the complaint now (after any transfer; the triage desk holds
complaints still being routed). Statuses come from their groups in `complaints.lifecycle`.

Definitions (reports/README.md, "Complaints"):

- received: complaints with a tracking code; feedback: anonymous text kept as feedback
  (no code); every other figure is over received complaints only;
- answered: status in `ANSWERED_GROUP` (answered, rated); on time when answered_at ≤ due_at;
- open and overdue are taken at `now`: status in `OPEN`, overdue when due_at < now;
- on-time rate = answered on time / answered, against the city's 100% target;
- satisfaction with handling = rated satisfied / rated, Wilson 95% interval, small-n flag;
- Decision 766 (sipas.md), over complaints in the unit's competence (received, not rejected
  as out of scope): on time = closed (answered) on or before the due date / complaints;
  satisfaction = (complaints − rated Không hài lòng − handled late) / complaints, a complaint
  excluded once; handled late = answered after the due date, or open past it now.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables in SQLModel.metadata)
from complaints.lifecycle import ANSWERED_GROUP, OPEN, Status
from reports import build, queries
from reports.build import Breakdown, Dim, DimValue, Figure
from reports.labels import UNKNOWN_NAME
from reports.queries import DEFAULT_TIMEZONE, PERIODS, DateRange, local_date_range, period_expr
from storage.db import DatabaseError

# The city's plan 3372 (2024): 100% of complaints about procedures handled on time.
ON_TIME_TARGET = 1.0

COMPLAINT_DIMENSIONS: tuple[str, ...] = ("unit", "ward", "channel", *PERIODS)
PAIR_DIMENSIONS: frozenset[str] = frozenset({"unit", "ward"})

# The counts each row carries, in display order (summed from the database's GROUP BY rows).
ROW_COUNTS: tuple[str, ...] = (
    "received",
    "feedback",
    "routed_automatically",
    "routed_triage",
    "accepted",
    "answered",
    "answered_on_time",
    "answered_late",
    "rejected",
    "open",
    "overdue",
    "transfers",
    "reopened",
    "rated",
    "satisfied",
)
# Counts behind the Decision 766 ratios (shown inside `ratio_766`).
COUNTS_766: tuple[str, ...] = (
    "competence_766",
    "rated_khong_hai_long_766",
    "late_766",
    "excluded_766",
)
COUNTS: tuple[str, ...] = ROW_COUNTS + COUNTS_766

_tables = SQLModel.metadata.tables
complaint_t = _tables["complaint"]
unit_t = _tables["unit"]

Key = tuple[Any, ...]


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Durations:
    """Median and 90th percentile of durations in hours (linear interpolation between
    closest ranks, as PostgreSQL's percentile_cont), over n complaints."""

    n: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, hours: Iterable[float]) -> Durations:
        values = sorted(hours)
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "median": _hours(self.median), "p90": _hours(self.p90)}


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile of sorted values by linear interpolation (percentile_cont); None when
    there are none."""
    if not sorted_values:
        return None
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class ComplaintRow:
    """Complaint-handling figures of one group (a breakdown's row, or the whole range)."""

    keys: dict[str, DimValue]
    counts: dict[str, int]
    hours_to_accept: Durations
    hours_to_answer: Durations
    on_time: Figure  # answered on time / answered
    meets_on_time_target: bool
    satisfaction: Figure  # satisfied / rated
    meets_satisfaction_target: bool
    on_time_766: Figure  # closed on time / complaints in the unit's competence
    on_time_766_meets_target: bool
    satisfaction_766: Figure  # (complaints − unsatisfied − late) / complaints
    satisfaction_766_meets_target: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form (reports/README.md): dimension keys first, then the figures."""
        c = self.counts
        out: dict[str, Any] = {k: _dim_json(v) for k, v in self.keys.items()}
        for name in ROW_COUNTS:
            out[name] = c[name]
        out["hours_to_accept"] = self.hours_to_accept.to_dict()
        out["hours_to_answer"] = self.hours_to_answer.to_dict()
        out["on_time"] = self.on_time.to_dict()
        out["meets_on_time_target"] = self.meets_on_time_target
        out["satisfaction"] = self.satisfaction.to_dict()
        out["meets_satisfaction_target"] = self.meets_satisfaction_target
        out["ratio_766"] = {
            "complaints": c["competence_766"],
            "closed_on_time": c["answered_on_time"],
            "on_time": self.on_time_766.to_dict(),
            "on_time_meets_target": self.on_time_766_meets_target,
            "rated_khong_hai_long": c["rated_khong_hai_long_766"],
            "late": c["late_766"],
            "excluded": c["excluded_766"],
            "satisfaction": self.satisfaction_766.to_dict(),
            "satisfaction_meets_target": self.satisfaction_766_meets_target,
        }
        return out


@dataclass
class ComplaintReport:
    """Everything `hailong report complaints` prints; `to_dict` is the stable JSON shape."""

    generated_at: datetime
    now: datetime
    date_from: date | None
    date_to: date | None
    min_n: int
    on_time_target: float
    satisfaction_target: float
    overall: ComplaintRow
    breakdowns: list[Breakdown[ComplaintRow]] = field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "complaints",
            "generated_at": self.generated_at.isoformat(),
            "now": self.now.isoformat(),
            "timezone": self.timezone,
            "filters": {
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
            },
            "min_n": self.min_n,
            "targets": {"on_time": self.on_time_target, "satisfaction": self.satisfaction_target},
            "overall": self.overall.to_dict(),
            "breakdowns": [b.to_dict() for b in self.breakdowns],
        }


def _dim_json(value: DimValue) -> Any:
    return value.to_dict() if isinstance(value, Dim) else value


# --------------------------------------------------------------------------- arguments


def parse_by(values: Iterable[str] | None) -> tuple[tuple[str, ...], ...]:
    """`--by` values to breakdowns, read as the satisfaction report reads them."""
    return build.parse_by(values, COMPLAINT_DIMENSIONS, " for the complaints report")


# --------------------------------------------------------------------------- SQL


def _key_columns(dims: Sequence[str], dialect: str, tz: str) -> list[sa.Label[Any]]:
    c = complaint_t.c
    columns: list[sa.Label[Any]] = []
    for dim in dims:
        if dim == "unit":
            columns.append(c.unit_id.label("unit_id"))
        elif dim == "ward":
            columns.append(c.ward_code.label("ward_code"))
        elif dim == "channel":
            columns.append(c.channel.label("channel"))
        elif dim in PERIODS:
            columns.append(period_expr(c.received_at, dim, dialect, tz).label(dim))
        else:
            raise ValueError(f"not a complaint dimension: {dim!r}")
    return columns


def key_label(dim: str) -> str:
    return {"unit": "unit_id", "ward": "ward_code"}.get(dim, dim)


def _values(statuses: Iterable[Status]) -> list[str]:
    return sorted(s.value for s in statuses)


def complaint_counts(
    conn: Connection, dims: Sequence[str], dates: DateRange, now: datetime
) -> Sequence[RowMapping]:
    """One scan of the complaints received in `dates`: per group of `dims`, every count of
    `COUNTS`. The inner query turns each complaint into 0/1 flags (and its transfers), the
    outer one sums them per group."""
    c = complaint_t.c
    received = c.code.is_not(None)
    answered = c.status.in_(_values(ANSWERED_GROUP))
    is_open = c.status.in_(_values(OPEN))
    on_time = sa.and_(answered, c.answered_at <= c.due_at)
    late_answer = sa.and_(answered, c.answered_at > c.due_at)
    overdue = sa.and_(is_open, c.due_at < now)
    competence = sa.and_(received, c.status != Status.REJECTED.value)
    unsatisfied = c.satisfied.is_(sa.false())
    late_766 = sa.or_(late_answer, overdue)

    def flag(condition: ColumnElement[bool], name: str, *, coded: bool = True) -> sa.Label[Any]:
        when = sa.and_(received, condition) if coded else condition
        return sa.case((when, 1), else_=0).label(name)

    flags = [
        flag(received, "received", coded=False),
        flag(c.status == Status.FEEDBACK.value, "feedback", coded=False),
        flag(c.routed_automatically.is_(sa.true()), "routed_automatically"),
        flag(c.routed_automatically.is_(sa.false()), "routed_triage"),
        flag(c.accepted_at.is_not(None), "accepted"),
        flag(answered, "answered"),
        flag(on_time, "answered_on_time"),
        flag(late_answer, "answered_late"),
        flag(c.status == Status.REJECTED.value, "rejected"),
        flag(is_open, "open"),
        flag(overdue, "overdue"),
        sa.case((received, c.transfers), else_=0).label("transfers"),
        flag(c.reopened > 0, "reopened"),
        flag(c.satisfied.is_not(None), "rated"),
        flag(c.satisfied.is_(sa.true()), "satisfied"),
        flag(competence, "competence_766", coded=False),
        flag(sa.and_(competence, unsatisfied), "rated_khong_hai_long_766", coded=False),
        flag(sa.and_(competence, late_766), "late_766", coded=False),
        flag(sa.and_(competence, sa.or_(unsatisfied, late_766)), "excluded_766", coded=False),
    ]
    inner = (
        sa.select(*_key_columns(dims, conn.dialect.name, dates.tz), *flags)
        .select_from(complaint_t)
        .where(*dates.where(c.received_at))
        .subquery("c")
    )
    keys = [inner.c[key_label(dim)] for dim in dims]
    stmt = sa.select(*keys, *[sa.func.sum(inner.c[name]).label(name) for name in COUNTS])
    if keys:
        stmt = stmt.group_by(*keys)
    return conn.execute(stmt).mappings().all()


def complaint_times(
    conn: Connection, dims: Sequence[str], dates: DateRange
) -> Sequence[RowMapping]:
    """Per received complaint accepted or answered: its group keys and the timestamps the
    durations are taken from (answered_at only for answered complaints)."""
    c = complaint_t.c
    answered = c.status.in_(_values(ANSWERED_GROUP))
    stmt = (
        sa.select(
            *_key_columns(dims, conn.dialect.name, dates.tz),
            c.received_at.label("received_at"),
            c.accepted_at.label("accepted_at"),
            sa.case((answered, c.answered_at), else_=sa.null()).label("answered_at"),
        )
        .where(
            c.code.is_not(None),
            sa.or_(c.accepted_at.is_not(None), sa.and_(answered, c.answered_at.is_not(None))),
            *dates.where(c.received_at),
        )
        .order_by(c.id)
    )
    return conn.execute(stmt).mappings().all()


def ward_names(conn: Connection) -> dict[str, str]:
    """ward code → ward name as the complaints recorded it (the latest spelling wins)."""
    c = complaint_t.c
    rows = conn.execute(
        sa.select(c.ward_code, sa.func.max(c.ward_name))
        .where(c.ward_code.is_not(None))
        .group_by(c.ward_code)
    )
    return {code: name or code for code, name in rows}


def dossier_complaint_exclusion(dossier: sa.Table) -> ColumnElement[bool]:
    """Decision 766's complaint condition for the procedure-satisfaction ratio: the dossier
    has a complaint about its handling (a coded complaint linked to it, not rejected as out
    of scope). Plugs into `build_report(extra_766_exclusions=[...])`."""
    c = complaint_t.c
    return (
        sa.select(sa.literal(1))
        .select_from(complaint_t)
        .where(
            c.dossier_id == dossier.c.id,
            c.code.is_not(None),
            c.status != Status.REJECTED.value,
        )
        .exists()
    )


# --------------------------------------------------------------------------- build


def build_complaint_report(
    engine: Engine,
    by: Sequence[Sequence[str]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    min_n: int = 30,
    satisfaction_target: float = 0.95,
    on_time_target: float = ON_TIME_TARGET,
    timezone: str = DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> ComplaintReport:
    """The complaints report over [date_from, date_to] (inclusive local days), as of `now`
    (open and overdue complaints are counted at that moment). Raises DatabaseError when the
    complaint tables cannot be read."""
    specs = parse_by([",".join(spec) for spec in by] if by else None)
    dates = local_date_range(date_from, date_to, timezone)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fine = tuple(dim for dim in COMPLAINT_DIMENSIONS if any(dim in spec for spec in specs))
    try:
        with engine.connect() as conn:
            queries.prepare_connection(conn, timezone)
            count_rows = complaint_counts(conn, fine, dates, now)
            time_rows = complaint_times(conn, fine, dates)
            names: dict[str, Mapping[Any, tuple[str, str]]] = {}
            if "unit" in fine:
                names["unit"] = queries.dimension_names(conn, "unit")
            if "ward" in fine:
                names["ward"] = {code: (code, n) for code, n in ward_names(conn).items()}
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot read the complaint tables: {exc.orig}") from exc
    data = _Fine.of(fine, count_rows, time_rows, names)

    def rows(dims: Sequence[str]) -> list[ComplaintRow]:
        return data.rows(dims, min_n, satisfaction_target, on_time_target)

    overall = rows(())
    return ComplaintReport(
        generated_at=datetime.now(UTC),
        now=now,
        date_from=date_from,
        date_to=date_to,
        min_n=min_n,
        on_time_target=on_time_target,
        satisfaction_target=satisfaction_target,
        timezone=timezone,
        overall=overall[0]
        if overall
        else _row({}, dict.fromkeys(COUNTS, 0), [], [], min_n, satisfaction_target, on_time_target),
        breakdowns=[Breakdown(spec, rows(spec)) for spec in specs],
    )


def _row(
    keys: dict[str, DimValue],
    counts: dict[str, int],
    accept_hours: list[float],
    answer_hours: list[float],
    min_n: int,
    satisfaction_target: float,
    on_time_target: float,
) -> ComplaintRow:
    on_time = Figure.proportion(counts["answered_on_time"], counts["answered"], min_n)
    satisfaction = Figure.proportion(counts["satisfied"], counts["rated"], min_n)
    competence = counts["competence_766"]
    on_time_766 = Figure.proportion(counts["answered_on_time"], competence, min_n)
    satisfaction_766 = Figure.proportion(competence - counts["excluded_766"], competence, min_n)

    def meets(figure: Figure, target: float) -> bool:
        return figure.value is not None and figure.value >= target

    return ComplaintRow(
        keys=keys,
        counts=counts,
        hours_to_accept=Durations.of(accept_hours),
        hours_to_answer=Durations.of(answer_hours),
        on_time=on_time,
        meets_on_time_target=meets(on_time, on_time_target),
        satisfaction=satisfaction,
        meets_satisfaction_target=meets(satisfaction, satisfaction_target),
        on_time_766=on_time_766,
        on_time_766_meets_target=meets(on_time_766, on_time_target),
        satisfaction_766=satisfaction_766,
        satisfaction_766_meets_target=meets(satisfaction_766, satisfaction_target),
    )


def _sort_key(keys: Mapping[str, DimValue]) -> tuple[tuple[bool, str], ...]:
    # Unknown (NULL) values sort last in each column.
    parts = []
    for value in keys.values():
        text = value.code if isinstance(value, Dim) else value
        parts.append((text is None, text or ""))
    return tuple(parts)


@dataclass
class _Fine:
    """Counts and durations keyed by the finest grouping; every section sums these."""

    fine: tuple[str, ...]
    names: Mapping[str, Mapping[Any, tuple[str, str]]]
    counts: dict[Key, dict[str, int]] = field(default_factory=dict)
    accept_hours: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    answer_hours: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(
        cls,
        fine: tuple[str, ...],
        count_rows: Sequence[RowMapping],
        time_rows: Sequence[RowMapping],
        names: Mapping[str, Mapping[Any, tuple[str, str]]],
    ) -> _Fine:
        out = cls(fine, names)
        labels = [key_label(dim) for dim in fine]
        for row in count_rows:
            out.counts[tuple(row[label] for label in labels)] = {
                name: int(row[name] or 0) for name in COUNTS
            }
        for row in time_rows:
            key = tuple(row[label] for label in labels)
            received = _utc(row["received_at"])
            if row["accepted_at"] is not None:
                out.accept_hours[key].append(_hours_between(received, row["accepted_at"]))
            if row["answered_at"] is not None:
                out.answer_hours[key].append(_hours_between(received, row["answered_at"]))
        return out

    def keys(self, dims: Sequence[str], key: Key) -> dict[str, DimValue]:
        out: dict[str, DimValue] = {}
        for dim, value in zip(dims, key, strict=True):
            if dim in PAIR_DIMENSIONS:
                entry = self.names[dim].get(value) if value is not None else None
                out[dim] = Dim(entry[0], entry[1]) if entry else Dim(None, UNKNOWN_NAME)
            else:
                out[dim] = value
        return out

    def rows(
        self,
        dims: Sequence[str],
        min_n: int,
        satisfaction_target: float,
        on_time_target: float,
    ) -> list[ComplaintRow]:
        positions = [self.fine.index(dim) for dim in dims]

        def project(key: Key) -> Key:
            return tuple(key[p] for p in positions)

        sums: dict[Key, dict[str, int]] = {}
        for key, counts in self.counts.items():
            into = sums.setdefault(project(key), dict.fromkeys(COUNTS, 0))
            for name, value in counts.items():
                into[name] += value
        accept: dict[Key, list[float]] = defaultdict(list)
        answer: dict[Key, list[float]] = defaultdict(list)
        for key, hours in self.accept_hours.items():
            accept[project(key)].extend(hours)
        for key, hours in self.answer_hours.items():
            answer[project(key)].extend(hours)
        out = [
            _row(
                self.keys(dims, key),
                counts,
                accept.get(key, []),
                answer.get(key, []),
                min_n,
                satisfaction_target,
                on_time_target,
            )
            for key, counts in sums.items()
        ]
        out.sort(key=lambda r: _sort_key(r.keys))
        return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hours_between(start: datetime, end: datetime) -> float:
    return (_utc(end) - start).total_seconds() / 3600.0
