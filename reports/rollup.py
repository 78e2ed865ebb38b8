"""The dashboard's rollup: the report's counts kept per unit, procedure and local day or month.

Why: the satisfaction report reads every answer of its period (45 s over 10M answers); a
dashboard page asks for three reports and must answer in under 200 ms. The counts the report
sums (`reports.queries`) add up exactly over days, months and any coarser grouping of unit and
procedure, so they are stored once per (unit, procedure, local day) and per local month, and a
dashboard request sums a few thousand stored rows through the same `build_report`.

- **Same statements.** `rebuild` runs the report's own statements (`answer_counts_stmt`,
  `respondent_counts_stmt`, `ratio_766_stmt`) grouped by unit, procedure and day, and keeps
  their rows; `RollupCounts` gives `build_report` rows of the very shapes the live queries
  give. A report from the rollup equals the live report of the data as of the rebuild
  (tests/reports/test_rollup.py compares them key by key).
- **Which requests.** Any breakdown of unit, procedure, field, element and the periods, over
  whole local days. A breakdown by channel, or a rollup built with another time zone, rating
  question or 766 rule (its `signature`), is computed live.
- **Freshness.** `hailong serve` rebuilds the current and previous months every
  REPORT_ROLLUP_SECONDS and everything every REPORT_ROLLUP_FULL_MINUTES (a late rating of an
  old dossier, or a deletion, changes an old month); `hailong report rollup [--full]` does it
  at once. One process rebuilds at a time (a lease in `rollup_state`). The dashboard shows
  when its figures were computed; the downloads and the CLI are always live.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel

from reports import queries
from reports.queries import DateRange, DossierExclusion
from storage.types import utcnow

log = logging.getLogger(__name__)

_tables = SQLModel.metadata.tables
answer_r = _tables["rollup_answer"]
respondent_r = _tables["rollup_respondent"]
response_r = _tables["rollup_response"]
dossier_r = _tables["rollup_dossier"]
state_t = _tables["rollup_state"]

DAY, MONTH = "d", "m"
# The response-level dimensions the rollup keeps (with the periods, derived from its buckets).
KEPT: frozenset[str] = frozenset({"unit", "procedure", *queries.PERIODS})
_FINE = ("unit", "procedure", "day")
LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class RollupSpec:
    """What the counts depend on beyond the data: the zone of the local days, the rating
    question, the extra Decision 766 exclusions (by name)."""

    timezone: str
    dossier_questionnaire: str
    rating_question: str
    extra_766_exclusions: tuple[DossierExclusion, ...] = ()

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> RollupSpec:
        """From `build_report`'s keyword arguments (`reports.cli.satisfaction_options`)."""
        return cls(
            options.get("timezone", queries.DEFAULT_TIMEZONE),
            options.get("dossier_questionnaire", "danh-gia-ho-so"),
            options.get("rating_question", "DG"),
            tuple(options.get("extra_766_exclusions") or ()),
        )

    @property
    def signature(self) -> str:
        return json.dumps(
            {
                "timezone": self.timezone,
                "rating": [self.dossier_questionnaire, self.rating_question],
                "766": [f"{f.__module__}.{f.__qualname__}" for f in self.extra_766_exclusions],
            },
            sort_keys=True,
        )


# --------------------------------------------------------------------------- rebuilding


@dataclass(frozen=True)
class Rebuilt:
    full: bool
    since: date | None  # first local day recomputed (None: everything)
    rows: int
    seconds: float


def owner_id() -> str:
    return f"{socket.gethostname()}|{os.getpid()}|{threading.get_ident()}"


