"""The group commit: concurrent coroutines' turns share transactions, each still exactly once."""

from __future__ import annotations

import asyncio

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


def test_concurrent_turns_are_batched_and_each_committed_once(engine: Engine) -> None:
    batcher = TurnBatcher(service(engine))

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
