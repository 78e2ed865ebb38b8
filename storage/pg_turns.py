"""PostgreSQL: a batch of turns in two statements, each committing by itself, over arrays.

The portable path (`storage.conversations`, `storage.surveys`) sends a statement per kind of
row through SQLAlchemy in a transaction. Here a batch costs two round trips and no
transaction of its own: the read (states, and which message ids were seen already), then one
statement that writes everything the turns did (message ids, responses opened and completed,
answers, states, outbox rows) and commits by itself. What the read saw is checked inside the
write: a chat's state is updated only at the version read, every message id must still be
new, every completion must find its response; if not, `hailong_check_batch` (migration 0004)
raises and the statement writes nothing, and the caller redoes the turns (`BatchChanged`).
A batch runs on a pooled connection without a SQLAlchemy Session (`Direct`); a turn that
needs the ORM (consent, forgetting, a dossier) makes the caller redo the batch with a
Session, whose first ORM statement begins the transaction the write then joins.

Where a batch's CPU went, measured in-process (bench/turns_bench.py; CPU a turn in batches of
1 / 4 / 8 / 16, 2026-11-30): three round trips in a transaction, BEGIN pipelined with the
read, arrays dumped by psycopg: 756 / 267 / 155 / 133 µs. Two statements, no transaction, only
the CTEs a batch uses: 561 / 238 / 122 / 92. Arrays as literals quoted here: 441 / 171 / 108.
No Session: 371 / 153 / 99 / 83. libpq's exec_prepared in place of psycopg's execute: 318 /
119 / 83 / 70. (2026-12-01, a machine about half as fast: the write's parameters for 8 turns
took 312 µs, 151 with states and payloads as joined JSON documents, `_docs`; a writer thread
keeping its connection saves the pool's ~90 µs a batch.) A prepared statement's plan cannot
know the arrays' lengths, so every lookup is written to use its index whatever the plan (see
_READ), or the tables are scanned.
The semantics are those of the portable functions, which the tests run on both backends (a
test alternates the two paths within one chat).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg.pq import ConnStatus, ExecStatus
from pydantic_core import to_json
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.catalogue import ensure_questionnaire
from storage.db import session_scope
from storage.models import ResponseStatus
from storage.surveys import ANSWER_VALUES, NewResponse

if TYPE_CHECKING:
    from storage.conversations import StateWrites


class BatchChanged(Exception):
    """Another worker took a message id or moved a chat since the read: nothing was written."""


# The message ids seen already, and the chats' states. Each is looked up by its index: a
# prepared statement's plan cannot know the arrays' lengths (it assumes 100 rows), and a join
# planned for that hash-joined the whole inbound_message table, a scan per batch growing
# with every message ever received. A LATERAL subquery with OFFSET 0 is not flattened into
# a join, so it runs once per array element, on the index.
_READ = """
SELECT true, c.channel, c.message_id, NULL::text, NULL::integer
FROM unnest(%(c_channel)s::varchar[], %(c_message)s::varchar[]) AS c(channel, message_id)
CROSS JOIN LATERAL (
    SELECT 1 FROM inbound_message AS i
    WHERE i.channel = c.channel AND i.message_id = c.message_id OFFSET 0
) AS i
UNION ALL
SELECT false, k.channel, k.external_id, s.state::text, s.version
FROM unnest(%(s_channel)s::varchar[], %(s_external)s::varchar[]) AS k(channel, external_id)
CROSS JOIN LATERAL (
    SELECT s.state, s.version FROM conversation_state AS s
    WHERE s.channel = k.channel AND s.external_id = k.external_id OFFSET 0
) AS s
"""

# Everything a batch writes, as the CTEs of one statement; a batch's statement has only the
# parts it needs (`_write_sql`): PostgreSQL starts every data-modifying CTE (opening its table
# and indexes) even for an empty array, and each array costs psycopg a dump. Answers take
# their response id from a response opened in this statement (which the statement's own
# snapshot does not show) or from the table; a later answer to a question replaces the
# earlier one; an unknown key fails on the NOT NULL response id. A response's first answer
# attaches it to its dossier (`storage.surveys.record_answers`): in the INSERT of a response
# opened in this batch, in the UPDATE of one completed in it (a statement may not update a
# row twice), else in `attached`; a dossier rated twice fails on the unique constraint. The
# response id is a subquery per answer, not a join (see _READ); dossiers, responses completed
# and states updated are found by their indexes too (an UPDATE joins the row it found by its
# ctid: a TID scan). States are updated only at the version read. Outbox ids come back in
# order. Arrays are text[], which the columns compare and store alike.
_PARTS = {
    "claimed": """
    INSERT INTO inbound_message (channel, message_id, received_at)
    SELECT c.channel, c.message_id, %(now)s::timestamptz
    FROM unnest(%(c_channel)s::text[], %(c_message)s::text[]) c(channel, message_id)
    ON CONFLICT DO NOTHING
    RETURNING 1""",
    "started": """
    INSERT INTO survey_response (key, questionnaire_id, questionnaire_code, citizen_id,
                                 dossier_id, unit_id, procedure_id, channel, status,
                                 started_at, completed_at)
    SELECT s.key,
           (SELECT q.id FROM questionnaire q
            WHERE q.code = s.code AND q.version = s.version),
           s.code,
           (SELECT c.id FROM citizen c
            WHERE c.channel = s.channel AND c.external_id = s.external_id),
           CASE WHEN s.attached THEN d.id END, d.unit_id, d.procedure_id, s.channel,
           s.status, s.at, s.completed_at
    FROM unnest(%(r_key)s::text[], %(r_code)s::text[], %(r_version)s::text[],
                %(r_dossier)s::text[], %(r_channel)s::text[], %(r_external)s::text[],
                %(r_status)s::text[], %(r_at)s::timestamptz[], %(r_completed)s::timestamptz[],
                %(r_attached)s::boolean[])
         s(key, code, version, dossier, channel, external_id, status, at, completed_at,
           attached)
    LEFT JOIN LATERAL (
        SELECT d.id, d.unit_id, d.procedure_id FROM dossier d
        WHERE d.code = s.dossier OFFSET 0) d ON true
    RETURNING id, key, unit_id""",
    "answers": """
    INSERT INTO answer (response_id, question_code, answered_at, element_code, kind, status,
                        score, choice, text, satisfied)
    SELECT RESPONSE_ID, a.question, a.at, a.element_code, a.kind, a.status, a.score,
           a.choice, a.text, a.satisfied
    FROM unnest(%(a_key)s::text[], %(a_question)s::text[], %(a_at)s::timestamptz[],
                %(a_element_code)s::text[], %(a_kind)s::text[], %(a_status)s::text[],
                %(a_score)s::integer[], %(a_choice)s::text[], %(a_text)s::text[],
                %(a_satisfied)s::boolean[])
         WITH ORDINALITY a(key, question, at, element_code, kind, status, score, choice,
                           text, satisfied, n)
    ORDER BY a.n
    ON CONFLICT (response_id, question_code) DO UPDATE SET
        element_code = excluded.element_code, kind = excluded.kind, status = excluded.status,
        score = excluded.score, choice = excluded.choice, text = excluded.text,
        satisfied = excluded.satisfied, answered_at = excluded.answered_at
    RETURNING 1""",
    "completed": """
    UPDATE survey_response r SET status = %(completed)s, completed_at = x.at,
        dossier_id = COALESCE(r.dossier_id,
                              (SELECT d.id FROM dossier d WHERE d.code = x.dossier))
    FROM unnest(%(x_key)s::text[], %(x_at)s::timestamptz[], %(x_dossier)s::text[])
         x(key, at, dossier)
    CROSS JOIN LATERAL (
        SELECT t.ctid FROM survey_response t WHERE t.key = x.key OFFSET 0) t
    WHERE r.ctid = t.ctid
    RETURNING 1""",
    "attached": """
    UPDATE survey_response r SET dossier_id = d.id
    FROM unnest(%(t_key)s::text[], %(t_dossier)s::text[]) v(key, dossier)
    CROSS JOIN LATERAL (
        SELECT t.ctid FROM survey_response t WHERE t.key = v.key OFFSET 0) t
    CROSS JOIN LATERAL (
        SELECT d.id FROM dossier d WHERE d.code = v.dossier OFFSET 0) d
    WHERE r.ctid = t.ctid AND r.dossier_id IS NULL
    RETURNING 1""",
    "changed": """
    UPDATE conversation_state s
    SET state = u.state::json, version = u.version + 1, updated_at = %(now)s::timestamptz
    FROM unnest(%(u_channel)s::text[], %(u_external)s::text[], DOCS(u_state),
                %(u_version)s::integer[]) u(channel, external_id, state, version)
    CROSS JOIN LATERAL (
        SELECT t.ctid FROM conversation_state t
        WHERE t.channel = u.channel AND t.external_id = u.external_id OFFSET 0) t
    WHERE s.ctid = t.ctid AND s.version = u.version
    RETURNING 1""",
    "created": """
    INSERT INTO conversation_state (channel, external_id, state, version, updated_at)
    SELECT n.channel, n.external_id, n.state::json, 1, %(now)s::timestamptz
    FROM unnest(%(n_channel)s::text[], %(n_external)s::text[], DOCS(n_state))
         n(channel, external_id, state)
    ON CONFLICT DO NOTHING
    RETURNING 1""",
    "gone": """
    DELETE FROM conversation_state s
    USING unnest(%(d_channel)s::text[], %(d_external)s::text[]) d(channel, external_id)
    WHERE s.channel = d.channel AND s.external_id = d.external_id
    RETURNING 1""",
    "queued": """
    INSERT INTO outbox (channel, recipient, payload, status, attempts, next_attempt_at,
                        created_at)
    SELECT o.channel, o.recipient, o.payload, 'pending', 0, %(now)s::timestamptz,
           %(now)s::timestamptz
    FROM unnest(%(o_channel)s::text[], %(o_recipient)s::text[], DOCS(o_payload)::json[])
         WITH ORDINALITY o(channel, recipient, payload, n)
    ORDER BY o.n
    RETURNING id""",
}
# JSON documents (states, payloads) travel as one text, separated by a control character,
# which JSON text never holds raw (RFC 8259 escapes U+0000-U+001F): no quoting to do on
# either side, where an array literal escaped every quote of every document (`_docs`).
_PARTS = {
    name: re.sub(r"DOCS\((\w+)\)", r"string_to_array(%(\1)s::text, chr(30))", body)
    for name, body in _PARTS.items()
}
_RESPONSE_ID = "(SELECT r.id FROM survey_response r WHERE r.key = a.key)"
_OPENED_OR_STORED = f"COALESCE((SELECT st.id FROM started st WHERE st.key = a.key), {_RESPONSE_ID})"
# What `hailong_check_batch` compares with the expected counts, part by part.
_COUNTS = (
    ("claimed", "(SELECT count(*) FROM claimed)"),
    ("changed", "(SELECT count(*) FROM changed)"),
    ("created", "(SELECT count(*) FROM created)"),
    ("completed", "(SELECT count(*) FROM completed)"),
    ("started", "(SELECT count(*) FROM started WHERE unit_id IS NOT NULL)"),
)


@functools.cache
def _write_sql(parts: frozenset[str]) -> str:
    """The write statement with these parts (CTEs), whitespace collapsed (a test prepares
    every combination on PostgreSQL)."""
    ctes = []
    for name, body in _PARTS.items():
        if name in parts:
            if name == "answers":
                opened = "started" in parts
                body = body.replace("RESPONSE_ID", _OPENED_OR_STORED if opened else _RESPONSE_ID)
            ctes.append(f"{name} AS ({body})")
    counts = ", ".join(sql if name in parts else "0" for name, sql in _COUNTS)
    ids = "ARRAY(SELECT id FROM queued ORDER BY id)" if "queued" in parts else "'{}'::integer[]"
    sql = (
        f"WITH {', '.join(ctes)} SELECT hailong_check_batch(%(expected)s::integer[],"
        f" ARRAY[{counts}]::integer[]), {ids}"
    )
    return " ".join(sql.split())


def _array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of these strings (None: NULL), for a `%(name)s::type[]`
    parameter. psycopg dumps a list in Python, element by element after finding the element
    type (2-3 µs an array before its elements); one string per array, quoted here, cost
    about a third (15 against 53 µs for 20 one-element arrays) and PostgreSQL parses it."""
    return (
        "{"
        + ",".join(
            [
                "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for v in values
            ]
        )
        + "}"
    )


