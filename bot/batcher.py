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

With `writers=2` (PostgreSQL), a batch's write waiting on the database no longer leaves the
process idle: a second writer takes the next batch meanwhile. Only one writer forms and
computes a batch at a time (a lock, held from taking the batch until its write is sent), so
batches stay as large as with one writer; the database checks that no two batches moved the
same chat (redone if they did). Measured with the webhook bench's PostgreSQL target (manual
runs, 4 x 10 s each): one writer 3,500-4,230 req/s (mean 3,820), two 3,690-4,860 (4,260).
SQLite writes one transaction at a time, so it keeps one writer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
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

    def __init__(
        self, service: ConversationService, *, max_batch: int = 128, writers: int = 1
    ) -> None:
        if writers < 1:
            raise ValueError("a batcher needs at least one writer thread")
        self.service = service
        self.max_batch = max_batch
        self.writers = writers
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._forming = threading.Lock()  # held by the writer forming/computing a batch
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
        if self._threads:
            return
        with self._lock:
            if not self._threads:
                threads = [
                    threading.Thread(target=self._run, name=f"hailong-turns-{n}", daemon=True)
                    for n in range(self.writers)
                ]
                for thread in threads:
                    thread.start()
                self._threads = threads

    async def close(self) -> None:
        """Finish the turns already queued, then stop the writer threads."""
        self._closed = True
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            await asyncio.to_thread(thread.join)

    def _run(self) -> None:
        self.service.keep_connections()  # batch after batch on this thread
        try:
            self._take_batches()
        finally:
            self.service.release_connections()

    def _take_batches(self) -> None:
        while True:
            forming = _Once(self._forming.release)
            self._forming.acquire()
            try:
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
                # The next writer may take the next batch once this one's write is sent.
                self._commit(batch, forming)
            finally:
                forming()
            if stop:
                return

    def _commit(self, batch: Sequence[_Item], writing: Callable[[], None]) -> None:
        try:
            results: Sequence[Outcome | BaseException] = self.service.handle_many(
                [request for request, _, _ in batch], writing=writing
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


class _Once:
    """A callable that calls `action` the first time only."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


def _settle(settled: list[tuple[asyncio.Future[Outcome], object]]) -> None:
    for future, result in settled:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)  # type: ignore[arg-type]
