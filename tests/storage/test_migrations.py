"""Alembic owns the schema: up and down on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from storage import migrate
from storage.db import make_engine


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    assert migrate.current_revision(engine) is None and not migrate.is_current(engine)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"survey_response", "answer", "outbox", "inbound_message", "audit_log"} <= tables
    migrate.downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_timestamps_come_back_timezone_aware_in_utc(db_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    from storage.db import session_scope
    from storage.models import AuditLog

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    saigon = timezone(timedelta(hours=7))
    with session_scope(engine) as s:
        s.add(AuditLog(at=datetime(2026, 1, 1, 7, 0, tzinfo=saigon), actor="t", action="x"))
    with session_scope(engine) as s:
        at = s.execute(sa.select(AuditLog.at)).scalar_one()  # type: ignore[call-overload]
    assert at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC) and at.tzinfo is not None
    engine.dispose()
