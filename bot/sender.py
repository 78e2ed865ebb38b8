"""Delivers the outbox through a channel's transport, with retries and dead-lettering."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from storage import outbox
from storage.db import session_scope
from storage.types import utcnow

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed. `permanent` failures are dead-lettered at once (blocked bot, bad chat)."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent


class Transport(Protocol):
    """One channel's way of sending a reply; returns the platform's message id if any."""

    channel: str

    def send(self, recipient: str, payload: dict[str, Any]) -> str | None: ...


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Sender:
    """Sends what is due, oldest first; failures back off exponentially, then go dead."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        max_attempts: int = 5,
        base_delay: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.clock = clock

    def deliver_due(self, limit: int = 100) -> DeliveryStats:
        """One pass over the due messages of this transport's channel."""
        stats = DeliveryStats()
        with session_scope(self.engine) as session:
            batch = outbox.due(session, self.transport.channel, self.clock(), limit)
        failed_chats: set[str] = set()
        for message in batch:
            if message.recipient in failed_chats:
                continue  # keep order within a chat: nothing overtakes a failed message
            try:
                platform_id = self.transport.send(message.recipient, message.payload)
            except DeliveryError as exc:
                failed_chats.add(message.recipient)
                self._failed(message, exc, stats)
                continue
            # Recorded at once, one message per transaction, so an acknowledged message is
            # never sent again even if the process dies in the middle of a batch.
            with session_scope(self.engine) as session:
                outbox.mark_sent(session, message.id, platform_id, self.clock())
            stats.sent += 1
        return stats

    def _failed(self, message: outbox.Pending, exc: DeliveryError, stats: DeliveryStats) -> None:
        attempts = message.attempts + 1
        retry_in: timedelta | None = None
        if not exc.permanent and attempts < self.max_attempts:
            delay = exc.retry_after or self.base_delay * 2 ** (attempts - 1)
            retry_in = timedelta(seconds=delay)
        with session_scope(self.engine) as session:
            outbox.mark_failed(session, message, str(exc), self.clock(), retry_in)
        if retry_in is None:
            stats.dead += 1
            log.warning("outbox %s dead after %s attempts: %s", message.id, attempts, exc)
        else:
            stats.retried += 1
