"""bench/report_bench.py: its floor computes what `hailong report` computes, and its
cross-check notices when the two disagree (local months, the rating question)."""

from __future__ import annotations

import importlib.util
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from demo.surveys import seed_surveys
from reports.build import build_report
from reports.complaints import dossier_complaint_exclusion
from reports.queries import dossier_t, response_t
from reports.render import write_json

ROOT = Path(__file__).resolve().parent.parent


def _bench() -> ModuleType:
    """The script as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "report_bench", ROOT / "bench" / "report_bench.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_bench"] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    """A few thousand simulated answers, one response and one dossier moved to 18:30 UTC on
    31 March: 1 April in Ho Chi Minh City, March in UTC. The report as the CLI builds it."""
    seed_surveys(
        engine, answers=3000, seed=3, now=datetime(2026, 6, 15, tzinfo=UTC), progress=False
    )
    boundary = datetime(2026, 3, 31, 18, 30, tzinfo=UTC)
    with engine.begin() as conn:
        first = conn.execute(
            sa.select(sa.func.min(response_t.c.id)).where(
                response_t.c.questionnaire_code == "sipas", response_t.c.unit_id.is_not(None)
            )
        ).scalar_one()
        conn.execute(
            sa.update(response_t).where(response_t.c.id == first).values(started_at=boundary)
        )
        dossier = conn.execute(sa.select(sa.func.min(dossier_t.c.id))).scalar_one()
        conn.execute(
            sa.update(dossier_t).where(dossier_t.c.id == dossier).values(completed_at=boundary)
        )
    report = build_report(
        engine, [("unit", "month")], extra_766_exclusions=[dossier_complaint_exclusion]
    )
    buffer = io.StringIO()
    write_json(report, buffer)
    path = tmp_path / "report.json"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return engine, path


def _check(engine: Engine, report_json: Path, **rules: Any) -> str:
    bench = _bench()
    floor_rules = bench.FloorRules(**rules)
    rows: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for name, sql in bench.floor_queries(engine.dialect.name, floor_rules).items():
            rows[name] = list(conn.exec_driver_sql(sql).fetchall())
        codes: dict[int, str] = dict(conn.exec_driver_sql("SELECT id, code FROM unit").fetchall())
    return str(bench.cross_check(report_json, rows, codes, floor_rules))


def test_floor_equals_the_report_in_every_unit_and_local_month(
    seeded: tuple[Engine, Path],
) -> None:
    note = _check(*seeded)
    assert note.startswith("cross-check OK"), note


def test_cross_check_catches_months_taken_in_utc(seeded: tuple[Engine, Path]) -> None:
    note = _check(*seeded, timezone="UTC")
    assert note.startswith("cross-check MISMATCH"), note
    assert "2026-03" in note or "2026-04" in note


def test_cross_check_catches_ratings_of_another_question(seeded: tuple[Engine, Path]) -> None:
    note = _check(*seeded, rating_question="LYDO")
    assert note.startswith("cross-check MISMATCH"), note
    assert "rating3" in note
