"""SQLite: a batch of turns through the sqlite3 connection itself, with fixed SQL texts.

The portable path (`storage.conversations`, `storage.surveys`) spent most of a batch in
SQLAlchemy: compiling the per-batch IN list of `load_states`, building parameters row by row
for every executemany, result processing. SQLite runs in-process, so statements are cheap
here and only their Python wrapping costs: plain sqlite3 `execute`/`executemany` on statements
it caches. Values are written as SQLAlchemy writes them on SQLite (UTC timestamps as naive
`YYYY-MM-DD HH:MM:SS.ffffff` text, JSON as text), so either path reads what the other wrote;
the tests run both paths' callers (`ConversationService`) on both backends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.surveys import ANSWER_VALUES
from storage.types import utcnow

if TYPE_CHECKING:
    from storage.conversations import StateWrites

_CLAIM = (
    "INSERT INTO inbound_message (channel, message_id, received_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_CLAIMED_NOW = (
    "SELECT 1 FROM inbound_message WHERE channel = ? AND message_id = ? AND received_at = ?"
)
_LOAD = "SELECT state, version FROM conversation_state WHERE channel = ? AND external_id = ?"
_ANSWER = (
    "INSERT INTO answer (response_id, question_code, answered_at, "
    + ", ".join(ANSWER_VALUES)
    + ") VALUES ((SELECT id FROM survey_response WHERE key = ?), ?, ?, "
    + ", ".join("?" for _ in ANSWER_VALUES)
    + ") ON CONFLICT (response_id, question_code) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in (*ANSWER_VALUES, "answered_at"))
)
# A response's first answer attaches it to its dossier (`storage.surveys.record_answers`).
_ATTACH = (
    "UPDATE survey_response SET dossier_id = (SELECT id FROM dossier WHERE code = ?)"
    " WHERE key = ? AND dossier_id IS NULL"
)
_UPDATE = (
    "UPDATE conversation_state SET state = ?, version = ?, updated_at = ?"
    " WHERE channel = ? AND external_id = ? AND version = ?"
)
_CREATE = (
    "INSERT INTO conversation_state (channel, external_id, state, version, updated_at)"
    " VALUES (?, ?, ?, 1, ?) ON CONFLICT DO NOTHING"
)
_DELETE = "DELETE FROM conversation_state WHERE channel = ? AND external_id = ?"
_ENQUEUE = (
    "INSERT INTO outbox (channel, recipient, payload, status, attempts, next_attempt_at,"
    " created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)"
)
_LAST_ID = "SELECT max(id) FROM outbox"


def _stamp(at: datetime) -> str:
    """A UTC timestamp as SQLAlchemy stores it on SQLite (see storage.types.UTCDateTime)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _cursor(session: Session) -> Any:
    """A cursor of the sqlite3 connection under the session, in the session's transaction."""
    session.flush()  # ORM rows an effect added must precede what is written here
    driver: Any = session.connection().connection.driver_connection
    return driver.cursor()


def read(
    session: Session,
    ids: Sequence[tuple[str, str]],
    chats: Sequence[tuple[str, str]],
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], tuple[str, int]]]:
    """`claim_inbound_many` and `load_states` (states as their JSON text)."""
    cur = _cursor(session)
    at = _stamp(utcnow())
    unique = list(dict.fromkeys(ids))
    before = cur.connection.total_changes
    cur.executemany(_CLAIM, [(channel, message, at) for channel, message in unique])
    if cur.connection.total_changes - before == len(unique):
        claimed = set(unique)  # the usual case: no redelivery in the batch
    else:  # some were there already: those inserted now carry this batch's timestamp
        claimed = {
            (channel, message)
            for channel, message in unique
            if cur.execute(_CLAIMED_NOW, (channel, message, at)).fetchone() is not None
        }
    stored: dict[tuple[str, str], tuple[str, int]] = {}
    for chat in chats:
        row = cur.execute(_LOAD, chat).fetchone()
        if row is not None:
            stored[chat] = (row[0], int(row[1]))
    return claimed, stored


def write(
    session: Session,
    answers: Sequence[Mapping[str, Any]],
    states: StateWrites,
    outgoing: Sequence[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> tuple[int, list[int]]:
    """Answers, states and outbox rows: (states written, outbox ids in the order given)."""
    cur = _cursor(session)
    at = _stamp(now)
    if answers:
        cur.executemany(
            _ANSWER,
            [
                (a["key"], a["question_code"], _stamp(a["at"]), *(a.get(n) for n in ANSWER_VALUES))
                for a in answers
            ],
        )
        attach = [(a["dossier"], a["key"]) for a in answers if a.get("dossier")]
        if attach:
            try:
                cur.executemany(_ATTACH, attach)
            except sqlite3.IntegrityError as exc:
                # Another response rated the dossier first: raised as SQLAlchemy raises it,
                # so that the service redoes the turn (which is then told so).
                raise IntegrityError(_ATTACH, attach, exc) from exc
    written = 0
    changed = [(s, v + 1, at, c, e, v) for c, e, s, v in states.changed]
    if changed:
        cur.executemany(_UPDATE, changed)
        written += cur.rowcount  # summed over the rows: a stale chat shows as a shortfall
    new = [(c, e, s, at) for c, e, s in states.new]
    if new:
        cur.executemany(_CREATE, new)
        written += cur.rowcount
    if states.gone:
        cur.executemany(_DELETE, states.gone)
    ids: list[int] = []
    if outgoing:
        cur.executemany(_ENQUEUE, [(c, r, json.dumps(p), at, at) for c, r, p in outgoing])
        # The transaction holds SQLite's write lock since its first insert, and a new rowid is
        # the largest one plus one: the rows just inserted are the last len(outgoing) ids.
        last = int(cur.execute(_LAST_ID).fetchone()[0])
        ids = list(range(last - len(outgoing) + 1, last + 1))
    return written, ids
