"""CPU a delivered message costs the outbox sender (`OutboxWorker` + `TelegramTransport`).

The sender runs in a web worker, beside the webhook turns, at Telegram's ~30 messages/s: what
it spends a message is CPU the webhooks do not get. This queues survey replies for many
chats, runs the real sender against the webhook bench's fake Bot API (a process on CPU 1,
real HTTP on loopback) at the real limits, and reports the CPU of this process (event loop
and threads) a message sent:

    python bench/sender_bench.py --db sqlite
    python bench/sender_bench.py --db postgres --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from base.settings import Settings  # noqa: E402
from bench.webhook_bench import (  # noqa: E402
    TOKEN,
    _create_pg,
    _drop_pg,
    _free_port,
    _migrate,
    _spawn,
)
from bot.channels.telegram import TelegramTransport, build_application  # noqa: E402
from bot.sender import OutboxWorker  # noqa: E402
from storage import conversations, outbox  # noqa: E402
from storage.db import make_engine, session_scope  # noqa: E402

PAYLOAD = {
    "text": "Câu 3/22. Anh/Chị đánh giá thế nào về thái độ của công chức tiếp nhận hồ sơ?",
    "buttons": [{"label": str(n), "payload": f"a:{n}"} for n in range(1, 6)],
}


async def deliver(engine: Engine, bot_api: str, seconds: float) -> tuple[float, float]:
    """Run the sender for `seconds`: the CPU (whole process) and wall time it took."""
    settings = Settings(telegram_bot_token=TOKEN, telegram_base_url=bot_api + "/bot")
    application = build_application(settings)
    async with application:
        worker = OutboxWorker(engine, TelegramTransport(application.bot))
        cpu, wall = time.process_time(), time.perf_counter()
        await worker.start()
        await asyncio.sleep(seconds)
        await worker.stop()
        return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the sender runs")
    parser.add_argument("--chats", type=int, default=512)
    parser.add_argument(
        "--postgres-admin",
        default="postgresql+psycopg://postgres@127.0.0.1/postgres",
        help="admin URL; a scratch database is created and dropped",
    )
    args = parser.parse_args()
    if args.seconds <= 0 or args.chats < 1:
        parser.error("--seconds and --chats must be positive")
    if args.db == "postgres":
        url = _create_pg(args.postgres_admin)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='hailong-sender-')}/sender.db"
    port = _free_port()
    api = _spawn("bench.webhook_bench:fake_bot_api", port, {}, "1")
    try:
        os.sched_setaffinity(0, {0})  # the sender's CPU, as in the webhook bench
        _migrate(url)
        engine = make_engine(url)
        queued = int(args.seconds * 30 * 2)  # more than the limits let out in the run
        with session_scope(engine) as session:
            conversations.enqueue_many(
                session,
                [("telegram", str(10_000 + n % args.chats), PAYLOAD) for n in range(queued)],
            )
        cpu, wall = asyncio.run(deliver(engine, f"http://127.0.0.1:{port}", args.seconds))
        with session_scope(engine) as session:
            sent = sum(
                n for (_, status), n in outbox.status_counts(session).items() if status == "sent"
            )
        engine.dispose()
        print(
            f"{args.db}: {sent} messages sent in {wall:.1f} s ({sent / wall:.1f}/s), "
            f"{cpu * 1000 / max(sent, 1):.2f} ms CPU a message ({cpu / wall:.1%} of a CPU)"
        )
    finally:
        api.terminate()
        api.wait(20)
        if args.db == "postgres":
            _drop_pg(args.postgres_admin, url)


if __name__ == "__main__":
    main()