def _docs(values: Iterable[str]) -> str:
    """JSON documents for a `DOCS(name)` parameter (see _PARTS): joined by U+001E."""
    items = list(values)
    joined = _RS.join(items)
    if joined.count(_RS) != max(len(items) - 1, 0):  # not JSON text: a bug, not bad input
        raise ValueError("a JSON document holds a raw U+001E")
    return joined


_RS = "\x1e"


def _ints(values: Iterable[int | None]) -> str:
    return _array(None if v is None else str(v) for v in values)


def _stamps(values: Iterable[datetime | None]) -> str:
    return _array(None if v is None else v.isoformat() for v in values)


def _bools(values: Iterable[bool | None]) -> str:
    return _array(None if v is None else ("t" if v else "f") for v in values)


# How each answer value travels (storage.surveys.ANSWER_VALUES).
_ANSWER_ARRAYS: dict[str, Callable[[Iterable[Any]], str]] = {
    "element_code": _array,
    "kind": _array,
    "status": _array,
    "score": _ints,
    "choice": _array,
    "text": _array,
    "satisfied": _bools,
}


class Direct:
    """A pooled psycopg connection used without a SQLAlchemy Session: the hot path's batches
    need none (their reads and writes are this module's statements), and a Session's
    lifecycle (checkout, connection(), commit, close) cost ~100 µs a batch, as much as a
    round trip. A batch that needs the ORM is redone with a Session (`NeedsSession`).

    A thread that runs batch after batch (a webhook writer) keeps its connection between
    them (`keep_connections`): the pool's checkout and check-in cost ~100 µs a batch more,
    a fifth of a small batch. `close` then keeps it, unless it was found dead."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pooled = engine.raw_connection()
        self.conn: Any = self.pooled.driver_connection
        self.kept = False
        self.lost = False

    def close(self) -> None:
        if self.kept and not self.lost:
            return  # this thread's, for its next batch
        _forget(self)
        self.pooled.close()  # back to the pool (which rolls back whatever is left)


_THREAD = threading.local()


def direct(engine: Engine) -> Direct:
    """A connection for one batch: this thread's kept one, if it keeps them."""
    kept: dict[Engine, Direct] | None = getattr(_THREAD, "kept", None)
    if kept is None:
        return Direct(engine)
    db = kept.get(engine)
    if db is None or db.lost:
        db = kept[engine] = Direct(engine)
        db.kept = True
    return db


