"""Alembic owns the schema: up and down on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
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


@pytest.mark.postgres
def test_a_url_with_a_percent_sign_migrates(tmp_path: Path, postgres_url: str) -> None:
    """Alembic reads the URL through ConfigParser, where % starts an interpolation: a URL
    holding one (an escaped password character, a socket directory) broke every migration."""
    folder = tmp_path / "50% off"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder}/hailong.db")
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()
    # PostgreSQL over its Unix socket, the directory escaped in the URL (%2F).
    socket_dir = "/var/run/postgresql"
    if not Path(socket_dir, ".s.PGSQL.5432").exists():
        pytest.skip(f"no PostgreSQL socket in {socket_dir}")
    url = make_url(postgres_url).set(host=None).update_query_dict({"host": socket_dir})
    assert "%2F" in url.render_as_string(hide_password=False)
    engine = make_engine(url.render_as_string(hide_password=False))
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()
