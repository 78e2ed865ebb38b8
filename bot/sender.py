"""Delivers the outbox through a channel's transport, with retries and dead-lettering.

`Sender` is the synchronous one-pass sender of the console channel; `OutboxWorker` is the
asynchronous loop that the server runs for Telegram and Zalo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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
    done: set[int] = field(default_factory=set)  # outbox ids settled in this pass


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


class AsyncTransport(Protocol):
    """An asynchronous channel transport (Telegram, Zalo): same contract as `Transport`."""

    channel: str

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None: ...


@dataclass(frozen=True)
class RateLimits:
    """Sending limits of a platform. Telegram: ~30 messages/s overall, ~1/s in one chat
    (short bursts pass); `per_chat_burst` messages may go at once before the 1/s pace."""

    per_second: float = 30.0
    per_chat_interval: float = 1.0
    per_chat_burst: int = 3


class _Pace:
    """A token bucket: `acquire` waits until one token is free."""

    def __init__(self, rate: float, burst: float, monotonic: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.monotonic = monotonic
        self.stamp = monotonic()
        self.paused_until = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next send, taking the token when none is needed."""
        now = self.monotonic()
        if now < self.paused_until:
            return self.paused_until - now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    async def acquire(self) -> None:
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.monotonic() + seconds)


class OutboxWorker:
    """The asynchronous sender loop of one channel, run in the app's lifespan.

    It leases due messages (`storage.outbox.claim`), so several processes can run one each on
    PostgreSQL without sending a message twice; sends each chat's messages in order under the
    platform's rate limits; records each acknowledgement in its own transaction at once (an
    acknowledged message is never sent again); backs off on failures and dead-letters after
    `max_attempts`. A 429 `retry_after` pauses the whole channel and does not count as an
    attempt. The only duplicate left possible is a crash between the platform's acknowledgement
    and that one-row commit: the lease then expires and the message goes again.
    """

    def __init__(
        self,
        engine: Engine,
        transport: AsyncTransport,
        *,
        max_attempts: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease_seconds: float = 60.0,
        limits: RateLimits | None = None,
        poll_interval: float = 0.5,
        batch: int = 100,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = timedelta(seconds=lease_seconds)
        self.limits = limits or RateLimits()
        self.poll_interval = poll_interval
        self.batch = batch
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._global = _Pace(self.limits.per_second, self.limits.per_second, time.monotonic)
        self._chats: dict[str, _Pace] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New messages were queued by this process: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Run the loop in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"outbox-{self.transport.channel}")

    async def stop(self) -> None:
        """Stop the loop; leased messages not yet sent are given back."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            try:
                stats = await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not kill the loop: log and go on
                log.exception("outbox %s: delivery pass failed", self.transport.channel)
                stats = DeliveryStats()
            if stats.sent or stats.retried or stats.dead:
                continue  # there may be more right away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()

    async def deliver_once(self) -> DeliveryStats:
        """Claim one batch and deliver it, chats in parallel, each chat in order."""
        batch = await asyncio.to_thread(self._claim)
        stats = DeliveryStats()
        by_chat: dict[str, list[outbox.Pending]] = {}
        for message in batch:
            by_chat.setdefault(message.recipient, []).append(message)
        try:
            await asyncio.gather(*(self._deliver_chat(msgs, stats) for msgs in by_chat.values()))
        finally:
            # Cancelled (shutdown) or crashed mid-batch: give back what was not sent.
            leftover = [m.id for m in batch if m.id not in stats.done]
            if leftover:
                await asyncio.shield(asyncio.to_thread(self._release, leftover))
        return stats

    def _claim(self) -> list[outbox.Pending]:
        with session_scope(self.engine) as session:
            return outbox.claim(
                session, self.transport.channel, self.owner, self.clock(), self.lease, self.batch
            )

    def _release(self, ids: list[int]) -> None:
        with session_scope(self.engine) as session:
            outbox.release(session, ids, self.owner)

    def _mark_sent(self, message_id: int, platform_id: str | None) -> None:
        with session_scope(self.engine) as session:
            outbox.mark_sent(session, message_id, platform_id, self.clock())

    async def _deliver_chat(self, messages: list[outbox.Pending], stats: DeliveryStats) -> None:
        chat = self._chats.get(messages[0].recipient)
        if chat is None:
            chat = _Pace(
                1 / self.limits.per_chat_interval, self.limits.per_chat_burst, time.monotonic
            )
            self._chats[messages[0].recipient] = chat
            if len(self._chats) > 10_000:  # forget idle chats now and then
                self._chats = {messages[0].recipient: chat}
        for message in messages:
            await chat.acquire()
            await self._global.acquire()
            try:
                platform_id = await self.transport.send(message.recipient, message.payload)
            except DeliveryError as exc:
                await asyncio.to_thread(self._failed, message, exc, stats)
                return  # nothing overtakes a failed message; the rest is released
            await asyncio.to_thread(self._mark_sent, message.id, platform_id)
            stats.sent += 1
            stats.done.add(message.id)

    def _failed(self, message: outbox.Pending, exc: DeliveryError, stats: DeliveryStats) -> None:
        stats.done.add(message.id)
        throttled = exc.retry_after is not None and not exc.permanent
        if throttled:
            self._global.pause(float(exc.retry_after or 0))
            retry_in: timedelta | None = timedelta(seconds=float(exc.retry_after or 0))
        elif exc.permanent or message.attempts + 1 >= self.max_attempts:
            retry_in = None
        else:
            delay = min(self.max_delay, self.base_delay * 2**message.attempts)
            retry_in = timedelta(seconds=delay * random.uniform(0.8, 1.2))
        with session_scope(self.engine) as session:
            outbox.mark_failed(
                session, message, str(exc), self.clock(), retry_in, count_attempt=not throttled
            )
        if retry_in is None:
            stats.dead += 1
            log.warning("outbox %s dead (attempt %s): %s", message.id, message.attempts + 1, exc)
        else:
            stats.retried += 1
            log.info("outbox %s retry in %.1fs: %s", message.id, retry_in.total_seconds(), exc)