def _take_lease(engine: Engine, owner: str, now: datetime) -> bool:
    with engine.begin() as conn:
        taken = conn.execute(
            sa.update(state_t)
            .where(
                state_t.c.id == 1,
                sa.or_(
                    state_t.c.lease_until.is_(None),
                    state_t.c.lease_until < now,
                    state_t.c.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
        )
        return taken.rowcount == 1


def _release(engine: Engine, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(state_t)
            .where(state_t.c.id == 1, state_t.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def state(engine: Engine) -> RowMapping | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(state_t).where(state_t.c.id == 1)).mappings().first()


def rebuild(
    engine: Engine,
    spec: RollupSpec,
    *,
    full: bool = False,
    recent_months: int = 2,
    now: datetime | None = None,
    owner: str | None = None,
) -> Rebuilt | None:
    """Recompute the rollup: everything when `full` (or when it was built with another
    `spec`), else the last `recent_months` local months (the current one included). None when
    another process holds the lease."""
    now = now or utcnow()
    owner = owner or owner_id()
    started = time.perf_counter()
    if not _take_lease(engine, owner, now):
        return None
    try:
        current = state(engine)
        if current is None or current["signature"] != spec.signature or not current["full_at"]:
            full = True
        since = None if full else _months_back(now, spec.timezone, recent_months)
        rows = _recompute(engine, spec, since, now, full=full)
    finally:
        _release(engine, owner)
    return Rebuilt(full, since, rows, time.perf_counter() - started)


def _months_back(now: datetime, tz: str, months: int) -> date:
    today = now.astimezone(ZoneInfo(tz)).date()
    index = today.year * 12 + today.month - 1 - max(months - 1, 0)
    return date(index // 12, index % 12 + 1, 1)


def _recompute(
    engine: Engine, spec: RollupSpec, since: date | None, now: datetime, *, full: bool
) -> int:
    """Read the day rows with the report's statements (a read transaction: the chat keeps
    writing meanwhile), then replace the rollup's rows from `since` on in one short write."""
    dates = queries.local_date_range(since, None, spec.timezone)
    with engine.connect() as conn:
        queries.tune_session(conn)
        queries.prepare_connection(conn, spec.timezone)
        dialect = conn.dialect.name
        answers = (
            conn.execute(
                queries.answer_counts_stmt(
                    _FINE,
                    dates,
                    dialect,
                    questionnaire=None,
                    rating=(spec.dossier_questionnaire, spec.rating_question),
                )
            )
            .mappings()
            .all()
        )
        codes = _codes_of_versions(conn)
        respondents: list[dict[str, Any]] = []
        for code, elements in _elements(answers, codes).items():
            stmt = queries.respondent_counts_stmt(
                _FINE, dates, elements, dialect, questionnaire=code
            )
            for row in conn.execute(stmt).mappings():
                base = {"unit_id": row["unit_id"], "procedure_id": row["procedure_id"]}
                base |= {"day": row["day"], "questionnaire_code": code}
                respondents.append(
                    base
                    | {
                        "element_code": "",
                        "respondents": row["respondents"],
                        "complete": row["complete"] or 0,
                    }
                )
                for i, element in enumerate(elements):
                    if row[f"in_element_{i}"]:
                        respondents.append(
                            base
                            | {
                                "element_code": element,
                                "respondents": row[f"in_element_{i}"],
                                "complete": 0,
                            }
                        )
        day = queries.period_expr(queries.response_t.c.started_at, "day", dialect, spec.timezone)
        responses = (
            conn.execute(
                sa.select(
                    day.label("day"),
                    queries.response_t.c.questionnaire_code,
                    sa.func.count().label("responses"),
                )
                .where(*dates.where(queries.response_t.c.started_at))
                .group_by(day, queries.response_t.c.questionnaire_code)
            )
            .mappings()
            .all()
        )
        dossiers = (
            conn.execute(
                queries.ratio_766_stmt(
                    "day",
                    dates,
                    dialect,
                    questionnaire_code=spec.dossier_questionnaire,
                    rating_question=spec.rating_question,
                    extra_exclusions=spec.extra_766_exclusions,
                )
            )
            .mappings()
            .all()
        )
        units = queries.units_in_scope(conn)

    answer_rows = _with_months(
        [
            {
                "bucket": r["day"],
                "unit_id": r["unit_id"],
                "procedure_id": r["procedure_id"],
                "version_id": r["version_id"],
                "element_code": r["element_code"],
                "question_code": r["question_code"],
                "level": r["level"],
                "n": r["n"],
                "n_valid": r["n_valid"] or 0,
                "n_satisfied": r["n_satisfied"] or 0,
            }
            for r in answers
        ],
        ("n", "n_valid", "n_satisfied"),
    )
    respondent_rows = _with_months(
        [{"bucket": r.pop("day"), **r} for r in respondents], ("respondents", "complete")
    )
    response_rows = _with_months(
        [
            {
                "bucket": r["day"],
                "questionnaire_code": r["questionnaire_code"],
                "responses": r["responses"],
            }
            for r in responses
        ],
        ("responses",),
    )
    dossier_rows = _with_months(
        [
            {
                "bucket": r["day"],
                "unit_id": r["unit_id"],
                "dossiers": r["dossiers"],
                "rated_bad": r["rated_khong_hai_long"] or 0,
                "late": r["late"] or 0,
                "excluded": r["excluded"] or 0,
            }
            for r in dossiers
        ],
        ("dossiers", "rated_bad", "late", "excluded"),
    )
    tables = (
        (answer_r, answer_rows),
        (respondent_r, respondent_rows),
        (response_r, response_rows),
        (dossier_r, dossier_rows),
    )
    with engine.begin() as conn:
        for table, rows in tables:
            conn.execute(sa.delete(table).where(*_from_bucket(table, since)))
            for chunk in _chunks(rows, 5000):
                conn.execute(sa.insert(table), chunk)
        values: dict[str, Any] = {"signature": spec.signature, "built_at": now, "units": units}
        if full:
            values["full_at"] = now
        conn.execute(sa.update(state_t).where(state_t.c.id == 1).values(**values))
    if engine.dialect.name == "postgresql":
        # Fresh statistics, or the planner guesses 5 rows and sorts 30,000 to group them
        # (66 of a 103 ms read); autovacuum would get there, minutes later.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "ANALYZE rollup_answer, rollup_respondent, rollup_response, rollup_dossier"
            )
    return sum(len(rows) for _, rows in tables)


def _codes_of_versions(conn: Connection) -> dict[int, str]:
    q = queries.questionnaire_t
    return {row.id: row.code for row in conn.execute(sa.select(q.c.id, q.c.code))}


def _elements(answers: Sequence[RowMapping], codes: Mapping[int, str]) -> dict[str, list[str]]:
    """Each questionnaire with statements in these rows, and its elements."""
    out: dict[str, set[str]] = defaultdict(set)
    for row in answers:
        if row["level"] is None and row["element_code"] is not None:
            out[codes.get(row["version_id"], "")].add(row["element_code"])
    return {code: sorted(elements) for code, elements in out.items() if code}


def _with_months(rows: list[dict[str, Any]], sums: Sequence[str]) -> list[dict[str, Any]]:
    """The day rows (grain d) and their sums per local month (grain m)."""
    months: dict[tuple[Any, ...], dict[str, Any]] = {}
    out = []
    for row in rows:
        out.append({"grain": DAY, **row})
        key_fields = {k: v for k, v in row.items() if k not in sums and k != "bucket"}
        month = str(row["bucket"])[:7]
        key = (month, *sorted(key_fields.items(), key=lambda kv: kv[0]))
        into = months.get(key)
        if into is None:
            months[key] = {
                "grain": MONTH,
                "bucket": month,
                **key_fields,
                **{s: int(row[s] or 0) for s in sums},
            }
        else:
            for s in sums:
                into[s] += int(row[s] or 0)
    return out + list(months.values())


def _from_bucket(table: sa.Table, since: date | None) -> list[ColumnElement[bool]]:
    """The rows a rebuild from `since` replaces: days from it, months from its month."""
    if since is None:
        return []
    return [
        sa.or_(
            sa.and_(table.c.grain == DAY, table.c.bucket >= since.isoformat()),
            sa.and_(table.c.grain == MONTH, table.c.bucket >= since.isoformat()[:7]),
        )
    ]


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


# --------------------------------------------------------------------------- reading


def _bucket_period(table: sa.Table, kind: str) -> ColumnElement[str]:
    """A period label (`period_expr`'s) from a bucket: '2026-03-05' or '2026-03'."""
    bucket = table.c.bucket
    if kind == "day":
        return bucket
    if kind == "month":
        return sa.func.substr(bucket, 1, 7)
    year = sa.func.substr(bucket, 1, 4)
    if kind == "year":
        return year
    month = sa.cast(sa.func.substr(bucket, 6, 2), sa.Integer)
    return year + "-Q" + sa.cast((month + 2) // 3, sa.String)


class RollupCounts:
    """The live queries' functions (`reports.queries`), answered from the rollup."""

    def __init__(self, spec: RollupSpec, built_at: datetime, units: list[int]) -> None:
        self.spec, self.built_at, self.units = spec, built_at, units

    def covers(self, dims: Sequence[str], dates: DateRange) -> bool:
        """Whether a report grouped by `dims` over `dates` can be read here: dimensions the
        rollup keeps, whole local days of its zone."""
        if not set(dims) <= KEPT or dates.tz != self.spec.timezone:
            return False
        zone = ZoneInfo(dates.tz)
        return all(
            moment is None or moment.astimezone(zone).time() == datetime.min.time()
            for moment in (dates.start, dates.end)
        )

    # --- the bucket condition: whole months from month rows, the edges from day rows ---
    def _where(self, table: sa.Table, dims: Sequence[str], dates: DateRange) -> ColumnElement[bool]:
        zone = ZoneInfo(dates.tz)
        low = dates.start.astimezone(zone).date() if dates.start else None
        high = dates.end.astimezone(zone).date() if dates.end else None  # exclusive

        def days(a: date | None, b: date | None) -> ColumnElement[bool]:
            parts = [table.c.grain == DAY]
            if a is not None:
                parts.append(table.c.bucket >= a.isoformat())
            if b is not None:
                parts.append(table.c.bucket < b.isoformat())
            return sa.and_(*parts)

        if "day" in dims:
            return days(low, high)
        m_low = low if low is None or low.day == 1 else _next_month(low)
        m_high = high.replace(day=1) if high is not None else None
        if m_low is not None and m_high is not None and m_low >= m_high:
            return days(low, high)
        months = [table.c.grain == MONTH]
        if m_low is not None:
            months.append(table.c.bucket >= m_low.isoformat()[:7])
        if m_high is not None:
            months.append(table.c.bucket < m_high.isoformat()[:7])
        parts = [sa.and_(*months)]
        if low is not None and m_low is not None and low < m_low:
            parts.append(days(low, m_low))
        if high is not None and m_high is not None and m_high < high:
            parts.append(days(m_high, high))
        return sa.or_(*parts)

    def _keys(self, table: sa.Table, dims: Sequence[str]) -> list[sa.Label[Any]]:
        out: list[sa.Label[Any]] = []
        for dim in dims:
            if dim in queries.PAIR_DIMENSIONS:
                out.append(table.c[f"{dim}_id"].label(queries.key_label(dim)))
            else:
                out.append(_bucket_period(table, dim).label(dim))
        return out

    # --- the functions build_report calls ---
    def answer_counts(
        self,
        conn: Connection,
        dims: Sequence[str],
        dates: DateRange,
        *,
        questionnaire: str,
        rating: tuple[str, str],
    ) -> Sequence[RowMapping]:
        t = answer_r
        q = queries.questionnaire_t
        versions = sa.select(q.c.id).where(q.c.code == questionnaire).scalar_subquery()
        keys = self._keys(t, dims)
        groups = [*keys, t.c.version_id, t.c.element_code, t.c.question_code, t.c.level]
        stmt = (
            sa.select(
                *groups,
                sa.func.sum(t.c.n).label("n"),
                sa.func.sum(t.c.n_valid).label("n_valid"),
                sa.func.sum(t.c.n_satisfied).label("n_satisfied"),
            )
            .where(
                self._where(t, dims, dates),
                sa.or_(t.c.level.is_not(None), t.c.version_id.in_(versions)),
            )
            .group_by(*groups)
        )
        return conn.execute(stmt).mappings().all()

    def respondent_counts(
        self,
        conn: Connection,
        dims: Sequence[str],
        dates: DateRange,
        elements: Sequence[str],
        *,
        questionnaire: str,
    ) -> Sequence[RowMapping]:
        t = respondent_r

        def total(column: sa.Column[Any], element: str, label: str) -> sa.Label[Any]:
            return sa.func.sum(sa.case((t.c.element_code == element, column), else_=0)).label(label)

        keys = self._keys(t, dims)
        stmt = sa.select(
            *keys,
            total(t.c.respondents, "", "respondents"),
            total(t.c.complete, "", "complete"),
            *[total(t.c.respondents, e, f"in_element_{i}") for i, e in enumerate(elements)],
        ).where(t.c.questionnaire_code == questionnaire, self._where(t, dims, dates))
        if keys:
            stmt = stmt.group_by(*keys)
        rows = conn.execute(stmt).mappings().all()
        if not keys and rows and rows[0]["respondents"] is None:  # no rows at all
            return [{**rows[0], "respondents": 0}]  # type: ignore[list-item]
        return rows

    def response_total(self, conn: Connection, dates: DateRange, *, questionnaire: str) -> int:
        t = response_r
        stmt = sa.select(sa.func.coalesce(sa.func.sum(t.c.responses), 0)).where(
            t.c.questionnaire_code == questionnaire, self._where(t, (), dates)
        )
        return int(conn.execute(stmt).scalar_one())

    def ratio_766_counts(
        self,
        conn: Connection,
        period: str | None,
        dates: DateRange,
        *,
        questionnaire_code: str,
        rating_question: str,
        extra_exclusions: Sequence[DossierExclusion] = (),
    ) -> Sequence[RowMapping]:
        t = dossier_r
        dims = ("unit", period) if period else ("unit",)
        keys = self._keys(t, dims)
        stmt = (
            sa.select(
                *keys,
                sa.func.sum(t.c.dossiers).label("dossiers"),
                sa.func.sum(t.c.rated_bad).label("rated_khong_hai_long"),
                sa.func.sum(t.c.late).label("late"),
                sa.func.sum(t.c.excluded).label("excluded"),
            )
            .where(self._where(t, dims, dates))
            .group_by(*keys)
        )
        return conn.execute(stmt).mappings().all()

    def data_span(
        self, conn: Connection, *, questionnaire: str
    ) -> tuple[datetime | None, datetime | None]:
        t = response_r
        low, high = conn.execute(
            sa.select(sa.func.min(t.c.bucket), sa.func.max(t.c.bucket)).where(
                t.c.grain == DAY, t.c.questionnaire_code == questionnaire
            )
        ).one()
        zone = ZoneInfo(self.spec.timezone)

        def moment(day: str | None) -> datetime | None:
            if day is None:
                return None
            return datetime.combine(date.fromisoformat(day), datetime.min.time(), zone).astimezone(
                UTC
            )

        return moment(low), moment(high)

    def units_in_scope(self, conn: Connection) -> list[int]:
        return list(self.units)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def reader(engine: Engine, spec: RollupSpec) -> RollupCounts | None:
    """The rollup, when it was built (fully at least once) with `spec`; else None."""
    row = state(engine)
    if row is None or not row["full_at"] or row["signature"] != spec.signature:
        return None
    return RollupCounts(spec, row["built_at"], [int(u) for u in row["units"] or []])


# --------------------------------------------------------------------------- refreshing


class Refresher:
    """`hailong serve`'s background rebuild: the recent months every `interval` seconds,
    everything every `full_minutes`; in a thread, so requests never wait for it."""

    def __init__(
        self,
        engine: Engine,
        spec: Callable[[], RollupSpec],
        interval: float,
        full_minutes: float,
    ) -> None:
        self.engine, self.spec = engine, spec
        self.interval, self.full_after = interval, timedelta(minutes=full_minutes)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Rebuilt | None:
        current = state(self.engine)
        full_at = current["full_at"] if current else None
        full = full_at is None or utcnow() - full_at >= self.full_after
        return rebuild(self.engine, self.spec(), full=full)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.run_once()
                if done is not None:
                    log.info(
                        "rollup rebuilt (%s): %d rows in %.1f s",
                        "full" if done.full else f"from {done.since}",
                        done.rows,
                        done.seconds,
                    )
            except Exception:  # a database outage or a bad setting: log, try again later
                log.exception("rollup rebuild failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="rollup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
