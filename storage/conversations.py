"""Per-chat persistence: inbound de-duplication, engine state, and the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import pg_turns, sqlite_turns, surveys
from storage.models import ConversationState, InboundMessage, OutboxMessage, table

# The batch's connection without a Session (PostgreSQL) and the signal to redo a batch with
# one, re-exported: the service takes them from here, not from the dialect's module.
from storage.pg_turns import Direct as Direct
from storage.pg_turns import NeedsSession as NeedsSession
from storage.types import utcnow


class StaleState(Exception):
    """Another worker changed this chat's state since it was read: redo the turn."""


_inbound = table(InboundMessage)
_state = table(ConversationState)
_outbox = table(OutboxMessage)

# Statements built once: a turn runs on every webhook, and building and caching SQL per call
# cost more than running it (measured with cProfile: about a third of a survey turn).
_CLAIM = {
    name: dialect.insert(_inbound).on_conflict_do_nothing().returning(_inbound.c.channel)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_CLAIM_MANY = {
    name: dialect.insert(_inbound)
    .on_conflict_do_nothing()
    .returning(_inbound.c.channel, _inbound.c.message_id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_NEW_STATE = {
    name: dialect.insert(_state).on_conflict_do_nothing().returning(_state.c.version)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_THIS_CHAT = (_state.c.channel == bindparam("b_channel")) & (
    _state.c.external_id == bindparam("b_external_id")
)
_LOAD_STATE = select(_state.c.state, _state.c.version).where(_THIS_CHAT)
_UPDATE_STATE = (
    update(_state)
    .where(_THIS_CHAT & (_state.c.version == bindparam("b_version")))
    .values(
        state=bindparam("b_state"), version=bindparam("b_new_version"), updated_at=bindparam("b_at")
    )
)
_DELETE_STATE = delete(_state).where(_THIS_CHAT)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def claim_inbound(session: Session, channel: str, message_id: str) -> bool:
    """Record an inbound message id; False when it was already processed (a redelivery)."""
    values = {"channel": channel, "message_id": message_id, "received_at": utcnow()}
    # RETURNING tells reliably whether a row went in; rowcount is unreliable across drivers.
    return session.execute(_CLAIM[_dialect(session)], values).first() is not None


def claim_inbound_many(session: Session, ids: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """`claim_inbound` for many (channel, message id) pairs in one statement: those claimed now."""
    if not ids:
        return set()
    now = utcnow()
    rows = [{"channel": c, "message_id": m, "received_at": now} for c, m in dict.fromkeys(ids)]
    stmt = _CLAIM_MANY[_dialect(session)]
    return {(r[0], r[1]) for r in session.execute(stmt, rows)}


def load_states(
    session: Session, chats: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[dict[str, Any], int]]:
    """`load_state` for many (channel, external id) chats; new chats are missing."""
    keys = list(chats)
    if not keys:
        return {}
    rows = session.execute(
        select(_state.c.channel, _state.c.external_id, _state.c.state, _state.c.version).where(
            tuple_(_state.c.channel, _state.c.external_id).in_(keys)
        )
    )
    return {(r[0], r[1]): (dict(r[2]), int(r[3])) for r in rows}


def load_state(
    session: Session, channel: str, external_id: str
) -> tuple[dict[str, Any] | None, int]:
    """The stored engine state of a chat and its version (None, 0 for a new chat)."""
    row = session.execute(_LOAD_STATE, {"b_channel": channel, "b_external_id": external_id}).first()
    if row is None:
        return None, 0
    return dict(row[0]), int(row[1])


def save_state(
    session: Session, channel: str, external_id: str, state: dict[str, Any] | None, version: int
) -> None:
    """Write the state if nobody else did since `version` was read; None deletes it."""
    chat = {"b_channel": channel, "b_external_id": external_id}
    if state is None:
        session.execute(_DELETE_STATE, chat)
        return
    if version == 0:
        row = {"channel": channel, "external_id": external_id, "state": state}
        stmt = _NEW_STATE[_dialect(session)]
        written = session.execute(stmt, {**row, "version": 1, "updated_at": utcnow()}).first()
    else:
        params = {**chat, "b_version": version, "b_state": state, "b_new_version": version + 1}
        result = session.execute(_UPDATE_STATE, {**params, "b_at": utcnow()})
        written = result.rowcount  # type: ignore[attr-defined]
    if not written:
        raise StaleState(f"{channel}:{external_id}")


def save_states(
    session: Session, writes: Sequence[tuple[str, str, dict[str, Any] | None, int]]
) -> None:
    """`save_state` for many chats (channel, external id, state, version read), in a few
    statements; StaleState if any chat changed since it was read."""
    now = utcnow()
    new = [
        {"channel": c, "external_id": e, "state": s, "version": 1, "updated_at": now}
        for c, e, s, v in writes
        if v == 0 and s is not None
    ]
    changed = [
        {
            "b_channel": c,
            "b_external_id": e,
            "b_version": v,
            "b_state": s,
            "b_new_version": v + 1,
            "b_at": now,
        }
        for c, e, s, v in writes
        if v and s is not None
    ]
    gone = [{"b_channel": c, "b_external_id": e} for c, e, s, v in writes if s is None]
    written = 0
    if new:
        written += len(session.execute(_NEW_STATE[_dialect(session)], new).all())
    if changed:
        # executemany: the row count is summed over the rows (sane multi-row count in both
        # dialects), so one stale chat shows as a shortfall.
        written += session.execute(_UPDATE_STATE, changed).rowcount  # type: ignore[attr-defined]
    if gone:
        session.execute(_DELETE_STATE, gone)
    if written != len(new) + len(changed):
        raise StaleState(f"{len(new) + len(changed) - written} of {len(writes)} chats")


_ENQUEUE_MANY = insert(_outbox).returning(_outbox.c.id, sort_by_parameter_order=True)


def enqueue_many(session: Session, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> list[int]:
    """`enqueue` for many (channel, recipient, payload) replies; their ids, in order."""
    if not rows:
        return []
    now = utcnow()
    params = [
        {
            "channel": channel,
            "recipient": recipient,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for channel, recipient, payload in rows
    ]
    return [int(r[0]) for r in session.execute(_ENQUEUE_MANY, params)]


def enqueue(session: Session, channel: str, recipient: str, payload: dict[str, Any]) -> int:
    """Queue a reply for delivery; committed with the turn that produced it."""
    return enqueue_many(session, [(channel, recipient, payload)])[0]


def forget_chat(session: Session, channel: str, external_id: str) -> None:
    """Drop what identifies a chat from the outbox once nothing is left to deliver to it."""
    session.execute(
        delete(_outbox).where(
            _outbox.c.channel == channel,
            _outbox.c.recipient == external_id,
            _outbox.c.status != "pending",
        )
    )


def direct(engine: Engine) -> Direct | None:
    """A connection for a batch without a Session, where the dialect's fast path has one
    (PostgreSQL); `read_batch` and `write_batch` take it in place of a session."""
    if _FAST.get(engine.dialect.name) is pg_turns:
        return pg_turns.direct(engine)
    return None


def keep_connections() -> None:
    """This thread runs batch after batch: it keeps its PostgreSQL batch connection between
    them (`pg_turns.Direct`) until `release_connections`."""
    pg_turns.keep_connections()


def release_connections() -> None:
    pg_turns.release_connections()


def read_batch(
    session: Session | Direct,
    ids: Sequence[tuple[str, str]],
    chats: Sequence[tuple[str, str]],
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], tuple[str, int]]]:
    """What a batch of turns reads first: the inbound ids it takes (not seen before) and the
    stored states of its chats as JSON text, through the dialect's fast path. States stay
    text here: the engine's model parses it directly. On PostgreSQL the ids are only checked
    here and taken by `write_batch` (which fails if another worker took one meanwhile);
    elsewhere they are taken here (`claim_inbound_many`), in the batch's transaction."""
    if isinstance(session, Direct):
        return pg_turns.read(session, ids, chats)
    fast = _FAST.get(_dialect(session))
    if fast is not None:
        return fast.read(session, ids, chats)
    stored = load_states(session, chats)
    return claim_inbound_many(session, ids), {
        chat: (json.dumps(state), version) for chat, (state, version) in stored.items()
    }


def write_batch(
    session: Session | Direct,
    claims: Sequence[tuple[str, str]],
    answers: Sequence[Mapping[str, Any]],
    starts: Sequence[surveys.NewResponse],
    completions: Sequence[tuple[str, datetime]],
    states: Sequence[tuple[str, str, str | None, int]],
    outgoing: Sequence[tuple[str, str, dict[str, Any]]],
) -> list[int]:
    """What a batch of turns writes: the inbound ids it took (`read_batch`), responses opened
    and completed, answers (`surveys.record_answers`), states as JSON text (`save_states`,
    StaleState included) and replies (`enqueue_many`: their outbox ids, in order), through
    the dialect's fast path."""
    fast = pg_turns if isinstance(session, Direct) else _FAST.get(_dialect(session))
    if fast is pg_turns:
        try:
            return pg_turns.write(
                session,
                claims,
                surveys.last_answers(answers),
                starts,
                completions,
                _split(states),
                outgoing,
                utcnow(),
            )
        except pg_turns.BatchChanged as exc:
            raise StaleState(str(exc)) from exc
    assert not isinstance(session, Direct)  # only PostgreSQL batches run without a Session
    surveys.start_responses(session, starts)
    surveys.complete_responses(session, completions)
    if fast is None:
        surveys.record_answers(session, answers)
        save_states(
            session, [(c, e, None if s is None else json.loads(s), v) for c, e, s, v in states]
        )
        return enqueue_many(session, outgoing)
    writes = _split(states)
    answers = surveys.last_answers(answers)
    written, ids = sqlite_turns.write(session, answers, writes, outgoing, utcnow())
    expected = len(writes.changed) + len(writes.new)
    if written != expected:
        raise StaleState(f"{expected - written} of {len(states)} chats")
    return ids


def _split(states: Sequence[tuple[str, str, str | None, int]]) -> StateWrites:
    return StateWrites(
        changed=[(c, e, s, v) for c, e, s, v in states if v and s is not None],
        new=[(c, e, s) for c, e, s, v in states if v == 0 and s is not None],
        gone=[(c, e) for c, e, s, _ in states if s is None],
    )


class StateWrites(NamedTuple):
    """A batch's state writes as the fast paths take them (states as JSON text)."""

    changed: list[tuple[str, str, str, int]]  # channel, external id, state, version read
    new: list[tuple[str, str, str]]  # channel, external id, state: no row yet
    gone: list[tuple[str, str]]  # channel, external id: to delete


# The turn batches' own statements per dialect (the hot path of every webhook); the
# functions above stay the portable reference, for one-off use and other dialects.
_FAST = {"postgresql": pg_turns, "sqlite": sqlite_turns}
