"""Complaint loop benchmarks: intake with routing in the loop, and the scheduler's pass.

Part `intake` (per database: SQLite with `hailong serve`, PostgreSQL with `hailong serve
--workers 2`). Citizens are first taken, in-process, to one message before submission (not
timed): either at the phone-number question of their first complaint, or, after one full
complaint (so their contact is on file), with a second draft written and only «Gửi» left.
Then `hailong serve` runs (pinned to CPU 0; everything else on CPU 1) with the Telegram
channel pointed at a fake Bot API (tests/channels/fakes.py `FakeTelegram`, its calls
timestamped), every unit's staff group linked with `/lienket CODE`, and the completing
messages are posted to the webhook at a fixed rate (open loop). For each complaint: the time
from its webhook POST (its scheduled send time) to the fake Bot API receiving the card, a
sendMessage to the unit's group whose text holds the code (the code is learnt from the
citizen's confirmation). In the same server session survey answers are posted at the same
rate, as bench/webhook_bench.py's load does, for comparison; the server's CPU per request
is read from /proc. Modes:

  deployed  `hailong serve` as shipped: the sender keeps Telegram's limits (30 messages/s,
            1/s per chat with bursts of 3)
  lifted    the same app with the sender's limits lifted (a bench-only factory that only
            swaps the RateLimits the Telegram channel is given): what the server itself does

In-process (no HTTP), as bench/turns_bench.py: thread CPU per turn of a survey answer, a
complaint submission by «Gửi», a submission by the phone number (contact saved too), and
router.route alone; a cProfile of submission turns, summed by area.

Part `scheduler`: 1,000,000 open complaints bulk-inserted (COPY on PostgreSQL, executemany
on SQLite) with next_check_at two days before due dates spread over the next 30 days, plus a
few hundred due now; `Scheduler(engine, ComplaintDesk(lambda: None)).run_once()` timed (and
an idle pass after it), and EXPLAIN (ANALYZE, BUFFERS) of the claim query
(storage.complaints.due_for_check) as it is sent, against the same query with index scans
turned off.

Usage: .venv/bin/python bench/complaints_bench.py [--quick] [--parts intake,scheduler]
       [--db sqlite,postgres] [--rate 50] [--seconds 20] [--low-rate 10] [--rows 1000000]
Writes bench/results/complaints.json (not with --quick unless --out is given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import json
import math
import os
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

from tests.channels.fakes import FakeTelegram  # noqa: E402

SECRET = "bench-secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
CODE = re.compile(r"PA-\d{4}-\d{6}")
CITIZEN_BASE = 20_000_000
GROUP_BASE = -1_000_000_000_000
STAFF_BASE = 7_000_000
CONCURRENCY = 40  # Telegram's default max_connections of a webhook
RESULTS = ROOT / "bench" / "results" / "complaints.json"


# --- the fake Bot API, timestamped (a child process on CPU 1) ----------------------------------


@dataclass
class TimedTelegram(FakeTelegram):
    """`FakeTelegram`, noting when each sendMessage arrived (time.monotonic: one clock for
    every process of the machine), its chat, the tracking code in its text and its kind."""

    events: list[tuple[float, int, str, str]] = field(default_factory=list)

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        at = time.monotonic()
        if method == "sendMessage":
            text = str(params.get("text", ""))
            found = CODE.search(text)
            if text.startswith("📮"):
                kind = "card"
            elif found and "tiếp nhận" in text:
                kind = "confirm"
            else:
                kind = "reply"
            self.events.append((at, int(params["chat_id"]), found.group(0) if found else "", kind))
        return super()._answer(method, params)


def fake_app() -> FastAPI:
    fake = TimedTelegram()
    app = fake.app()

    @app.get("/bench/events")
    async def events(since: int = 0) -> JSONResponse:
        with fake.lock:
            return JSONResponse({"events": fake.events[since:], "calls": len(fake.calls)})

    @app.get("/bench/methods")
    async def methods() -> JSONResponse:
        with fake.lock:
            counts: dict[str, int] = {}
            for m, _ in fake.calls:
                counts[m] = counts.get(m, 0) + 1
            return JSONResponse(counts)

    return app


class FakeClient:
    def __init__(self, base: str) -> None:
        self.base = base
        self.events: list[tuple[float, int, str, str]] = []

    def poll(self) -> list[tuple[float, int, str, str]]:
        r = httpx.get(f"{self.base}/bench/events", params={"since": len(self.events)}, timeout=30)
        new = [(float(a), int(b), str(c), str(d)) for a, b, c, d in r.json()["events"]]
        self.events += new
        return new

    def methods(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.base}/bench/methods", timeout=30).json())


# --- the server with the sender's limits lifted (bench only) ------------------------------------


def lifted_app() -> Any:
    """`hailong serve`'s app, the Telegram sender given no effective rate limits."""
    import bot.channels.telegram as telegram
    from bot.sender import RateLimits
    from hailong.server import create_app

    def no_limits(**_: Any) -> RateLimits:
        return RateLimits(per_second=100_000.0, per_chat_interval=0.0001, per_chat_burst=1000)

    telegram.RateLimits = no_limits  # type: ignore[assignment,misc]
    return create_app()


def _serve_lifted(port: int, workers: int) -> None:
    """`hailong.server.run` with `lifted_app` as the factory (uvicorn's workers import it)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from hailong.server import _Config

    config = _Config(
        "bench.complaints_bench:lifted_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


# --- helpers -----------------------------------------------------------------------------------


def _free_port() -> int:
    from bench.webhook_bench import _free_port as free

    return free()


def _pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))  # nearest rank
    return ordered[k]


def _summary_ms(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(_pct(values, 50) * 1e3, 1),
        "p90_ms": round(_pct(values, 90) * 1e3, 1),
        "p99_ms": round(_pct(values, 99) * 1e3, 1),
        "max_ms": round(max(values) * 1e3, 1),
    }


_CPUS = sorted(os.sched_getaffinity(0))  # before main() pins this process to CPU 1


def _two_cpus() -> bool:
    return len(_CPUS) >= 2 and _CPUS[:2] == [0, 1]


def _taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if _two_cpus() else []


def _pending(engine: Any) -> int:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE status = 'pending'")
            ).scalar_one()
        )


def _wait_drained(engine: Any, timeout: float) -> float:
    """Wait until the outbox has nothing pending; seconds waited (raises on timeout)."""
    t0 = time.monotonic()
    while _pending(engine):
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"the outbox did not drain in {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - t0


def _mark_all_sent(engine: Any) -> int:
    """What the in-process preparation queued is marked sent: never delivered, never timed."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        result = conn.execute(
            sa.text("UPDATE outbox SET status = 'sent', sent_at = :now WHERE status = 'pending'"),
            {"now": datetime.now(UTC).replace(tzinfo=None)}
            if engine.dialect.name == "sqlite"
            else {"now": datetime.now(UTC)},
        )
        return int(result.rowcount or 0)


