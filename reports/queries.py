"""The SQL behind the reports: every count is a GROUP BY in the database.

A report reads the answers twice and the dossiers once, whatever breakdowns it asks for:

- `answer_counts`: statement counts (valid, satisfied) and three-level rating counts;
- `respondent_counts`: responses with a valid statement answer, in all and per element;
- `ratio_766_counts`: the Decision 766 dossier counts per unit and completion period.

The survey queries group by the finest combination of response-level dimensions the report
needs (unit and procedure by id, channel, periods); `reports.build` sums those rows (a few
thousand at most, never answer rows) into every section. Names of units and procedures come
from `dimension_names`, a read of the small catalogue tables, not from joins inside the scans.
The same statements run on SQLite and PostgreSQL: the one dialect-specific piece, period
bucketing, is isolated in `period_expr`.

Shape of the queries: an inner SELECT projects one row per answer, response or dossier with
its dimension values already computed and labelled; the outer SELECT groups by those labels.
This keeps GROUP BY free of repeated expressions with bound parameters, which PostgreSQL would
otherwise reject as "must appear in the GROUP BY clause".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables in SQLModel.metadata)
from storage.models import AnswerStatus, ResponseStatus

# Core tables, taken from the models' metadata (the models are the schema's description).
_tables = SQLModel.metadata.tables
answer_t = _tables["answer"]
response_t = _tables["survey_response"]
unit_t = _tables["unit"]
procedure_t = _tables["procedure"]
dossier_t = _tables["dossier"]
questionnaire_t = _tables["questionnaire"]

PERIODS: tuple[str, ...] = ("day", "month", "quarter", "year")
# Order matters only for display: it is the order columns appear in when combined.
DIMENSIONS: tuple[str, ...] = ("unit", "procedure", "field", "element", "channel", *PERIODS)
# Dimensions stored as a (code, name) pair; the others are one text column.
PAIR_DIMENSIONS: frozenset[str] = frozenset({"unit", "procedure"})
# Dimensions with exactly one value per response: counts grouped by a combination of them add
# up exactly to any coarser combination, distinct respondents included.
RESPONSE_DIMENSIONS: tuple[str, ...] = ("unit", "procedure", "channel", *PERIODS)

LIKERT5 = "likert5"
RATING3 = "rating3"
RATING3_LEVELS: tuple[str, ...] = ("rat_hai_long", "hai_long", "khong_hai_long")
RATING3_UNSATISFIED = "khong_hai_long"

# A dossier-level exclusion beyond "rated Không hài lòng" and "late", e.g. the complaint
# check of Decision 766 once complaints are stored: given the dossier table, return a boolean
# SQL expression true for dossiers to exclude (typically an EXISTS over the complaint table).
DossierExclusion = Callable[[sa.Table], ColumnElement[bool]]


DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class DateRange:
    """A half-open UTC interval [start, end); either side may be open. `tz` is the zone whose
    calendar the report's days, months, quarters and years follow (REPORT_TIMEZONE)."""

    start: datetime | None = None
    end: datetime | None = None
    tz: str = DEFAULT_TIMEZONE

    def where(self, column: sa.ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """The WHERE conditions that keep `column` inside the range."""
        conditions: list[ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions


def local_date_range(
    date_from: date | None, date_to: date | None, tz: str = DEFAULT_TIMEZONE
) -> DateRange:
    """Inclusive local calendar days to the half-open UTC range the queries use: a day runs
    from local midnight to local midnight (in Ho Chi Minh City, 17:00 UTC the day before)."""
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"--from {date_from} is after --to {date_to}")
    zone = ZoneInfo(tz)

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)

    return DateRange(
        start_of(date_from) if date_from else None,
        start_of(date_to + timedelta(days=1)) if date_to else None,
        tz,
    )


