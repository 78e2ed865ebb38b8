"""The web chat's reading of the outbox: a browser collects its replies over HTTP.

The web channel has no platform to push to: the page fetches its replies in the response to
its own request. A reply counts as sent once it is handed to an HTTP response; the page
asks for everything after the last id it shows, so a response lost on the way is simply
fetched again, and the page drops ids it already has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from storage.models import OutboxMessage, OutboxStatus, table

_outbox = table(OutboxMessage)


@dataclass(frozen=True)
class WebMessage:
    """One reply as the page shows it."""

    id: int
    payload: dict[str, Any]
    pending: bool


def messages_after(
    session: Session, channel: str, recipient: str, after: int, limit: int
) -> list[WebMessage]:
    """The chat's replies with id > `after`, oldest first, pending or already handed out."""
    rows = session.execute(
        select(_outbox.c.id, _outbox.c.payload, _outbox.c.status)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.recipient == recipient,
            _outbox.c.id > after,
            _outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENT.value]),
        )
        .order_by(_outbox.c.id)
        .limit(limit)
    ).all()
    return [WebMessage(r.id, dict(r.payload), r.status == OutboxStatus.PENDING.value) for r in rows]


def mark_handed_out(
    session: Session, ids: list[int], now: datetime, erase: Sequence[int] = ()
) -> None:
    """Mark replies as sent: they are in an HTTP response on its way to the browser."""
    if not ids:
        return
    session.execute(
        update(_outbox)
        .where(_outbox.c.id.in_(ids), _outbox.c.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.SENT.value, sent_at=now, attempts=_outbox.c.attempts + 1)
    )
    if erase:  # a goodbye after /xoa, in the response on its way: the chat's last trace
        session.execute(delete(_outbox).where(_outbox.c.id.in_(list(erase))))