def keep_connections() -> None:
    """From now on this thread keeps its batch connections (`release_connections` ends it)."""
    if getattr(_THREAD, "kept", None) is None:
        _THREAD.kept = {}


def release_connections() -> None:
    """Give this thread's kept connections back to their pools."""
    kept: dict[Engine, Direct] = getattr(_THREAD, "kept", None) or {}
    _THREAD.kept = None
    for db in kept.values():
        db.kept = False
        db.close()


def _forget(db: Direct) -> None:
    kept: dict[Engine, Direct] | None = getattr(_THREAD, "kept", None)
    if kept is not None and kept.get(db.engine) is db:
        del kept[db.engine]


class NeedsSession(Exception):
    """A turn of a `Direct` batch needs the ORM (consent, forgetting, a dossier lookup)."""


Db = Session | Direct


def _driver(db: Db) -> Any:
    """The psycopg connection under the session (looked up once a batch: a session lives for
    one batch, and `Session.connection()` costs ~10 µs a call)."""
    if isinstance(db, Direct):
        return db.conn
    db.flush()  # ORM rows an effect added must precede what is written here
    conn = db.info.get(_DRIVER)
    if conn is None:
        conn = db.info[_DRIVER] = db.connection().connection.driver_connection
    return conn


_DRIVER = "hailong.pg_turns.driver"