@lru_cache(maxsize=16)
def fixed_offset_minutes(tz: str) -> int | None:
    """The zone's UTC offset in minutes when it never changed from 1990 to 2100 (Viet Nam:
    +420 since 1975), else None (daylight saving or a change of offset)."""
    zone = ZoneInfo(tz)
    offsets = {
        datetime(year, month, 15, tzinfo=UTC).astimezone(zone).utcoffset()
        for year in range(1990, 2101)
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return int((offset or timedelta(0)).total_seconds() // 60)


def _sqlite_local(value: str | None, tz: str) -> str | None:
    """SQLite function hl_local(ts, tz): a stored UTC timestamp as local wall-clock text."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def tune_session(conn: Connection) -> None:
    """Session settings for a few large aggregations (this transaction only).

    PostgreSQL: enough work_mem for the GROUP BYs to hash in memory instead of sorting on
    disk, and no JIT, whose compile time (0.3-0.6 s per query) exceeds its gain here.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")


def prepare_connection(conn: Connection, tz: str) -> None:
    """Per-connection setup the local-time buckets need: on SQLite, for a zone whose offset
    changes (daylight saving), the `hl_local` function; nothing elsewhere."""
    if conn.dialect.name == "sqlite" and fixed_offset_minutes(tz) is None:
        raw = conn.connection.driver_connection
        raw.create_function("hl_local", 2, _sqlite_local, deterministic=True)  # type: ignore[union-attr]


def period_expr(
    column: sa.ColumnElement[Any], kind: str, dialect: str, tz: str = DEFAULT_TIMEZONE
) -> ColumnElement[str]:
    """SQL text for the local-time period bucket of a UTC timestamp column, per dialect.

    Labels: day "2026-03-05", month "2026-03", quarter "2026-Q1", year "2026", in the calendar
    of `tz`. SQLite stores UTC text: a fixed-offset zone (Viet Nam) adds its offset as a
    `strftime` modifier; a zone with daylight saving goes through `hl_local` (see
    `prepare_connection`). PostgreSQL stores `timestamptz`: `timezone(tz, …)` gives the local
    wall-clock time, independent of the session's time zone.
    """
    if kind not in PERIODS:
        raise ValueError(f"unknown period {kind!r}")
    if dialect == "sqlite":
        offset = fixed_offset_minutes(tz)
        args: list[Any] = (
            [column, f"{offset:+d} minutes"]
            if offset is not None
            else [sa.func.hl_local(column, tz)]
        )
        formats = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
        if kind in formats:
            return sa.func.strftime(formats[kind], *args, type_=sa.String)
        month = sa.cast(sa.func.strftime("%m", *args), sa.Integer)
        quarter = (month + 2) // 3  # integer division: months 1-3 → 1, …
        year = sa.func.strftime("%Y", *args, type_=sa.String)
        return year + "-Q" + sa.cast(quarter, sa.String)
    if dialect == "postgresql":
        local = sa.func.timezone(tz, column)
        pg_formats = {
            "day": "YYYY-MM-DD",
            "month": "YYYY-MM",
            "quarter": 'YYYY-"Q"Q',
            "year": "YYYY",
        }
        return sa.func.to_char(local, pg_formats[kind], type_=sa.String)
    raise ValueError(f"period bucketing not implemented for the {dialect!r} dialect")


def _response_key_columns(
    dims: Sequence[str], dialect: str, tz: str = DEFAULT_TIMEZONE
) -> list[sa.Label[Any]]:
    """Per-response grouping columns, labelled: ids for unit and procedure (names are attached
    afterwards from the small unit and procedure tables), the text value otherwise."""
    columns: list[sa.Label[Any]] = []
    for dim in dims:
        if dim == "unit":
            columns.append(response_t.c.unit_id.label(key_label(dim)))
        elif dim == "procedure":
            columns.append(response_t.c.procedure_id.label(key_label(dim)))
        elif dim == "channel":
            columns.append(response_t.c.channel.label(key_label(dim)))
        elif dim in PERIODS:
            columns.append(period_expr(response_t.c.started_at, dim, dialect, tz).label(dim))
        else:
            raise ValueError(f"not a response-level dimension: {dim!r}")
    return columns


def key_label(dim: str) -> str:
    """The result column a response-level dimension is grouped by (unit → unit_id)."""
    return f"{dim}_id" if dim in PAIR_DIMENSIONS else dim


def _answers_join() -> sa.FromClause:
    return answer_t.join(response_t, answer_t.c.response_id == response_t.c.id)


def _statement_condition() -> ColumnElement[bool]:
    """Five-level statements that belong to an element: the ones criterion rates count."""
    return sa.and_(answer_t.c.kind == LIKERT5, answer_t.c.element_code.is_not(None))


def answer_counts(
    conn: Connection,
    dims: Sequence[str],
    dates: DateRange,
    *,
    questionnaire: str,
    rating: tuple[str, str],
) -> Sequence[RowMapping]:
    """One scan of the answers for both statement counts and three-level ratings (the rows
    of `answer_counts_stmt`)."""
    stmt = answer_counts_stmt(
        dims, dates, conn.dialect.name, questionnaire=questionnaire, rating=rating
    )
    return conn.execute(stmt).mappings().all()


def answer_counts_stmt(
    dims: Sequence[str],
    dates: DateRange,
    dialect: str,
    *,
    questionnaire: str | None,
    rating: tuple[str, str],
) -> sa.Select[Any]:
    """The statement of `answer_counts`.

    Statements are those of `questionnaire` (all its versions: `version_id` tells them apart;
    None: of every questionnaire, which the dashboard's rollup stores);
    ratings are the answers to the rating question of the dossier questionnaire, `rating` =
    (questionnaire code, question code). `dims` are response-level dimensions (see
    `RESPONSE_DIMENSIONS`). Rows, per (dims…, version_id, element_code, question_code, level):

    - statements (`level` NULL): n (answers of any status), n_valid (status answered),
      n_satisfied; "không ý kiến" and skipped answers are in n only, never in n_valid;
    - three-level ratings (`level` = the chosen level): n = how many chose it.
    """
    answered = answer_t.c.status == AnswerStatus.ANSWERED.value
    rating3 = sa.and_(
        response_t.c.questionnaire_code == rating[0],
        answer_t.c.question_code == rating[1],
        answer_t.c.kind == RATING3,
        answered,
        answer_t.c.choice.in_(RATING3_LEVELS),
    )
    statements = (
        _statement_condition()
        if questionnaire is None
        else sa.and_(response_t.c.questionnaire_code == questionnaire, _statement_condition())
    )
    inner = (
        sa.select(
            *_response_key_columns(dims, dialect, dates.tz),
            response_t.c.questionnaire_id.label("version_id"),
            answer_t.c.element_code.label("element_code"),
            answer_t.c.question_code.label("question_code"),
            sa.case((answer_t.c.kind == RATING3, answer_t.c.choice), else_=sa.null()).label(
                "level"
            ),
            sa.case((answered, 1), else_=0).label("is_valid"),
            sa.case((sa.and_(answered, answer_t.c.satisfied.is_(sa.true())), 1), else_=0).label(
                "is_satisfied"
            ),
        )
        .select_from(_answers_join())
        .where(sa.or_(statements, rating3), *dates.where(response_t.c.started_at))
        .subquery("a")
    )
    keys = [inner.c[key_label(dim)] for dim in dims]
    groups = [*keys, inner.c.version_id, inner.c.element_code, inner.c.question_code, inner.c.level]
    return sa.select(
        *groups,
        sa.func.count().label("n"),
        sa.func.sum(inner.c.is_valid).label("n_valid"),
        sa.func.sum(inner.c.is_satisfied).label("n_satisfied"),
    ).group_by(*groups)


def respondent_counts(
    conn: Connection,
    dims: Sequence[str],
    dates: DateRange,
    elements: Sequence[str],
    *,
    questionnaire: str,
) -> Sequence[RowMapping]:
    """Responses to `questionnaire` with at least one valid statement answer, per group: in
    all (`respondents`, of which `complete` finished the questionnaire) and in each of
    `elements` (`in_element_0`, `in_element_1`, … in that order).

    This is the n of an overall or element index: answers of one person are correlated, so
    counting people, not answers, keeps the interval honest. One scan: the inner query folds
    each response's answers into one row of per-element flags (grouped by the response key,
    which needs no sort of the answers), the outer one sums the flags per group. `dims` are
    response-level, so a response belongs to exactly one group.
    """
    stmt = respondent_counts_stmt(
        dims, dates, elements, conn.dialect.name, questionnaire=questionnaire
    )
    return conn.execute(stmt).mappings().all()


def respondent_counts_stmt(
    dims: Sequence[str],
    dates: DateRange,
    elements: Sequence[str],
    dialect: str,
    *,
    questionnaire: str,
) -> sa.Select[Any]:
    """The statement of `respondent_counts`."""
    flags = [
        sa.func.max(sa.case((answer_t.c.element_code == code, 1), else_=0)).label(f"in_element_{i}")
        for i, code in enumerate(elements)
    ]
    complete = sa.func.max(
        sa.case((response_t.c.status == ResponseStatus.COMPLETED.value, 1), else_=0)
    ).label("complete")
    inner = (
        sa.select(*_response_key_columns(dims, dialect, dates.tz), complete, *flags)
        .select_from(_answers_join())
        .where(
            response_t.c.questionnaire_code == questionnaire,
            _statement_condition(),
            answer_t.c.status == AnswerStatus.ANSWERED.value,
            *dates.where(response_t.c.started_at),
        )
        .group_by(response_t.c.id)
        .subquery("r")
    )
    keys = [inner.c[key_label(dim)] for dim in dims]
    stmt = sa.select(
        *keys,
        sa.func.count().label("respondents"),
        sa.func.sum(inner.c.complete).label("complete"),
        *[
            sa.func.sum(inner.c[f"in_element_{i}"]).label(f"in_element_{i}")
            for i in range(len(elements))
        ],
    )
    return stmt.group_by(*keys) if keys else stmt


def dimension_names(conn: Connection, dim: str) -> dict[int, tuple[str, str]]:
    """id → (code, name) of every unit or procedure: a tiny catalogue table."""
    table = {"unit": unit_t, "procedure": procedure_t}[dim]
    rows = conn.execute(sa.select(table.c.id, table.c.code, table.c.name))
    return {row.id: (row.code, row.name) for row in rows}


def _answers_from() -> sa.FromClause:
    """answer ⋈ survey_response, with unit and procedure names (outer: they may be NULL)."""
    return (
        answer_t.join(response_t, answer_t.c.response_id == response_t.c.id)
        .outerjoin(unit_t, response_t.c.unit_id == unit_t.c.id)
        .outerjoin(procedure_t, response_t.c.procedure_id == procedure_t.c.id)
    )


def ratio_766_counts(
    conn: Connection,
    period: str | None,
    dates: DateRange,
    *,
    questionnaire_code: str,
    rating_question: str,
    extra_exclusions: Sequence[DossierExclusion] = (),
) -> Sequence[RowMapping]:
    """Per (unit_id, period of completion): dossiers, rated Không hài lòng, late, excluded.

    A dossier counts once in `excluded` however many reasons it has. Only finished dossiers
    (completed_at set) count; the period is that of completed_at. The counts add up, so
    totals are sums of these rows. Each reason is evaluated once per dossier (the rating
    check is a correlated EXISTS on indexed columns) and combined in the outer query.
    """
    stmt = ratio_766_stmt(
        period,
        dates,
        conn.dialect.name,
        questionnaire_code=questionnaire_code,
        rating_question=rating_question,
        extra_exclusions=extra_exclusions,
    )
    return conn.execute(stmt).mappings().all()


def ratio_766_stmt(
    period: str | None,
    dates: DateRange,
    dialect: str,
    *,
    questionnaire_code: str,
    rating_question: str,
    extra_exclusions: Sequence[DossierExclusion] = (),
) -> sa.Select[Any]:
    """The statement of `ratio_766_counts`."""
    d = dossier_t
    rated_bad = (
        sa.select(sa.literal(1))
        .select_from(_answers_join())
        .where(
            response_t.c.dossier_id == d.c.id,
            response_t.c.questionnaire_code == questionnaire_code,
            answer_t.c.question_code == rating_question,
            answer_t.c.status == AnswerStatus.ANSWERED.value,
            answer_t.c.choice == RATING3_UNSATISFIED,
        )
        .exists()
    )
    late = sa.and_(d.c.due_at.is_not(None), d.c.completed_at > d.c.due_at)
    columns: list[sa.Label[Any]] = [d.c.unit_id.label("unit_id")]
    if period is not None:
        columns.append(period_expr(d.c.completed_at, period, dialect, dates.tz).label(period))
    other = [make(d) for make in extra_exclusions]
    inner = (
        sa.select(
            *columns,
            sa.case((rated_bad, 1), else_=0).label("is_rated_bad"),
            sa.case((late, 1), else_=0).label("is_late"),
            sa.case((sa.or_(*other), 1), else_=0).label("is_other")
            if other
            else sa.literal(0).label("is_other"),
        )
        .select_from(d)
        .where(d.c.completed_at.is_not(None), *dates.where(d.c.completed_at))
        .subquery("d")
    )
    keys = [inner.c[c.name] for c in columns]
    excluded = sa.case(
        (sa.or_(inner.c.is_rated_bad == 1, inner.c.is_late == 1, inner.c.is_other == 1), 1),
        else_=0,
    )
    return sa.select(
        *keys,
        sa.func.count().label("dossiers"),
        sa.func.sum(inner.c.is_rated_bad).label("rated_khong_hai_long"),
        sa.func.sum(inner.c.is_late).label("late"),
        sa.func.sum(excluded).label("excluded"),
    ).group_by(*keys)


def response_total(conn: Connection, dates: DateRange, *, questionnaire: str) -> int:
    """Responses to `questionnaire` started in the range, whatever became of them."""
    stmt = sa.select(sa.func.count()).where(
        response_t.c.questionnaire_code == questionnaire, *dates.where(response_t.c.started_at)
    )
    return int(conn.execute(stmt).scalar_one())


def questionnaire_versions(conn: Connection, code: str) -> Sequence[RowMapping]:
    """Every stored version of a questionnaire (id, version, title, definition), oldest first."""
    q = questionnaire_t
    stmt = (
        sa.select(q.c.id, q.c.version, q.c.title, q.c.definition)
        .where(q.c.code == code)
        .order_by(q.c.created_at, q.c.id)
    )
    return conn.execute(stmt).mappings().all()


def data_span(conn: Connection, *, questionnaire: str) -> tuple[datetime | None, datetime | None]:
    """First and last response start of a questionnaire (UTC), for a report without dates."""
    stmt = sa.select(sa.func.min(response_t.c.started_at), sa.func.max(response_t.c.started_at))
    row = conn.execute(stmt.where(response_t.c.questionnaire_code == questionnaire)).one()
    low, high = row
    return _as_utc(low), _as_utc(high)


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates return the stored text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def units_in_scope(conn: Connection) -> list[int]:
    """Units a report lists even without answers: those with a dossier or a response."""
    rows = conn.execute(
        sa.union(sa.select(dossier_t.c.unit_id), sa.select(response_t.c.unit_id))
    ).scalars()
    return sorted(uid for uid in rows if uid is not None)


def procedure_fields(conn: Connection) -> dict[int, str]:
    """procedure id → its field (lĩnh vực) name; an empty field name is left out."""
    rows = conn.execute(sa.select(procedure_t.c.id, procedure_t.c.field_name))
    return {row.id: row.field_name for row in rows if row.field_name}


def export_answers_stmt(dates: DateRange, *, include_text: bool = False) -> sa.Select[Any]:
    """One row per answer for the anonymised export, in a stable order.

    No citizen columns are selected at all (name, phone, chat id): privacy by construction,
    not by filtering afterwards. The response is identified by its numeric id only.
    """
    columns: list[Any] = [
        response_t.c.id.label("response_id"),
        response_t.c.questionnaire_code.label("questionnaire_code"),
        questionnaire_t.c.version.label("questionnaire_version"),
        unit_t.c.code.label("unit_code"),
        procedure_t.c.code.label("procedure_code"),
        response_t.c.channel.label("channel"),
        response_t.c.status.label("response_status"),
        response_t.c.started_at.label("started_at"),
        answer_t.c.question_code.label("question_code"),
        answer_t.c.element_code.label("element_code"),
        answer_t.c.kind.label("kind"),
        answer_t.c.status.label("status"),
        answer_t.c.score.label("score"),
        answer_t.c.choice.label("choice"),
        answer_t.c.satisfied.label("satisfied"),
    ]
    if include_text:
        columns.append(answer_t.c.text.label("text"))
    return (
        sa.select(*columns)
        .select_from(
            _answers_from().join(
                questionnaire_t, response_t.c.questionnaire_id == questionnaire_t.c.id
            )
        )
        .where(*dates.where(response_t.c.started_at))
        .order_by(response_t.c.id, answer_t.c.id)
    )
