"""Run Alembic migrations programmatically (`hailong db upgrade|downgrade|current`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from storage.db import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The option goes through ConfigParser's interpolation: a literal % (an escaped password,
    # a socket directory as ?host=%2F...) must be doubled, or every migration failed.
    url = engine.url.render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema up to `revision` (default: every branch's newest)."""
    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot migrate {engine.url!r}: {exc.orig}") from exc
    except CommandError as exc:  # e.g. an unknown revision, or a version table alembic refuses
        raise DatabaseError(f"cannot migrate: {str(exc).splitlines()[0]}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema down to `revision` ("base" drops every table)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (one per branch), empty for an empty database."""
    try:
        with engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database: {exc.orig}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision(s) the database is at, comma-joined, or None for an empty database."""
    return ",".join(current_revisions(engine)) or None


def head_revisions(engine: Engine) -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config(engine)).get_heads()))


def is_current(engine: Engine) -> bool:
    """True when the schema is at the newest migration of every branch."""
    return current_revisions(engine) == head_revisions(engine)
