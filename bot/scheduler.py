"""The complaint scheduler: reminders before the due date, escalation when overdue, the triage
desk's 1-hour alarm. It reads only what is due (an index on `complaint.next_check_at`), locks
those rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), and writes each notice with the flag that
says it went out, in one transaction: several workers and server processes act once, and a
restart loses nothing (the next pass finds what is still due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.desk import ComplaintDesk
from storage.db import session_scope
from storage.types import utcnow

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        desk: ComplaintDesk,
        interval: float = 30.0,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = 200,
    ) -> None:
        self.engine, self.desk, self.interval = engine, desk, interval
        self.clock, self.batch = clock, batch
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_sent: Callable[[], None] = lambda: None

    def run_once(self) -> int:
        """Passes until nothing is due now; how many events were acted on."""
        total = 0
        while True:
            with session_scope(self.engine) as session:
                done = self.desk.system_pass(session, self.clock(), self.batch)
            total += done
            if done < self.batch:
                break
        if total:
            self.on_sent()
        return total

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database outage: log and try again next time
                log.exception("scheduler pass failed")
            self._stop.wait(self.interval)

    async def start(self) -> None:
        """Run inside `hailong serve`: passes in a thread, every `interval` seconds."""

        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(self.run_once)
                except Exception:
                    log.exception("scheduler pass failed")
                await asyncio.sleep(self.interval)

        self._task = asyncio.create_task(loop())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
