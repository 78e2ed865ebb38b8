"""The group commit: concurrent coroutines' turns share transactions, each still exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.batcher import TurnBatcher
from bot.engine import Inbound
from tests.bot.test_service import service

STEPS = ("/start", "đồng ý", "1", "4", "5")


async def citizen(batcher: TurnBatcher, user: int) -> list[bool]:
    """One chat's messages, each sent when the previous one was answered, as Telegram does."""
    duplicates = []
    for n, text in enumerate(STEPS):
        message_id = f"{user}-{n}"
        outcome = await batcher.handle(
            "telegram", str(user), Inbound(text=text), message_id=message_id
        )
        again = await batcher.handle(
            "telegram", str(user), Inbound(text=text), message_id=message_id
        )
        duplicates += [outcome.duplicate, again.duplicate]
    return duplicates


@pytest.mark.parametrize("writers", [1, 2])
def test_concurrent_turns_are_batched_and_each_committed_once(engine: Engine, writers: int) -> None:
    batcher = TurnBatcher(service(engine), writers=writers)

    async def main() -> list[list[bool]]:
        try:
            return await asyncio.gather(*(citizen(batcher, u) for u in range(40)))
        finally:
            await batcher.close()

    results = asyncio.run(main())
    assert all(r == [False, True] * len(STEPS) for r in results)
    assert batcher.stats.turns == 40 * len(STEPS) * 2
    assert batcher.stats.batches < batcher.stats.turns / 4  # they did share transactions
    with engine.connect() as conn:
        answers = conn.execute(sa.text("SELECT count(*) FROM answer")).scalar_one()
        inbound = conn.execute(sa.text("SELECT count(*) FROM inbound_message")).scalar_one()
    assert inbound == 40 * len(STEPS)
    assert answers == 40 * 3  # "1", "4" and "5" answer the first three questions


def test_after_close_turns_still_run_one_by_one(engine: Engine) -> None:
    batcher = TurnBatcher(service(engine))

    async def main() -> bool:
        await batcher.close()
        outcome = await batcher.handle("telegram", "1", Inbound(text="/start"), message_id="1")
        return outcome.duplicate

    assert asyncio.run(main()) is False
    assert batcher.stats.turns == 0


def test_a_caller_that_gives_up_does_not_undo_its_turn(engine: Engine) -> None:
    """A webhook client hanging up cancels the waiting request, not the committed turn."""
    batcher = TurnBatcher(service(engine))

    async def main() -> bool:
        try:
            waiting = asyncio.ensure_future(
                batcher.handle("telegram", "7", Inbound(text="/start"), message_id="7-0")
            )
            await asyncio.sleep(0)  # queued for the writer
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            again = await batcher.handle("telegram", "7", Inbound(text="/start"), message_id="7-0")
            return again.duplicate
        finally:
            await batcher.close()

    assert asyncio.run(main()) is True  # the first copy was committed all the same
    with engine.connect() as conn:
        inbound = conn.execute(sa.text("SELECT count(*) FROM inbound_message")).scalar_one()
    assert inbound == 1


def test_two_writers_never_form_batches_at_the_same_time(engine: Engine) -> None:
    """The second writer takes the next batch only once the first one's write is sent, so
    the CPU work of two batches never interleaves (and batches stay large)."""
    svc = service(engine)
    active = [0]
    overlaps: list[int] = []
    lock = threading.Lock()
    real = svc.handle_many

    def handle_many(requests: Any, *, writing: Any) -> Any:
        still_forming = [True]

        def done_forming() -> None:
            with lock:
                if still_forming[0]:
                    still_forming[0] = False
                    active[0] -= 1

        def sent() -> None:
            done_forming()
            writing()

        with lock:
            active[0] += 1
            if active[0] > 1:
                overlaps.append(active[0])
        time.sleep(0.002)  # a batch that takes a while to compute: room for the other writer
        try:
            return real(requests, writing=sent)
        finally:
            done_forming()

    svc.handle_many = handle_many  # type: ignore[method-assign]
    batcher = TurnBatcher(svc, writers=2)

    async def arriving(user: int) -> bool:
        await asyncio.sleep(user / 2000)  # one new chat every 0.5 ms: a steady stream
        outcome = await batcher.handle("telegram", str(user), Inbound(text="/start"))
        return outcome.duplicate

    async def main() -> list[bool]:
        try:
            return await asyncio.gather(*(arriving(u) for u in range(120)))
        finally:
            await batcher.close()

    assert asyncio.run(main()) == [False] * 120
    assert batcher.stats.turns == 120 and batcher.stats.batches > 2
    assert overlaps == []


def test_a_batcher_needs_a_writer(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least one writer"):
        TurnBatcher(service(engine), writers=0)
