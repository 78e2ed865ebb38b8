"""Per-chat persistence: inbound de-duplication, engine state, and the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import ConversationState, InboundMessage, OutboxMessage, table
from storage.types import utcnow


class StaleState(Exception):
    """Another worker changed this chat's state since it was read: redo the turn."""


def claim_inbound(session: Session, channel: str, message_id: str) -> bool:
    """Record an inbound message id; False when it was already processed (a redelivery)."""
    values = {"channel": channel, "message_id": message_id, "received_at": utcnow()}
    return _insert_unless_present(session, table(InboundMessage), values)


def _insert_unless_present(session: Session, t: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING tells reliably whether a row went in; rowcount is unreliable across drivers.
    stmt = insert_(t).values(values).on_conflict_do_nothing().returning(*t.primary_key.columns)
    return session.execute(stmt).first() is not None


def load_state(
    session: Session, channel: str, external_id: str
) -> tuple[dict[str, Any] | None, int]:
    """The stored engine state of a chat and its version (None, 0 for a new chat)."""
    t = table(ConversationState)
    row = session.execute(
        select(t.c.state, t.c.version).where(t.c.channel == channel, t.c.external_id == external_id)
    ).first()
    if row is None:
        return None, 0
    return dict(row[0]), int(row[1])


def save_state(
    session: Session, channel: str, external_id: str, state: dict[str, Any] | None, version: int
) -> None:
    """Write the state if nobody else did since `version` was read; None deletes it."""
    t = table(ConversationState)
    key = (t.c.channel == channel) & (t.c.external_id == external_id)
    if state is None:
        session.execute(delete(t).where(key))
        return
    if version == 0:
        values = {"channel": channel, "external_id": external_id, "state": state}
        written = _insert_unless_present(
            session, t, {**values, "version": 1, "updated_at": utcnow()}
        )
    else:
        stmt = (
            update(t)
            .where(key & (t.c.version == version))
            .values(state=state, version=version + 1, updated_at=utcnow())
        )
        written = bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    if not written:
        raise StaleState(f"{channel}:{external_id}")


def enqueue(session: Session, channel: str, recipient: str, payload: dict[str, Any]) -> int:
    """Queue a reply for delivery; committed with the turn that produced it."""
    result = session.execute(
        insert(table(OutboxMessage))
        .values(
            channel=channel,
            recipient=recipient,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        .returning(table(OutboxMessage).c.id)
    )
    return int(result.scalar_one())


def forget_chat(session: Session, channel: str, external_id: str) -> None:
    """Drop what identifies a chat from the outbox once nothing is left to deliver to it."""
    t = table(OutboxMessage)
    session.execute(
        delete(t).where(
            t.c.channel == channel,
            t.c.recipient == external_id,
            t.c.status != "pending",
        )
    )
