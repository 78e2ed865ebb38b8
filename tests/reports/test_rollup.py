"""The dashboard's rollup (reports/rollup.py, issue 15 benchmark): a report read from it equals
the live report, key by key, for every breakdown and period it covers, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from demo.surveys import seed_surveys
from reports import rollup
from reports.build import build_report
from reports.complaints import dossier_complaint_exclusion
from storage.models import (
    Answer,
    AnswerStatus,
    Complaint,
    Dossier,
    ResponseStatus,
    SurveyResponse,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OPTIONS: dict[str, Any] = {
    "min_n": 5,
    "questionnaire": "sipas",
    "dossier_questionnaire": "danh-gia-ho-so",
    "rating_question": "DG",
    "timezone": "Asia/Ho_Chi_Minh",
    "extra_766_exclusions": [dossier_complaint_exclusion],
}
BREAKDOWNS: list[list[str] | None] = [
    None,
    ["unit", "unit,procedure"],
    ["unit,month"],
    ["element", "procedure,quarter"],
    ["field", "year"],
    ["unit,day"],
]
PERIODS: list[tuple[date | None, date | None]] = [
    (None, None),
    (date(2026, 3, 1), date(2026, 3, 31)),  # one whole month: month rows only
    (date(2026, 2, 17), date(2026, 4, 9)),  # edges from day rows, March from its month row
    (date(2026, 5, 20), date(2026, 5, 20)),  # one day
    (date(2025, 12, 1), None),
    (None, date(2026, 1, 15)),
]


def specs(by: list[str] | None) -> list[list[str]] | None:
    return [value.split(",") for value in by] if by else None


def same(live: Any, stored: Any) -> None:
    a, b = live.to_dict(), stored.to_dict()
    a.pop("generated_at", None)
    b.pop("generated_at", None)
    assert a == b


@pytest.fixture
def data(engine: Engine) -> Engine:
    seed_surveys(engine, answers=12_000, seed=3, now=NOW, progress=False)
    with Session(engine) as s:  # a complaint about a dossier: Decision 766's third reason
        dossier = s.exec(
            select(Dossier).where(Dossier.completed_at.is_not(None)).order_by(Dossier.id)  # type: ignore[union-attr]
        ).first()
        assert dossier is not None
        s.add(
            Complaint(
                key="r1",
                code="PA-2026-000001",
                status="routed",
                unit_id=dossier.unit_id,
                dossier_id=dossier.id,
                origin="dossier_reason",
                text="x",
                masked_text="x",
                received_at=NOW,
                due_at=NOW + timedelta(days=10),
            )
        )
        s.commit()
    return engine


def test_a_report_from_the_rollup_equals_the_live_report(data: Engine) -> None:
    spec = rollup.RollupSpec.of(OPTIONS)
    assert rollup.reader(data, spec) is None  # never built: the dashboard computes live
    built = rollup.rebuild(data, spec, now=NOW)
    assert built is not None and built.full and built.rows > 0
    counts = rollup.reader(data, spec)
    assert counts is not None
    for by in BREAKDOWNS:
        for low, high in PERIODS:
            live = build_report(data, specs(by), low, high, **OPTIONS, now=NOW)
            stored = build_report(data, specs(by), low, high, **OPTIONS, now=NOW, rollup=counts)
            assert stored.rollup_built_at is not None, (by, low, high)
            assert live.rollup_built_at is None
            same(live, stored)
    # A breakdown by channel is not kept: computed live.
    assert build_report(data, specs(["channel"]), **OPTIONS, rollup=counts).rollup_built_at is None


def test_recent_months_are_rebuilt_and_a_full_rebuild_picks_up_old_changes(data: Engine) -> None:
    spec = rollup.RollupSpec.of(OPTIONS)
    rollup.rebuild(data, spec, now=NOW)
    with Session(data) as s:
        like = s.exec(
            select(SurveyResponse).where(SurveyResponse.questionnaire_code == "sipas")
        ).first()
        assert like is not None
        # New today: a response with one «rất không hài lòng» answer.
        fresh = SurveyResponse(
            key="rollup-new",
            questionnaire_id=like.questionnaire_id,
            questionnaire_code="sipas",
            unit_id=like.unit_id,
            procedure_id=like.procedure_id,
            channel="web",
            status=ResponseStatus.COMPLETED,
            started_at=NOW - timedelta(hours=1),
            completed_at=NOW,
        )
        s.add(fresh)
        s.flush()
        s.add(
            Answer(
                response_id=fresh.id,
                question_code="TCDV1",
                element_code="TCDV",
                kind="likert5",
                status=AnswerStatus.ANSWERED,
                score=1,
                satisfied=False,
                answered_at=NOW,
            )
        )
        s.commit()
    with data.begin() as conn:  # and in January: a late change the recent rebuild skips
        conn.execute(
            sa.text(
                "DELETE FROM answer WHERE response_id IN (SELECT id FROM survey_response "
                "WHERE questionnaire_code = 'sipas' AND started_at < :jan "
                "AND started_at >= :dec ORDER BY id LIMIT 3)"
            ),
            {"jan": datetime(2026, 1, 20, tzinfo=UTC), "dec": datetime(2026, 1, 2, tzinfo=UTC)},
        )
    recent = rollup.rebuild(data, spec, now=NOW + timedelta(minutes=5))
    assert recent is not None and not recent.full and recent.since == date(2026, 5, 1)
    counts = rollup.reader(data, spec)
    assert counts is not None
    june = (date(2026, 6, 1), date(2026, 6, 30))
    same(
        build_report(data, specs(["unit,month"]), *june, **OPTIONS),
        build_report(data, specs(["unit,month"]), *june, **OPTIONS, rollup=counts),
    )
    january = (date(2026, 1, 1), date(2026, 1, 31))
    live = build_report(data, specs(["unit"]), *january, **OPTIONS)
    stale = build_report(data, specs(["unit"]), *january, **OPTIONS, rollup=counts)
    assert live.overall.to_dict() != stale.overall.to_dict()  # stale until the full rebuild
    full = rollup.rebuild(data, spec, full=True, now=NOW + timedelta(minutes=10))
    assert full is not None and full.full
    counts = rollup.reader(data, spec)
    same(live, build_report(data, specs(["unit"]), *january, **OPTIONS, rollup=counts))


def test_a_rollup_of_other_rules_is_not_used_and_one_process_rebuilds_at_a_time(
    data: Engine,
) -> None:
    spec = rollup.RollupSpec.of(OPTIONS)
    rollup.rebuild(data, spec, now=NOW)
    other = rollup.RollupSpec.of({**OPTIONS, "timezone": "Asia/Bangkok"})
    assert rollup.reader(data, other) is None
    assert (
        rollup.reader(data, rollup.RollupSpec.of({**OPTIONS, "extra_766_exclusions": []})) is None
    )
    with data.begin() as conn:
        conn.execute(
            sa.text("UPDATE rollup_state SET lease_owner = 'other', lease_until = :until"),
            {"until": NOW + timedelta(minutes=5)},
        )
    assert rollup.rebuild(data, spec, now=NOW, owner="me") is None  # the other holds it
    # A lease past its time is taken over (its holder died).
    assert rollup.rebuild(data, spec, now=NOW + timedelta(minutes=6), owner="me") is not None


def test_a_zone_with_daylight_saving_on_sqlite(sqlite_url: str) -> None:
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    seed_surveys(engine, answers=4_000, seed=4, now=NOW, progress=False)
    options = {**OPTIONS, "timezone": "Europe/Paris"}
    spec = rollup.RollupSpec.of(options)
    rollup.rebuild(engine, spec, now=NOW)
    counts = rollup.reader(engine, spec)
    assert counts is not None
    for low, high in [(date(2026, 3, 20), date(2026, 4, 3)), (None, None)]:
        live = build_report(engine, specs(["unit,day", "month"]), low, high, **options)
        stored = build_report(
            engine, specs(["unit,day", "month"]), low, high, **options, rollup=counts
        )
        assert stored.rollup_built_at is not None
        same(live, stored)
    engine.dispose()
