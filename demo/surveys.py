"""Fast, deterministic generation of simulated dossiers, survey responses and answers.

Shared by `hailong demo` (thousands of rows) and the report benchmark (millions). Rows are
built as plain tuples and written without the ORM: one transaction of large executemany
batches on SQLite, `COPY ... FROM STDIN` on PostgreSQL. Primary keys are assigned here
(continuing after the current maximum) so answers can point at their response without a
round trip per row; PostgreSQL sequences are moved past them at the end.

Every answer follows the storage contract (status, score, choice, satisfied, element_code),
derived from the questionnaire's own choices in `survey.model`, and skip logic (`when`) is
respected: a question whose condition is not met gets no row at all, because it was never
asked; a question the simulated citizen chose to skip gets a `skipped` row.
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from storage.catalogue import Catalogue, ensure_questionnaire, load_catalogue, upsert_catalogue
from storage.db import session_scope
from storage.models import AnswerStatus, ResponseStatus
from survey.model import Choice, Question, Questionnaire, QuestionType

DEMO_TEXTS = Path(__file__).parent / "data" / "demo_texts.yaml"

# Channel mix seen in practice: Telegram and Zalo dominate, the web widget is a minority.
CHANNELS: tuple[tuple[str, float], ...] = (("telegram", 0.45), ("zalo", 0.40), ("web", 0.15))

# Citizens tend to judge some aspects harder than others; offsets to P(satisfied) by question
# code first, then by element, so the element indices differ in a believable way.
QUESTION_OFFSETS: dict[str, float] = {"TCDV5": -0.05, "TTHC4": -0.02, "KQ1": -0.02}
ELEMENT_OFFSETS: dict[str, float] = {
    "TCDV": 0.0,
    "TTHC": 0.01,
    "CC": -0.01,
    "KQ": 0.01,
    "PAKN": -0.03,
}
# Many citizens never sent feedback, so PAKN statements get "không ý kiến" far more often.
NO_OPINION_RATE: dict[str | None, float] = {"PAKN": 0.12}
DEFAULT_NO_OPINION_RATE = 0.02
SKIP_RATE = 0.01  # a statement skipped outright
OPTIONAL_TEXT_SKIP_RATE = 0.7  # most people type nothing in an optional comment box
MULTI_SKIP_RATE = 0.1
# Weights of single-choice answers by question and choice code; absent means equal weights.
SINGLE_WEIGHTS: dict[str, dict[str, float]] = {
    "HINHTHUC": {"truc_tiep": 0.55, "truc_tuyen": 0.40, "buu_chinh": 0.05},
}

DOSSIER_RATED_RATE = 0.75  # not every citizen taps the rating after finishing a procedure
GENERAL_WITHOUT_DOSSIER_RATE = 0.03  # general SIPAS surveys started without a dossier link

DOSSIER_COLUMNS = (
    "id",
    "code",
    "unit_id",
    "procedure_id",
    "received_at",
    "due_at",
    "completed_at",
    "created_at",
)
RESPONSE_COLUMNS = (
    "id",
    "key",
    "questionnaire_id",
    "questionnaire_code",
    "citizen_id",
    "dossier_id",
    "unit_id",
    "procedure_id",
    "channel",
    "status",
    "started_at",
    "completed_at",
)
ANSWER_COLUMNS = (
    "id",
    "response_id",
    "question_code",
    "element_code",
    "kind",
    "status",
    "score",
    "choice",
    "text",
    "satisfied",
    "answered_at",
)

Row = tuple[Any, ...]
DAY = 86400.0


@dataclass
class SeedResult:
    """What one bulk run wrote."""

    dossiers: int = 0
    responses: int = 0
    answers: int = 0
    seconds: float = 0.0


@dataclass
class _Chunk:
    dossiers: list[Row] = field(default_factory=list)
    responses: list[Row] = field(default_factory=list)
    answers: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class _UnitProfile:
    """How well a simulated unit performs; `quality` in [0, 1] drives every rate below."""

    unit_id: int
    procedures: tuple[tuple[int, int], ...]  # (procedure id, processing days)
    procedure_cum: tuple[float, ...]
    quality: float

    @property
    def p_satisfied(self) -> float:
        # 0.86 .. 0.99: some units clear the 95% target, some clearly do not.
        return 0.86 + 0.13 * self.quality

    @property
    def p_late(self) -> float:
        return 0.08 - 0.07 * self.quality

    @property
    def p_unhappy(self) -> float:
        return 0.09 - 0.07 * self.quality


@dataclass(frozen=True)
class _Scale:
    """A rating question's options, pre-split so a draw is two random numbers."""

    no_opinion: Row | None
    satisfied: tuple[Row, ...]
    satisfied_cum: tuple[float, ...]
    unsatisfied: tuple[Row, ...]
    unsatisfied_cum: tuple[float, ...]


