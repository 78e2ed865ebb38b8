"""Shared fixtures: real databases (a SQLite file, the machine's PostgreSQL) and seed rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import Dossier, Procedure, Unit

PG_ADMIN_URL = os.environ.get(
    "HAILONG_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)


def _postgres_reason() -> str | None:
    try:
        engine = make_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: skip, saying why
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


POSTGRES_SKIP = _postgres_reason()


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/hailong.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if POSTGRES_SKIP:
        pytest.skip(POSTGRES_SKIP)
    name = f"hailong_t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = make_engine(PG_ADMIN_URL).url.set(database=name)
    try:
        yield base.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on each backend."""
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def add_dossier(
    engine: Engine,
    code: str,
    *,
    unit: str = "STP",
    unit_name: str = "Sở Tư pháp",
    procedure: str = "KHAI_SINH",
    procedure_name: str = "Đăng ký khai sinh",
    completed_at: datetime | None = None,
    due_at: datetime | None = None,
) -> None:
    """A dossier with its unit and procedure (created if missing)."""
    with session_scope(engine) as s:
        u = s.execute(sa.select(Unit).where(Unit.code == unit)).scalar_one_or_none()  # type: ignore[arg-type]
        if u is None:
            u = Unit(code=unit, name=unit_name)
            s.add(u)
        p = s.execute(sa.select(Procedure).where(Procedure.code == procedure)).scalar_one_or_none()  # type: ignore[arg-type]
        if p is None:
            p = Procedure(code=procedure, name=procedure_name)
            s.add(p)
        s.flush()
        done = completed_at or datetime.now(UTC)
        s.add(
            Dossier(
                code=code,
                unit_id=u.id,  # type: ignore[arg-type]
                procedure_id=p.id,
                received_at=done,
                due_at=due_at or done,
                completed_at=done,
            )
        )


@pytest.fixture(scope="session")
def nlp_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The default routing model, trained once per test run: under xdist the workers share
    one directory (the first trains it, under a file lock; ~10 s each time saved). Tests
    read it; one that changes a model copies it first."""
    from filelock import FileLock

    from nlp.model import CARD_FILE
    from nlp.router import train_default

    # Under xdist the base temp is per worker, its parent per run; alone, it is per run.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    directory = root / "nlp-default-model"
    with FileLock(str(root / "nlp-default-model.lock")):
        if not (directory / CARD_FILE).exists():
            train_default(directory)
    return directory
