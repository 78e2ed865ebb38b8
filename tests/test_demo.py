"""`hailong demo` and the bulk simulator: schema, contract-conformant answers, idempotency."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from base.settings import get_settings
from demo.command import demo_command
from demo.surveys import seed_surveys
from storage.catalogue import ensure_questionnaire, load_catalogue
from storage.db import make_engine, session_scope
from storage.migrate import is_current, upgrade
from storage.models import AnswerStatus, ResponseStatus
from survey.loader import load_questionnaires
from survey.model import Questionnaire, QuestionType

PG_URL = os.environ.get(
    "HAILONG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/hailong_demo_test"
)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _demo_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(demo_command)
    return app


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/demo.db"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def _run_demo(*args: str) -> Any:
    return CliRunner().invoke(_demo_app(), ["--quiet", *args])


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql)))


def _assert_answers_follow_contract(engine: Engine) -> int:
    """Check every stored answer against its questionnaire definition; return the count."""
    definitions = {
        qid: Questionnaire.model_validate(d if isinstance(d, dict) else json.loads(d))
        for qid, d in _rows(engine, "SELECT id, definition FROM questionnaire")
    }
    by_response: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in _rows(
        engine,
        "SELECT a.response_id, r.questionnaire_id, a.question_code, a.element_code, a.kind, "
        "a.status, a.score, a.choice, a.text, a.satisfied FROM answer a "
        "JOIN survey_response r ON r.id = a.response_id",
    ):
        by_response[row.response_id][row.question_code] = row
    count = 0
    for answers in by_response.values():
        questionnaire = definitions[next(iter(answers.values())).questionnaire_id]
        for code, a in answers.items():
            q = questionnaire.question(code)
            assert a.kind == q.type.value
            assert a.element_code == q.element
            if q.when is not None:  # asked only when the condition held
                earlier = answers[q.when.question]
                assert set((earlier.choice or "").strip("|").split("|")) & set(q.when.in_)
            if a.status == AnswerStatus.SKIPPED:
                assert (a.score, a.choice, a.text, a.satisfied) == (None, None, None, None)
                assert not q.required
            elif q.type in (QuestionType.RATING3, QuestionType.LIKERT5):
                option = q.option(a.choice)
                assert option is not None, (code, a.choice)
                assert a.text is None
                assert a.score == option.score
                assert (None if a.satisfied is None else bool(a.satisfied)) == option.satisfied
                expected = AnswerStatus.NO_OPINION if option.no_opinion else AnswerStatus.ANSWERED
                assert a.status == expected
            elif q.type is QuestionType.SINGLE:
                assert a.status == AnswerStatus.ANSWERED and q.option(a.choice) is not None
            elif q.type is QuestionType.MULTI:
                assert a.choice.startswith("|") and a.choice.endswith("|")
                picked = a.choice.strip("|").split("|")
                assert all(q.option(c) is not None for c in picked)
                assert len(picked) <= (q.max_choices or len(q.options))
            else:
                assert a.status == AnswerStatus.ANSWERED and a.text and a.choice is None
            count += 1
        for q in questionnaire.questions:  # a required follow-up is never missing
            trigger = answers.get(q.when.question) if q.when is not None else None
            if q.required and trigger is not None and q.when and trigger.choice in q.when.in_:
                assert q.code in answers
    return count


def test_demo_on_a_fresh_sqlite_file_creates_schema_and_valid_responses(db_url: str) -> None:
    result = _run_demo("--responses", "400", "--seed", "7")
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    assert is_current(engine)
    ((responses, completed, citizens, bad_dates),) = _rows(
        engine,
        "SELECT COUNT(*), SUM(status = 'completed'), COUNT(citizen_id), "
        "SUM(completed_at < started_at) FROM survey_response",
    )
    assert responses == 400 and completed == 400
    assert citizens == 0 and bad_dates == 0
    assert _rows(engine, "SELECT COUNT(*) FROM citizen") == [(0,)]
    assert _assert_answers_follow_contract(engine) > 400
    channels = {c for (c,) in _rows(engine, "SELECT DISTINCT channel FROM survey_response")}
    assert channels == {"telegram", "zalo", "web"}
    # Unit and procedure are copied from the dossier, as the engine does.
    assert _rows(
        engine,
        "SELECT COUNT(*) FROM survey_response r JOIN dossier d ON d.id = r.dossier_id "
        "WHERE r.unit_id != d.unit_id OR r.procedure_id != d.procedure_id",
    ) == [(0,)]
    engine.dispose()


def test_demo_twice_does_not_duplicate_units_procedures_or_questionnaires(db_url: str) -> None:
    catalogue = load_catalogue()
    for _ in range(2):
        result = _run_demo("--responses", "50")
        assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    # The catalogue's units and the 168 wards under UBND_XA.
    assert _rows(engine, "SELECT COUNT(*) FROM unit") == [(len(catalogue.units) + 168,)]
    assert _rows(engine, "SELECT COUNT(*) FROM procedure") == [(len(catalogue.procedures),)]
    assert _rows(engine, "SELECT COUNT(*) FROM questionnaire") == [(2,)]
    assert _rows(engine, "SELECT COUNT(*) FROM survey_response") == [(100,)]
    engine.dispose()


def test_default_catalogue_has_the_18_router_unit_codes_each_with_a_procedure() -> None:
    catalogue = load_catalogue()
    codes = {u.code for u in catalogue.units}
    assert len(codes) == 18 and {"SXD", "UBND_XA", "VPUBND", "CATP", "THANHTRA"} <= codes
    assert all(catalogue.procedures_of(code) for code in codes)
    assert len(catalogue.procedures) >= 25


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_demo_rejects_a_bad_response_count(db_url: str, bad: str) -> None:
    result = _run_demo("--responses", bad)
    assert result.exit_code != 0
    assert "--responses" in result.output
    assert not Path(db_url.removeprefix("sqlite:///")).exists()


def _fresh_sqlite(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/{name}.db")
    upgrade(engine)
    return engine


def test_bulk_on_sqlite_writes_the_counted_rows_deterministically(tmp_path: Path) -> None:
    dumps = []
    for name in ("a", "b"):
        engine = _fresh_sqlite(tmp_path, name)
        result = seed_surveys(engine, answers=10_000, seed=3, now=NOW, progress=False)
        assert 10_000 <= result.answers < 10_000 + 30
        assert _rows(engine, "SELECT COUNT(*) FROM answer") == [(result.answers,)]
        assert _rows(engine, "SELECT COUNT(*) FROM survey_response") == [(result.responses,)]
        assert _rows(engine, "SELECT COUNT(*) FROM dossier") == [(result.dossiers,)]
        dumps.append(_rows(engine, "SELECT * FROM answer ORDER BY id"))
        engine.dispose()
    assert dumps[0] == dumps[1]


def test_bulk_data_is_realistic_late_dossiers_and_units_on_both_sides_of_target(
    tmp_path: Path,
) -> None:
    engine = _fresh_sqlite(tmp_path, "realistic")
    seed_surveys(engine, answers=40_000, seed=5, now=NOW, progress=False)
    ((late_share, oldest),) = _rows(
        engine, "SELECT AVG(completed_at > due_at), MIN(completed_at) FROM dossier"
    )
    assert 0.01 < late_share < 0.08
    assert oldest >= (NOW - timedelta(days=366)).replace(tzinfo=None).isoformat(" ")
    rates = [
        rate
        for (rate,) in _rows(
            engine,
            "SELECT AVG(a.satisfied) FROM answer a JOIN survey_response r ON r.id = a.response_id "
            "WHERE a.kind = 'likert5' AND a.status = 'answered' AND r.unit_id IS NOT NULL "
            "GROUP BY r.unit_id HAVING COUNT(*) > 300",
        )
    ]
    assert min(rates) < 0.93 and max(rates) > 0.96
    ratings = dict(
        _rows(engine, "SELECT choice, COUNT(*) FROM answer WHERE question_code='DG' GROUP BY 1")
    )
    assert ratings["khong_hai_long"] < ratings["hai_long"] < ratings["rat_hai_long"] * 2
    _assert_answers_follow_contract(engine)
    engine.dispose()


def test_ensure_questionnaire_is_get_or_create_by_code_and_version(tmp_path: Path) -> None:
    engine = _fresh_sqlite(tmp_path, "q")
    sipas = load_questionnaires()["sipas"]
    with session_scope(engine) as session:
        first = ensure_questionnaire(session, sipas)
    with session_scope(engine) as session:
        assert ensure_questionnaire(session, sipas) == first
        newer = sipas.model_copy(update={"version": "2099.1"})
        assert ensure_questionnaire(session, newer) != first
    assert _rows(engine, "SELECT COUNT(*) FROM questionnaire") == [(2,)]
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """The scratch database hailong_demo_test (or HAILONG_TEST_POSTGRES_URL), emptied."""
    url = sa.engine.make_url(PG_URL)
    admin_url = url.set(database="postgres")
    try:
        admin = make_engine(
            admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
        admin.dispose()
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {admin_url!r}: {exc.orig}")
    engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_bulk_on_postgres_copies_the_counted_rows_and_moves_sequences(pg_engine: Engine) -> None:
    result = seed_surveys(pg_engine, answers=20_000, seed=3, now=NOW, progress=False)
    assert _rows(pg_engine, "SELECT COUNT(*) FROM answer") == [(result.answers,)]
    assert _rows(pg_engine, "SELECT COUNT(*) FROM survey_response") == [(result.responses,)]
    assert _rows(pg_engine, "SELECT COUNT(*) FROM dossier") == [(result.dossiers,)]
    # Timestamps arrive as the same UTC instants SQLite stores.
    ((first_started,),) = _rows(pg_engine, "SELECT started_at FROM survey_response WHERE id = 1")
    assert first_started.utcoffset() == timedelta(0)
    assert _assert_answers_follow_contract(pg_engine) == result.answers
    # A second run appends after the generated ids; later ORM inserts get fresh ids too.
    again = seed_surveys(pg_engine, responses=10, seed=4, now=NOW, progress=False)
    assert again.responses == 10
    with pg_engine.begin() as conn:
        new_id = conn.execute(
            sa.text(
                "INSERT INTO survey_response (key, questionnaire_id, questionnaire_code, "
                "channel, status, started_at) VALUES ('t', 1, 'x', 'web', :s, now()) "
                "RETURNING id"
            ),
            {"s": ResponseStatus.IN_PROGRESS.value},
        ).scalar_one()
    assert new_id > result.responses + 10


# --------------------------------------------------------------------------- complaints

COMPLAINT_NOW = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)


def _complaints(engine: Engine) -> list[Any]:
    return _rows(
        engine,
        "SELECT c.*, u.code AS unit_code FROM complaint c JOIN unit u ON u.id = c.unit_id "
        "ORDER BY c.id",
    )


def _history(engine: Engine) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for event in _rows(engine, "SELECT * FROM complaint_event ORDER BY complaint_id, at, id"):
        out[event.complaint_id].append(event)
    return out


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _assert_complaints_consistent(engine: Engine, now: datetime) -> list[Any]:
    """Every demo complaint is a row the application could have written."""
    from complaints import lifecycle as lc
    from nlp.pii import mask_pii

    policy = lc.Policy()
    rows = _complaints(engine)
    history = _history(engine)
    codes_by_year: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for row in rows:
        status = lc.Status(row.status)
        received = _as_utc(row.received_at)
        assert now - timedelta(days=366) <= received <= now
        events = history[row.id]
        # The history: a submit first, then a chain of changes ending in the row's state.
        assert events[0].action == "submit" and events[0].from_status is None
        for before, after in itertools.pairwise(events):
            assert after.from_status == before.to_status
            assert after.from_unit == before.to_unit
            assert _as_utc(after.at) >= _as_utc(before.at)
        assert events[-1].to_status == row.status and events[-1].to_unit == row.unit_code
        assert row.version == len(events) - 1
        assert sum(e.action == "reopen" for e in events) == row.reopened
        real_transfers = [e for e in events if e.action == "transfer" and e.from_status != "triage"]
        assert len(real_transfers) == row.transfers
        if status is not lc.Status.FEEDBACK:
            assert row.routed_automatically == (events[0].to_status != "triage")
        # Closed complaints are never looked at again by the scheduler.
        if status in lc.OPEN:
            assert row.contact_phone is not None and re.fullmatch(
                r"0900000\d{3}", row.contact_phone
            )
            assert row.contact_name
        else:
            assert row.next_check_at is None
            assert row.contact_name is None and row.contact_phone is None
        if status in lc.ANSWERED_GROUP:
            assert row.answered_at is not None and row.answer_text
        if status is lc.Status.RATED:
            assert row.satisfied is not None and row.rated_at is not None
        # Due dates: 10 days, 15 after a transfer, to the end of the local day (a reopening
        # restarts the period from the reopening).
        if row.reopened == 0:
            assert _as_utc(row.due_at) == policy.due(received, multi=row.transfers > 0)
        assert _as_utc(row.due_at) >= received + timedelta(days=10)
        # No personal data beyond the placeholders: no citizen, no chat (but the demo chat),
        # masked texts.
        assert row.citizen_id is None and row.latitude is None
        assert row.text == row.masked_text == mask_pii(row.masked_text)
        assert (row.channel, row.external_id) == ("console", "demo") or row.external_id is None
        if status is lc.Status.FEEDBACK:
            assert row.code is None and row.anonymous and row.channel is None
            assert len(events) == 1
        else:
            assert row.code == f"PA-{row.year:04d}-{row.seq:06d}"
            assert received.astimezone(policy.tz).year == row.year
            codes_by_year[row.year].append((received, row.seq))
    # Codes: gapless per year, in order of receipt, and the sequence is at the last one.
    sequence = dict(_rows(engine, "SELECT year, last FROM complaint_sequence"))
    for year, items in codes_by_year.items():
        items.sort()
        assert [seq for _, seq in items] == list(range(1, len(items) + 1))
        assert sequence[year] == len(items)
    return rows


def test_demo_seeds_complaints_in_every_state_with_a_consistent_history(
    db_url: str, tmp_path: Path
) -> None:
    started = time.perf_counter()
    result = _run_demo("--seed", "3")  # the defaults: 3,000 responses, 600 complaints
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 20, f"hailong demo took {elapsed:.1f} s"
    engine = make_engine(db_url)
    rows = _assert_complaints_consistent(engine, datetime.now(UTC))
    assert len(rows) == 600
    statuses = {row.status for row in rows}
    assert statuses == {
        "triage", "routed", "accepted", "info_requested", "reopened",
        "answered", "rated", "rejected", "feedback",
    }  # fmt: skip
    satisfied = [r.satisfied for r in rows if r.satisfied is not None]
    assert 1 in satisfied and 0 in satisfied  # SQLite reads booleans as 1/0
    assert any(r.reopened for r in rows) and any(r.transfers for r in rows)
    late = [r for r in rows if r.answered_at and _as_utc(r.answered_at) > _as_utc(r.due_at)]
    assert 0.03 < len(late) / len(rows) < 0.2
    units = {r.unit_code for r in rows}
    assert {"SXD", "CATP", "VPUBND"} <= units
    wards = [r for r in rows if r.unit_code.startswith(("p-", "x-", "dk-"))]
    assert len({r.unit_code for r in wards}) >= 10
    assert all(r.ward_code == r.unit_code for r in wards)
    ((examples,),) = _rows(engine, "SELECT COUNT(*) FROM routing_example")
    assert examples > 0
    assert _rows(engine, "SELECT COUNT(*) FROM citizen") == [(0,)]
    # The command names one complaint to follow, in the terminal chat `demo`.
    follow = re.search(r"/tracuu (PA-\d{4}-\d{6})", result.output)
    assert follow is not None and "hailong chat --user demo" in result.output
    ((status,),) = _rows(
        engine,
        f"SELECT status FROM complaint WHERE code = '{follow.group(1)}' "
        "AND channel = 'console' AND external_id = 'demo'",
    )
    assert status in ("accepted", "routed")
    # The complaints report reads them.
    from reports.complaints import build_complaint_report

    report = build_complaint_report(engine, [["unit"], ["ward"]]).to_dict()["overall"]
    assert report["received"] + report["feedback"] == 600
    assert report["answered_late"] > 0 and report["reopened"] > 0 and report["overdue"] > 0
    engine.dispose()


def test_demo_complaints_again_continue_the_numbers(db_url: str) -> None:
    assert _run_demo("--responses", "0", "--complaints", "40").exit_code == 0
    assert _run_demo("--responses", "0", "--complaints", "30", "--seed", "2").exit_code == 0
    engine = make_engine(db_url)
    rows = _complaints(engine)
    assert len(rows) == 70
    codes = [r.code for r in rows if r.code]
    assert len(codes) == len(set(codes))
    sequence = dict(_rows(engine, "SELECT year, last FROM complaint_sequence"))
    for year, last in sequence.items():
        seqs = sorted(r.seq for r in rows if r.year == year)
        assert seqs == list(range(1, last + 1))
    engine.dispose()


def test_demo_without_complaints_and_a_bad_count(db_url: str) -> None:
    assert _run_demo("--responses", "10", "--complaints", "0").exit_code == 0
    engine = make_engine(db_url)
    assert _rows(engine, "SELECT COUNT(*) FROM complaint") == [(0,)]
    engine.dispose()
    bad = _run_demo("--complaints", "-3")
    assert bad.exit_code != 0 and "--complaints" in bad.output


def _complaint_figures(engine: Engine) -> dict[str, Any]:
    from reports.complaints import build_complaint_report

    data = build_complaint_report(
        engine, [["unit", "month"], ["ward"], ["channel"]], now=COMPLAINT_NOW
    ).to_dict()
    data.pop("generated_at")
    return data


@pytest.mark.postgres
def test_demo_complaints_same_rows_and_figures_on_sqlite_and_postgresql(
    sqlite_url: str, postgres_url: str
) -> None:
    from demo.complaints import seed_complaints

    figures, dumps = [], []
    for url in (sqlite_url, postgres_url):
        engine = make_engine(url)
        upgrade(engine)
        made = seed_complaints(engine, complaints=300, seed=5, now=COMPLAINT_NOW)
        assert made.complaints + made.feedback == 300
        _assert_complaints_consistent(engine, COMPLAINT_NOW)
        figures.append(_complaint_figures(engine))
        dumps.append(
            [
                (r.code, r.status, r.unit_code, r.ward_code, _as_utc(r.due_at), r.transfers)
                for r in _complaints(engine)
            ]
        )
        engine.dispose()
    assert dumps[0] == dumps[1]
    assert figures[0] == figures[1]
    assert figures[0]["overall"]["received"] > 250
