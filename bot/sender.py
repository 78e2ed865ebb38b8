"""Delivers the outbox through a channel's transport, with retries and dead-lettering.

`Sender` is the synchronous one-pass sender of the console channel; `OutboxWorker` is the
asynchronous loop that the server runs for Telegram and Zalo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

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


def as_delivery_error(exc: Exception) -> DeliveryError:
    """What a failed send counts as: a transport's DeliveryError as it is; anything else (a
    bug, a payload the client library refuses) a retryable failure of this message alone,
    logged with its traceback, retried with backoff and then dead-lettered with the reason."""
    if isinstance(exc, DeliveryError):
        return exc
    log.error("send failed unexpectedly", exc_info=exc)
    return DeliveryError(f"unexpected {type(exc).__name__}: {str(exc)[:300]}")


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
            except Exception as exc:  # one poison message fails alone, never the pass
                failed_chats.add(message.recipient)
                self._failed(message, as_delivery_error(exc), stats)
                continue
            # Recorded at once, one message per transaction, so an acknowledged message is
            # never sent again even if the process dies in the middle of a batch.
            erase = [message.id] if message.payload.get("erase") else []
            with session_scope(self.engine) as session:
                outbox.mark_sent_many(
                    session, [(message.id, platform_id)], self.clock(), erase=erase
                )
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
    tick: float = 0.1  # sends due within one tick go together (see _Pace.delay)


class _Pace:
    """A token bucket whose waiters reserve their slot: `acquire` sleeps once, until its own
    token is due. (Waiters that all slept until the next token and raced for it looped ~48
    times a message with a hundred chats queued, by cProfile's count.)"""

    def __init__(
        self, rate: float, burst: float, monotonic: Callable[[], float], tick: float = 0.0
    ) -> None:
        self.rate = rate
        self.tick = tick
        self.burst = burst
        self.tokens = burst  # negative: slots already promised to sleeping waiters
        self.monotonic = monotonic
        self.stamp = monotonic()
        self.paused_until = 0.0
        self._pauses = 0

    def delay(self) -> float:
        """Take the next token; the seconds until it is due (0: send now)."""
        now = self.monotonic()
        start = max(now, self.paused_until)
        if start > self.stamp:
            self.tokens = min(self.burst, self.tokens + (start - self.stamp) * self.rate)
            self.stamp = start
        self.tokens -= 1
        due = start + max(0.0, -self.tokens / self.rate)
        if due > now and self.tick:
            # Waiters wake on a common grid, a few together (30/s: ~3 every 0.1 s): a wake-up,
            # a burst of sends and their acknowledgements' commit shared by them.
            due = math.ceil(due / self.tick) * self.tick
        return due - now

    async def acquire(self) -> None:
        while True:
            pauses = self._pauses
            wait = self.delay()
            if wait > 0:
                await asyncio.sleep(wait)
            if pauses == self._pauses:
                return
            # A 429 paused the channel while this waiter slept: its slot is void; queue again
            # behind the pause rather than send with everyone at its end.

    def pause(self, seconds: float) -> None:
        until = self.monotonic() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.tokens, self.stamp = 0.0, until  # nothing is saved up over a pause
            self._pauses += 1


class _Leadership:
    """One sending process per channel on PostgreSQL: a session-level advisory lock.

    The platforms' limits are per bot (Telegram: ~30 messages/s overall), so every uvicorn
    worker pacing itself would multiply them; and each idle sender loop cost its process CPU
    (~8% of the benchmark's CPU with two workers). The lock lives on one connection kept out
    of the pool; it goes with that connection (the process died, the server restarted), so a
    standby takes over at its next try. SQLite has one process: always the leader.
    """

    def __init__(self, engine: Engine, channel: str, check_every: float) -> None:
        self.engine = engine
        self.key = zlib.crc32(f"hailong.sender:{channel}".encode())
        self.check_every = check_every
        self._conn: Connection | None = None
        self._checked = 0.0

    def hold(self) -> bool:
        """Whether this process leads (taking the lock if free); blocking, run in a thread."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            if time.monotonic() - self._checked < self.check_every:
                return True
            try:  # still connected, so still holding the lock
                self._conn.exec_driver_sql("SELECT 1")
                self._checked = time.monotonic()
                return True
            except DBAPIError:
                log.warning("outbox leadership lost with its database connection")
                self.release()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(select(func.pg_try_advisory_lock(self.key))).scalar_one()
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn, self._checked = conn, time.monotonic()
        return True

    def release(self) -> None:
        """Give the lock up: the connection is closed, not pooled with the lock on it."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None


class OutboxWorker:
    """The asynchronous sender loop of one channel, run in the app's lifespan.

    Every worker process runs one; on PostgreSQL only the process holding the channel's
    advisory lock sends (`_Leadership`), the others stand by and take over if it goes. It
    leases due messages (`storage.outbox.claim`), so even two senders at once (a leader and
    one that lost its lock unnoticed for a moment) never send a message twice; sends each
    chat's messages in order under the platform's rate limits; records each acknowledgement
    in its own transaction at once (an acknowledged message is never sent again); backs off
    on failures and dead-letters after `max_attempts`. A 429 `retry_after` pauses the whole
    channel and does not count as an attempt. The only duplicate left possible is a crash
    between the platform's acknowledgement and that one-row commit: the lease then expires
    and the message goes again.
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
        standby_interval: float = 2.0,
        max_in_flight: int = 8,
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
        self._global = _Pace(
            self.limits.per_second, self.limits.per_second, time.monotonic, self.limits.tick
        )
        self._chats: dict[str, _Pace] = {}
        # Sends at once: the rate limit needs only rate x latency of them (30/s x ~0.2 s), and
        # httpcore checks every connection its pool keeps on every request, so fewer is
        # cheaper (~30 stayed open after a burst).
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._acks: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._erase: set[int] = set()  # sent messages to delete once acknowledged (/xoa)
        self._recording: asyncio.Task[None] | None = None
        self.standby_interval = standby_interval
        self._lead = _Leadership(engine, transport.channel, check_every=standby_interval)
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
        """Stop the loop; leased messages not yet sent are given back, leadership too."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._recording is not None:
            with contextlib.suppress(Exception):
                await self._recording  # acknowledgements still being committed
        await asyncio.to_thread(self._lead.release)

    @property
    def leading(self) -> bool:
        """Whether this worker is its channel's sender now."""
        return self._lead._conn is not None or self.engine.dialect.name != "postgresql"

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            try:
                if not await asyncio.to_thread(self._lead.hold):
                    await asyncio.sleep(self.standby_interval)  # another process sends
                    continue
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
        claim = asyncio.ensure_future(asyncio.to_thread(self._claim))
        try:
            batch = await asyncio.shield(claim)
        except asyncio.CancelledError:  # stopped while claiming: give the claim back at once
            leased = await claim
            if leased:
                await asyncio.to_thread(self._release, [m.id for m in leased])
            raise
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

    def _acknowledge(self, message_id: int, platform_id: str | None) -> asyncio.Future[None]:
        """Record that the platform took a message: committed at once, together with the
        acknowledgements that arrive meanwhile (a group commit; one per message, each a
        thread hop and a transaction, cost more than the send)."""
        future = asyncio.get_running_loop().create_future()
        self._acks.append((message_id, platform_id, future))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record_acks())
        return future

    async def _record_acks(self) -> None:
        while self._acks:
            acks, self._acks = self._acks, []
            try:
                await asyncio.to_thread(self._mark_sent, [(i, p) for i, p, _ in acks])
            except asyncio.CancelledError:
                for _, _, future in acks:
                    future.cancel()
                raise
            except Exception as exc:
                for _, _, future in acks:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, _, future in acks:
                    if not future.done():
                        future.set_result(None)

    def _mark_sent(self, acknowledged: list[tuple[int, str | None]]) -> None:
        erase = [i for i, _ in acknowledged if i in self._erase]
        with session_scope(self.engine) as session:
            outbox.mark_sent_many(session, acknowledged, self.clock(), erase=erase)
        self._erase.difference_update(erase)

    async def _deliver_chat(self, messages: list[outbox.Pending], stats: DeliveryStats) -> None:
        chat = self._chats.get(messages[0].recipient)
        if chat is None:
            chat = _Pace(
                1 / self.limits.per_chat_interval,
                self.limits.per_chat_burst,
                time.monotonic,
                self.limits.tick,
            )
            self._chats[messages[0].recipient] = chat
            if len(self._chats) > 10_000:  # forget idle chats now and then
                self._chats = {messages[0].recipient: chat}
        for message in messages:
            await chat.acquire()
            await self._global.acquire()
            try:
                async with self._in_flight:
                    platform_id = await self.transport.send(message.recipient, message.payload)
            except Exception as exc:  # one poison message fails alone, never the pass
                await asyncio.to_thread(self._failed, message, as_delivery_error(exc), stats)
                return  # nothing overtakes a failed message; the rest is released
            # Sent: the acknowledgement is recorded even if the loop is being stopped, or the
            # message would be given back and a standby would send it again.
            if message.payload.get("erase"):
                self._erase.add(message.id)
            ack = self._acknowledge(message.id, platform_id)
            try:
                await asyncio.shield(ack)
            except asyncio.CancelledError:
                await ack  # recorded before the rest of the batch is given back
                stats.done.add(message.id)
                raise
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
