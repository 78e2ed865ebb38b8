"""Database engines and sessions for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import Session, create_engine


class DatabaseError(RuntimeError):
    """The database cannot be used (bad URL, unreachable server, old schema)."""


# What a request meets when the database is down or hanging: SQLAlchemy's wrapped errors, and
# psycopg's own from the turn batches' raw connections (storage.pg_turns). Faces answer 503.
UNAVAILABLE: tuple[type[Exception], ...] = (DBAPIError, psycopg.Error)


def make_engine(
    url: str,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for `url`. SQLite gets WAL, foreign keys and a busy timeout. On PostgreSQL,
    `connect_timeout` and `statement_timeout` (seconds) bound how long a request can wait for
    a server that hangs: it fails, and the caller answers 503, instead of hanging too."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"invalid DATABASE_URL {url!r}") from exc
    if parsed.drivername == "postgresql":  # plain postgresql:// means psycopg 3 here
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it cost a round trip per transaction, ~8% of the webhook writer's time. A
    # pooled connection found dead fails its statement instead; SQLAlchemy then invalidates
    # the whole pool, and callers that must not fail retry (`is_disconnect`).
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if connect_timeout:
        connect_args["connect_timeout"] = max(1, round(connect_timeout))  # libpq: whole seconds
    if statement_timeout:
        connect_args["options"] = f"-c statement_timeout={round(statement_timeout * 1000)}"
    return create_engine(parsed, connect_args=connect_args, **kwargs)


def is_disconnect(exc: BaseException) -> bool:
    """The error came from a connection that turned out dead (server restarted, network)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (reports) run while the bot writes; NORMAL is durable in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# SQLite has one writer at a time. When threads of one process contend (webhook turns and the
# outbox worker), the losers sleep in SQLite's busy handler for up to tens of milliseconds;
# taking turns on a Python lock hands the database over at once.
_SQLITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _writer_turn(engine: Engine) -> AbstractContextManager[object]:
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(engine, threading.RLock())


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with _writer_turn(engine), Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