def _execute(db: Db, sql: str, params: Mapping[str, str]) -> list[tuple[bytes | None, ...]]:
    """Run one of this module's statements through libpq itself, prepared once per
    connection: psycopg's `execute` (cursor, placeholders, dumpers, result rows) cost ~60 µs
    of CPU a statement, libpq's exec_prepared ~20 (`SELECT 1`-sized; it releases the GIL while
    it waits). Parameters and results are text. Nothing here sends BEGIN: outside a
    transaction each statement commits by itself; after an ORM statement of the batch (which
    begins one) it joins that transaction. Errors are raised as SQLAlchemy raises them
    (IntegrityError, a dead connection invalidated), so callers handle both paths alike."""
    conn = _driver(db)
    name, text, order = _native(sql)
    pgconn = conn.pgconn
    prepared = _PREPARED.setdefault(conn, set())
    values = [params[k].encode() for k in order]
    try:
        for attempt in (1, 2):
            if name not in prepared:
                _ok(pgconn.prepare(name, text), conn)
                prepared.add(name)
            try:
                result = _ok(pgconn.exec_prepared(name, values), conn)
                break
            except psycopg.errors.InvalidSqlStatementName:
                # Gone from the server's session (DISCARD ALL, a pooler): prepare again.
                prepared.clear()
                if attempt == 2:
                    raise
    except psycopg.Error as exc:
        if exc.sqlstate == "HL409":
            raise BatchChanged(str(exc)) from exc
        engine = db.engine if isinstance(db, Direct) else _engine(db)
        lost = pgconn.status == ConnStatus.BAD or engine.dialect.is_disconnect(
            cast(Any, exc), conn, None
        )
        if lost:  # the pool is not pinged: replace this connection
            if isinstance(db, Direct):
                db.lost = True
                db.pooled.invalidate(exc)
            else:
                db.connection().invalidate(exc)
        raise DBAPIError.instance(
            sql, None, exc, psycopg.Error, connection_invalidated=lost, dialect=engine.dialect
        ) from exc
    width = result.nfields
    return [tuple(result.get_value(r, c) for c in range(width)) for r in range(result.ntuples)]


