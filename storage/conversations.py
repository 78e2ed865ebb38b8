"""Per-chat persistence: inbound de-duplication, engine state, and the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import ConversationState, InboundMessage, OutboxMessage, table
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


_ENQUEUE = insert(_outbox).returning(_outbox.c.id)


def enqueue(session: Session, channel: str, recipient: str, payload: dict[str, Any]) -> int:
    """Queue a reply for delivery; committed with the turn that produced it."""
    now = utcnow()
    row = {
        "channel": channel,
        "recipient": recipient,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return int(session.execute(_ENQUEUE, row).scalar_one())


def forget_chat(session: Session, channel: str, external_id: str) -> None:
    """Drop what identifies a chat from the outbox once nothing is left to deliver to it."""
    session.execute(
        delete(_outbox).where(
            _outbox.c.channel == channel,
            _outbox.c.recipient == external_id,
            _outbox.c.status != "pending",
        )
    )