def _cpu_stat() -> dict[str, tuple[int, int, int]]:
    """Per CPU from /proc/stat: (busy, steal, total) jiffies."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in fields[:8]]
                idle = v[3] + v[4]
                out[name] = (sum(v) - idle - v[7], v[7], sum(v))
    return out


def _cpu_busy(before: dict[str, tuple[int, int, int]]) -> dict[str, float]:
    """Busy share of each CPU since `before` (steal, time the hypervisor took, apart)."""
    after = _cpu_stat()
    out = {}
    for name, (busy, steal, total) in after.items():
        if name in before:
            b0, s0, t0 = before[name]
            span = max(total - t0, 1)
            out[f"{name}_busy"] = round((busy - b0) / span, 2)
            out[f"{name}_steal"] = round((steal - s0) / span, 2)
    return out


def _postgres_cpu() -> float:
    from bench.turns_bench import _postgres_cpu as pg_cpu

    return pg_cpu()


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _worker_cpus(pid: int) -> list[float]:
    """CPU seconds of each uvicorn worker process (the server itself when it has none)."""
    import psutil

    root = psutil.Process(pid)
    procs = [
        p
        for p in root.children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())
    ] or [root]
    out = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            out.append(t.user + t.system)
    return out


def _settle_cpu(pid: int, timeout: float = 60.0) -> list[float]:
    """Wait until the server's workers stop working by themselves (start-up over: the
    router may be loaded in the background); their CPU seconds then."""
    deadline = time.monotonic() + timeout
    last = sum(_worker_cpus(pid))
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(_worker_cpus(pid))
        if now - last < 0.05:
            break
        last = now
    return _worker_cpus(pid)


# --- complaint texts -----------------------------------------------------------------------------


def complaint_texts(n: int, seed: int = 7) -> list[str]:
    """Varied citizen texts (the router's seed corpus, every unit), each naming a ward, so
    that «Gửi» finds the ward in the text and submits at once when the contact is on file."""
    rng = random.Random(seed)
    with open(ROOT / "nlp" / "data" / "seed_corpus.csv", encoding="utf-8") as f:
        corpus = [r["text"] for r in csv.DictReader(f)]
    with open(ROOT / "nlp" / "data" / "wards.csv", encoding="utf-8") as f:
        wards = [r["full_name"] for r in csv.DictReader(f)]
    rng.shuffle(corpus)
    return [f"{corpus[i % len(corpus)]} Địa chỉ: {rng.choice(wards)}." for i in range(n)]


def phone_of(chat: int) -> str:
    return f"09{chat % 100_000_000:08d}"


# --- database setup --------------------------------------------------------------------------


def setup_database(url: str) -> list[tuple[int, str]]:
    """Schema, `hailong catalogue load`, one staff member per unit; the units (id, code)."""
    import sqlalchemy as sa

    from bench.webhook_bench import _migrate
    from storage import complaints as store
    from storage.db import make_engine, session_scope

    _migrate(url)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "hailong.cli", "catalogue", "load"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    engine = make_engine(url)
    with engine.connect() as conn:
        units = [(int(i), str(c)) for i, c in conn.execute(sa.text("SELECT id, code FROM unit"))]
    with session_scope(engine) as session:
        for uid, code in units:
            store.add_staff(
                session,
                name=f"Cán bộ {code}",
                unit_code=code,
                role="staff",
                telegram_id=STAFF_BASE + uid,
            )
    engine.dispose()
    return sorted(units)


# --- in-process preparation --------------------------------------------------------------------


class Citizens:
    """Drives chats through the real service in-process (batches of distinct chats)."""

    def __init__(self, url: str) -> None:
        from base.settings import Settings
        from hailong.app import conversation_service
        from storage.db import make_engine

        self.engine = make_engine(url)
        self.svc = conversation_service(
            Settings(database_url=url, link_secret="bench-" * 8), self.engine
        )
        self.n = 0
        self.prefix = f"prep-{uuid.uuid4().hex[:8]}-"  # message ids unique across instances
        self.texts = complaint_texts(4000)

    def text_of(self, chat: int) -> str:
        return self.texts[chat % len(self.texts)]

    def turns(self, items: Sequence[tuple[int, Any]], batch: int = 32) -> list[Any]:
        """One turn for each (chat, inbound), `batch` at a time; the outcomes."""
        from bot.service import TurnRequest

        out: list[Any] = []
        for first in range(0, len(items), batch):
            requests = []
            for chat, inbound in items[first : first + batch]:
                self.n += 1
                requests.append(
                    TurnRequest("telegram", str(chat), inbound, f"{self.prefix}{self.n}")
                )
            outcomes = self.svc.handle_many(requests)
            failed = [o for o in outcomes if isinstance(o, Exception)]
            if failed:
                raise RuntimeError(f"preparation turns failed: {failed[:3]}")
            out += outcomes
        return out

    def step(self, chats: Sequence[int], make: Callable[[int], Any]) -> list[Any]:
        return self.turns([(c, make(c)) for c in chats])

    def to_phone(self, chats: Sequence[int]) -> None:
        """New citizens: /phananh, consent, the text, «Gửi» (ward found in the text), consent
        to pass contact details on, the name: the phone number is their next message."""
        from bot import messages as msg
        from bot.engine import Inbound

        self.step(chats, lambda c: Inbound(text="/phananh"))
        self.step(chats, lambda c: Inbound(text="1"))
        self.step(chats, lambda c: Inbound(text=self.text_of(c)))
        self.step(chats, lambda c: Inbound(choice="pa:send"))
        self.step(chats, lambda c: Inbound(text="1"))
        outs = self.step(chats, lambda c: Inbound(text="Nguyễn Văn An"))
        bad = [c for c, o in zip(chats, outs, strict=True) if o.replies[-1].text != msg.ASK_PHONE]
        if bad:
            raise RuntimeError(f"{len(bad)} chats not at the phone question (first {bad[0]})")

    def submit_phone(self, chats: Sequence[int]) -> None:
        outs = self.step(chats, lambda c: _inbound_text(phone_of(c)))
        self._check_submitted(chats, outs)

    def to_send(self, chats: Sequence[int]) -> None:
        """Citizens with their contact on file: /phananh and the text; «Gửi» is next."""
        from bot.engine import Inbound

        self.step(chats, lambda c: Inbound(text="/phananh"))
        outs = self.step(chats, lambda c: Inbound(text=self.text_of(c)))
        bad = [
            c
            for c, o in zip(chats, outs, strict=True)
            if not any(b.payload == "pa:send" for b in o.replies[-1].buttons)
        ]
        if bad:
            raise RuntimeError(f"{len(bad)} drafts not ready to send (first {bad[0]})")

    def to_question(self, chats: Sequence[int]) -> None:
        """Survey chats: /start, consent, the first question answered: at question 2."""
        from bot.engine import Inbound

        for text in ("/start", "1", "1"):
            self.step(chats, lambda c, t=text: Inbound(text=t))  # type: ignore[misc]

    @staticmethod
    def _check_submitted(chats: Sequence[int], outs: Sequence[Any]) -> None:
        bad = [
            c
            for c, o in zip(chats, outs, strict=True)
            if not any(CODE.search(r.text) for r in o.replies)
        ]
        if bad:
            raise RuntimeError(f"{len(bad)} complaints not confirmed (first chat {bad[0]})")

    def close(self) -> None:
        self.engine.dispose()


def _inbound_text(text: str) -> Any:
    from bot.engine import Inbound

    return Inbound(text=text)


# --- update bodies --------------------------------------------------------------------------------


def text_update(update_id: int, chat: int, text: str) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Công dân"},
                "text": text,
            },
        }
    ).encode()


def send_press(update_id: int, chat: int) -> bytes:
    """The citizen presses «Gửi» under the draft's last message, as Telegram sends it."""
    keyboard = [
        [{"text": "Gửi", "callback_data": "pa:send"}],
        [{"text": "Huỷ", "callback_data": "pa:cancel"}],
    ]
    return json.dumps(
        {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{update_id}",
                "from": {"id": chat, "is_bot": False, "first_name": "Công dân"},
                "chat_instance": "ci",
                "data": "pa:send",
                "message": {
                    "message_id": 5_000_000 + update_id,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"},
                    "text": "Đã ghi nhận (120 ký tự, 0 ảnh). Gửi thêm nội dung, hoặc bấm «Gửi».",
                    "reply_markup": {"inline_keyboard": keyboard},
                },
            },
        }
    ).encode()


