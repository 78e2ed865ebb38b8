"""The outbox: replies waiting for delivery, and their delivery bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from storage.models import OutboxMessage, OutboxStatus, table

_outbox = table(OutboxMessage)


@dataclass(frozen=True)
class Pending:
    id: int
    recipient: str
    payload: dict[str, Any]
    attempts: int


def due(session: Session, channel: str, now: datetime, limit: int) -> list[Pending]:
    """Pending messages of a channel ready to send, oldest first, in order within each chat.

    A chat whose oldest pending message is still waiting for a retry gets nothing newer, so
    replies never overtake each other.
    """
    oldest = (
        select(_outbox.c.recipient, func.min(_outbox.c.id).label("first_id"))
        .where(_outbox.c.channel == channel, _outbox.c.status == OutboxStatus.PENDING.value)
        .group_by(_outbox.c.recipient)
        .subquery()
    )
    blocked = (
        select(oldest.c.recipient)
        .join(_outbox, _outbox.c.id == oldest.c.first_id)
        .where(_outbox.c.next_attempt_at > now)
    )
    rows = session.execute(
        select(_outbox.c.id, _outbox.c.recipient, _outbox.c.payload, _outbox.c.attempts)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.status == OutboxStatus.PENDING.value,
            _outbox.c.next_attempt_at <= now,
            _outbox.c.recipient.not_in(blocked),
        )
        .order_by(_outbox.c.id)
        .limit(limit)
    ).all()
    return [Pending(r.id, r.recipient, dict(r.payload), r.attempts) for r in rows]


def mark_sent(session: Session, message_id: int, platform_id: str | None, now: datetime) -> None:
    session.execute(
        update(_outbox)
        .where(_outbox.c.id == message_id)
        .values(status=OutboxStatus.SENT.value, sent_at=now, platform_message_id=platform_id)
    )


def mark_failed(
    session: Session, message: Pending, error: str, now: datetime, retry_in: timedelta | None
) -> None:
    """Count a failed attempt: retry after `retry_in`, or dead-letter when it is None."""
    values: dict[str, Any] = {"attempts": message.attempts + 1, "last_error": error[:1000]}
    if retry_in is None:
        values["status"] = OutboxStatus.DEAD.value
    else:
        values["next_attempt_at"] = now + retry_in
    session.execute(update(_outbox).where(_outbox.c.id == message.id).values(**values))


def status_counts(session: Session) -> dict[tuple[str, str], int]:
    """Messages by (channel, status), for `hailong outbox status`."""
    rows = session.execute(
        select(_outbox.c.channel, _outbox.c.status, func.count()).group_by(
            _outbox.c.channel, _outbox.c.status
        )
    ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}