@dataclass(frozen=True)
class _QuestionPlan:
    question: Question
    kind: str
    element: str | None
    scale: _Scale | None
    options: tuple[Row, ...]  # single/multi: (choice code,) rows in display order
    option_cum: tuple[float, ...]
    sat_offset: float
    no_opinion_rate: float
    texts: tuple[str, ...]


def _answer_values(choice: Choice) -> Row:
    """(status, score, choice, satisfied) for a scale option, straight from the model."""
    status = AnswerStatus.NO_OPINION if choice.no_opinion else AnswerStatus.ANSWERED
    return (str(status), choice.score, choice.code, choice.satisfied)


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    total = sum(weights)
    acc, out = 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return tuple(out)


def _scale(question: Question) -> _Scale:
    opts = question.options
    no_op = next((c for c in opts if c.no_opinion), None)
    sat = sorted((c for c in opts if c.satisfied is True), key=lambda c: -(c.score or 0))
    unsat = sorted((c for c in opts if c.satisfied is False), key=lambda c: -(c.score or 0))
    # Within each side the milder answer is the commonest: "Hài lòng" over "Rất hài lòng" a
    # little, "Bình thường" far over "Rất không hài lòng".
    sat_w = [0.45] + [0.55 / max(len(sat) - 1, 1)] * (len(sat) - 1) if len(sat) > 1 else [1.0]
    unsat_w = [0.6 * (0.45**i) for i in range(len(unsat))]
    return _Scale(
        no_opinion=_answer_values(no_op) if no_op else None,
        satisfied=tuple(_answer_values(c) for c in sat),
        satisfied_cum=_cum(sat_w),
        unsatisfied=tuple(_answer_values(c) for c in unsat),
        unsatisfied_cum=_cum(unsat_w) if unsat else (),
    )


def _plan(questionnaire: Questionnaire, texts: dict[str, list[str]]) -> tuple[_QuestionPlan, ...]:
    plans = []
    for q in questionnaire.questions:
        scale = None
        options: tuple[Row, ...] = ()
        option_cum: tuple[float, ...] = ()
        if q.type in (QuestionType.RATING3, QuestionType.LIKERT5):
            scale = _scale(q)
        elif q.type in (QuestionType.SINGLE, QuestionType.MULTI):
            weights = SINGLE_WEIGHTS.get(q.code, {})
            options = tuple((c.code,) for c in q.options)
            option_cum = _cum([weights.get(c.code, 1.0) for c in q.options])
        plans.append(
            _QuestionPlan(
                question=q,
                kind=str(q.type),
                element=q.element,
                scale=scale,
                options=options,
                option_cum=option_cum,
                sat_offset=QUESTION_OFFSETS.get(q.code, ELEMENT_OFFSETS.get(q.element or "", 0.0)),
                no_opinion_rate=NO_OPINION_RATE.get(q.element, DEFAULT_NO_OPINION_RATE),
                texts=tuple(texts.get(q.code) or texts.get("default") or ["..."]),
            )
        )
    return tuple(plans)


def _profiles(
    catalogue: Catalogue, unit_ids: dict[str, int], procedure_ids: dict[str, int], seed: int
) -> tuple[list[_UnitProfile], tuple[float, ...]]:
    rng = random.Random(f"profiles-{seed}")
    units = [u for u in catalogue.units if catalogue.procedures_of(u.code)]
    order = list(range(len(units)))
    rng.shuffle(order)
    # Evenly spread qualities, shuffled across units: the ranking changes with the seed but
    # there are always units on both sides of the target.
    n = max(len(units) - 1, 1)
    profiles = []
    for rank, u in zip(order, units, strict=True):
        procs = catalogue.procedures_of(u.code)
        profiles.append(
            _UnitProfile(
                unit_id=unit_ids[u.code],
                procedures=tuple((procedure_ids[p.code], p.processing_days) for p in procs),
                procedure_cum=_cum([p.volume for p in procs]),
                quality=rank / n,
            )
        )
    return profiles, _cum([u.volume for u in units])


_EPOCH = datetime(1970, 1, 1)  # naive UTC: adding a timedelta is the cheapest conversion


def _ts(epoch: float) -> str:
    # The same text SQLAlchemy's SQLite DateTime writes; PostgreSQL reads it in the UTC session.
    return (_EPOCH + timedelta(seconds=epoch)).isoformat(" ", "microseconds")


