"""CPU and wall time of a batch of survey-answer turns in-process (`handle_many`), no HTTP.

The webhook's writer thread runs `ConversationService.handle_many` on whatever requests are
waiting; this times that alone, on a fresh database, for one batch size:

    python bench/turns_bench.py --db sqlite --batch 8
    python bench/turns_bench.py --db postgres --batch 16 --profile /tmp/turns.prof

Each of 512 chats is first taken to its first survey question (not timed); then every batch
answers the next question of `--batch` different chats, as the webhook bench's load does.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from base.settings import Settings  # noqa: E402
from bench.webhook_bench import _create_pg, _drop_pg, _migrate  # noqa: E402
from bot.engine import Inbound  # noqa: E402
from bot.service import ConversationService, TurnRequest  # noqa: E402
from hailong.app import conversation_service  # noqa: E402
from storage.db import make_engine  # noqa: E402

CHATS = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--batch", type=int, default=8, help="turns per batch (1-64)")
    parser.add_argument("--rounds", type=int, default=600, help="batches timed")
    parser.add_argument(
        "--postgres-admin",
        default="postgresql+psycopg://postgres@127.0.0.1/postgres",
        help="admin URL; a scratch database is created and dropped",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed batches")
    args = parser.parse_args()
    if not 1 <= args.batch <= 64:
        parser.error("--batch must be 1 to 64")
    if args.db == "postgres":
        url = _create_pg(args.postgres_admin)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='hailong-turns-')}/turns.db"
    try:
        _migrate(url)
        engine = make_engine(url)
        svc = conversation_service(Settings(database_url=url, link_secret="bench-" * 8), engine)
        print(run(svc, args.batch, args.rounds, args.profile, args.db))
        engine.dispose()
    finally:
        if args.db == "postgres":
            _drop_pg(args.postgres_admin, url)


def run(svc: ConversationService, k: int, rounds: int, profile: Path | None, db: str) -> str:
    counter = 0

    def batch(turns: list[tuple[int, str]]) -> None:
        nonlocal counter
        requests = []
        for chat, text in turns:
            counter += 1
            requests.append(
                TurnRequest("telegram", str(10_000 + chat), Inbound(text=text), str(counter))
            )
        failed = [o for o in svc.handle_many(requests) if isinstance(o, Exception)]
        if failed:
            raise RuntimeError(f"turns failed: {failed[:3]}")

    svc.keep_connections()  # as the webhook's writer threads do
    for text in ("/start", "1", "1"):  # start, consent, first question: not timed
        for first in range(0, CHATS, 16):
            batch([(chat, text) for chat in range(first, first + 16)])
    # 600 batches of 8 answer ~9 questions per chat: all within the survey's 21 "4" answers.
    if rounds * k > CHATS * 20:
        raise SystemExit("--rounds x --batch must stay within 20 answers per chat")
    profiler = cProfile.Profile(time.thread_time) if profile else None
    server = _postgres_cpu() if db == "postgres" else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for r in range(rounds):
        first = r * k
        batch([((first + j) % CHATS, "4") for j in range(k)])
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    svc.release_connections()
    text = (
        f"{db}, batches of {k}: {wall / rounds * 1e3:.2f} ms wall and {cpu / rounds * 1e3:.2f} ms"
        f" CPU a batch, {cpu / rounds / k * 1e6:.0f} µs CPU a turn"
    )
    if server is not None:
        server = _postgres_cpu() - server
        text += f"; PostgreSQL's processes {server / rounds / k * 1e6:.0f} µs CPU a turn"
    return text


def _postgres_cpu() -> float:
    """CPU seconds used so far by this machine's PostgreSQL processes (0 if none is local)."""
    total = 0
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                name, _, rest = f.read().partition(") ")
        except (OSError, ValueError):
            continue
        if name.endswith("(postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
