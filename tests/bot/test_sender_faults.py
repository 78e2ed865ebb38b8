"""The outbox sender's rules under faults, on a real database with a clock the test moves:
transient failures retried for a period (not a count), permanent ones dead at once, one
limiter's slots, a dead process's leases recognised."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.sender import DeliveryError, Limiter, OutboxWorker, RateLimits, dead_here, worker_identity
from storage import conversations, outbox
from storage.db import session_scope
from storage.models import OutboxMessage, table
from storage.types import utcnow


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FailingTransport:
    """The platform answers every send with the same error."""

    channel = "telegram"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        self.calls += 1
        raise self.error


def _rows(engine: Engine) -> list[Any]:
    t = table(OutboxMessage)
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.c.status, t.c.attempts, t.c.last_error, t.c.first_failed_at)
            ).all()
        )


def _worker(engine: Engine, transport: Any, now: list[datetime], **kw: Any) -> OutboxWorker:
    return OutboxWorker(
        engine,
        transport,
        clock=lambda: now[0],
        limits=RateLimits(per_second=10_000, per_chat_interval=0.0001, per_chat_burst=100),
        **kw,
    )


def test_transient_failures_are_retried_for_the_whole_period_then_dead(engine: Engine) -> None:
    """Past OUTBOX_MAX_ATTEMPTS a 5xx is still retried; the backoff is capped; only a failure
    `retry_for` after the first one dead-letters the message, with the reason."""
    with session_scope(engine) as s:
        conversations.enqueue(s, "telegram", "1", {"text": "x", "buttons": []})
    start = utcnow()
    now = [start]
    transport = FailingTransport(DeliveryError("NetworkError: Internal Server Error (500)"))
    worker = _worker(
        engine, transport, now, max_attempts=2, base_delay=2, max_delay=600, retry_for=24 * 3600
    )
    delays = []
    for _ in range(12):
        asyncio.run(worker.deliver_once())
        t = table(OutboxMessage)
        with engine.connect() as conn:
            due = conn.execute(sa.select(t.c.next_attempt_at)).scalar_one()
        delays.append((due - now[0]).total_seconds())
        now[0] = due
    assert transport.calls == 12
    [(status, attempts, error, first)] = _rows(engine)
    assert (status, attempts) == ("pending", 12) and first == start
    assert 2 * 0.8 <= delays[0] <= 2 and all(d <= 600 for d in delays)
    assert delays[-1] >= 600 * 0.8  # capped, not 2 * 2**11 s
    now[0] = start + timedelta(hours=23, minutes=59)
    asyncio.run(worker.deliver_once())
    assert _rows(engine)[0][0] == "pending"
    now[0] = start + timedelta(hours=24, minutes=11)  # its next attempt, past the period
    asyncio.run(worker.deliver_once())
    [(status, attempts, error, _)] = _rows(engine)
    assert status == "dead" and attempts == 14
    assert "500" in error and "24 h after the first failure" in error


@pytest.mark.parametrize(
    "error",
    [
        DeliveryError("forbidden: Forbidden: bot was blocked by the user", permanent=True),
        DeliveryError("bad request: Bad Request: chat not found", permanent=True),
    ],
)
def test_permanent_failures_are_dead_at_once_with_the_reason(
    engine: Engine, error: DeliveryError
) -> None:
    with session_scope(engine) as s:
        conversations.enqueue(s, "telegram", "1", {"text": "x", "buttons": []})
    worker = _worker(engine, FailingTransport(error), [utcnow()])
    asyncio.run(worker.deliver_once())
    [(status, attempts, reason, _)] = _rows(engine)
    assert (status, attempts, reason) == ("dead", 1, str(error))


def test_a_429_waits_and_counts_no_attempt(engine: Engine) -> None:
    with session_scope(engine) as s:
        conversations.enqueue(s, "telegram", "1", {"text": "x", "buttons": []})
    now = [utcnow()]
    worker = _worker(engine, FailingTransport(DeliveryError("429", retry_after=3)), now)
    asyncio.run(worker.deliver_once())
    [(status, attempts, _, first)] = _rows(engine)
    assert (status, attempts, first) == ("pending", 0, None)


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_the_limiter_has_no_burst_and_at_most_30_calls_in_any_second() -> None:
    """Slots as the limiter hands them out (its clock moved by the test): 30/s is a cap over
    any one-second window, from the very first call, idle periods included."""

    async def run() -> list[float]:
        clock = Clock(1000.0)
        limiter = Limiter(RateLimits(per_second=30), monotonic=clock)
        slots = []
        for n in range(120):
            if n == 60:
                clock.now += 5.0  # idle: nothing saved up beyond one call
            wait = limiter._global.delay()
            slots.append(clock.now + wait)
        return slots

    slots = asyncio.run(run())
    first = [t for t in slots if t < slots[0] + 1]
    assert len(first) <= 26
    assert _max_in_window(slots, 1.0) <= 26
    assert _max_in_window(slots[60:], 1.0) <= 26


def test_calls_woken_late_together_still_start_apart() -> None:
    """An event loop busy elsewhere wakes several waiters at once, their slots past: they
    start one gap apart all the same (measured on the loop's clock)."""

    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        limiter = Limiter(RateLimits(per_second=100), monotonic=loop.time)
        starts: list[float] = []

        async def call() -> None:
            await limiter.acquire()
            starts.append(loop.time())

        tasks = [asyncio.create_task(call()) for _ in range(10)]
        await asyncio.sleep(0)
        time.sleep(0.2)  # the loop is blocked past every slot
        await asyncio.gather(*tasks)
        return starts

    starts = asyncio.run(run())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / 85 * 0.9


def test_a_group_gets_at_most_20_messages_in_any_minute() -> None:
    clock = Clock(0.0)
    limiter = Limiter(RateLimits(per_second=30, group_per_minute=20), monotonic=clock)
    group = limiter._group("-1001")
    chat = limiter._chat("-1001")
    slots = []
    for _ in range(45):
        wait = max(group.delay(), chat.delay())
        slots.append(clock.now + wait)
    assert _max_in_window(slots, 60.0) <= 20
    assert _max_in_window(slots, 1.0) <= 3  # one a second in a chat, after a short burst


def test_a_lease_owner_is_dead_only_if_provably_so_on_this_machine() -> None:
    me = f"{worker_identity()}|aaaaaaaa"
    host, boot, pid = worker_identity().split("|")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert dead_here(f"{host}|{boot}|{gone.pid}|bbbbbbbb", me)
    assert dead_here(f"{host}|{boot}|{pid}|bbbbbbbb", me)  # our pid, an earlier process
    assert not dead_here(me, me)
    assert not dead_here(f"{host}|{boot}|{os.getppid()}|bbbbbbbb", me)  # alive
    assert not dead_here(f"other-host|{boot}|{gone.pid}|bbbbbbbb", me)
    assert not dead_here(f"{host}|00000000|{gone.pid}|bbbbbbbb", me)  # another boot
    assert not dead_here("dead-worker", me)


def test_recording_after_an_outage_renews_leases_and_leaves_what_another_worker_took(
    engine: Engine,
) -> None:
    """The commit that records sends after failed tries also renews the batch's leases; a
    message another worker claimed once our lease had expired is marked lost, not sent."""
    with session_scope(engine) as s:
        for chat in ("a", "b"):
            for n in range(2):
                conversations.enqueue(s, "telegram", chat, {"text": f"{chat}{n}", "buttons": []})
    start = utcnow()
    now = [start]
    worker = _worker(engine, FailingTransport(RuntimeError("unused")), now, lease_seconds=2)
    with session_scope(engine) as s:
        batch = outbox.claim(s, "telegram", worker.owner, start, timedelta(seconds=2), limit=10)
    ids = {p.payload["text"]: p.id for p in batch}
    worker._held = set(ids.values())
    now[0] = start + timedelta(seconds=5)  # the outage outlasted the lease ...
    with session_scope(engine) as s:  # ... and another worker took chat a meanwhile
        other = outbox.claim(s, "telegram", "other", now[0], timedelta(seconds=60), limit=2)
    assert [p.payload["text"] for p in other] == ["a0", "a1"]
    worker._mark_sent([(ids["b0"], "1")], renew=[ids["a0"], ids["a1"], ids["b1"]])
    assert worker._lost == {ids["a0"], ids["a1"]}
    t = table(OutboxMessage)
    with engine.connect() as conn:
        b1 = conn.execute(
            sa.select(t.c.lease_owner, t.c.leased_until).where(t.c.id == ids["b1"])
        ).one()
    assert b1.lease_owner == worker.owner and b1.leased_until == now[0] + timedelta(seconds=2)


def test_a_standby_that_takes_the_lead_waits_its_grace_first(postgres_url: str) -> None:
    from storage import migrate
    from storage.db import make_engine

    setup = make_engine(postgres_url)
    migrate.upgrade(setup)
    engines = [make_engine(postgres_url) for _ in range(2)]
    sent: list[tuple[str, float]] = []

    class Recording:
        channel = "telegram"

        def __init__(self, name: str) -> None:
            self.name = name

        async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
            sent.append((self.name, time.monotonic()))
            return None

    workers = [
        OutboxWorker(
            e,
            Recording(f"w{i}"),
            limits=RateLimits(per_second=10_000, per_chat_interval=0.0001, per_chat_burst=100),
            poll_interval=0.02,
            standby_interval=0.05,
            takeover_grace=1.0,
        )
        for i, e in enumerate(engines)
    ]

    async def run() -> float:
        await workers[0].start()
        await asyncio.sleep(0.3)
        await workers[1].start()
        await asyncio.sleep(0.3)  # w1 stands by
        await workers[0].stop()
        stopped = time.monotonic()
        with session_scope(setup) as s:
            conversations.enqueue(s, "telegram", "1", {"text": "x", "buttons": []})
        while not sent:
            await asyncio.sleep(0.02)
        await workers[1].stop()
        return stopped

    stopped = asyncio.run(asyncio.wait_for(run(), 20))
    assert [name for name, _ in sent] == ["w1"]
    assert sent[0][1] - stopped >= 1.0
    for e in [setup, *engines]:
        e.dispose()