class _Simulator:
    """Draws dossiers and surveys; holds the id counters so rows can reference each other."""

    def __init__(
        self,
        *,
        rng: random.Random,
        profiles: list[_UnitProfile],
        unit_cum: tuple[float, ...],
        dossier_q: tuple[int, Questionnaire, tuple[_QuestionPlan, ...]],
        general_q: tuple[int, Questionnaire, tuple[_QuestionPlan, ...]],
        general_share: float,
        now: datetime,
        next_ids: tuple[int, int, int],
    ) -> None:
        self.rng = rng
        self.profiles = profiles
        self.unit_cum = unit_cum
        self.dossier_q = dossier_q
        self.general_q = general_q
        self.general_share = general_share
        self.now = now.timestamp()
        self.dossier_id, self.response_id, self.answer_id = next_ids

    def dossier(self, chunk: _Chunk) -> tuple[int, _UnitProfile, int, bool, float]:
        """One completed dossier within the last 12 months; returns its facts."""
        rng = self.rng
        unit = self.profiles[bisect.bisect_left(self.unit_cum, rng.random())]
        proc_id, days = unit.procedures[bisect.bisect_left(unit.procedure_cum, rng.random())]
        # Slightly more recent activity than old (uptake grows); keep 3 days of headroom so
        # the surveys that follow a dossier still lie in the past.
        completed = self.now - (3 + 359 * rng.random() ** 1.15) * DAY
        late = rng.random() < unit.p_late
        if late:
            received = completed - (days + 0.5 + 9.5 * rng.random()) * DAY
        else:
            received = completed - (0.1 + (days - 0.1) * rng.random()) * DAY
        due = received + days * DAY
        did = self.dossier_id
        self.dossier_id += 1
        chunk.dossiers.append(
            (
                did,
                f"HS-DEMO-{did:09d}",
                unit.unit_id,
                proc_id,
                _ts(received),
                _ts(due),
                _ts(completed),
                _ts(completed),
            )
        )
        return did, unit, proc_id, late, completed

    def response(
        self,
        chunk: _Chunk,
        which: tuple[int, Questionnaire, tuple[_QuestionPlan, ...]],
        *,
        dossier_id: int | None,
        unit: _UnitProfile | None,
        procedure_id: int | None,
        late: bool,
        after: float,
    ) -> int:
        """One completed response and its answers; returns the number of answers written."""
        rng = self.rng
        qid, questionnaire, plans = which
        rid = self.response_id
        self.response_id += 1
        r = rng.random()
        channel = (
            CHANNELS[0][0]
            if r < CHANNELS[0][1]
            else (CHANNELS[1][0] if r < CHANNELS[0][1] + CHANNELS[1][1] else CHANNELS[2][0])
        )
        started = after + 600 + 3 * DAY * rng.random() ** 2
        p_sat = unit.p_satisfied if unit else 0.9
        p_unhappy = unit.p_unhappy + (0.25 if late else 0.0) if unit else 0.05
        mood = rng.gauss(0.0, 0.03)  # one citizen answers all statements in one mood
        at = started
        given: dict[str, set[str]] = {}
        n = 0
        for plan in plans:
            q = plan.question
            if q.when is not None and not given.get(q.when.question, set()) & set(q.when.in_):
                continue  # condition not met: never asked, so no row
            at += 5 + 25 * rng.random()
            values: Row
            txt: str | None = None
            if plan.scale is not None:
                values = self._rate(plan, p_sat + plan.sat_offset + mood, p_unhappy)
            elif plan.options:
                values = self._pick(plan)
            else:
                skip_rate = 0.0 if q.required else OPTIONAL_TEXT_SKIP_RATE
                if rng.random() < skip_rate:
                    values = (str(AnswerStatus.SKIPPED), None, None, None)
                else:
                    values = (str(AnswerStatus.ANSWERED), None, None, None)
                    txt = plan.texts[int(rng.random() * len(plan.texts))]
            choice = values[2]
            if choice is not None:
                given[q.code] = set(choice.strip("|").split("|"))
            chunk.answers.append(
                (
                    self.answer_id,
                    rid,
                    q.code,
                    plan.element,
                    plan.kind,
                    values[0],
                    values[1],
                    choice,
                    txt,
                    values[3],
                    _ts(at),
                )
            )
            self.answer_id += 1
            n += 1
        chunk.responses.append(
            (
                rid,
                f"demo-{rid}",
                qid,
                questionnaire.code,
                None,
                dossier_id,
                unit.unit_id if unit and dossier_id is not None else None,
                procedure_id,
                channel,
                str(ResponseStatus.COMPLETED),
                _ts(started),
                _ts(min(at + 5, self.now)),
            )
        )
        return n

    def _rate(self, plan: _QuestionPlan, p_sat: float, p_unhappy: float) -> Row:
        rng = self.rng
        scale = plan.scale
        assert scale is not None
        r = rng.random()
        # A one-tap rating is never "skipped": without the tap there is no response at all.
        if r < SKIP_RATE and plan.question.type is QuestionType.LIKERT5:
            return (str(AnswerStatus.SKIPPED), None, None, None)
        if scale.no_opinion is not None and r < SKIP_RATE + plan.no_opinion_rate:
            return scale.no_opinion
        # rating3 (per-dossier) uses the dossier's unhappiness; likert5 the unit's quality.
        p = 1.0 - p_unhappy if plan.question.type is QuestionType.RATING3 else p_sat
        p = min(max(p, 0.3), 0.998)
        if rng.random() < p or not scale.unsatisfied:
            return scale.satisfied[bisect.bisect_left(scale.satisfied_cum, rng.random())]
        return scale.unsatisfied[bisect.bisect_left(scale.unsatisfied_cum, rng.random())]

    def _pick(self, plan: _QuestionPlan) -> Row:
        rng = self.rng
        q = plan.question
        if q.type is QuestionType.SINGLE:
            if rng.random() < SKIP_RATE and not q.required:
                return (str(AnswerStatus.SKIPPED), None, None, None)
            code = plan.options[bisect.bisect_left(plan.option_cum, rng.random())][0]
            return (str(AnswerStatus.ANSWERED), None, code, None)
        if rng.random() < MULTI_SKIP_RATE and not q.required:
            return (str(AnswerStatus.SKIPPED), None, None, None)
        k = 1 + int(rng.random() * min(q.max_choices or 3, 3, len(plan.options)))
        picked = {bisect.bisect_left(plan.option_cum, rng.random()) for _ in range(k)}
        codes = [plan.options[i][0] for i in sorted(picked)]
        return (str(AnswerStatus.ANSWERED), None, "|" + "|".join(codes) + "|", None)

    def run(
        self, *, responses: int | None, answers: int | None, chunk_answers: int
    ) -> Iterator[tuple[_Chunk, int, int]]:
        """Yield chunks with (responses, answers) made so far, until the target is reached."""
        made_r = made_a = 0
        chunk = _Chunk()

        def done() -> bool:
            if responses is not None:
                return made_r >= responses
            return answers is not None and made_a >= answers

        while not done():
            did, unit, proc_id, late, completed = self.dossier(chunk)
            plans: list[
                tuple[tuple[int, Questionnaire, tuple[_QuestionPlan, ...]], int | None]
            ] = []
            if self.rng.random() < DOSSIER_RATED_RATE:
                plans.append((self.dossier_q, did))
            if self.rng.random() < self.general_share:
                plans.append((self.general_q, did))
            if self.rng.random() < GENERAL_WITHOUT_DOSSIER_RATE:
                plans.append((self.general_q, None))
            for which, dossier_ref in plans:
                if done():
                    break
                made_a += self.response(
                    chunk,
                    which,
                    dossier_id=dossier_ref,
                    unit=unit if dossier_ref else None,
                    procedure_id=proc_id if dossier_ref else None,
                    late=late,
                    after=completed,
                )
                made_r += 1
            if len(chunk.answers) >= chunk_answers:
                yield chunk, made_r, made_a
                chunk = _Chunk()
        yield chunk, made_r, made_a


