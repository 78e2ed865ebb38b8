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

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import OperationalError, ProgrammingError

from reports import queries
from reports.labels import UNKNOWN_NAME
from reports.queries import DIMENSIONS, PERIODS, RATING3_LEVELS, DateRange, DossierExclusion
from reports.stats import round4, wilson_interval
from storage.db import DatabaseError

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
    meets_target: bool
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form: dimension keys first, then the figures."""
        out: dict[str, Any] = {k: _dim_json(v) for k, v in self.keys.items()}
        if self.rank is not None:
            out["rank"] = self.rank
        out["respondents"] = self.respondents
        out["overall_index"] = self.overall_index.to_dict()
        out["elements"] = {code: f.to_dict() for code, f in self.elements.items()}
        out["criteria"] = {code: f.to_dict() for code, f in self.criteria.items()}
        out["meets_target"] = self.meets_target
        return out


@dataclass
class Breakdown:
    """Index rows grouped by one combination of dimensions."""

    by: tuple[str, ...]
    rows: list[IndexRow]

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
    meets_target: bool

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
    breakdowns: list[Breakdown]
    units: list[IndexRow]
    period: str | None  # period of the 766 and rating3 rows (None: whole range)
    ratio_766: list[Ratio766Row] = field(default_factory=list)
    rating3: list[Rating3Row] = field(default_factory=list)

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
            "overall": overall,
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "units": [u.to_dict() for u in self.units],
            "ratio_766": [r.to_dict() for r in self.ratio_766],
            "rating3": [r.to_dict() for r in self.rating3],
        }


def _dim_json(value: DimValue) -> Any:
    return value.to_dict() if isinstance(value, Dim) else value


def parse_by(values: Iterable[str] | None) -> tuple[tuple[str, ...], ...]:
    """`--by` values to breakdowns: each value is one breakdown, commas combine dimensions.

    `["unit,month", "channel"]` → (("unit", "month"), ("channel",)). Raises ValueError naming
    the bad word for an unknown dimension, a repeated one, or two periods in one breakdown.
    """
    specs: list[tuple[str, ...]] = []
    for value in values or ():
        dims = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        if not dims:
            raise ValueError(f"empty --by value {value!r}")
        for dim in dims:
            if dim not in DIMENSIONS:
                raise ValueError(f"unknown --by value {dim!r}; choose from {', '.join(DIMENSIONS)}")
        if len(set(dims)) != len(dims):
            raise ValueError(f"--by {value!r} names a dimension twice")
        if sum(dim in PERIODS for dim in dims) > 1:
            raise ValueError(f"--by {value!r} combines two periods; use one of them")
        if dims not in specs:
            specs.append(dims)
    return tuple(specs) or DEFAULT_BY


def date_range(date_from: date | None, date_to: date | None) -> DateRange:
    """Inclusive calendar dates (UTC) to the half-open timestamp range the queries use."""
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"--from {date_from} is after --to {date_to}")
    start = datetime.combine(date_from, time(), tzinfo=UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC) if date_to else None
    return DateRange(start, end)


def build_report(
    engine: Engine,
    by: Sequence[Sequence[str]] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    min_n: int = 30,
    target: float = 0.95,
    element_weights: Mapping[str, float] | None = None,
    dossier_questionnaire: str = "danh-gia-ho-so",
    rating_question: str = "DG",
    extra_766_exclusions: Sequence[DossierExclusion] = (),
    now: datetime | None = None,
) -> Report:
    """Compute the satisfaction report over [date_from, date_to] (inclusive, UTC dates).

    `by`: breakdowns, each a sequence of dimension names (see `parse_by`); default unit ×
    month, the city's monthly report. `element_weights`: element code → weight for the
    overall index (missing elements weigh 1; empty → equal weights). The 766 ratio and the
    three-level distribution are given per unit and per the first period named in `by` (whole
    range when none). `extra_766_exclusions` is the hook for the complaint condition.
    Raises `storage.db.DatabaseError` when the database cannot be read.
    """
    specs = parse_by([",".join(spec) for spec in by] if by else None)
    dates = date_range(date_from, date_to)
    weights = {k: float(v) for k, v in (element_weights or {}).items()}
    period = next((dim for spec in specs for dim in spec if dim in PERIODS), None)
    pair_dims: tuple[str, ...] = ("unit", period) if period else ("unit",)
    try:
        with engine.connect() as conn:
            overall = _index_rows(conn, (), dates, min_n, target, weights)
            breakdowns = [
                Breakdown(spec, _index_rows(conn, spec, dates, min_n, target, weights))
                for spec in specs
            ]
            units = _index_rows(conn, ("unit",), dates, min_n, target, weights)
            ratio_rows, ratio_total = (
                queries.ratio_766_counts(
                    conn,
                    ratio_period,
                    dates,
                    questionnaire_code=dossier_questionnaire,
                    rating_question=rating_question,
                    extra_exclusions=extra_766_exclusions,
                    by_unit=by_unit,
                )
                for ratio_period, by_unit in ((period, True), (None, False))
            )
            rating_rows = queries.rating3_counts(conn, pair_dims, dates)
            rating_total = queries.rating3_counts(conn, (), dates)
    except (OperationalError, ProgrammingError) as exc:
        raise DatabaseError(f"cannot read the survey tables: {exc.orig}") from exc
    # Responses without a unit are listed last and never ranked: they are nobody's score.
    ranked = sorted(units, key=_rank_key)
    position = 0
    for row in ranked:
        unit = row.keys.get("unit")
        if isinstance(unit, Dim) and unit.code is not None:
            position += 1
            row.rank = position
    ratio_766 = [_ratio_row(r, pair_dims, min_n, target) for r in ratio_rows]
    ratio_766.sort(key=lambda r: _sort_key(r.keys))
    rating3 = _rating3_rows(rating_rows, pair_dims, min_n)
    total_766 = (
        _ratio_row(ratio_total[0], (), min_n, target)
        if ratio_total
        else Ratio766Row({}, 0, 0, 0, 0, Figure.of(None, 0, min_n), False)
    )
    totals3 = _rating3_rows(rating_total, (), min_n)
    return Report(
        generated_at=now or datetime.now(UTC),
        date_from=date_from,
        date_to=date_to,
        target=target,
        min_n=min_n,
        element_weights=weights,
        overall=overall[0] if overall else _empty_index_row({}, min_n),
        overall_766=total_766,
        overall_rating3=totals3[0] if totals3 else _empty_rating3({}, min_n),
        breakdowns=breakdowns,
        units=ranked,
        period=period,
        ratio_766=ratio_766,
        rating3=rating3,
    )


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
    match = re.fullmatch(r"(.*?)(\d+)", code)
    stem, number = (match.group(1), int(match.group(2))) if match else (code, 0)
    return (*element_sort_key(stem), number, code)


def _keys_of(row: RowMapping, dims: Sequence[str]) -> dict[str, DimValue]:
    """Dimension values of a result row; a NULL unit or procedure reads "(không rõ)"."""
    keys: dict[str, DimValue] = {}
    for dim in dims:
        if dim in queries.PAIR_DIMENSIONS:
            code = row[f"{dim}_code"]
            name = row[f"{dim}_name"]
            keys[dim] = Dim(code, name if name is not None else UNKNOWN_NAME)
        else:
            keys[dim] = row[dim]
    return keys


def _key_tuple(keys: Mapping[str, DimValue]) -> Key:
    return tuple(v.code if isinstance(v, Dim) else v for v in keys.values())


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


def _index_rows(
    conn: Any,
    dims: Sequence[str],
    dates: DateRange,
    min_n: int,
    target: float,
    weights: Mapping[str, float],
) -> list[IndexRow]:
    """Index rows of one breakdown from the three aggregate queries."""
    criteria_counts = queries.criterion_counts(conn, dims, dates)
    per_element = queries.respondent_counts(conn, dims, dates, per_element=True)
    per_group = queries.respondent_counts(conn, dims, dates, per_element=False)

    groups: dict[Key, dict[str, DimValue]] = {}
    # group → element → question → (valid, satisfied)
    counts: dict[Key, dict[str, dict[str, tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in criteria_counts:
        keys = _keys_of(row, dims)
        key = _key_tuple(keys)
        groups.setdefault(key, keys)
        counts[key][row["element_code"]][row["question_code"]] = (
            int(row["n_valid"] or 0),
            int(row["n_satisfied"] or 0),
        )
    element_n: dict[Key, dict[str, int]] = defaultdict(dict)
    for row in per_element:
        element_n[_key_tuple(_keys_of(row, dims))][row["element_code"]] = int(row["respondents"])
    group_n = {_key_tuple(_keys_of(row, dims)): int(row["respondents"]) for row in per_group}

    rows: list[IndexRow] = []
    for key, keys in groups.items():
        criteria: dict[str, Figure] = {}
        elements: dict[str, Figure] = {}
        element_values: dict[str, float] = {}
        for element in sorted(counts[key], key=element_sort_key):
            rates: list[float] = []
            for question in sorted(counts[key][element], key=criterion_sort_key):
                valid, satisfied = counts[key][element][question]
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
                keys=keys,
                respondents=respondents,
                overall_index=overall,
                elements=elements,
                criteria=criteria,
                meets_target=overall.value is not None and overall.value >= target,
            )
        )
    rows.sort(key=lambda r: _sort_key(r.keys))
    return rows


def _empty_index_row(keys: dict[str, DimValue], min_n: int) -> IndexRow:
    return IndexRow(keys, 0, Figure.of(None, 0, min_n), {}, {}, False)


def _ratio_row(row: RowMapping, dims: Sequence[str], min_n: int, target: float) -> Ratio766Row:
    dossiers = int(row["dossiers"] or 0)
    excluded = int(row["excluded"] or 0)
    ratio = Figure.proportion(dossiers - excluded, dossiers, min_n)
    return Ratio766Row(
        keys=_keys_of(row, dims),
        dossiers=dossiers,
        rated_khong_hai_long=int(row["rated_khong_hai_long"] or 0),
        late=int(row["late"] or 0),
        excluded=excluded,
        ratio=ratio,
        meets_target=ratio.value is not None and ratio.value >= target,
    )


def _empty_rating3(keys: dict[str, DimValue], min_n: int) -> Rating3Row:
    empty = Figure.of(None, 0, min_n)
    return Rating3Row(
        keys,
        0,
        dict.fromkeys(RATING3_LEVELS, 0),
        dict.fromkeys(RATING3_LEVELS, empty),
        empty,
    )


def _rating3_rows(rows: Sequence[RowMapping], dims: Sequence[str], min_n: int) -> list[Rating3Row]:
    groups: dict[Key, dict[str, DimValue]] = {}
    counts: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(RATING3_LEVELS, 0))
    for row in rows:
        keys = _keys_of(row, dims)
        key = _key_tuple(keys)
        groups.setdefault(key, keys)
        counts[key][row["level"]] += int(row["count"])
    out: list[Rating3Row] = []
    for key, keys in groups.items():
        level_counts = counts[key]
        n = sum(level_counts.values())
        shares = {lvl: Figure.proportion(c, n, min_n) for lvl, c in level_counts.items()}
        satisfied = Figure.proportion(
            level_counts["rat_hai_long"] + level_counts["hai_long"], n, min_n
        )
        out.append(Rating3Row(keys, n, level_counts, shares, satisfied))
    out.sort(key=lambda r: _sort_key(r.keys))
    return out
