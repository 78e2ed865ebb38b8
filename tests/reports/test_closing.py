"""Closed months (issue 13: 7) and the report's options checked against the data (13: 2, 4),
through `hailong report` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

import reports.cli
from base.errors import UserError
from base.settings import get_settings
from reports.closing import changes, parse_month
from storage.models import Answer, SurveyResponse
from tests.reports.conftest import seed_scenario


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)  # two commands: "report" is a subcommand
    return application


@pytest.fixture
def scenario(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    seed_scenario(engine)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REPORT_MIN_N", "3")
    monkeypatch.delenv("ELEMENT_WEIGHTS", raising=False)
    get_settings.cache_clear()
    yield engine
    get_settings.cache_clear()


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def report_json(app: typer.Typer, *args: str) -> dict[str, Any]:
    result = run(app, "report", "-f", "json", *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return dict(json.loads(result.stdout))


def late_bad_rating(engine: Engine) -> None:
    """D5 (finished in March, never rated) is rated «Không hài lòng» in May."""
    with Session(engine) as session:
        d5 = session.execute(
            sa.text("SELECT id, unit_id FROM dossier WHERE code = 'D5'")
        ).one()
        qid = session.execute(
            sa.text("SELECT id FROM questionnaire WHERE code = 'danh-gia-ho-so'")
        ).scalar_one()
        response = SurveyResponse(
            key="late",
            questionnaire_id=qid,
            questionnaire_code="danh-gia-ho-so",
            dossier_id=d5.id,
            unit_id=d5.unit_id,
            channel="web",
            started_at=datetime(2026, 5, 2, 3, tzinfo=UTC),
        )
        session.add(response)
        session.flush()
        session.add(
            Answer(
                response_id=int(response.id or 0),
                question_code="DG",
                kind="rating3",
                status="answered",
                choice="khong_hai_long",
                score=1,
                satisfied=False,
            )
        )
        session.commit()


def test_a_closed_month_keeps_its_figures_and_shows_what_changed(
    app: typer.Typer, scenario: Engine
) -> None:
    before = report_json(app, "--month", "2026-03")
    result = run(app, "report", "close", "--month", "2026-03", "--closed-by", "analyst.snv")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "2026-03 closed" in result.stdout
    late_bad_rating(scenario)

    live = report_json(app, "--month", "2026-03", "--live")
    stored = report_json(app, "--month", "2026-03")
    # The late rating moves today's 766 ratio (3 of 5 → 2 of 5 dossiers satisfied) ...
    assert (
        live["overall"]["ratio_766"]["excluded"] == before["overall"]["ratio_766"]["excluded"] + 1
    )
    # ... but the closed month shows what was signed, and says what changed since.
    assert stored["overall"]["ratio_766"] == before["overall"]["ratio_766"]
    assert stored["overall"]["overall_index"] == before["overall"]["overall_index"]
    closed = stored["closed"]
    assert closed["month"] == "2026-03" and closed["closed_by"] == "analyst.snv"
    where = {c["where"]: (c["stored"], c["now"]) for c in closed["changes_since"]}
    assert where["overall.ratio_766.excluded"] == (3, 4)
    assert "overall.overall_index.value" not in where  # the survey figures did not move
    assert live["closed"] is None

    # Closing twice is refused; the audit log has the close; reopening needs a reason.
    again = run(app, "report", "close", "--month", "2026-03")
    assert isinstance(again.exception, UserError) and "already closed" in str(again.exception)
    no_reason = run(app, "report", "reopen", "--month", "2026-03")
    assert isinstance(no_reason.exception, UserError) and "--reason" in str(no_reason.exception)
    reopened = run(
        app,
        "report",
        "reopen",
        "--month",
        "2026-03",
        "--closed-by",
        "lead",
        "--reason",
        "late data",
    )
    assert reopened.exit_code == 0, reopened.exception
    assert report_json(app, "--month", "2026-03")["closed"] is None
    with scenario.connect() as conn:
        actions = conn.execute(
            sa.text("SELECT action, actor, subject FROM audit_log ORDER BY id")
        ).all()
    assert [tuple(a) for a in actions[-2:]] == [
        ("report_close", "analyst.snv", "sipas 2026-03"),
        ("report_reopen", "lead", "sipas 2026-03"),
    ]
    # After a reopen the month can be closed again, with the figures of today.
    assert run(app, "report", "close", "--month", "2026-03").exit_code == 0


def test_a_closed_month_renders_in_every_format(
    app: typer.Typer, scenario: Engine, tmp_path: Any
) -> None:
    assert run(app, "report", "close", "--month", "2026-03").exit_code == 0
    late_bad_rating(scenario)
    for fmt in ("table", "csv"):
        result = run(app, "report", "-f", fmt, "--month", "2026-03")
        assert result.exit_code == 0, (result.output, result.exception)
    out = tmp_path / "closed.xlsx"
    result = run(app, "report", "-f", "xlsx", "--month", "2026-03", "--out", str(out))
    assert result.exit_code == 0, result.exception
    # A breakdown the close did not store cannot come from the stored figures.
    other = run(app, "report", "--month", "2026-03", "--by", "day")
    assert isinstance(other.exception, UserError) and "--live" in str(other.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["close"], "needs --month"),
        (["close", "--month", "2026-13"], "YYYY-MM"),
        (["close", "--month", "2999-01"], "not over yet"),
        (["reopen", "--month", "2026-02", "--reason", "x"], "is not closed"),
        (["--month", "2026-03", "--from", "2026-03-01"], "replaces --from/--to"),
        (["--questionnaire", "khong-co"], "unknown questionnaire"),
    ],
)
def test_bad_close_and_report_arguments(
    app: typer.Typer, scenario: Engine, args: list[str], message: str
) -> None:
    result = run(app, "report", *args)
    assert isinstance(result.exception, UserError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_element_weights_must_name_elements_of_the_questionnaire(
    app: typer.Typer, scenario: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELEMENT_WEIGHTS", '{"TCDV": 2, "CCC": 1}')
    get_settings.cache_clear()
    result = run(app, "report")
    assert isinstance(result.exception, UserError)
    assert "ELEMENT_WEIGHTS: CCC is not an element of sipas" in str(result.exception)


def test_changes_match_rows_by_their_dimensions() -> None:
    old = {
        "units": [{"unit": {"code": "A"}, "x": {"value": 0.5, "n": 2, "ci_low": 0, "ci_high": 1}}]
    }
    new = {
        "units": [
            {"unit": {"code": "B"}, "x": {"value": 0.1, "n": 1, "ci_low": 0, "ci_high": 1}},
            {"unit": {"code": "A"}, "x": {"value": 0.5, "n": 2, "ci_low": 0.1, "ci_high": 1}},
        ]
    }
    assert list(changes(old, new)) == [
        ("units[B].x.n", None, 1),
        ("units[B].x.value", None, 0.1),
    ]
    assert parse_month("2026-12")[1].isoformat() == "2026-12-31"
