"""The outbox: replies waiting for delivery, and their delivery bookkeeping."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlmodel import Session

from storage.models import OutboxMessage, OutboxStatus, table

_outbox = table(OutboxMessage)


@dataclass(frozen=True)
class Pending:
    id: int
    recipient: str
    payload: dict[str, Any]
    attempts: int
    first_failed_at: datetime | None = None  # None: it never failed yet


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
        select(*_PENDING_COLUMNS)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.status == OutboxStatus.PENDING.value,
            _outbox.c.next_attempt_at <= now,
            _outbox.c.recipient.not_in(blocked),
        )
        .order_by(_outbox.c.id)
        .limit(limit)
    ).all()
    return [_pending(r) for r in rows]


_PENDING_COLUMNS = (
    _outbox.c.id,
    _outbox.c.recipient,
    _outbox.c.payload,
    _outbox.c.attempts,
    _outbox.c.first_failed_at,
)


def _pending(row: Any) -> Pending:
    return Pending(row.id, row.recipient, dict(row.payload), row.attempts, row.first_failed_at)


def claim(
    session: Session, channel: str, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Pending]:
    """Lease due messages to one sender worker, oldest first, whole chats at a time.

    A chat is skipped while another worker holds a live lease on its messages, or while its
    oldest pending message waits for a retry: so a chat's replies go out one worker at a
    time, in order. A crashed worker's lease simply expires. The pending messages are read in
    id order a page at a time (the partial index `ix_outbox_claim`), so a claim costs what it
    takes, not the backlog: the former GROUP BY over every pending message took 52 ms with
    40,000 of them, holding SQLite's writer lock meanwhile. On PostgreSQL a transaction-level
    advisory lock serialises the claims of concurrent workers, so two never lease one message.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_lock_key(channel))))
    page = max(4 * limit, 100)
    chosen: dict[str, list[Any]] = {}  # recipient → its messages taken, in order
    held: set[str] = set()  # recipients skipped: leased elsewhere, or waiting for a retry
    taken, after = 0, 0
    while taken < limit:
        rows = session.execute(
            select(*_CLAIM_COLUMNS)
            .where(
                _outbox.c.channel == channel,
                _outbox.c.status == OutboxStatus.PENDING.value,
                _outbox.c.id > after,
            )
            .order_by(_outbox.c.id)
            .limit(page)
        ).all()
        for row in rows:
            if row.recipient in held:
                continue
            leased = row.leased_until is not None and row.leased_until > now
            if leased or row.next_attempt_at > now:
                held.add(row.recipient)  # nothing of this chat may overtake that message
                taken -= len(chosen.pop(row.recipient, []))
            elif taken < limit:
                chosen.setdefault(row.recipient, []).append(row)
                taken += 1
        if len(rows) < page:
            break
        after = rows[-1].id
    ids = [r.id for msgs in chosen.values() for r in msgs]
    if not ids:
        return []
    rows = session.execute(  # payloads read only for the messages taken
        update(_outbox)
        .where(_outbox.c.id.in_(ids))
        .values(lease_owner=owner, leased_until=now + lease)
        .returning(*_PENDING_COLUMNS)
    ).all()
    claimed = [_pending(r) for r in rows]
    return sorted(claimed, key=lambda p: p.id)  # RETURNING promises no order


_CLAIM_COLUMNS = (
    _outbox.c.id,
    _outbox.c.recipient,
    _outbox.c.next_attempt_at,
    _outbox.c.leased_until,
)


def release(session: Session, ids: Iterable[int], owner: str) -> None:
    """Give back leased messages this worker will not send now (a chat failed before them)."""
    id_list = list(ids)
    if not id_list:
        return
    session.execute(
        update(_outbox)
        .where(
            _outbox.c.id.in_(id_list),
            _outbox.c.lease_owner == owner,
            _outbox.c.status == OutboxStatus.PENDING.value,
        )
        .values(lease_owner=None, leased_until=None)
    )


def renew(session: Session, ids: Iterable[int], owner: str, until: datetime) -> set[int]:
    """Extend this worker's lease on messages it still holds; the ids it still holds (the
    others were claimed by another worker after the lease expired, or settled)."""
    id_list = list(ids)
    if not id_list:
        return set()
    rows = session.execute(
        update(_outbox)
        .where(
            _outbox.c.id.in_(id_list),
            _outbox.c.lease_owner == owner,
            _outbox.c.status == OutboxStatus.PENDING.value,
        )
        .values(leased_until=until)
        .returning(_outbox.c.id)
    ).scalars()
    return set(rows)


