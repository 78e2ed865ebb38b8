"""The same report gives identical figures on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from reports.build import build_report
from reports.export import iter_answer_rows

pytestmark = pytest.mark.postgres

ALL_BREAKDOWNS = [
    ["unit", "month"],
    ["unit", "quarter"],
    ["year"],
    ["day"],
    ["procedure", "channel"],
    ["element"],
]


def _figures(engine: Engine, **kwargs: Any) -> dict[str, Any]:
    data = build_report(engine, ALL_BREAKDOWNS, min_n=3, **kwargs).to_dict()
    data.pop("generated_at")
    return data


def test_same_figures_on_sqlite_and_postgresql(
    scenario_engine: Engine, pg_scenario_engine: Engine
) -> None:
    sqlite = _figures(scenario_engine)
    postgres = _figures(pg_scenario_engine)
    assert postgres == sqlite
    # Buckets are UTC even though the PostgreSQL session runs in Asia/Ho_Chi_Minh.
    months = {(r["unit"]["code"], r["month"]) for r in postgres["breakdowns"][0]["rows"]}
    assert (None, "2026-03") in months
    assert postgres["overall"]["overall_index"]["value"] == pytest.approx(0.7625)


def test_same_figures_with_date_filter(scenario_engine: Engine, pg_scenario_engine: Engine) -> None:
    window = {"date_from": date(2026, 3, 6), "date_to": date(2026, 3, 31)}
    assert _figures(pg_scenario_engine, **window) == _figures(scenario_engine, **window)


def test_same_export_rows_on_sqlite_and_postgresql(
    scenario_engine: Engine, pg_scenario_engine: Engine
) -> None:
    sqlite = list(iter_answer_rows(scenario_engine))
    postgres = list(iter_answer_rows(pg_scenario_engine))
    assert len(postgres) == len(sqlite) > 0
    # Ids may differ between databases only if sequences do; they start at 1 on both.
    assert postgres == sqlite


def test_report_session_settings_stay_in_its_transaction(pg_scenario_engine: Engine) -> None:
    # build_report raises work_mem and turns JIT off with SET LOCAL: pooled connections
    # handed out afterwards keep the server's settings.
    with pg_scenario_engine.connect() as conn:
        before = (
            conn.exec_driver_sql("SHOW work_mem").scalar(),
            conn.exec_driver_sql("SHOW jit").scalar(),
        )
    build_report(pg_scenario_engine, ALL_BREAKDOWNS, min_n=3)
    with pg_scenario_engine.connect() as conn:
        after = (
            conn.exec_driver_sql("SHOW work_mem").scalar(),
            conn.exec_driver_sql("SHOW jit").scalar(),
        )
    assert after == before