def _ok(result: Any, conn: Any) -> Any:
    """The result, or its error raised as psycopg would (a lost connection included)."""
    if result.status in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK):
        return result
    if conn.pgconn.status == ConnStatus.BAD:
        raise psycopg.OperationalError(f"connection lost: {result.error_message.decode()}")
    raise psycopg.errors.error_from_result(result, encoding="utf-8")


# Statements prepared on each connection (by name; PostgreSQL keeps them per session).
_PREPARED: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()


@functools.cache
def _native(sql: str) -> tuple[bytes, bytes, tuple[str, ...]]:
    """A statement as libpq takes it: its name, its text with $n placeholders, and the
    parameter names in $n order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)s", number, sql)
    name = "hailong_" + hashlib.sha1(text.encode()).hexdigest()[:20]
    return name.encode(), text.encode(), tuple(order)


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def read(
    db: Db,
    ids: Sequence[tuple[str, str]],
    chats: Sequence[tuple[str, str]],
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], tuple[str, int]]]:
    """The message ids not seen yet (claimed by `write`) and the chats' states as JSON text.

    Outside a transaction unless the session already holds one: `write` checks what this
    saw."""
    unique = list(dict.fromkeys(ids))
    params = {
        "c_channel": _array(c for c, _ in unique),
        "c_message": _array(m for _, m in unique),
        "s_channel": _array(c for c, _ in chats),
        "s_external": _array(e for _, e in chats),
    }
    seen: set[tuple[str, str]] = set()
    stored: dict[tuple[str, str], tuple[str, int]] = {}
    for is_seen, channel, key, state, version in _execute(db, _READ, params):
        chat = (_text(channel), _text(key))
        if is_seen == b"t":
            seen.add(chat)
        else:
            stored[chat] = (_text(state), int(_text(version)))
    return {i for i in unique if i not in seen}, stored


def write(
    db: Db,
    claims: Sequence[tuple[str, str]],
    answers: Sequence[Mapping[str, Any]],
    starts: Sequence[NewResponse],
    completions: Sequence[tuple[str, datetime]],
    states: StateWrites,
    outgoing: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> list[int]:
    """Everything the batch did, in one statement (committed by itself, unless an ORM
    statement of the batch began a transaction): the outbox ids, in the order given.
    BatchChanged if what `read` saw changed meanwhile."""
    changed, new, gone = states
    done = dict(completions)
    ended = [done.pop(s.key, None) for s in starts]  # opened and completed in this batch
    # Responses attached to their dossier now, by the statement that writes their row anyway.
    attach = {a["key"]: a["dossier"] for a in answers if a.get("dossier")}
    attached_at_start = [attach.pop(s.key, None) is not None for s in starts]
    attached_at_end = [attach.pop(key, None) for key in done]
    params: dict[str, str] = {"now": now.isoformat()}
    parts = set()
    if claims:
        parts.add("claimed")
        params["c_channel"] = _array(c for c, _ in claims)
        params["c_message"] = _array(m for _, m in claims)
    if starts:
        _ensure_questionnaires(db, starts)
        parts.add("started")
        params |= {
            "r_key": _array(s.key for s in starts),
            "r_code": _array(s.questionnaire.code for s in starts),
            "r_version": _array(s.questionnaire.version for s in starts),
            "r_dossier": _array(s.dossier_code for s in starts),
            "r_channel": _array(s.channel for s in starts),
            "r_external": _array(s.external_id for s in starts),
            "r_status": _array(
                (ResponseStatus.IN_PROGRESS if at is None else ResponseStatus.COMPLETED).value
                for at in ended
            ),
            "r_at": _stamps(s.at for s in starts),
            "r_completed": _stamps(ended),
            "r_attached": _bools(attached_at_start),
        }
    if answers:
        parts.add("answers")
        params |= {
            "a_key": _array(a["key"] for a in answers),
            "a_question": _array(a["question_code"] for a in answers),
            "a_at": _stamps(a["at"] for a in answers),
            **{
                f"a_{name}": _ANSWER_ARRAYS[name](a.get(name) for a in answers)
                for name in ANSWER_VALUES
            },
        }
    if done:
        parts.add("completed")
        params |= {
            "completed": ResponseStatus.COMPLETED.value,
            "x_key": _array(done),
            "x_at": _stamps(done.values()),
            "x_dossier": _array(attached_at_end),
        }
    if attach:
        parts.add("attached")
        params["t_key"] = _array(attach)
        params["t_dossier"] = _array(attach.values())
    if changed:
        parts.add("changed")
        params |= {
            "u_channel": _array(c for c, _, _, _ in changed),
            "u_external": _array(e for _, e, _, _ in changed),
            "u_state": _docs(s for _, _, s, _ in changed),
            "u_version": _ints(v for _, _, _, v in changed),
        }
    if new:
        parts.add("created")
        params |= {
            "n_channel": _array(c for c, _, _ in new),
            "n_external": _array(e for _, e, _ in new),
            "n_state": _docs(s for _, _, s in new),
        }
    if gone:
        parts.add("gone")
        params["d_channel"] = _array(c for c, _ in gone)
        params["d_external"] = _array(e for _, e in gone)
    if outgoing:
        parts.add("queued")
        params |= {
            "o_channel": _array(c for c, _, _ in outgoing),
            "o_recipient": _array(r for _, r, _ in outgoing),
            # UTF-8 as is and no spaces: escaped (\uXXXX), Vietnamese text took ~2x the bytes
            # in every outbox row and its WAL. pydantic-core's encoder writes the same text as
            # json.dumps(ensure_ascii=False, separators=(",", ":")) in a quarter of the time.
            "o_payload": _docs(to_json(p).decode() for _, _, p in outgoing),
        }
    if not parts:  # duplicates only: nothing to write
        return []
    params["expected"] = _ints(
        [
            len(claims),
            len(changed),
            len(new),
            len(done),
            sum(1 for s in starts if s.dossier_code is not None),
        ]
    )
    ids = _text(_execute(db, _write_sql(frozenset(parts)), params)[0][1])
    return [int(i) for i in ids[1:-1].split(",")] if ids != "{}" else []


def _text(value: bytes | None) -> str:
    if value is None:
        raise ValueError("NULL where a value was selected")
    return value.decode()


# Questionnaire rows known to exist, per engine: a response names its questionnaire by a
# subquery, which must find the row (created once, in its own transaction, on first use).
_ENSURED: weakref.WeakKeyDictionary[Engine, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def _ensure_questionnaires(db: Db, starts: Sequence[NewResponse]) -> None:
    if not starts:
        return
    engine = db.engine if isinstance(db, Direct) else _engine(db)
    known = _ENSURED.setdefault(engine, set())
    for s in starts:
        q = s.questionnaire
        if (q.code, q.version) not in known:
            with session_scope(engine) as other:
                ensure_questionnaire(other, q)
            known.add((q.code, q.version))
