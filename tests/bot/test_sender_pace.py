"""The sender's pacing (token buckets with reserved slots) and its grouped acknowledgements."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.sender import _Pace
from storage import conversations, outbox
from storage.db import session_scope
from storage.models import OutboxMessage
from storage.types import utcnow


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_waiters_reserve_consecutive_slots_after_the_burst() -> None:
    clock = Clock()
    pace = _Pace(rate=10, burst=2, monotonic=clock)
    assert [round(pace.delay(), 6) for _ in range(5)] == [0, 0, 0.1, 0.2, 0.3]
    clock.now += 1.0  # the promised slots are used up; the bucket refills from there
    assert round(pace.delay(), 6) == 0
    assert round(pace.delay(), 6) == 0
    assert round(pace.delay(), 6) == 0.1


def test_slots_are_rounded_up_to_a_common_tick_without_exceeding_the_rate() -> None:
    clock = Clock(100.0)
    pace = _Pace(rate=30, burst=1, monotonic=clock, tick=0.1)
    due = [round(clock.now + pace.delay(), 6) for _ in range(31)]
    assert due[0] == 100.0  # the saved-up token goes at once
    ticks = sorted(set(due[1:]))
    assert ticks == [round(100.1 + 0.1 * n, 6) for n in range(len(ticks))]  # on the grid
    for tick in ticks:  # ~3 a tick, never more than the rate allows in one tick
        assert due.count(tick) <= 4
    assert due[-1] <= 101.1  # 30 slots past the burst take about a second


def test_a_pause_moves_every_later_slot_past_it() -> None:
    clock = Clock()
    pace = _Pace(rate=10, burst=5, monotonic=clock)
    assert pace.delay() == 0
    pace.pause(2.0)
    waits = [round(pace.delay(), 6) for _ in range(3)]
    assert waits == [2.1, 2.2, 2.3]  # nothing saved up over the pause goes in a burst


async def _acquire_all(pace: _Pace, n: int) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(pace.acquire() for _ in range(n)))
    return loop.time() - start


def test_each_waiter_sleeps_once_and_the_rate_holds() -> None:
    calls = 0

    async def run() -> float:
        nonlocal calls
        loop = asyncio.get_running_loop()
        pace = _Pace(rate=200, burst=1, monotonic=loop.time)
        delay = pace.delay

        def counted() -> float:
            nonlocal calls
            calls += 1
            return delay()

        pace.delay = counted  # type: ignore[method-assign]
        return await _acquire_all(pace, 40)

    elapsed = asyncio.run(run())
    assert calls == 40  # no waiter woke to find its token taken and queued again
    assert elapsed >= 39 / 200 * 0.95


def test_a_waiter_asleep_during_a_pause_queues_again_behind_it() -> None:
    async def run() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pace = _Pace(rate=50, burst=1, monotonic=loop.time)
        await pace.acquire()  # the saved-up token
        start = loop.time()
        waiter = asyncio.create_task(pace.acquire())  # its slot: 20 ms from now
        await asyncio.sleep(0.005)
        pace.pause(0.2)  # a 429 while it sleeps
        await waiter
        return start, loop.time()

    start, done = asyncio.run(run())
    assert done - start >= 0.2  # sent after the pause, not in its old slot


def test_acknowledgements_recorded_together(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = conversations.enqueue_many(
            session, [("telegram", str(n), {"text": f"m{n}", "buttons": []}) for n in range(3)]
        )
    with session_scope(engine) as session:
        outbox.mark_sent_many(session, [(ids[0], "71"), (ids[2], None)], utcnow())
        outbox.mark_sent_many(session, [], utcnow())  # nothing to do
    with session_scope(engine) as session:
        counts = outbox.status_counts(session)
    assert counts == {("telegram", "sent"): 2, ("telegram", "pending"): 1}
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.id, OutboxMessage.platform_message_id).order_by(OutboxMessage.id)
        ).all()
    assert [tuple(r) for r in rows] == [(ids[0], "71"), (ids[1], None), (ids[2], None)]
