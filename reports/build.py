"""Turn aggregated counts into report figures: rates, indices, intervals, flags.

The database has already grouped everything (`reports.queries`); this module combines a few
hundred count rows. Formulas (sipas.md):

- criterion rate = satisfied / valid answers of one statement ("không ý kiến" and skipped
  answers are outside the denominator);
- element index = plain mean of the element's criterion rates that have data;
- overall index = weighted mean of the element indices that have data (weights renormalised
  over those elements; an element missing from the weights map weighs 1);
- Decision 766 ratio = (dossiers − dossiers rated Không hài lòng or finished late, each
  dossier once) / dossiers, by completion date;
- three-level distribution = counts and shares of each level.

n of a criterion rate is its valid answers; n of an element or overall index is the number of
responses with at least one valid answer in it, and its Wilson interval uses that n.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import OperationalError, ProgrammingError

from reports import queries
from reports.labels import UNKNOWN_NAME
from reports.queries import (
    DEFAULT_TIMEZONE,
    DIMENSIONS,
    PERIODS,
    RATING3_LEVELS,
    DateRange,
    DossierExclusion,
)
from reports.stats import round4, wilson_interval
from storage.db import DatabaseError

if TYPE_CHECKING:
    from reports.rollup import RollupCounts

DEFAULT_BY: tuple[tuple[str, ...], ...] = (("unit", "month"),)
# SIPAS order of the elements, for display; other codes follow alphabetically.
ELEMENT_ORDER: tuple[str, ...] = ("TCDV", "TTHC", "CC", "KQ", "PAKN")

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Figure:
    """One reported fraction with its sample size, Wilson 95% interval and small-n flag."""

    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    small_n: bool

    @classmethod
    def of(cls, value: float | None, n: int, min_n: int) -> Figure:
        """A figure for `value` observed on `n`; no value when n is 0."""
        if value is None or n <= 0:
            return cls(None, max(n, 0), None, None, True)
        low, high = wilson_interval(value, n)
        return cls(value, n, low, high, n < min_n)

    @classmethod
    def proportion(cls, k: int, n: int, min_n: int) -> Figure:
        """k successes out of n."""
        return cls.of(k / n if n > 0 else None, n, min_n)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figure:
        """Back from `to_dict` (a stored report): the values as rounded there."""
        return cls(data["value"], data["n"], data["ci_low"], data["ci_high"], data["small_n"])

    def to_dict(self) -> dict[str, Any]:
        """JSON form: fractions rounded to 4 places."""
        return {
            "value": round4(self.value),
            "n": self.n,
            "ci_low": round4(self.ci_low),
            "ci_high": round4(self.ci_high),
            "small_n": self.small_n,
        }


@dataclass(frozen=True)
class Dim:
    """A unit or procedure: catalogue code (None when unknown) and display name."""

    code: str | None
    name: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"code": self.code, "name": self.name}


DimValue = Dim | str | None


@dataclass
class IndexRow:
    """Satisfaction indices of one group (one row of a breakdown, or the whole range)."""

    keys: dict[str, DimValue]
    respondents: int
    overall_index: Figure
    elements: dict[str, Figure]
    criteria: dict[str, Figure]
    meets_target: bool | None  # None: no data, so neither met nor missed
    rank: int | None = None
    # Why a row of the unit ranking has no rank: "small_n" (n < REPORT_MIN_N), "no_data",
    # "unknown_unit" (answers without a unit); None for ranked rows and other breakdowns.
    unranked: str | None = None

    @property
    def no_data(self) -> bool:
        """True for a row that exists only to say that nothing was answered in it."""
        return self.respondents == 0 and self.overall_index.value is None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], dims: Sequence[str]) -> IndexRow:
        """Back from `to_dict`, the row's dimensions being `dims`."""
        return cls(
            keys=_keys_from(data, dims),
            respondents=data["respondents"],
            overall_index=Figure.from_dict(data["overall_index"]),
            elements={k: Figure.from_dict(v) for k, v in data["elements"].items()},
            criteria={k: Figure.from_dict(v) for k, v in data["criteria"].items()},
            meets_target=data["meets_target"],
            rank=data.get("rank"),
            unranked=data.get("unranked"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: dimension keys first, then the figures."""
        out: dict[str, Any] = {k: _dim_json(v) for k, v in self.keys.items()}
        if self.rank is not None:
            out["rank"] = self.rank
        if self.unranked is not None:
            out["unranked"] = self.unranked
        out["no_data"] = self.no_data
        out["respondents"] = self.respondents
        out["overall_index"] = self.overall_index.to_dict()
        out["elements"] = {code: f.to_dict() for code, f in self.elements.items()}
        out["criteria"] = {code: f.to_dict() for code, f in self.criteria.items()}
        out["meets_target"] = self.meets_target
        return out


class _Row(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Row)


@dataclass
class Breakdown(Generic[R]):
    """Rows grouped by one combination of dimensions (index rows, or complaint rows)."""

    by: tuple[str, ...]
    rows: list[R]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"by": list(self.by), "rows": [r.to_dict() for r in self.rows]}


@dataclass
class Ratio766Row:
    """Decision 766 procedure-satisfaction ratio of one unit and period."""

    keys: dict[str, DimValue]
    dossiers: int
    rated_khong_hai_long: int
    late: int
    excluded: int
    ratio: Figure
    meets_target: bool | None  # None: no dossiers
    # Dossiers finished on time / finished dossiers, against the 98% target (Decision 766).
    on_time: Figure | None = None
    meets_on_time_target: bool | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], dims: Sequence[str]) -> Ratio766Row:
        """Back from `to_dict`."""
        on_time = data.get("on_time")
        return cls(
            keys=_keys_from(data, dims),
            dossiers=data["dossiers"],
            rated_khong_hai_long=data["rated_khong_hai_long"],
            late=data["late"],
            excluded=data["excluded"],
            ratio=Figure.from_dict(data["ratio"]),
            meets_target=data["meets_target"],
            on_time=Figure.from_dict(on_time) if on_time else None,
            meets_on_time_target=data.get("meets_on_time_target"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {k: _dim_json(v) for k, v in self.keys.items()}
        out.update(
            dossiers=self.dossiers,
            rated_khong_hai_long=self.rated_khong_hai_long,
            late=self.late,
            excluded=self.excluded,
            ratio=self.ratio.to_dict(),
            meets_target=self.meets_target,
            on_time=self.on_time.to_dict() if self.on_time else None,
            meets_on_time_target=self.meets_on_time_target,
        )
        return out


@dataclass
class Rating3Row:
    """Three-level rating distribution of one unit and period."""

    keys: dict[str, DimValue]
    n: int
    counts: dict[str, int]
    shares: dict[str, Figure]
    satisfied: Figure  # rất hài lòng + hài lòng

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], dims: Sequence[str]) -> Rating3Row:
        """Back from `to_dict`."""
        levels = data["levels"]
        return cls(
            keys=_keys_from(data, dims),
            n=data["n"],
            counts={lvl: levels[lvl]["count"] for lvl in RATING3_LEVELS},
            shares={lvl: Figure.from_dict(levels[lvl]["share"]) for lvl in RATING3_LEVELS},
            satisfied=Figure.from_dict(data["satisfied"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {k: _dim_json(v) for k, v in self.keys.items()}
        out["n"] = self.n
        out["levels"] = {
            level: {"count": self.counts[level], "share": self.shares[level].to_dict()}
            for level in RATING3_LEVELS
        }
        out["satisfied"] = self.satisfied.to_dict()
        return out


@dataclass(frozen=True)
class Targets:
    """The city's targets a report marks (seeds: the city plan and Decision 766)."""

    satisfaction: float = 0.95  # overall index, and the 766 ratio
    dossiers_on_time: float = 0.98
    every_field: float = 0.95  # satisfaction in every field (lĩnh vực): rows of --by field

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        return {
            "satisfaction": self.satisfaction,
            "dossiers_on_time": self.dossiers_on_time,
            "every_field": self.every_field,
        }


@dataclass(frozen=True)
class ResponseCounts:
    """Responses of the report's questionnaire in its period, by what became of them.

    Rule (sipas.md: "the citizen may stop at any time; every answer given is kept"): an
    incomplete response's valid answers count; a response without any valid statement answer
    adds nothing to any figure (it has no answer to count) and is shown here only.
    """

    complete: int = 0  # finished the questionnaire
    incomplete_kept: int = 0  # stopped early, with at least one valid statement answer
    without_answers: int = 0  # no valid statement answer: counted nowhere

    def to_dict(self) -> dict[str, int]:
        """JSON form."""
        return {
            "complete": self.complete,
            "incomplete_kept": self.incomplete_kept,
            "without_answers": self.without_answers,
        }


@dataclass(frozen=True)
class ClosedMonth:
    """A month whose figures were stored by `hailong report close`."""

    month: str
    closed_at: datetime
    closed_by: str
    # What differs between the stored figures and a recomputation today: (where, stored, now)
    changes: tuple[tuple[str, Any, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "month": self.month,
            "closed_at": self.closed_at.isoformat(),
            "closed_by": self.closed_by,
            "changes_since": [
                {"where": where, "stored": old, "now": new} for where, old, new in self.changes
            ],
        }


@dataclass
class Report:
    """Everything `hailong report` prints; `to_dict` is the stable JSON shape."""

    generated_at: datetime
    date_from: date | None
    date_to: date | None
    target: float
    min_n: int
    element_weights: dict[str, float]
    overall: IndexRow
    overall_766: Ratio766Row
    overall_rating3: Rating3Row
    breakdowns: list[Breakdown[IndexRow]]
    units: list[IndexRow]
    period: str | None  # period of the 766 and rating3 rows (None: whole range)
    ratio_766: list[Ratio766Row] = field(default_factory=list)
    rating3: list[Rating3Row] = field(default_factory=list)
    questionnaire: str = "sipas"
    questionnaire_title: str = ""
    versions: list[str] = field(default_factory=list)  # versions whose answers are counted
    timezone: str = "Asia/Ho_Chi_Minh"  # days, months and --from/--to are local to it
    # First and last local day covered: the filters, else the span of the data (None: no data)
    span: tuple[date, date] | None = None
    targets: Targets = field(default_factory=Targets)
    responses: ResponseCounts = field(default_factory=ResponseCounts)
    # Criterion key (as in IndexRow.criteria) → its statement text, for labels and legends
    criteria_text: dict[str, str] = field(default_factory=dict)
    closed: ClosedMonth | None = None  # set when the report shows a closed month's figures
    # Set when the counts came from the dashboard's rollup: when it was computed (not in JSON)
    rollup_built_at: datetime | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """A report back from its JSON document (a closed month's stored figures)."""
        period = data.get("period")
        pair = ("unit", period) if period else ("unit",)
        overall = data["overall"]
        filters = data.get("filters") or {}
        span = data.get("span")
        questionnaire = data.get("questionnaire") or {}
        targets = data.get("targets") or {}
        responses = data.get("responses") or {}
        return cls(
            generated_at=datetime.fromisoformat(data["generated_at"]),
            date_from=date.fromisoformat(filters["from"]) if filters.get("from") else None,
            date_to=date.fromisoformat(filters["to"]) if filters.get("to") else None,
            target=data["target"],
            min_n=data["min_n"],
            element_weights=dict(data.get("element_weights") or {}),
            overall=IndexRow.from_dict(overall, ()),
            overall_766=Ratio766Row.from_dict(overall["ratio_766"], ()),
            overall_rating3=Rating3Row.from_dict(overall["rating3"], ()),
            breakdowns=[
                Breakdown(tuple(b["by"]), [IndexRow.from_dict(r, b["by"]) for r in b["rows"]])
                for b in data["breakdowns"]
            ],
            units=[IndexRow.from_dict(r, ("unit",)) for r in data["units"]],
            period=period,
            ratio_766=[Ratio766Row.from_dict(r, pair) for r in data["ratio_766"]],
            rating3=[Rating3Row.from_dict(r, pair) for r in data["rating3"]],
            questionnaire=questionnaire.get("code", "sipas"),
            questionnaire_title=questionnaire.get("title", ""),
            versions=list(questionnaire.get("versions") or []),
            timezone=data.get("timezone", DEFAULT_TIMEZONE),
            span=(date.fromisoformat(span[0]), date.fromisoformat(span[1])) if span else None,
            targets=Targets(**targets) if targets else Targets(),
            responses=ResponseCounts(**responses) if responses else ResponseCounts(),
            criteria_text=dict(data.get("criteria_text") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (documented in reports/README.md)."""
        overall = self.overall.to_dict()
        overall["ratio_766"] = self.overall_766.to_dict()
        overall["rating3"] = self.overall_rating3.to_dict()
        return {
            "generated_at": self.generated_at.isoformat(),
            "filters": {
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
            },
            "target": self.target,
            "min_n": self.min_n,
            "element_weights": self.element_weights,
            "period": self.period,
            "questionnaire": {
                "code": self.questionnaire,
                "title": self.questionnaire_title,
                "versions": self.versions,
            },
            "timezone": self.timezone,
            "span": [d.isoformat() for d in self.span] if self.span else None,
            "targets": self.targets.to_dict(),
            "responses": self.responses.to_dict(),
            "criteria_text": self.criteria_text,
            "closed": self.closed.to_dict() if self.closed else None,
            "overall": overall,
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "units": [u.to_dict() for u in self.units],
            "ratio_766": [r.to_dict() for r in self.ratio_766],
            "rating3": [r.to_dict() for r in self.rating3],
        }


def _dim_json(value: DimValue) -> Any:
    return value.to_dict() if isinstance(value, Dim) else value


def _keys_from(data: Mapping[str, Any], dims: Sequence[str]) -> dict[str, DimValue]:
    out: dict[str, DimValue] = {}
    for dim in dims:
        value = data.get(dim)
        out[dim] = (
            Dim(value.get("code"), value.get("name", "")) if isinstance(value, dict) else value
        )
    return out


def parse_by(
    values: Iterable[str] | None,
    dimensions: Iterable[str] | None = None,
    report: str = "",
) -> tuple[tuple[str, ...], ...]:
    """`--by` values to breakdowns: each value is one breakdown, commas combine dimensions.

    `["unit,month", "channel"]` → (("unit", "month"), ("channel",)). Raises ValueError naming
    the bad word for an unknown dimension (of `dimensions`, default this report's), a repeated
    one, or two periods in one breakdown.
    """
    known = tuple(dimensions) if dimensions is not None else tuple(DIMENSIONS)
    specs: list[tuple[str, ...]] = []
    for value in values or ():
        dims = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        if not dims:
            raise ValueError(f"empty --by value {value!r}")
        for dim in dims:
            if dim not in known:
                raise ValueError(
                    f"unknown --by value {dim!r}{report}; choose from {', '.join(known)}"
                )
        if len(set(dims)) != len(dims):
            raise ValueError(f"--by {value!r} names a dimension twice")
        if sum(dim in PERIODS for dim in dims) > 1:
            raise ValueError(f"--by {value!r} combines two periods; use one of them")
        if dims not in specs:
            specs.append(dims)
    return tuple(specs) or DEFAULT_BY


def date_range(
    date_from: date | None, date_to: date | None, tz: str = DEFAULT_TIMEZONE
) -> DateRange:
    """Inclusive local calendar days (in `tz`) to the half-open UTC range the queries use."""
    return queries.local_date_range(date_from, date_to, tz)


def build_report(
    engine: Engine,
    by: Sequence[Sequence[str]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    min_n: int = 30,
    target: float = 0.95,
    on_time_target: float = 0.98,
    element_weights: Mapping[str, float] | None = None,
    questionnaire: str = "sipas",
    dossier_questionnaire: str = "danh-gia-ho-so",
    rating_question: str = "DG",
    timezone: str = DEFAULT_TIMEZONE,
    extra_766_exclusions: Sequence[DossierExclusion] = (),
    now: datetime | None = None,
    rollup: RollupCounts | None = None,
) -> Report:
    """Compute the satisfaction report of `questionnaire` over [date_from, date_to] (inclusive
    local days in `timezone`).

    `by`: breakdowns, each a sequence of dimension names (see `parse_by`); default unit ×
    month, the city's monthly report. `element_weights`: element code → weight for the
    overall index (missing elements weigh 1; empty → equal weights). The 766 ratio, dossiers
    on time and the three-level distribution (answers to `rating_question` of the dossier
    questionnaire) are given per unit and per the first period named in `by` (whole range
    when none). `extra_766_exclusions` is the hook for the complaint condition. `rollup`:
    read the counts from the dashboard's rollup (`reports.rollup`) when it covers the request
    (`Report.rollup_built_at` then says when it was computed), else from the answers.
    Raises `storage.db.DatabaseError` when the database cannot be read.
    """
    specs = parse_by([",".join(spec) for spec in by] if by else None)
    dates = date_range(date_from, date_to, timezone)
    weights = {k: float(v) for k, v in (element_weights or {}).items()}
    period = next((dim for spec in specs for dim in spec if dim in PERIODS), None)
    pair_dims: tuple[str, ...] = ("unit", period) if period else ("unit",)
    wanted = {dim for spec in specs for dim in spec} | set(pair_dims)
    if "field" in wanted:  # a procedure's field: grouped by procedure, named afterwards
        wanted.add("procedure")
    # Every count is taken once, grouped by the finest combination of response-level
    # dimensions any section needs; each section is then a sum of those few rows.
    fine = tuple(dim for dim in queries.RESPONSE_DIMENSIONS if dim in wanted)
    source: Any = rollup if rollup is not None and rollup.covers(fine, dates) else queries
    try:
        with engine.connect() as conn:
            queries.tune_session(conn)
            queries.prepare_connection(conn, timezone)
            versions = queries.questionnaire_versions(conn, questionnaire)
            answer_rows = source.answer_counts(
                conn,
                fine,
                dates,
                questionnaire=questionnaire,
                rating=(dossier_questionnaire, rating_question),
            )
            elements = sorted({r["element_code"] for r in answer_rows if r["level"] is None})
            respondent_rows = (
                source.respondent_counts(conn, fine, dates, elements, questionnaire=questionnaire)
                if elements
                else []
            )
            total = source.response_total(conn, dates, questionnaire=questionnaire)
            ratio_rows = source.ratio_766_counts(
                conn,
                period,
                dates,
                questionnaire_code=dossier_questionnaire,
                rating_question=rating_question,
                extra_exclusions=extra_766_exclusions,
            )
            names = {
                dim: queries.dimension_names(conn, dim)
                for dim in sorted(queries.PAIR_DIMENSIONS)
                if dim in fine or dim == "unit"
            }
            fields = queries.procedure_fields(conn) if "field" in wanted else {}
            scope_units = source.units_in_scope(conn)
            first, last = (
                (dates.start, dates.end - timedelta(microseconds=1))
                if dates.start and dates.end
                else source.data_span(conn, questionnaire=questionnaire)
            )
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot read the survey tables: {exc.orig}") from exc
    span = _span(date_from, date_to, first, last, ZoneInfo(timezone))
    criteria = _Criteria.of(versions, answer_rows)
    counts = _FineCounts.of(fine, answer_rows, respondent_rows, elements, names, criteria)
    counts.fields = fields
    domains = _Domains(
        units=scope_units,
        periods={p: periods_between(p, span) for p in PERIODS} if span else {},
        elements=criteria.elements or elements,
    )
    overall = counts.index_rows((), min_n, target, weights)
    breakdowns = [
        Breakdown(spec, counts.index_rows(spec, min_n, target, weights, domains)) for spec in specs
    ]
    units = counts.index_rows(("unit",), min_n, target, weights, domains)
    ratio_766 = _ratio_rows(ratio_rows, pair_dims, names, min_n, target, on_time_target)
    total_766 = _ratio_rows(ratio_rows, (), names, min_n, target, on_time_target)
    rating3 = counts.rating3_rows(pair_dims, min_n)
    totals3 = counts.rating3_rows((), min_n)
    respondents = sum(counts.respondents.values())
    complete = sum(counts.complete.values())
    return Report(
        generated_at=now or datetime.now(UTC),
        date_from=date_from,
        date_to=date_to,
        target=target,
        min_n=min_n,
        element_weights=weights,
        overall=overall[0] if overall else _empty_index_row({}, min_n),
        overall_766=total_766[0]
        if total_766
        else Ratio766Row({}, 0, 0, 0, 0, Figure.of(None, 0, min_n), None),
        overall_rating3=totals3[0] if totals3 else _empty_rating3({}, min_n),
        breakdowns=breakdowns,
        units=rank_units(units, min_n),
        period=period,
        ratio_766=ratio_766,
        rating3=rating3,
        questionnaire=questionnaire,
        questionnaire_title=versions[-1]["title"] if versions else "",
        versions=[v for v in criteria.versions if v in criteria.present_versions],
        timezone=timezone,
        span=span,
        targets=Targets(target, on_time_target, target),
        responses=ResponseCounts(complete, respondents - complete, max(total - respondents, 0)),
        criteria_text=dict(sorted(criteria.text.items(), key=lambda kv: criterion_sort_key(kv[0]))),
        rollup_built_at=source.built_at if source is not queries else None,
    )


def _span(
    date_from: date | None,
    date_to: date | None,
    first: datetime | None,
    last: datetime | None,
    zone: ZoneInfo,
) -> tuple[date, date] | None:
    """The local days a report covers: its dates; a side not given comes from the data (first
    or last response), else from the other side; None when neither gives a day."""
    low = date_from or (first.astimezone(zone).date() if first else None)
    high = date_to or (last.astimezone(zone).date() if last else None)
    low, high = low or high, high or low
    if low is None or high is None:
        return None
    if low > high:  # e.g. --from after the last answer: the period is that one day on
        return (low, low) if date_from else (high, high)
    return low, high


def rank_units(units: list[IndexRow], min_n: int) -> list[IndexRow]:
    """The unit ranking: units with an index on at least `min_n` respondents, best first; then,
    unranked, those with fewer ("small_n", best first), those without data ("no_data") and
    answers without a unit ("unknown_unit": nobody's score)."""

    def reason(row: IndexRow) -> str | None:
        unit = row.keys.get("unit")
        if not isinstance(unit, Dim) or unit.code is None:
            return "unknown_unit"
        if row.overall_index.value is None:
            return "no_data"
        if row.overall_index.n < min_n:
            return "small_n"
        return None

    order = {None: 0, "small_n": 1, "no_data": 2, "unknown_unit": 3}
    for row in units:
        row.rank, row.unranked = None, reason(row)
    ranked = sorted(units, key=lambda r: (order[r.unranked], *_rank_key(r)))
    position = 0
    for row in ranked:
        if row.unranked is None:
            position += 1
            row.rank = position
    return ranked


def periods_between(kind: str, span: tuple[date, date]) -> list[str]:
    """Every period label of `kind` from the first to the last day of `span`, in order."""
    first, last = span
    labels: list[str] = []
    day = first
    while day <= last:
        if kind == "day":
            label, day = day.isoformat(), day + timedelta(days=1)
        elif kind == "month":
            label = f"{day.year:04d}-{day.month:02d}"
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        elif kind == "quarter":
            q = (day.month - 1) // 3
            label = f"{day.year:04d}-Q{q + 1}"
            month = 3 * (q + 1) + 1
            day = date(day.year + (month > 12), (month - 1) % 12 + 1, 1)
        else:
            label, day = f"{day.year:04d}", date(day.year + 1, 1, 1)
        labels.append(label)
    return labels


def _rank_key(row: IndexRow) -> tuple[bool, bool, float, str]:
    value = row.overall_index.value
    unit = row.keys.get("unit")
    code = unit.code if isinstance(unit, Dim) else None
    return (code is None, value is None, -(value or 0.0), code or "")


def element_sort_key(code: str) -> tuple[int, str]:
    """Elements in SIPAS order, unknown codes after them alphabetically."""
    if code in ELEMENT_ORDER:
        return ELEMENT_ORDER.index(code), ""
    return len(ELEMENT_ORDER), code


def criterion_sort_key(code: str) -> tuple[int, str, int, str]:
    """Statements by element order, then by number (CC2 before CC10)."""
    base, _, root = code.partition("@")  # "TCDV1@2025.1": a criterion whose wording changed
    match = re.fullmatch(r"(.*?)(\d+)", base)
    stem, number = (match.group(1), int(match.group(2))) if match else (base, 0)
    return (*element_sort_key(stem), number, root)


def _sort_key(keys: Mapping[str, DimValue]) -> tuple[tuple[bool, str], ...]:
    # Unknown (NULL) values sort last in each column.
    parts = []
    for v in keys.values():
        text = v.code if isinstance(v, Dim) else v
        parts.append((text is None, text or ""))
    return tuple(parts)


def _weighted_mean(values: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    total_weight = sum(weights.get(code, 1.0) for code in values)
    if total_weight <= 0:
        return None
    return sum(v * weights.get(code, 1.0) for code, v in values.items()) / total_weight


@dataclass
class _FineCounts:
    """The aggregated rows of one report, keyed by the finest grouping (`fine`, a tuple of
    response-level dimensions; unit and procedure by id). Every section is a sum of these:
    each response has exactly one value of each dimension, so criterion counts, rating counts
    and distinct respondents all add up exactly to any coarser grouping."""

    fine: tuple[str, ...]
    names: Mapping[str, Mapping[int, tuple[str, str]]]
    # procedure id → field (lĩnh vực): the `field` dimension is a function of the procedure
    fields: Mapping[int, str] = field(default_factory=dict)
    # fine key → responses with a valid statement answer that finished the questionnaire
    complete: dict[Key, int] = field(default_factory=dict)
    # fine key → element → criterion key → (valid, satisfied)
    statements: dict[Key, dict[str, dict[str, tuple[int, int]]]] = field(default_factory=dict)
    # fine key → level → count
    rating3: dict[Key, dict[str, int]] = field(default_factory=dict)
    # fine key → responses with a valid statement answer (in all / per element)
    respondents: dict[Key, int] = field(default_factory=dict)
    element_respondents: dict[Key, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        fine: tuple[str, ...],
        answer_rows: Sequence[RowMapping],
        respondent_rows: Sequence[RowMapping],
        elements: Sequence[str],
        names: Mapping[str, Mapping[int, tuple[str, str]]],
        criteria: _Criteria | None = None,
    ) -> _FineCounts:
        """Index the rows of `queries.answer_counts` and `queries.respondent_counts`; a
        statement is identified by `criteria` (questionnaire version and code)."""
        out = cls(fine, names)
        labels = [queries.key_label(dim) for dim in fine]
        for row in answer_rows:
            key = tuple(row[label] for label in labels)
            if row["level"] is None:
                question = (
                    criteria.key(row["version_id"], row["question_code"])
                    if criteria is not None
                    else row["question_code"]
                )
                into = out.statements.setdefault(key, {}).setdefault(row["element_code"], {})
                valid, satisfied = into.get(question, (0, 0))
                into[question] = (
                    valid + int(row["n_valid"] or 0),
                    satisfied + int(row["n_satisfied"] or 0),
                )
            else:
                levels = out.rating3.setdefault(key, dict.fromkeys(RATING3_LEVELS, 0))
                levels[row["level"]] += int(row["n"])
        for row in respondent_rows:
            key = tuple(row[label] for label in labels)
            out.respondents[key] = int(row["respondents"])
            out.complete[key] = int(row.get("complete") or 0)
            out.element_respondents[key] = {
                code: int(row[f"in_element_{i}"] or 0) for i, code in enumerate(elements)
            }
        return out

    def _projector(self, dims: Sequence[str]) -> Callable[[Key, str | None], Key]:
        """fine key (+ element) → key of a grouping by `dims`."""
        fields = self.fields
        positions = [
            None if dim == "element" else self.fine.index("procedure" if dim == "field" else dim)
            for dim in dims
        ]
        is_field = [dim == "field" for dim in dims]

        def project(key: Key, element: str | None) -> Key:
            return tuple(
                element
                if p is None
                else (fields.get(key[p]) if key[p] is not None else None)
                if f
                else key[p]
                for p, f in zip(positions, is_field, strict=True)
            )

        return project

    def keys(self, dims: Sequence[str], key: Key) -> dict[str, DimValue]:
        """Display values of a key: unit and procedure ids become (code, name)."""
        out: dict[str, DimValue] = {}
        for dim, value in zip(dims, key, strict=True):
            if dim in queries.PAIR_DIMENSIONS:
                entry = self.names[dim].get(value) if value is not None else None
                out[dim] = Dim(entry[0], entry[1]) if entry else Dim(None, UNKNOWN_NAME)
            else:
                out[dim] = value
        return out

    def index_rows(
        self,
        dims: Sequence[str],
        min_n: int,
        target: float,
        weights: Mapping[str, float],
        domains: _Domains | None = None,
    ) -> list[IndexRow]:
        """Index rows of one breakdown (no dims: the whole range, one row or none). With
        `domains`, every expected group without answers is a row too (`no_data`)."""
        project = self._projector(dims)
        by_element = "element" in dims
        # group → element → question → (valid, satisfied)
        counts: dict[Key, dict[str, dict[str, tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for fine_key, per_element in self.statements.items():
            for element, per_question in per_element.items():
                into = counts[project(fine_key, element)][element]
                for question, (valid, satisfied) in per_question.items():
                    old_valid, old_satisfied = into.get(question, (0, 0))
                    into[question] = (old_valid + valid, old_satisfied + satisfied)
        element_n: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        group_n: dict[Key, int] = defaultdict(int)
        for fine_key, per_element_n in self.element_respondents.items():
            for element, n in per_element_n.items():
                key = project(fine_key, element)
                element_n[key][element] += n
                if by_element:  # a row holds one element: its people are the row's people
                    group_n[key] += n
        if not by_element:
            for fine_key, n in self.respondents.items():
                group_n[project(fine_key, None)] += n

        rows: list[IndexRow] = []
        for key, per_element_counts in counts.items():
            criteria: dict[str, Figure] = {}
            elements: dict[str, Figure] = {}
            element_values: dict[str, float] = {}
            for element in sorted(per_element_counts, key=element_sort_key):
                rates: list[float] = []
                per_question = per_element_counts[element]
                for question in sorted(per_question, key=criterion_sort_key):
                    valid, satisfied = per_question[question]
                    figure = Figure.proportion(satisfied, valid, min_n)
                    criteria[question] = figure
                    if figure.value is not None:
                        rates.append(figure.value)
                value = sum(rates) / len(rates) if rates else None
                elements[element] = Figure.of(value, element_n[key].get(element, 0), min_n)
                if value is not None:
                    element_values[element] = value
            respondents = group_n.get(key, 0)
            overall = Figure.of(_weighted_mean(element_values, weights), respondents, min_n)
            rows.append(
                IndexRow(
                    keys=self.keys(dims, key),
                    respondents=respondents,
                    overall_index=overall,
                    elements=elements,
                    criteria=criteria,
                    meets_target=None if overall.value is None else overall.value >= target,
                )
            )
        if domains is not None and dims:
            for key in domains.missing(dims, set(counts)):
                rows.append(_empty_index_row(self.keys(dims, key), min_n))
        rows.sort(key=lambda r: _sort_key(r.keys))
        return rows

    def rating3_rows(self, dims: Sequence[str], min_n: int) -> list[Rating3Row]:
        """Three-level distribution per group of `dims` (response-level dimensions)."""
        project = self._projector(dims)
        counts: dict[Key, dict[str, int]] = {}
        for fine_key, levels in self.rating3.items():
            into = counts.setdefault(project(fine_key, None), dict.fromkeys(RATING3_LEVELS, 0))
            for level, count in levels.items():
                into[level] += count
        out: list[Rating3Row] = []
        for key, level_counts in counts.items():
            n = sum(level_counts.values())
            shares = {lvl: Figure.proportion(c, n, min_n) for lvl, c in level_counts.items()}
            satisfied = Figure.proportion(
                level_counts["rat_hai_long"] + level_counts["hai_long"], n, min_n
            )
            out.append(Rating3Row(self.keys(dims, key), n, level_counts, shares, satisfied))
        out.sort(key=lambda r: _sort_key(r.keys))
        return out


def _empty_index_row(keys: dict[str, DimValue], min_n: int) -> IndexRow:
    return IndexRow(keys, 0, Figure.of(None, 0, min_n), {}, {}, None)


@dataclass(frozen=True)
class _Domains:
    """The groups a breakdown lists even without answers: every period of the report's span,
    every unit with a dossier or a response, every element of the questionnaire. Other
    dimensions (procedure, channel, field) and combinations of several of them list the
    values that have answers in the report, each with every period."""

    units: Sequence[int]
    periods: Mapping[str, Sequence[str]]
    elements: Sequence[str]

    def missing(self, dims: Sequence[str], present: set[Key]) -> list[Key]:
        """Keys of `dims` expected in the breakdown but absent from `present`."""
        fixed = [i for i, dim in enumerate(dims) if dim not in PERIODS]
        timed = [i for i, dim in enumerate(dims) if dim in PERIODS]
        combos = {tuple(key[i] for i in fixed) for key in present}
        if len(fixed) == 1:
            domain = {"unit": self.units, "element": self.elements}.get(dims[fixed[0]], ())
            combos |= {(value,) for value in domain}
        if not fixed:
            combos = {()}
        if not combos:
            return []
        period_values = [self.periods.get(dims[i], ()) for i in timed]
        if any(not values for values in period_values):
            return []  # no span (no data, no dates): nothing to fill a period with
        out: list[Key] = []
        for combo in combos:
            for when in itertools.product(*period_values):
                key: list[Any] = [None] * len(dims)
                for i, value in zip(fixed, combo, strict=True):
                    key[i] = value
                for i, value in zip(timed, when, strict=True):
                    key[i] = value
                if tuple(key) not in present:
                    out.append(tuple(key))
        return out


@dataclass
class _Criteria:
    """Which statements are one criterion: (questionnaire version, code) pairs are pooled
    only along a chain of versions that each declare the code comparable with the version
    before (`previous.comparable` in the YAML). A criterion's key is its code, or
    `code@version` (the version its wording started in) when the report holds several
    criteria with that code."""

    versions: list[str] = field(default_factory=list)  # oldest first
    version_of: dict[int, str] = field(default_factory=dict)  # questionnaire row id → version
    root: dict[tuple[str, str], str] = field(default_factory=dict)  # (version, code) → root
    wording: dict[tuple[str, str], str] = field(default_factory=dict)  # (root, code) → text
    elements: list[str] = field(default_factory=list)  # newest version's elements, in order
    ambiguous: set[str] = field(default_factory=set)  # codes with several roots in the data
    text: dict[str, str] = field(default_factory=dict)  # key → statement text (newest wording)
    keys: set[str] = field(default_factory=set)  # criterion keys present in the data
    present_versions: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, versions: Sequence[RowMapping], answer_rows: Sequence[RowMapping]) -> _Criteria:
        """From the stored versions (oldest first) and the report's answer counts."""
        out = cls()
        known: set[str] = set()
        for row in versions:
            version, definition = row["version"], row["definition"] or {}
            out.versions.append(version)
            out.version_of[row["id"]] = version
            previous = definition.get("previous") or {}
            before = previous.get("version") if previous.get("version") in known else None
            comparable = set(previous.get("comparable") or ()) if before else set()
            for q in definition.get("questions") or ():
                if q.get("type") != queries.LIKERT5 or not q.get("element"):
                    continue
                code = q["code"]
                root = version
                if code in comparable and (before, code) in out.root:
                    root = out.root[(before, code)]  # type: ignore[index]
                out.root[(version, code)] = root
                out.wording[(root, code)] = q.get("text", "")
            elements = [e["code"] for e in definition.get("elements") or ()]
            if elements:
                out.elements = elements
            known.add(version)
        roots: dict[str, set[str]] = defaultdict(set)
        for row in answer_rows:
            if row["level"] is None:
                version = out.version_of.get(row["version_id"], "")
                out.present_versions.add(version)
                code = row["question_code"]
                roots[code].add(out.root.get((version, code), version))
        out.ambiguous = {code for code, found in roots.items() if len(found) > 1}
        for code, found in roots.items():
            for root in found:
                key = f"{code}@{root}" if code in out.ambiguous else code
                out.keys.add(key)
                out.text[key] = out.wording.get((root, code), "")
        return out

    def key(self, version_id: int, code: str) -> str:
        """The criterion key of an answer counted under a version row id and a code."""
        if code not in self.ambiguous:
            return code
        version = self.version_of.get(version_id, "")
        return f"{code}@{self.root.get((version, code), version)}"


def _ratio_rows(
    rows: Sequence[RowMapping],
    dims: Sequence[str],
    names: Mapping[str, Mapping[int, tuple[str, str]]],
    min_n: int,
    target: float,
    on_time_target: float = 0.98,
) -> list[Ratio766Row]:
    """Decision 766 rows per group of `dims` (unit and/or the period), summed from the rows of
    `queries.ratio_766_counts` (no dims: the total, one row or none)."""
    labels = [queries.key_label(dim) for dim in dims]
    sums: dict[Key, list[int]] = {}
    for row in rows:
        into = sums.setdefault(tuple(row[label] for label in labels), [0, 0, 0, 0])
        for i, column in enumerate(("dossiers", "rated_khong_hai_long", "late", "excluded")):
            into[i] += int(row[column] or 0)
    view = _FineCounts(tuple(dims), names)
    out: list[Ratio766Row] = []
    for key, (dossiers, rated_bad, late, excluded) in sums.items():
        ratio = Figure.proportion(dossiers - excluded, dossiers, min_n)
        on_time = Figure.proportion(dossiers - late, dossiers, min_n)
        out.append(
            Ratio766Row(
                keys=view.keys(dims, key),
                dossiers=dossiers,
                rated_khong_hai_long=rated_bad,
                late=late,
                excluded=excluded,
                ratio=ratio,
                meets_target=None if ratio.value is None else ratio.value >= target,
                on_time=on_time,
                meets_on_time_target=None
                if on_time.value is None
                else on_time.value >= on_time_target,
            )
        )
    out.sort(key=lambda r: _sort_key(r.keys))
    return out


def _empty_rating3(keys: dict[str, DimValue], min_n: int) -> Rating3Row:
    empty = Figure.of(None, 0, min_n)
    return Rating3Row(
        keys,
        0,
        dict.fromkeys(RATING3_LEVELS, 0),
        dict.fromkeys(RATING3_LEVELS, empty),
        empty,
    )