def _load_texts() -> dict[str, list[str]]:
    raw = yaml.safe_load(DEMO_TEXTS.read_text(encoding="utf-8"))
    return {str(k): [str(t) for t in v] for k, v in raw.items()}


def _next_ids(conn: Connection) -> tuple[int, int, int]:
    out = []
    for table in ("dossier", "survey_response", "answer"):
        out.append(
            int(conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()) + 1
        )
    return out[0], out[1], out[2]


def seed_surveys(
    engine: Engine,
    *,
    responses: int | None = None,
    answers: int | None = None,
    seed: int = 1,
    now: datetime | None = None,
    catalogue: Catalogue | None = None,
    dossier_questionnaire: Questionnaire | None = None,
    general_questionnaire: Questionnaire | None = None,
    general_share: float = 0.3,
    progress: bool = True,
    chunk_answers: int = 50_000,
) -> SeedResult:
    """Simulate completed surveys until `responses` responses or `answers` answers exist.

    The schema must be current. Units, procedures and questionnaire rows are upserted first
    (idempotent); the generated rows are then appended in one transaction. The same seed,
    `now` and starting database give the same rows.
    """
    if (responses is None) == (answers is None):
        raise ValueError("give exactly one of responses= or answers=")
    target = responses if responses is not None else answers
    assert target is not None
    if target < 0:
        raise ValueError("the number to generate cannot be negative")
    started = time.perf_counter()
    catalogue = catalogue or load_catalogue()
    if dossier_questionnaire is None or general_questionnaire is None:
        from survey.loader import load_questionnaires

        shipped = load_questionnaires()
        dossier_questionnaire = dossier_questionnaire or shipped["danh-gia-ho-so"]
        general_questionnaire = general_questionnaire or shipped["sipas"]
    with session_scope(engine) as session:
        unit_ids, procedure_ids = upsert_catalogue(session, catalogue)
        dq_id = ensure_questionnaire(session, dossier_questionnaire)
        gq_id = ensure_questionnaire(session, general_questionnaire)
    texts = _load_texts()
    profiles, unit_cum = _profiles(catalogue, unit_ids, procedure_ids, seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    result = SeedResult()
    bar = _progress(target, "responses" if responses is not None else "answers", progress)
    with engine.begin() as conn:
        sim = _Simulator(
            rng=random.Random(seed),
            profiles=profiles,
            unit_cum=unit_cum,
            dossier_q=(dq_id, dossier_questionnaire, _plan(dossier_questionnaire, texts)),
            general_q=(gq_id, general_questionnaire, _plan(general_questionnaire, texts)),
            general_share=general_share,
            now=now,
            next_ids=_next_ids(conn),
        )
        writer = (
            _PostgresWriter(conn) if engine.dialect.name == "postgresql" else _SqliteWriter(conn)
        )
        shown = 0
        for chunk, made_r, made_a in sim.run(
            responses=responses, answers=answers, chunk_answers=chunk_answers
        ):
            writer.write(chunk)
            result.dossiers += len(chunk.dossiers)
            result.responses, result.answers = made_r, made_a
            now_shown = made_r if responses is not None else made_a
            bar.update(min(now_shown, target) - shown)
            shown = min(now_shown, target)
        writer.finish()
    bar.close()
    result.seconds = time.perf_counter() - started
    return result


def _progress(total: int, unit: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=f" {unit}",
        unit_scale=True,
        disable=not enabled,
        desc="seeding",
        dynamic_ncols=True,
    )


def _insert_sql(table: str, columns: Sequence[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


class _SqliteWriter:
    """executemany of raw tuples: values are already in SQLAlchemy's SQLite storage format."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # A larger page cache keeps the answer indexes in memory during the load; the old
        # size is put back afterwards so the pooled connection does not keep it.
        self.cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        self.sql = {
            "dossier": _insert_sql("dossier", DOSSIER_COLUMNS, "?"),
            "survey_response": _insert_sql("survey_response", RESPONSE_COLUMNS, "?"),
            "answer": _insert_sql("answer", ANSWER_COLUMNS, "?"),
        }

    def write(self, chunk: _Chunk) -> None:
        for table, rows in (
            ("dossier", chunk.dossiers),
            ("survey_response", chunk.responses),
            ("answer", chunk.answers),
        ):
            if rows:
                self.conn.exec_driver_sql(self.sql[table], rows)

    def finish(self) -> None:
        # Fresh statistics let the planner choose the answer indexes for reports.
        self.conn.exec_driver_sql("ANALYZE")
        self.conn.exec_driver_sql(f"PRAGMA cache_size={int(self.cache_size)}")


class _PostgresWriter:
    """COPY FROM STDIN on the raw psycopg connection, inside the engine's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Timestamps are written as UTC text without an offset; read them as UTC.
        conn.exec_driver_sql("SET LOCAL timezone = 'UTC'")
        self.raw: Any = conn.connection.driver_connection

    def _copy(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        with (
            self.raw.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def write(self, chunk: _Chunk) -> None:
        for table, columns, rows in (
            ("dossier", DOSSIER_COLUMNS, chunk.dossiers),
            ("survey_response", RESPONSE_COLUMNS, chunk.responses),
            ("answer", ANSWER_COLUMNS, chunk.answers),
        ):
            if rows:
                self._copy(table, columns, rows)

    def finish(self) -> None:
        # Ids were assigned here, so move each serial sequence past them for later inserts.
        for table in ("dossier", "survey_response", "answer"):
            self.conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
        for table in ("dossier", "survey_response", "answer"):
            self.conn.exec_driver_sql(f"ANALYZE {table}")