def lease_owners(session: Session, channel: str, now: datetime) -> list[str]:
    """The workers holding a live lease on some of a channel's pending messages."""
    rows = session.execute(
        select(_outbox.c.lease_owner)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.status == OutboxStatus.PENDING.value,
            _outbox.c.leased_until > now,
        )
        .distinct()
    ).scalars()
    return [owner for owner in rows if owner]


def release_owners(session: Session, channel: str, owners: Sequence[str]) -> int:
    """Give back every pending message leased by these workers (known to be dead); how many."""
    if not owners:
        return 0
    result = session.execute(
        update(_outbox)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.status == OutboxStatus.PENDING.value,
            _outbox.c.lease_owner.in_(list(owners)),
        )
        .values(lease_owner=None, leased_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def requeue(
    session: Session, now: datetime, *, dead: bool, channel: str | None = None
) -> tuple[int, int]:
    """After an outage: messages waiting for a retry are due now, and with `dead` the dead
    letters go back to the queue with a fresh retry period. (dead letters re-queued, waiting
    messages made due)"""
    scope = [] if channel is None else [_outbox.c.channel == channel]
    waiting = session.execute(
        update(_outbox)
        .where(
            *scope,
            _outbox.c.status == OutboxStatus.PENDING.value,
            _outbox.c.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )
    requeued = 0
    if dead:
        result = session.execute(
            update(_outbox)
            .where(*scope, _outbox.c.status == OutboxStatus.DEAD.value)
            .values(
                status=OutboxStatus.PENDING.value,
                attempts=0,
                first_failed_at=None,
                next_attempt_at=now,
                lease_owner=None,
                leased_until=None,
            )
        )
        requeued = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return requeued, int(waiting.rowcount or 0)  # type: ignore[attr-defined]


def _lock_key(channel: str) -> int:
    return zlib.crc32(f"hailong.outbox:{channel}".encode())


def sent_since(session: Session, channel: str, recipient: str, since: datetime) -> int:
    """How many messages went to a chat since `since` (free-reply quotas count them)."""
    return int(
        session.execute(
            select(func.count()).where(
                _outbox.c.channel == channel,
                _outbox.c.recipient == recipient,
                _outbox.c.status == OutboxStatus.SENT.value,
                _outbox.c.sent_at >= since,
            )
        ).scalar_one()
    )


def mark_sent(session: Session, message_id: int, platform_id: str | None, now: datetime) -> None:
    """The platform acknowledged the message: it is never sent again."""
    mark_sent_many(session, [(message_id, platform_id)], now)


def mark_sent_many(
    session: Session,
    acknowledged: Sequence[tuple[int, str | None]],
    now: datetime,
    *,
    erase: Sequence[int] = (),
) -> None:
    """`mark_sent` for several messages (id, platform message id), in one executemany. The
    `erase` ones (a goodbye after `/xoa`: the chat's last trace) are deleted instead."""
    if acknowledged:
        session.execute(
            _MARK_SENT,
            [{"b_id": i, "b_platform": platform, "b_now": now} for i, platform in acknowledged],
        )
    if erase:
        session.execute(delete(_outbox).where(_outbox.c.id.in_(list(erase))))


_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("b_id"))
    .values(
        status=OutboxStatus.SENT.value,
        sent_at=bindparam("b_now"),
        platform_message_id=bindparam("b_platform"),
        lease_owner=None,
        leased_until=None,
    )
)


def mark_failed(
    session: Session,
    message: Pending,
    error: str,
    now: datetime,
    retry_in: timedelta | None,
    *,
    count_attempt: bool = True,
) -> None:
    """Count a failed attempt: retry after `retry_in`, or dead-letter when it is None.

    Flow control (a 429 with retry_after) passes `count_attempt=False`: waiting is not failing.
    """
    attempts = message.attempts + 1 if count_attempt else message.attempts
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": error[:1000],
        "lease_owner": None,
        "leased_until": None,
    }
    if retry_in is None and message.payload.get("erase"):
        # A goodbye after /xoa that cannot be delivered is not kept as a dead letter: it is
        # the chat's last trace.
        session.execute(delete(_outbox).where(_outbox.c.id == message.id))
        return
    if count_attempt and message.first_failed_at is None:
        values["first_failed_at"] = now
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
