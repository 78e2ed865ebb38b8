"""Group commit: the turns of all concurrent requests of one process, in one transaction.

    webhook ─┐                        writer thread
    webhook ─┼─ handle() ─▶ queue ─▶  take everything waiting ─▶ service.handle_many
    webhook ─┘      ▲                 (one transaction, one commit)
                    └── one wake-up of the event loop per batch ◀─┘

One turn per transaction paid a commit, a thread hand-off and a loop wake-up per request,
and on SQLite the writers queued on one lock anyway. Here a single writer thread takes every
turn waiting when it becomes free, so batches grow with the load and nothing waits on a timer:
alone, a turn commits at once. A request is answered only after its turn committed, so the
webhook's 200 still means "stored". A batch that cannot commit is redone turn by turn
(`ConversationService.handle_many`), so one bad turn fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine import Inbound
from bot.service import (
    ConversationService,
    Outcome,
    PayloadResolver,
    TurnRequest,
    plain_dossier_code,
)

log = logging.getLogger(__name__)


_Item = tuple[TurnRequest, "asyncio.Future[Outcome]", asyncio.AbstractEventLoop]
_STOP = None


@dataclass
class BatchStats:
    """What the writer did so far (for tests and the benchmark)."""

    batches: int = 0
    turns: int = 0
    largest: int = 0


class TurnBatcher:
    """Runs `ConversationService` turns for coroutines, batched on one writer thread."""

    def __init__(self, service: ConversationService, *, max_batch: int = 128) -> None:
        self.service = service
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def handle(
        self,
        channel: str,
        external_id: str,
        inbound: Inbound,
        *,
        message_id: str | None = None,
        resolve: PayloadResolver = plain_dossier_code,
    ) -> Outcome:
        """`ConversationService.handle`, awaited: returns once the turn is committed."""
        request = TurnRequest(channel, external_id, inbound, message_id, resolve)
        if self._closed:  # shutting down: no writer thread to hand it to
            return await asyncio.to_thread(
                self.service.handle,
                channel,
                external_id,
                inbound,
                message_id=message_id,
                resolve=resolve,
            )
        self._ensure_thread()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((request, future, loop))
        # A caller cancelled meanwhile (the client hung up) cancels only this future: the
        # writer still commits the turn and drops its result (`_settle` skips done futures).
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hailong-turns", daemon=True)
                self._thread.start()

    async def close(self) -> None:
        """Finish the turns already queued, then stop the writer thread."""
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: Sequence[_Item]) -> None:
        try:
            results: Sequence[Outcome | BaseException] = self.service.handle_many(
                [request for request, _, _ in batch]
            )
        except BaseException as exc:  # handle_many keeps failures per turn; this is a bug
            log.exception("batch of %s turns failed", len(batch))
            results = [exc] * len(batch)
        self.stats.batches += 1
        self.stats.turns += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        # One wake-up per event loop and batch, not one per turn.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], object]]]
        by_loop = {}
        for (_, future, loop), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # that loop is closed: nobody waits for these any more
                log.warning("%s turns committed for a closed event loop", len(settled))


def _settle(settled: list[tuple[asyncio.Future[Outcome], object]]) -> None:
    for future, result in settled:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)  # type: ignore[arg-type]