def group_message(update_id: int, chat: int, user: int, text: str) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "supergroup", "title": "Tổ xử lý phản ánh"},
                "from": {"id": user, "is_bot": False, "first_name": "Cán bộ"},
                "text": text,
            },
        }
    ).encode()


# --- load generation --------------------------------------------------------------------------


async def fire(
    url: str, items: Sequence[tuple[int, bytes]], rate: float, concurrency: int = CONCURRENCY
) -> list[tuple[int, float, float, float, int]]:
    """Open loop: item i is posted at t0 + i/rate whatever the answers before it. Returns
    (chat, scheduled, actually sent, answered, status) in monotonic seconds."""
    out: list[tuple[int, float, float, float, int]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {HEADER: SECRET, "content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        t0 = time.monotonic() + 0.2

        async def one(i: int, chat: int, body: bytes) -> None:
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent = time.monotonic()
            try:
                r = await client.post(url, content=body, headers=headers)
                status = r.status_code
            except httpx.HTTPError:
                status = -1
            out.append((chat, due, sent, time.monotonic(), status))

        await asyncio.gather(*(one(i, c, b) for i, (c, b) in enumerate(items)))
    return out


async def _post_all(url: str, bodies: Sequence[bytes], concurrency: int = 16) -> list[float]:
    """Post bodies, `concurrency` at a time, each on a new connection (so that both of a
    two-worker server's processes get some); their response times in seconds."""
    sem = asyncio.Semaphore(concurrency)
    headers = {HEADER: SECRET, "content-type": "application/json"}
    times: list[float] = []

    async def one(body: bytes) -> None:
        async with sem, httpx.AsyncClient(timeout=120) as client:
            t = time.monotonic()
            r = await client.post(url, content=body, headers=headers)
            times.append(time.monotonic() - t)
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

    await asyncio.gather(*(one(b) for b in bodies))
    return times


# --- a server session --------------------------------------------------------------------------


class Server:
    def __init__(self, mode: str, url: str, workers: int, bot_api: str, log: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_BASE_URL": bot_api + "/bot",
            "TELEGRAM_BOT_USERNAME": "hl_bot",
            "LINK_SECRET": "bench-" * 8,
        }
        if mode == "deployed":
            cmd = [sys.executable, "-m", "hailong.cli", "serve", "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--workers", str(workers)]
            cmd += ["--log-level", "warning", "--no-access-log"]
        else:
            cmd = [sys.executable, "-m", "bench.complaints_bench", "--serve-lifted"]
            cmd += [str(self.port), str(workers)]
        self.log = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            _taskset("0") + cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log
        )
        self.url = f"http://127.0.0.1:{self.port}/webhooks/telegram"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start")

    def cpu(self) -> float:
        return _cpu_of(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            import psutil

            for p in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            self.proc.kill()
            self.proc.wait(30)
        self.log.close()


_update_ids = iter(range(10_000_000, 10**12))


def link_groups(
    url: str, server: Server, units: Sequence[tuple[int, str]], fake: FakeClient
) -> int:
    """Every unit's group linked: `/lienket CODE` posted by its staff member. Returns how many."""
    from storage import complaints as store
    from storage.db import make_engine, session_scope
    from storage.types import utcnow

    engine = make_engine(url)
    codes = []
    with session_scope(engine) as session:
        for uid, _ in units:
            codes.append((uid, store.new_link_code(session, uid, utcnow(), timedelta(hours=2))))
    engine.dispose()
    bodies = [
        group_message(next(_update_ids), GROUP_BASE - uid, STAFF_BASE + uid, f"/lienket {code}")
        for uid, code in codes
    ]
    asyncio.run(_post_all(server.url, bodies))
    groups = {GROUP_BASE - uid for uid, _ in units}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        fake.poll()
        told = {chat for _, chat, _, _ in fake.events if chat in groups}
        if told >= groups:
            return len(groups)
        time.sleep(0.5)
    raise RuntimeError(f"only {len(told)} of {len(groups)} groups were told they are linked")


class PgSampler:
    """What the database's sessions are doing while a run posts: pg_stat_activity sampled
    every 50 ms (active sessions: their wait event and the start of their query)."""

    def __init__(self, url: str) -> None:
        import threading

        from storage.db import make_engine

        self.engine = make_engine(url)
        self.counts: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import sqlalchemy as sa

        query = sa.text(
            "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU'),"
            " left(regexp_replace(query, '\\s+', ' ', 'g'), 70)"
            " FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
            " AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self._stop.wait(0.05):
                rows = conn.execute(query).all()
                conn.rollback()
                self.samples += 1
                for wait, text in rows:
                    key = f"{wait} | {text}"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()
        top = sorted(self.counts.items(), key=lambda kv: -kv[1])[:8]
        return {
            "samples": self.samples,
            "active_sessions_mean": round(sum(self.counts.values()) / max(self.samples, 1), 2),
            "top_active (share of samples)": {
                k: round(v / max(self.samples, 1), 2) for k, v in top
            },
        }


def wait_for(
    fake: FakeClient,
    since: int,
    expect: Callable[[list[tuple[float, int, str, str]]], bool],
    timeout: float,
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        fake.poll()
        if expect(fake.events[since:]):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def complaint_run(
    label: str,
    server: Server,
    fake: FakeClient,
    engine: Any,
    chats: Sequence[int],
    body: Callable[[int, int], bytes],
    rate: float,
    drain_timeout: float,
) -> dict[str, Any]:
    """Post each chat's completing message at `rate`; per complaint, POST → card."""
    _wait_drained(engine, 120)
    fake.poll()
    since = len(fake.events)
    methods0 = fake.methods()
    pg0 = _postgres_cpu() if engine.dialect.name == "postgresql" else None
    sampler = (
        PgSampler(engine.url.render_as_string(hide_password=False)) if pg0 is not None else None
    )
    cpu0, t0, stat0 = server.cpu(), time.monotonic(), _cpu_stat()
    items = [(c, body(next(_update_ids), c)) for c in chats]
    posted = asyncio.run(fire(server.url, items, rate))
    cpu_posted, t_posted, machine_busy = server.cpu(), time.monotonic(), _cpu_busy(stat0)
    activity = sampler.stop() if sampler else None
    chat_set = set(chats)

    def all_cards(events: list[tuple[float, int, str, str]]) -> bool:
        codes = {code for _, chat, code, kind in events if kind == "confirm" and chat in chat_set}
        carded = {code for _, _, code, kind in events if kind == "card"}
        return len(codes) >= len(chat_set) and codes <= carded

    complete = wait_for(fake, since, all_cards, drain_timeout)
    drained_after = time.monotonic() - t_posted
    with contextlib.suppress(RuntimeError):
        _wait_drained(engine, 30 if complete else 1)
    cpu_end = server.cpu()
    pg_cpu = (_postgres_cpu() - pg0) if pg0 is not None else None
    events = fake.events[since:]
    code_of: dict[int, str] = {}
    confirm_at: dict[int, float] = {}
    for at, chat, code, kind in events:
        if kind == "confirm" and chat in chat_set and chat not in code_of:
            code_of[chat], confirm_at[chat] = code, at
    card_at: dict[str, float] = {}
    for at, _, code, kind in events:
        if kind == "card" and code not in card_at:
            card_at[code] = at
    to_card, to_confirm, responses, lag = [], [], [], []
    errors = 0
    for chat, due, sent, answered, status in posted:
        if status != 200:
            errors += 1
        responses.append(answered - due)
        lag.append(sent - due)
        if chat in confirm_at:
            to_confirm.append(confirm_at[chat] - due)
        got = code_of.get(chat)
        if got is not None and got in card_at:
            to_card.append(card_at[got] - due)
    missing = len(chats) - len(to_card)
    first, last = min(p[1] for p in posted), max(p[1] for p in posted)
    answered_last = max(p[3] for p in posted)
    n = len(chats)
    methods = {k: v - methods0.get(k, 0) for k, v in fake.methods().items()}
    result = {
        "run": label,
        "rate_target": rate,
        "complaints": n,
        "http_errors": errors,
        "posted_over_s": round(last - first, 2),
        "throughput_accepted_per_s": round(n / (answered_last - first), 1),
        "cards": len(to_card),
        "cards_missing": missing,
        "cards_throughput_per_s": round(len(to_card) / (max(card_at.values()) - first), 1)
        if card_at
        else 0,
        "last_message_to_card": _summary_ms(to_card),
        "last_message_to_confirmation": _summary_ms(to_confirm),
        "webhook_response": _summary_ms(responses),
        "generator_lag_max_ms": round(max(lag) * 1e3, 1),
        "all_cards_in_s_after_last_post": round(drained_after, 1) if complete else None,
        "server_cpu_ms_per_complaint": round((cpu_end - cpu0) / n * 1e3, 2),
        "server_cpu_busy_while_posting": round((cpu_posted - cpu0) / (t_posted - t0), 2),
        "machine_cpus_while_posting": machine_busy,
        "bot_api_calls": methods,
    }
    if pg_cpu is not None:
        result["postgres_cpu_ms_per_complaint"] = round(pg_cpu / n * 1e3, 2)
        result["postgres_activity_while_posting"] = activity
    if missing:
        result["note"] = f"{missing} cards not received within {drain_timeout:.0f} s"
    _log(f"  {label}: {_brief(result)}")
    return result


def survey_run(
    label: str,
    server: Server,
    fake: FakeClient,
    engine: Any,
    chats: Sequence[int],
    rate: float,
    drain_timeout: float,
) -> dict[str, Any]:
    """One survey answer per chat at `rate` (the webhook bench's "4"); POST → answer, and
    POST → the next question at the fake Bot API."""
    import sqlalchemy as sa

    _wait_drained(engine, 120)
    fake.poll()
    since = len(fake.events)
    with engine.connect() as conn:
        answers0 = int(conn.execute(sa.text("SELECT count(*) FROM answer")).scalar_one())
    pg0 = _postgres_cpu() if engine.dialect.name == "postgresql" else None
    cpu0, t0, stat0 = server.cpu(), time.monotonic(), _cpu_stat()
    items = [(c, text_update(next(_update_ids), c, "4")) for c in chats]
    posted = asyncio.run(fire(server.url, items, rate))
    cpu_posted, t_posted, machine_busy = server.cpu(), time.monotonic(), _cpu_busy(stat0)
    chat_set = set(chats)

    def all_replies(events: list[tuple[float, int, str, str]]) -> bool:
        return len({chat for _, chat, _, _ in events if chat in chat_set}) >= len(chat_set)

    complete = wait_for(fake, since, all_replies, drain_timeout)
    drained_after = time.monotonic() - t_posted
    with contextlib.suppress(RuntimeError):
        _wait_drained(engine, 30 if complete else 1)
    cpu_end = server.cpu()
    pg_cpu = (_postgres_cpu() - pg0) if pg0 is not None else None
    with engine.connect() as conn:
        stored = int(conn.execute(sa.text("SELECT count(*) FROM answer")).scalar_one()) - answers0
    reply_at: dict[int, float] = {}
    for at, chat, _, _ in fake.events[since:]:
        if chat in chat_set and chat not in reply_at:
            reply_at[chat] = at
    responses = [answered - due for _, due, _, answered, _ in posted]
    to_reply = [reply_at[c] - due for c, due, _, _, _ in posted if c in reply_at]
    n = len(chats)
    first = min(p[1] for p in posted)
    answered_last = max(p[3] for p in posted)
    result = {
        "run": label,
        "rate_target": rate,
        "answers": n,
        "answers_stored": stored,
        "http_errors": sum(1 for p in posted if p[4] != 200),
        "throughput_accepted_per_s": round(n / (answered_last - first), 1),
        "webhook_response": _summary_ms(responses),
        "answer_to_next_question": _summary_ms(to_reply),
        "all_replies_in_s_after_last_post": round(drained_after, 1) if complete else None,
        "server_cpu_ms_per_answer": round((cpu_end - cpu0) / n * 1e3, 2),
        "server_cpu_busy_while_posting": round((cpu_posted - cpu0) / (t_posted - t0), 2),
        "machine_cpus_while_posting": machine_busy,
    }
    if pg_cpu is not None:
        result["postgres_cpu_ms_per_answer"] = round(pg_cpu / n * 1e3, 2)
    if stored != n:
        result["note"] = f"{stored} answers stored for {n} requests"
    _log(f"  {label}: {_brief(result)}")
    return result


def _brief(r: dict[str, Any]) -> str:
    keys = (
        "throughput_accepted_per_s",
        "cards_throughput_per_s",
        "server_cpu_ms_per_complaint",
        "server_cpu_ms_per_answer",
        "server_cpu_busy_while_posting",
        "cards_missing",
    )
    parts = [f"{k}={r[k]}" for k in keys if k in r]
    for k in ("last_message_to_card", "webhook_response", "answer_to_next_question"):
        if k in r and r[k].get("n"):
            parts.append(f"{k} p50 {r[k]['p50_ms']} p99 {r[k]['p99_ms']} ms")
    return ", ".join(parts)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- in-process CPU per turn ----------------------------------------------------------------


def _bucket(filename: str) -> str:
    f = filename.replace("\\", "/")
    if any(k in f for k in ("/sklearn/", "/scipy/", "/numpy/", "/narwhals/", "/joblib/")):
        return "router: scikit-learn/SciPy/NumPy (+ narwhals, joblib)"
    if "/nlp/router.py" in f or "/nlp/model.py" in f or "/nlp/text.py" in f:
        return "router: nlp text pipeline (normalise, tokens)"
    if "/underthesea" in f or "/regex/" in f:
        return "router: nlp text pipeline (normalise, tokens)"
    if "/nlp/" in f:
        return "nlp: PII masking, wards"
    if any(k in f for k in ("/sqlalchemy/", "/sqlmodel/", "/psycopg", "sqlite3")):
        return "database: SQLAlchemy/SQLModel/driver (incl. waits)"
    if "/pydantic" in f:
        return "pydantic"
    if f.startswith(str(ROOT)) and "/.venv/" not in f:
        return "hailong code (engine, desk, service, storage, lifecycle)"
    if f == "~" or "{" in f:
        return "builtins (C calls: regex, json, DB driver C code...)"
    return "other Python libraries / stdlib"


def profile_summary(prof: cProfile.Profile, turns: int) -> dict[str, Any]:
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    buckets: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        b = _bucket(filename)
        buckets[b] = buckets.get(b, 0.0) + tottime
    wanted = {
        ("service.py", "_turns"),
        ("desk.py", "submit"),
        ("desk.py", "_route"),
        ("router.py", "route_many"),
        ("model.py", "predict_proba_prepared"),
        ("desk.py", "_render"),
        ("complaints.py", "unit_names"),
        ("complaints.py", "unit_by_code"),
        ("complaints.py", "next_number"),
        ("complaints.py", "contact_of"),
        ("complaints.py", "by_key"),
        ("complaints.py", "add_history"),
        ("complaints.py", "groups_of_unit"),
        ("desk.py", "card_payload"),
        ("pii.py", "mask_pii"),
        ("gazetteer.py", "detect"),
        ("core.py", "handle"),
        ("conversations.py", "write_batch"),
        ("conversations.py", "read_batch"),
        ("session.py", "flush"),
        ("session.py", "commit"),
        ("calibration.py", "predict_proba"),
        ("validation.py", "check_array"),
        ("text.py", "transform"),
    }
    cum: dict[str, float] = {}
    calls: dict[str, int] = {}
    for (filename, _, func), (_, ncalls, _, cumtime, _) in raw.items():
        key = (Path(filename).name, func)
        if key in wanted:
            name = f"{key[0]}:{func}"
            cum[name] = cum.get(name, 0.0) + cumtime
            calls[name] = calls.get(name, 0) + ncalls
    return {
        "profiled_turns": turns,
        "profiled_cpu_ms_per_turn": round(total / turns * 1e3, 2),
        "own_time_by_area_pct": {
            k: round(v / total * 100, 1) for k, v in sorted(buckets.items(), key=lambda x: -x[1])
        },
        "inclusive_ms_per_turn": {
            k: {"ms": round(v / turns * 1e3, 3), "calls_per_turn": round(calls[k] / turns, 1)}
            for k, v in sorted(cum.items(), key=lambda x: -x[1])
        },
        "note": "cProfile timed in thread CPU time; its own overhead inflates the totals "
        "(compare shares, not the absolute figure, with the unprofiled CPU per turn)",
    }


def inprocess(url: str, base: int, n: int, profile_n: int) -> dict[str, Any]:
    """CPU per turn (thread time), one turn per handle_many call as at a light load."""
    from bot.engine import Inbound
    from bot.service import TurnRequest

    cit = Citizens(url)
    pg = cit.engine.dialect.name == "postgresql"
    survey = list(range(base, base + n))
    send = list(range(base + n, base + 2 * n))
    phone = list(range(base + 2 * n, base + 3 * n))
    prof_chats = list(range(base + 3 * n, base + 3 * n + profile_n))
    warm = list(range(base + 3 * n + profile_n, base + 3 * n + profile_n + 8))
    t = time.monotonic()
    cit.to_question(survey)
    cit.to_phone(send + prof_chats + warm + phone)
    cit.submit_phone(send + prof_chats + warm)  # first complaint: contact now on file
    cit.to_send(send + prof_chats + warm)
    _mark_all_sent(cit.engine)
    _log(f"  in-process preparation: {time.monotonic() - t:.1f} s")
    cit.svc.keep_connections()
    ids = iter(range(1, 10**9))

    def one(chat: int, inbound: Any) -> None:
        out = cit.svc.handle_many([TurnRequest("telegram", str(chat), inbound, f"cpu{next(ids)}")])[
            0
        ]
        if isinstance(out, Exception):
            raise out

    for c in warm:  # router loaded, caches warm
        one(c, Inbound(choice="pa:send"))

    # The kinds are interleaved in blocks of 10 turns, so a slow stretch of this shared
    # machine weighs on each alike; each turn is timed in the thread's CPU time.
    router = cit.svc.desk.router
    kinds: dict[str, tuple[list[int], Callable[[int], Any]]] = {
        "survey_answer": (survey, lambda c: one(c, Inbound(text="4"))),
        "complaint_send": (send, lambda c: one(c, Inbound(choice="pa:send"))),
        "complaint_phone": (phone, lambda c: one(c, Inbound(text=phone_of(c)))),
        "router_route_alone": (send, lambda c: router.route(cit.text_of(c))),
    }
    cpu_of: dict[str, list[float]] = {k: [] for k in kinds}
    wall_of: dict[str, float] = dict.fromkeys(kinds, 0.0)
    pg_of: dict[str, float] = dict.fromkeys(kinds, 0.0)
    for first in range(0, n, 10):
        for kind, (chats, run) in kinds.items():
            pg0 = _postgres_cpu() if pg else 0.0
            wall = time.perf_counter()
            for c in chats[first : first + 10]:
                cpu = time.thread_time()
                run(c)
                cpu_of[kind].append(time.thread_time() - cpu)
            wall_of[kind] += time.perf_counter() - wall
            if pg:
                pg_of[kind] += _postgres_cpu() - pg0
    results: dict[str, Any] = {}
    for kind, cpus in cpu_of.items():
        results[kind] = {
            "turns": len(cpus),
            "cpu_us_per_turn": round(statistics.mean(cpus) * 1e6),
            "cpu_us_median": round(statistics.median(cpus) * 1e6),
            "wall_us_per_turn": round(wall_of[kind] / len(cpus) * 1e6),
        }
        if pg:
            results[kind]["postgres_cpu_us_per_turn"] = round(pg_of[kind] / len(cpus) * 1e6)
    from sqlalchemy import event

    statements: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(cit.engine, "before_cursor_execute", count)
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    for c in prof_chats:
        one(c, Inbound(choice="pa:send"))
    prof.disable()
    event.remove(cit.engine, "before_cursor_execute", count)
    # Through SQLAlchemy only: the batch's own statements go on the writer's raw connection.
    results["orm_statements_per_complaint_send"] = round(len(statements) / len(prof_chats), 1)
    cit.svc.release_connections()
    results["router_breakdown"] = router_breakdown(router, [cit.text_of(c) for c in send])
    survey_cpu = results["survey_answer"]["cpu_us_per_turn"]
    send_cpu = results["complaint_send"]["cpu_us_per_turn"]
    route_cpu = results["router_route_alone"]["cpu_us_per_turn"]
    results["ratios"] = {
        "complaint_send_vs_survey_answer": round(send_cpu / survey_cpu, 1),
        "complaint_phone_vs_survey_answer": round(
            results["complaint_phone"]["cpu_us_per_turn"] / survey_cpu, 1
        ),
        "router_alone_vs_survey_answer": round(route_cpu / survey_cpu, 1),
        "complaint_send_without_router_vs_survey_answer": round(
            (send_cpu - route_cpu) / survey_cpu, 1
        ),
        "router_share_of_complaint_send": round(route_cpu / send_cpu, 2),
    }
    results["profile_complaint_send"] = profile_summary(prof, len(prof_chats))
    cit.close()
    return results


def router_breakdown(router: Any, texts: Sequence[str]) -> dict[str, Any]:
    """Where router.route's time goes, and what the same arithmetic costs written directly
    (TF-IDF transforms, one sparse product with the SVM's coefficients, the 18 Platt
    sigmoids, normalised): checked to give the same probabilities. Bench-only: it reads the
    fitted scikit-learn objects, so a differently built model is reported, not measured."""
    try:
        import numpy as np

        from nlp.model import prepare
        from nlp.pii import mask_pii

        pipeline = router.model.pipeline
        columns, calibrated = pipeline.steps[0][1], pipeline.steps[-1][1]
        (_, accented, _), (_, bare, _) = columns.transformers_[:2]
        inner = calibrated.calibrated_classifiers_[0]
        coef = inner.estimator.coef_.T.copy()
        intercept = inner.estimator.intercept_
        a = np.array([c.a_ for c in inner.calibrators])
        b = np.array([c.b_ for c in inner.calibrators])
        split = len(accented.vocabulary_)
    except (AttributeError, IndexError, ValueError, TypeError) as exc:
        return {"skipped": f"model not of the expected shape: {exc!r}"}

    def direct(x: Any) -> Any:
        d = accented.transform(x[:, 0]) @ coef[:split] + bare.transform(x[:, 1]) @ coef[split:]
        p = 1.0 / (1.0 + np.exp(a * (d + intercept) + b))
        return p / p.sum(axis=1, keepdims=True)

    prepared = [prepare([mask_pii(t)], router.model.config) for t in texts]
    diff = max(float(np.abs(direct(x) - pipeline.predict_proba(x)).max()) for x in prepared)

    def us(fn: Callable[[Any], Any], items: Sequence[Any]) -> int:
        best = []
        for _ in range(3):
            cpu = time.thread_time()
            for x in items:
                fn(x)
            best.append((time.thread_time() - cpu) / len(items))
        return round(min(best) * 1e6)

    return {
        "calls": len(texts),
        "route_us": us(router.route, texts),
        "mask_pii_plus_prepare_us": us(
            lambda t: prepare([mask_pii(t)], router.model.config), texts
        ),
        "pipeline_predict_proba_us": us(pipeline.predict_proba, prepared),
        "tfidf_transforms_alone_us": us(
            lambda x: (accented.transform(x[:, 0]), bare.transform(x[:, 1])), prepared
        ),
        "direct_arithmetic_us": us(direct, prepared),
        "direct_max_abs_difference": diff,
    }


# --- the intake part, one database -------------------------------------------------------------


@dataclass
class IntakePlan:
    rate: float
    seconds: float
    low_rate: float
    modes: tuple[str, ...]
    warm: int
    cpu_turns: int
    profile_turns: int
    pin_postgres: bool = True

    @property
    def n(self) -> int:
        return int(self.rate * self.seconds)

    @property
    def n_low(self) -> int:
        return int(self.low_rate * self.seconds) if self.low_rate else 0


def intake(db: str, url: str, plan: IntakePlan, tmp: Path) -> dict[str, Any]:
    from storage.db import make_engine

    workers = 2 if db == "postgres" else 1
    units = setup_database(url)
    out: dict[str, Any] = {"db": db, "workers": workers, "units_with_groups": len(units)}
    _log(f"{db}: {len(units)} units; in-process CPU per turn")
    out["in_process"] = inprocess(url, CITIZEN_BASE, plan.cpu_turns, plan.profile_turns)
    _log(f"  {json.dumps(out['in_process']['ratios'])}")
    engine = make_engine(url)
    api_port = _free_port()
    api = subprocess.Popen(
        [
            *_taskset("1"),
            *(sys.executable, "-m", "uvicorn", "--factory", "bench.complaints_bench:fake_app"),
            *("--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"),
            "--no-access-log",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    bot_api = f"http://127.0.0.1:{api_port}"
    fake = FakeClient(bot_api)
    deadline = time.monotonic() + 30
    while True:
        try:
            fake.poll()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    next_chat = CITIZEN_BASE + 1_000_000
    linked = False
    try:
        for spec in plan.modes:
            mode, _, forced = spec.partition(":")
            if forced and (db == "sqlite" or int(forced) == workers):
                continue  # the same as the default session
            n, n_low = plan.n, (plan.n_low if spec == "deployed" else 0)
            chats = list(range(next_chat, next_chat + 2 * n + n_low + plan.warm + n))
            next_chat += len(chats) + 1000
            phone_chats = chats[:n]
            send_chats = chats[n : 2 * n]
            low_chats = chats[2 * n : 2 * n + n_low]
            warm_chats = chats[2 * n + n_low : 2 * n + n_low + plan.warm]
            survey_chats = chats[2 * n + n_low + plan.warm :]
            count = int(forced) if forced else workers
            label = f"{mode}, {count} worker{'s' if count > 1 else ''}"
            _log(f"{db} {label}: preparing {len(chats)} chats in-process")
            t = time.monotonic()
            cit = Citizens(url)
            cit.to_question(survey_chats)
            cit.to_phone(phone_chats + send_chats + low_chats + warm_chats)
            cit.submit_phone(send_chats + low_chats + warm_chats)
            cit.to_send(send_chats + low_chats + warm_chats)
            cit.close()
            _mark_all_sent(engine)
            prep = round(time.monotonic() - t, 1)
            _log(f"  prepared in {prep} s; starting the server")
            server = Server(mode, url, count, bot_api, tmp / f"server-{db}-{mode}-{count}.log")
            runs: list[dict[str, Any]] = []
            session: dict[str, Any] = {"mode": mode, "workers": count, "preparation_s": prep}
            try:
                if not linked:
                    t = time.monotonic()
                    session["groups_linked"] = link_groups(url, server, units, fake)
                    _wait_drained(engine, 120)
                    session["linking_s"] = round(time.monotonic() - t, 1)
                    linked = True
                # Start-up settles first (the router may load in the background), then
                # warm-up waves of 8 until every worker served some and a whole wave was
                # answered within a second (a worker still loading its router is slower).
                startup = _settle_cpu(server.proc.pid)
                base = _worker_cpus(server.proc.pid)
                waves: list[float] = []
                gained: list[float] = []
                for first in range(0, len(warm_chats), 8):
                    wave = warm_chats[first : first + 8]
                    bodies = [send_press(next(_update_ids), c) for c in wave]
                    waves.append(round(max(asyncio.run(_post_all(server.url, bodies))), 2))
                    now_cpu = _worker_cpus(server.proc.pid)
                    gained = [b - a for a, b in zip(base, now_cpu, strict=True)]
                    if len(waves) >= 2 and min(gained) >= 0.03 and waves[-1] < 1.0:
                        break
                session["warm_up"] = {
                    "worker_cpu_s_at_start_up": [round(c, 2) for c in startup],
                    "waves_slowest_response_s": waves,
                    "worker_cpu_s_gained": [round(g, 2) for g in gained],
                    "warm": min(gained) >= 0.03 and waves[-1] < 1.0,
                }
                _log(f"  warm-up: {session['warm_up']}")
                _wait_drained(engine, 120)
                if db == "postgres" and plan.pin_postgres:
                    from bench.webhook_bench import _pin_backends

                    if _two_cpus():
                        _pin_backends(url, "1")
                drain = 60 + 4 * n / 30
                runs.append(
                    complaint_run(
                        f"{label}: phone number completes the first complaint, {plan.rate:g}/s",
                        server,
                        fake,
                        engine,
                        phone_chats,
                        lambda uid, c: text_update(uid, c, phone_of(c)),
                        plan.rate,
                        drain,
                    )
                )
                runs.append(
                    complaint_run(
                        f"{label}: «Gửi» with contact on file, {plan.rate:g}/s",
                        server,
                        fake,
                        engine,
                        send_chats,
                        send_press,
                        plan.rate,
                        drain,
                    )
                )
                if low_chats:
                    runs.append(
                        complaint_run(
                            f"{label}: «Gửi» with contact on file, {plan.low_rate:g}/s",
                            server,
                            fake,
                            engine,
                            low_chats,
                            send_press,
                            plan.low_rate,
                            drain,
                        )
                    )
                runs.append(
                    survey_run(
                        f"{label}: survey answer, {plan.rate:g}/s",
                        server,
                        fake,
                        engine,
                        survey_chats,
                        plan.rate,
                        drain,
                    )
                )
            finally:
                server.stop()
            session["runs"] = runs
            out.setdefault("sessions", []).append(session)
    finally:
        api.terminate()
        api.wait(20)
        engine.dispose()
    return out


# --- the scheduler part ----------------------------------------------------------------------


def scheduler(db: str, url: str, rows: int, due: int) -> dict[str, Any]:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlmodel import Session

    from bench.webhook_bench import _migrate
    from bot.desk import ComplaintDesk
    from bot.scheduler import Scheduler
    from storage import complaints as store
    from storage.catalogue import load_catalogue, upsert_catalogue
    from storage.db import make_engine, session_scope
    from storage.models import Complaint, UnitGroup, table
    from storage.types import utcnow

    _migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    with engine.connect() as conn:
        units = [int(r[0]) for r in conn.execute(sa.text("SELECT id FROM unit ORDER BY id"))]
    with session_scope(engine) as session:
        for uid in units:  # every unit's group linked and a lead: reminders and escalations
            session.add(UnitGroup(chat_id=GROUP_BASE - uid, unit_id=uid, title="g"))
        session.flush()
        codes = {int(i): str(c) for i, c in session.execute(sa.text("SELECT id, code FROM unit"))}
        for uid in units:
            store.add_staff(
                session,
                name=f"Trưởng {codes[uid]}",
                unit_code=codes[uid],
                role="lead",
                telegram_id=STAFF_BASE + uid,
            )
    now = utcnow()
    t = table(Complaint)
    columns = [c.name for c in t.columns if c.name != "id"]
    rng = random.Random(11)
    span = (timedelta(days=30) - timedelta(days=2, hours=1)).total_seconds()

    def rows_iter() -> Iterator[dict[str, Any]]:
        for i in range(rows + due):
            if i < rows:  # open, not due: next check (the reminder) after now
                due_at = now + timedelta(days=2, hours=1, seconds=rng.random() * span)
                next_check, reminded = due_at - timedelta(days=2), False
            elif i < rows + due * 2 // 3:  # a reminder due now
                due_at = now + timedelta(days=1, seconds=rng.random() * 3600)
                next_check, reminded = due_at - timedelta(days=2), False
            else:  # overdue, reminded already: an escalation due now
                due_at = now - timedelta(hours=2, seconds=rng.random() * 3600)
                next_check, reminded = due_at + timedelta(seconds=1), True
            received = due_at - timedelta(days=10)
            year, seq = 2024 + i // 900_000, i % 900_000 + 1
            yield {
                "key": f"bench{i}",
                "code": f"PA-{year}-{seq:06d}",
                "year": year,
                "seq": seq,
                "status": "accepted",
                "track": "pakn",
                "anonymous": False,
                "origin": "chat",
                "unit_id": units[i % len(units)],
                "units_involved": [],
                "predicted_unit": None,
                "confidence": 0.9,
                "candidates": [],
                "routed_automatically": True,
                "ward_code": None,
                "ward_name": None,
                "dossier_id": None,
                "text": "Đèn đường hư",
                "masked_text": "Đèn đường hư",
                "answer_text": None,
                "citizen_id": None,
                "channel": None,
                "external_id": None,
                "contact_name": None,
                "contact_phone": None,
                "latitude": None,
                "longitude": None,
                "photos": [],
                "received_at": received,
                "due_at": due_at,
                "accepted_at": received + timedelta(hours=3),
                "answered_at": None,
                "closed_at": None,
                "rated_at": None,
                "satisfied": None,
                "reopened": 0,
                "transfers": 0,
                "reminded": reminded,
                "escalated": False,
                "triage_alarmed": False,
                "next_check_at": next_check,
                "card_outbox_id": None,
                "version": 0,
                "updated_at": received,
            }

    missing = set(columns) - set(next(rows_iter()))  # (extra keys: columns since dropped)
    if missing:
        raise RuntimeError(f"bench rows lack the columns {sorted(missing)}")
    _log(f"{db}: inserting {rows:,} + {due} complaints")
    t0 = time.perf_counter()
    if db == "postgres":
        raw = engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
            json_cols = {"units_involved", "candidates", "photos"}
            with cur.copy(f"COPY complaint ({', '.join(columns)}) FROM STDIN") as copy:
                for r in rows_iter():
                    copy.write_row([json.dumps(r[c]) if c in json_cols else r[c] for c in columns])
            raw.driver_connection.commit()  # type: ignore[union-attr]
        finally:
            raw.close()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE complaint")
    else:
        chunk: list[dict[str, Any]] = []
        with engine.begin() as conn:
            for r in rows_iter():
                chunk.append({c: r[c] for c in columns})
                if len(chunk) == 20_000:
                    conn.execute(t.insert(), chunk)
                    chunk = []
            if chunk:
                conn.execute(t.insert(), chunk)
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    insert_s = time.perf_counter() - t0
    _log(f"  inserted in {insert_s:.1f} s")
    with engine.connect() as conn:
        open_rows = int(conn.execute(sa.text("SELECT count(*) FROM complaint")).scalar_one())
        due_now = int(
            conn.execute(
                sa.text("SELECT count(*) FROM complaint WHERE next_check_at <= :now"),
                {"now": now.replace(tzinfo=None) if db == "sqlite" else now},
            ).scalar_one()
        )

    # The claim query exactly as sent (captured), then explained in a rolled-back transaction.
    captured: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if "next_check_at <=" in statement and "FROM complaint" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    check_now = utcnow()
    with Session(engine) as session:
        store.due_for_check(session, check_now, 200)
        session.rollback()
    event.remove(engine, "before_cursor_execute", grab)
    statement, params = captured[0]
    plans: dict[str, Any] = {"claim_sql": statement}
    with engine.connect() as conn:
        if db == "postgres":
            for name, settings in (
                ("as_sent", []),
                (
                    "index_scans_off_for_contrast",
                    ["SET LOCAL enable_indexscan = off", "SET LOCAL enable_bitmapscan = off"],
                ),
            ):
                tx = conn.begin()
                for s in settings:
                    conn.exec_driver_sql(s)
                lines = [
                    r[0]
                    for r in conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                    ).all()
                ]
                tx.rollback()
                plans[name] = lines
        else:
            plans["as_sent"] = [
                " ".join(str(x) for x in r)
                for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            ]
            conn.rollback()
            tx = conn.begin()
            t1 = time.perf_counter()
            n_claim = len(conn.exec_driver_sql(statement, params).all())
            plans["claim_ms"] = round((time.perf_counter() - t1) * 1e3, 2)
            plans["claim_rows"] = n_claim
            tx.rollback()
    queries: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        queries.append(statement)

    desk = ComplaintDesk(lambda: None)
    sched = Scheduler(engine, desk)
    event.listen(engine, "before_cursor_execute", count)
    with engine.connect() as conn:
        outbox0 = int(conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one())
    t1 = time.perf_counter()
    acted = sched.run_once()
    pass_s = time.perf_counter() - t1
    n_queries = len(queries)
    queries.clear()
    t2 = time.perf_counter()
    idle = sched.run_once()
    idle_s = time.perf_counter() - t2
    idle_queries = len(queries)
    event.remove(engine, "before_cursor_execute", count)
    with engine.connect() as conn:
        queued = int(conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()) - outbox0
        still_due = int(
            conn.execute(
                sa.text("SELECT count(*) FROM complaint WHERE next_check_at <= :now"),
                {"now": check_now.replace(tzinfo=None) if db == "sqlite" else check_now},
            ).scalar_one()
        )
    engine.dispose()
    result = {
        "db": db,
        "open_complaints": open_rows,
        "due_now": due_now,
        "insert_s": round(insert_s, 1),
        "run_once_s": round(pass_s, 3),
        "events_acted_on": acted,
        "ms_per_event": round(pass_s / max(acted, 1) * 1e3, 2),
        "statements_in_pass": n_queries,
        "statements_per_event": round(n_queries / max(acted, 1), 1),
        "outbox_messages_queued": queued,
        "still_due_after": still_due,
        "idle_pass_ms": round(idle_s * 1e3, 2),
        "idle_pass_events": idle,
        "idle_pass_statements": idle_queries,
        "plans": plans,
    }
    _log(
        f"  run_once {pass_s:.2f} s for {acted} events ({n_queries} statements); idle pass "
        f"{idle_s * 1e3:.1f} ms"
    )
    return result


# --- main --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (< 60 s)")
    parser.add_argument("--parts", default="intake,scheduler")
    parser.add_argument(
        "--db", help="sqlite, postgres or both (default: both; with --quick, sqlite)"
    )
    parser.add_argument(
        "--modes",
        default="deployed,lifted,deployed:1,lifted:1",
        help="server sessions: deployed and/or lifted (the sender's limits lifted); MODE:N"
        " forces N workers (PostgreSQL only: SQLite always has one)",
    )
    parser.add_argument("--rate", type=float, default=50.0, help="complaints per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each run posts")
    parser.add_argument(
        "--low-rate", type=float, default=10.0, help="a second, lower rate (0: none)"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="open complaints (scheduler)")
    parser.add_argument("--due", type=int, default=300, help="complaints due now (scheduler)")
    parser.add_argument("--sqlite-rows", type=int, default=0, help="rows on SQLite (0: --rows)")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1/postgres",
        help="admin URL; scratch databases are created and dropped",
    )
    parser.add_argument(
        "--out", type=Path, help="results JSON (default: bench/results/complaints.json)"
    )
    parser.add_argument(
        "--snapshot",
        nargs="?",
        const="HEAD",
        metavar="REV",
        help="run the code of a commit (default HEAD), exported with git archive to a temp dir,"
        " not the working tree others may be editing (this script is copied in as it is)",
    )
    parser.add_argument(
        "--postgres-backends",
        choices=("pinned", "free"),
        default="pinned",
        help="PostgreSQL's server processes pinned to CPU 1 with the load (default), or left"
        " to the scheduler",
    )
    parser.add_argument("--serve-lifted", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_lifted:
        _serve_lifted(*args.serve_lifted)
        return
    if args.snapshot:
        out = args.out or (None if args.quick else RESULTS)
        sys.exit(run_from_snapshot(args.snapshot, out))
    parts = set(args.parts.split(","))
    chosen = args.db or ("sqlite" if args.quick else "sqlite,postgres")
    dbs = [d for d in chosen.split(",") if d]
    if not parts <= {"intake", "scheduler"} or not set(dbs) <= {"sqlite", "postgres"}:
        parser.error("--parts: intake,scheduler; --db: sqlite,postgres")
    plan = IntakePlan(
        rate=args.rate,
        seconds=args.seconds,
        low_rate=args.low_rate,
        modes=tuple(m for m in args.modes.split(",") if m),
        warm=64,
        cpu_turns=300,
        profile_turns=150,
        pin_postgres=args.postgres_backends == "pinned",
    )
    rows, due = args.rows, args.due
    if args.quick:
        plan = IntakePlan(
            rate=10,
            seconds=2,
            low_rate=0,
            modes=("deployed",),
            warm=24,
            cpu_turns=20,
            profile_turns=10,
        )
        rows, due = 20_000, 30
    out_path = args.out or (None if args.quick else RESULTS)
    if _two_cpus():
        os.sched_setaffinity(0, {1})  # the load generator and the bench: CPU 1
    tmp = Path(tempfile.mkdtemp(prefix="hailong-complaints-"))
    kept_intake: list[dict[str, Any]] = []
    kept_scheduler: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": os.environ.get("HAILONG_BENCH_COMMAND")
        or " ".join([Path(sys.executable).name, *sys.argv]),
        "code": code_version(),
        "quick": args.quick,
    }
    if out_path and out_path.exists() and not args.quick:
        with contextlib.suppress(ValueError):
            previous = json.loads(out_path.read_text(encoding="utf-8"))
            # A run of one part, or of one database, keeps the others' recorded results
            # (each result says which code and date it is from).
            for key in ("intake", "scheduler"):
                if key in previous and key not in parts:
                    report[key] = previous[key]
            kept_intake = [
                r for r in previous.get("intake", {}).get("results", []) if r["db"] not in dbs
            ]
            kept_scheduler = [r for r in previous.get("scheduler", []) if r["db"] not in dbs]
    from bench.webhook_bench import _create_pg, _drop_pg

    def database(db: str, name: str) -> tuple[str, Callable[[], None]]:
        if db == "postgres":
            url = _create_pg(args.postgres)
            return url, lambda: _drop_pg(args.postgres, url)
        path = tmp / f"{name}.db"
        return f"sqlite:///{path}", lambda: None

    if "intake" in parts:
        report["intake"] = {
            "plan": {
                "rate": plan.rate,
                "seconds": plan.seconds,
                "low_rate": plan.low_rate,
                "modes": list(plan.modes),
                "concurrency": CONCURRENCY,
                "pinned": _two_cpus(),
                "postgres_backends": args.postgres_backends,
            },
            "results": list(kept_intake),
        }
        for db in dbs:
            url, drop = database(db, "intake")
            try:
                result = intake(db, url, plan, tmp)
                result["code"], result["date"] = report["code"], report["date"]
                report["intake"]["results"].append(result)
            finally:
                drop()
            _save(report, out_path)
    if "scheduler" in parts:
        report["scheduler"] = list(kept_scheduler)
        for db in dbs:
            small = db == "sqlite" and args.sqlite_rows and not args.quick
            n = args.sqlite_rows if small else rows
            url, drop = database(db, "scheduler")
            try:
                result = scheduler(db, url, n, due)
                result["code"], result["date"] = report["code"], report["date"]
                report["scheduler"].append(result)
            finally:
                drop()
            _save(report, out_path)
    print(json.dumps(report, indent=2, ensure_ascii=False))


def run_from_snapshot(rev: str, out: Path | None) -> int:
    """Export `rev` with git archive, copy this script in, and run it from there."""
    import shutil

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = Path(tempfile.mkdtemp(prefix="hailong-snapshot-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        (dest / "bench").mkdir(exist_ok=True)
        shutil.copy2(Path(__file__), dest / "bench" / "complaints_bench.py")
        argv: list[str] = []
        words, i = sys.argv[1:], 0
        while i < len(words):
            a = words[i]
            i += 1
            if a == "--out" or (a == "--snapshot" and i < len(words) and words[i] == rev):
                i += 1  # and its value (the output path is passed resolved, below)
            elif a != "--snapshot" and not a.startswith(("--snapshot=", "--out=")):
                argv.append(a)
        if out is not None:
            argv += ["--out", str(out.resolve())]
        env = {
            **os.environ,
            "HAILONG_BENCH_COMMIT": commit,
            "HAILONG_BENCH_COMMAND": " ".join([Path(sys.executable).name, *sys.argv]),
        }
        _log(f"running the code of {commit[:10]} from {dest}")
        script = dest / "bench" / "complaints_bench.py"
        return subprocess.run([sys.executable, str(script), *argv], env=env, cwd=dest).returncode
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def code_version() -> dict[str, Any]:
    commit = os.environ.get("HAILONG_BENCH_COMMIT")
    if commit:
        return {"commit": commit, "from": "git archive snapshot (--snapshot)"}
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    status = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", ".", ":!bench"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return {"commit": head, "from": "working tree", "files_changed_outside_bench": len(status)}


def _save(report: dict[str, Any], path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
