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
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from storage import outbox
from storage.complaints import remember_delivery
from storage.db import session_scope
from storage.types import utcnow

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A send failed. `permanent` failures are dead-lettered at once (blocked bot, bad chat);
    transient ones (5xx, network, timeouts) are retried for `OUTBOX_RETRY_FOR_HOURS`;
    `unexpected` ones (a bug, a payload the client library refuses) `OUTBOX_MAX_ATTEMPTS`
    times."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        unexpected: bool = False,
    ):
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent
        self.unexpected = unexpected


def as_delivery_error(exc: Exception) -> DeliveryError:
    """What a failed send counts as: a transport's DeliveryError as it is; anything else (a
    bug, a payload the client library refuses) a retryable failure of this message alone,
    logged with its traceback, retried with backoff and then dead-lettered with the reason."""
    if isinstance(exc, DeliveryError):
        return exc
    log.error("send failed unexpectedly", exc_info=exc)
    return DeliveryError(f"unexpected {type(exc).__name__}: {str(exc)[:300]}", unexpected=True)


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


Delivery = tuple[str, int, int, int]  # "card" or "photo", complaint, chat, platform message


def _delivered(message: outbox.Pending, platform_id: str | None) -> Delivery | None:
    """What to remember of a delivered message: a complaint's new card (marked "complaint"
    by `bot.desk.card_payload`; an edit of a card is not a new one) or photo ("complaint_photo",
    `ComplaintDesk._photos`), in a chat whose platform gave the message an id."""
    payload = message.payload
    kind, complaint = "card", payload.get("complaint")
    if "complaint_photo" in payload:
        kind, complaint = "photo", payload.get("complaint_photo")
    if (
        not isinstance(complaint, int)
        or "edit_message_id" in payload
        or not platform_id
        or not platform_id.isdigit()
    ):
        return None
    try:
        return kind, complaint, int(message.recipient), int(platform_id)
    except ValueError:
        return None


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
                if (delivered := _delivered(message, platform_id)) is not None:
                    remember_delivery(session, *delivered)
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
    """Sending limits of a platform. Telegram: at most 30 calls in any second overall, ~1/s
    in one chat (short bursts pass: `per_chat_burst` messages may go at once before the 1/s
    pace), 20 a minute in one group."""

    per_second: float = 30.0
    per_chat_interval: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 0  # 0: no per-group limit
    tick: float = 0.1  # a chat's sends due within one tick go together (see _Pace.delay)


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


class Limiter:
    """Every API call of one platform account takes its slot here, whoever makes it (the
    outbox sender, a button press's answer, an edit): one limiter per bot and process.

    Overall the calls are paced steadily, with no burst: a token bucket of one token refilled
    at 85% of `per_second`, and consecutive calls at least 1/rate apart as they really start
    (waiters that the event loop wakes late would otherwise go together). So any second holds
    at most 1 + 0.85 x 30 = 26 calls, leaving room for the jitter between our clock and the
    platform's. Within a chat, `per_chat_burst` then one per `per_chat_interval`; in a group
    (`group=True`) also at most `group_per_minute` in any minute (a bucket of
    `per_chat_burst` refilled at the rest).
    """

    HEADROOM = 0.85

    def __init__(self, limits: RateLimits, monotonic: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.monotonic = monotonic
        rate = limits.per_second * self.HEADROOM
        self._global = _Pace(rate, 1.0, monotonic)
        self._gap = 1 / rate
        self._last_start = -math.inf
        self._chats: dict[str, _Pace] = {}
        self._groups: dict[str, _Pace] = {}

    async def acquire(self, chat: str | None = None, *, group: bool = False) -> None:
        """Wait for this call's slot: its chat's, its group's, then the account's."""
        if chat is not None:
            await self._chat(chat).acquire()
            if group and self.limits.group_per_minute:
                await self._group(chat).acquire()
        await self._global.acquire()
        while (wait := self._last_start + self._gap - self.monotonic()) > 0:
            await asyncio.sleep(wait)  # woken late together with the previous call
        self._last_start = self.monotonic()

    def pause(self, seconds: float) -> None:
        """The platform said 429 `retry_after`: no call goes before it."""
        self._global.pause(seconds)

    def _chat(self, chat: str) -> _Pace:
        pace = self._chats.get(chat)
        if pace is None:
            if len(self._chats) > 10_000:  # forget idle chats now and then
                self._chats.clear()
            limits = self.limits
            pace = _Pace(
                1 / limits.per_chat_interval, limits.per_chat_burst, self.monotonic, limits.tick
            )
            self._chats[chat] = pace
        return pace

    def _group(self, chat: str) -> _Pace:
        pace = self._groups.get(chat)
        if pace is None:
            if len(self._groups) > 10_000:
                self._groups.clear()
            burst = min(self.limits.per_chat_burst, self.limits.group_per_minute)
            rate = max(self.limits.group_per_minute - burst, 1) / 60
            pace = self._groups[chat] = _Pace(rate, burst, self.monotonic)
        return pace


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


def worker_identity() -> str:
    """`host|boot|pid` of this process: what a lease owner's name starts with. Two owners with
    the same host and kernel boot see the same process ids, so one can tell the other died."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    except OSError:
        boot = "noboot"
    return f"{socket.gethostname()[:30]}|{boot}|{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process we could judge: assume alive, let the lease expire
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process has that id now
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie sends nothing


def dead_here(owner: str, own: str) -> bool:
    """Whether a lease `owner` was a sender process of this machine that is gone: same host
    and boot, and its pid is no longer alive (or is this process's, with another token: an
    earlier run that had our pid, as in a restarted container). Anything else: unknown."""
    theirs, mine = owner.split("|"), own.split("|")
    if len(theirs) != 4 or len(mine) != 4 or theirs[:2] != mine[:2] or owner == own:
        return False
    try:
        pid = int(theirs[2])
    except ValueError:
        return False
    if theirs[2] == mine[2]:
        return mine[2] == str(os.getpid())
    return not _pid_alive(pid)


class OutboxWorker:
    """The asynchronous sender loop of one channel, run in the app's lifespan.

    Every worker process runs one; on PostgreSQL only the process holding the channel's
    advisory lock sends (`_Leadership`), the others stand by and take over if it goes. It
    leases due messages (`storage.outbox.claim`), so even two senders at once (a leader and
    one that lost its lock unnoticed for a moment) never send a message twice; sends each
    chat's messages in order under the platform's rate limits (`Limiter`, shared with every
    other call to that platform; or paced by the transport itself, `pace_sends=False`).

    Delivery under faults:
    - An acknowledged send is recorded in its own transaction at once; if that commit fails
      (the database is down) it is retried until it succeeds, the original error logged: the
      message keeps its lease, is never given back, and this worker claims nothing new
      meanwhile, so it is not sent again when the lease expires. The commit that finally
      succeeds also renews the lease of the batch's unsent messages; any another worker
      claimed meanwhile (the outage outlasted the lease) are left to it, not sent. A standby
      that takes the lead waits `takeover_grace` first, so a leader cut off with the database
      records its sends before they could be claimed again.
    - Transient failures (5xx, network, timeouts) are retried with capped exponential backoff
      until `retry_for` seconds after the first failure; permanent ones (blocked, chat not
      found, bad request) are dead-lettered at once with the reason; unexpected exceptions (a
      bug, a payload the client refuses) after `max_attempts`. A 429 `retry_after` pauses the
      whole channel and does not count as an attempt.
    - A process that died (SIGKILL) leaves leases behind: the next sender on the same machine
      gives them back as soon as it leads (`dead_here`), instead of waiting for them to expire.

    The one duplicate left possible: a send the platform took while the process was killed,
    before its acknowledgement was committed; it goes again.
    """

    def __init__(
        self,
        engine: Engine,
        transport: AsyncTransport,
        *,
        max_attempts: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        retry_for: float = 24 * 3600.0,
        lease_seconds: float = 60.0,
        limits: RateLimits | None = None,
        limiter: Limiter | None = None,
        pace_sends: bool = True,
        poll_interval: float = 0.5,
        batch: int = 100,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        standby_interval: float = 2.0,
        max_in_flight: int = 8,
        ack_retry_max: float = 1.0,
        stop_timeout: float = 10.0,
        takeover_grace: float | None = None,
    ) -> None:
        self.engine = engine
        self.transport = transport
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retry_for = timedelta(seconds=retry_for)
        self.lease = timedelta(seconds=lease_seconds)
        self.limiter = limiter or Limiter(limits or RateLimits())
        self.pace_sends = pace_sends
        self.poll_interval = poll_interval
        self.batch = batch
        self.clock = clock
        self.owner = owner or f"{worker_identity()}|{uuid.uuid4().hex[:8]}"
        # Sends at once: the rate limit needs only rate x latency of them (30/s x ~0.2 s), and
        # httpcore checks every connection its pool keeps on every request, so fewer is
        # cheaper (~30 stayed open after a burst).
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._acks: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._erase: set[int] = set()  # sent messages to delete once acknowledged (/xoa)
        # Delivered complaint cards and photos, recorded with their acknowledgement: outbox
        # id -> (kind, complaint, chat, platform message), so later changes edit the card in
        # place and a deletion request deletes the photos.
        self._deliveries: dict[int, Delivery] = {}
        self._recording: asyncio.Task[None] | None = None
        self.ack_retry_max = ack_retry_max
        self.stop_timeout = stop_timeout
        # Longer than a cut-off leader takes to record its sends once the database is back.
        self.takeover_grace = 2 * ack_retry_max + 1 if takeover_grace is None else takeover_grace
        self._held: set[int] = set()  # claimed by this worker, not yet settled
        self._lost: set[int] = set()  # claimed by another worker while our lease had expired
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
        """Stop the loop; leased messages not yet sent are given back, leadership too.
        Acknowledgements still being recorded get `stop_timeout` seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        recording = self._recording
        if recording is not None and not recording.done():
            try:
                await asyncio.wait_for(asyncio.shield(recording), self.stop_timeout)
            except TimeoutError:
                log.error(
                    "outbox %s: stopped with acknowledged sends %s unrecorded (database "
                    "unreachable); they go again when their lease expires",
                    self.transport.channel,
                    [i for i, _, _ in self._acks],
                )
                recording.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recording
        await asyncio.to_thread(self._lead.release)

    @property
    def leading(self) -> bool:
        """Whether this worker is its channel's sender now."""
        return self._lead._conn is not None or self.engine.dialect.name != "postgresql"

    async def run(self) -> None:
        """Deliver until cancelled."""
        failures = 0
        leading = standby = False
        while True:
            try:
                if not await asyncio.to_thread(self._lead.hold):
                    leading, standby = False, True
                    await asyncio.sleep(self.standby_interval)  # another process sends
                    continue
                if not leading:
                    if standby:  # taking over from a leader that may be recording its sends
                        await asyncio.sleep(self.takeover_grace)
                        standby = False
                    await asyncio.to_thread(self.reclaim)  # a dead predecessor's leases
                    leading = True
                stats = await self.deliver_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: log the cause, back off, go on
                failures += 1
                if failures == 1:
                    log.exception("outbox %s: delivery pass failed", self.transport.channel)
                else:
                    log.warning(
                        "outbox %s: delivery pass failed %d times in a row: %s: %s",
                        self.transport.channel,
                        failures,
                        type(exc).__name__,
                        exc,
                    )
                await asyncio.sleep(min(5.0, self.poll_interval * 2 ** min(failures, 10)))
                continue
            if stats.sent or stats.retried or stats.dead:
                continue  # there may be more right away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()

    def reclaim(self) -> int:
        """Give back the leases of this machine's dead sender processes (`dead_here`): their
        messages go now rather than when the lease expires. How many were given back."""
        channel = self.transport.channel
        with session_scope(self.engine) as session:
            owners = outbox.lease_owners(session, channel, self.clock())
            dead = [owner for owner in owners if dead_here(owner, self.owner)]
            released = outbox.release_owners(session, channel, dead)
        if released:
            log.warning(
                "outbox %s: %d messages leased by dead processes %s taken back",
                channel,
                released,
                dead,
            )
        return released

    async def deliver_once(self) -> DeliveryStats:
        """Claim one batch and deliver it, chats in parallel, each chat in order. Returns when
        every send of the batch is settled and every acknowledgement recorded."""
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
        self._held, self._lost = {m.id for m in batch}, set()
        try:
            # Every chat's coroutine is waited for, even if one fails: giving back the
            # messages of chats still sending would let them be claimed and sent twice.
            results = await asyncio.gather(
                *(self._deliver_chat(msgs, stats) for msgs in by_chat.values()),
                return_exceptions=True,
            )
        finally:
            # Cancelled (shutdown) or crashed mid-batch: give back what was not sent.
            leftover = [m.id for m in batch if m.id not in stats.done]
            if leftover:
                try:
                    await asyncio.shield(asyncio.to_thread(self._release, leftover))
                except Exception as exc:
                    log.warning(
                        "outbox %s: %d unsent messages not given back (%s: %s); their lease "
                        "expires",
                        self.transport.channel,
                        len(leftover),
                        type(exc).__name__,
                        exc,
                    )
        for result in results:
            if isinstance(result, Exception):
                log.error(
                    "outbox %s: a chat's delivery failed", self.transport.channel, exc_info=result
                )
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
        """Commit the acknowledgements until none is left. A commit that fails (the database
        is down) is retried until it succeeds, never given up: the platform took these
        messages, so they keep their lease and are neither given back nor sent again."""
        failures = 0
        while self._acks:
            acks = list(self._acks)
            # After a failure the leases may have expired meanwhile: renew them in the same
            # transaction, and learn which messages another worker took.
            renew = sorted(self._held.difference(i for i, _, _ in acks)) if failures else None
            try:
                await asyncio.to_thread(self._mark_sent, [(i, p) for i, p, _ in acks], renew)
            except asyncio.CancelledError:
                for _, _, future in acks:
                    future.cancel()
                raise
            except Exception as exc:
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.error(
                        "outbox %s: %d acknowledged sends not recorded (try %d), retrying: %s: %s",
                        self.transport.channel,
                        len(acks),
                        failures,
                        type(exc).__name__,
                        exc,
                        exc_info=exc if failures == 1 else None,
                    )
                await asyncio.sleep(min(self.ack_retry_max, 0.05 * 2**failures))
                continue
            if failures:
                log.warning(
                    "outbox %s: %d acknowledged sends recorded after %d failed tries",
                    self.transport.channel,
                    len(acks),
                    failures,
                )
                failures = 0
            del self._acks[: len(acks)]  # only appended to meanwhile
            for _, _, future in acks:
                if not future.done():
                    future.set_result(None)

    def _mark_sent(
        self, acknowledged: list[tuple[int, str | None]], renew: list[int] | None = None
    ) -> None:
        erase = [i for i, _ in acknowledged if i in self._erase]
        deliveries = [self._deliveries[i] for i, _ in acknowledged if i in self._deliveries]
        lost: set[int] = set()
        with session_scope(self.engine) as session:
            outbox.mark_sent_many(session, acknowledged, self.clock(), erase=erase)
            for delivered in deliveries:
                remember_delivery(session, *delivered)
            if renew:
                kept = outbox.renew(session, renew, self.owner, self.clock() + self.lease)
                lost = set(renew) - kept
        for i, _ in acknowledged:
            self._deliveries.pop(i, None)
        self._erase.difference_update(erase)
        if lost:
            self._lost |= lost  # read by the event loop once this thread returns
            log.warning(
                "outbox %s: %d messages claimed by another worker during the outage: not sent here",
                self.transport.channel,
                len(lost),
            )

    async def _deliver_chat(self, messages: list[outbox.Pending], stats: DeliveryStats) -> None:
        for message in messages:
            if message.id in self._lost:
                stats.done.add(message.id)  # another worker sends it (and the rest of the chat)
                continue
            if self.pace_sends:
                await self.limiter.acquire(message.recipient)
            try:
                async with self._in_flight:
                    platform_id = await self.transport.send(message.recipient, message.payload)
            except Exception as exc:  # one poison message fails alone, never the pass
                stats.done.add(message.id)
                self._held.discard(message.id)
                try:
                    await asyncio.to_thread(self._failed, message, as_delivery_error(exc), stats)
                except Exception as db_exc:  # not sent: its lease expires, then it is retried
                    log.warning(
                        "outbox %s: failure of %s (%s) not recorded: %s: %s",
                        self.transport.channel,
                        message.id,
                        exc,
                        type(db_exc).__name__,
                        db_exc,
                    )
                return  # nothing overtakes a failed message; the rest is released
            # Sent: never given back from here on, and its acknowledgement is recorded even if
            # the loop is being stopped (`stop` waits for it).
            stats.done.add(message.id)
            self._held.discard(message.id)
            if message.payload.get("erase"):
                self._erase.add(message.id)
            if (delivered := _delivered(message, platform_id)) is not None:
                self._deliveries[message.id] = delivered
            await asyncio.shield(self._acknowledge(message.id, platform_id))
            stats.sent += 1

    def _failed(self, message: outbox.Pending, exc: DeliveryError, stats: DeliveryStats) -> None:
        stats.done.add(message.id)
        now = self.clock()
        reason = str(exc)
        throttled = exc.retry_after is not None and not exc.permanent
        retry_in: timedelta | None = None
        if throttled:
            self.limiter.pause(float(exc.retry_after or 0))
            retry_in = timedelta(seconds=float(exc.retry_after or 0))
        elif exc.permanent:
            pass
        elif exc.unexpected:
            if message.attempts + 1 < self.max_attempts:
                retry_in = self._backoff(message.attempts)
        elif (
            message.first_failed_at is not None and now - message.first_failed_at >= self.retry_for
        ):
            hours = self.retry_for.total_seconds() / 3600
            reason = f"{reason} (still failing {hours:g} h after the first failure)"
        else:
            retry_in = self._backoff(message.attempts)
        with session_scope(self.engine) as session:
            outbox.mark_failed(session, message, reason, now, retry_in, count_attempt=not throttled)
        if retry_in is None:
            stats.dead += 1
            log.warning("outbox %s dead (attempt %s): %s", message.id, message.attempts + 1, reason)
        else:
            stats.retried += 1
            log.info("outbox %s retry in %.1fs: %s", message.id, retry_in.total_seconds(), reason)

    def _backoff(self, attempts: int) -> timedelta:
        """Exponential from `base_delay`, capped at `max_delay`, with jitter below the cap."""
        delay = min(self.max_delay, self.base_delay * 2 ** min(attempts, 60))
        return timedelta(seconds=delay * random.uniform(0.8, 1.0))
