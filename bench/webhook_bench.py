"""Webhook benchmark: one survey answer per request (update in → state, answer, outbox committed).

Three servers, each under uvicorn pinned to CPU 0 (the load generator and a fake Bot API run
on CPU 1), all on loopback:

  bare     FastAPI endpoint that checks the secret header and parses the JSON (the ceiling)
  ptb      python-telegram-bot: Update.de_json + process_update + ConversationHandler with
           PicklePersistence (written once a minute) + one sendMessage to the fake Bot API
  hailong  `hailong serve`'s app: secret check, de-dup, state, answer and outbox committed;
           the outbox worker sends to the fake Bot API in the same process

All servers are started (and warmed up) first, then measured in turn, one wrk run each per
round, for --rounds rounds; a server not being measured is stopped (SIGSTOP), so it costs
nothing meanwhile. On a shared machine whose speed drifts by ±20% from minute to minute, a
slow stretch then slows one round of every target instead of one target's whole run: the
ratios are taken round by round (`ratios_by_round`: median, mean, min, max, and how many
rounds reached the PTB bot). Each target's reported figures are its median round.

Usage: .venv/bin/python bench/webhook_bench.py [--rounds 9] [--seconds 10] [--concurrency 32]
       [--postgres postgresql+psycopg://postgres@127.0.0.1/postgres]
Prints one JSON object (also written to bench/results/webhook.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from telegram import Update

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:BENCH"
SECRET = "bench-secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


# --- the servers (imported by uvicorn in the child processes) ----------------------------------


def bare_app() -> Any:
    """The ceiling: check the header, parse the JSON, answer."""
    import hmac

    app = FastAPI()

    @app.post("/webhooks/telegram")
    async def hook(request: Request) -> JSONResponse:
        if not hmac.compare_digest(request.headers.get(HEADER, ""), SECRET):
            return JSONResponse({}, status_code=403)
        json.loads(await request.body())
        return JSONResponse({"ok": True})

    return app


def fake_bot_api() -> Any:
    """Answers getMe and sendMessage, nothing else; GET /sent: how many messages so far (the
    bench checks that each bot really sends what it should)."""
    app = FastAPI()
    counter = iter(range(1, 10**9))
    sent = [0]

    @app.get("/sent")
    async def count() -> JSONResponse:
        return JSONResponse({"sent": sent[0]})

    @app.post("/bot{token}/{method}")
    async def call(token: str, method: str, request: Request) -> JSONResponse:
        await request.body()
        if method == "getMe":
            return JSONResponse(
                {
                    "ok": True,
                    "result": {"id": 1, "is_bot": True, "first_name": "b", "username": "b"},
                }
            )
        sent[0] += 1
        return JSONResponse(
            {
                "ok": True,
                "result": {
                    "message_id": next(counter),
                    "date": int(time.time()),
                    "chat": {"id": 1, "type": "private"},
                    "text": "",
                },
            }
        )

    return app


SURVEY_QUESTIONS = 22  # as wrk's script walks the SIPAS survey: a chat's answers stay bounded


def ptb_app() -> Any:
    """What a developer would otherwise write: ConversationHandler + PicklePersistence, the
    next question sent with sendMessage. With BENCH_PTB_SEND=0 the reply is only kept (a
    stricter reference: the framework's conversation step without its HTTP call). GET
    /handled counts the answers the handlers took, which the bench checks."""
    from contextlib import asynccontextmanager

    from telegram.ext import (
        ApplicationBuilder,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        PicklePersistence,
        filters,
    )

    asking = 0
    send = os.environ.get("BENCH_PTB_SEND", "1") == "1"
    handled = [0]

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
        if send:
            await context.bot.send_message(update.effective_chat.id, text)  # type: ignore[union-attr]
        else:
            context.user_data["reply"] = text  # type: ignore[index]

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        context.user_data["answers"] = []  # type: ignore[index]
        await reply(update, context, "Câu 1")
        return asking

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        answers = context.user_data.setdefault("answers", [])  # type: ignore[union-attr]
        answers.append(update.message.text)  # type: ignore[union-attr]
        handled[0] += 1
        if len(answers) == SURVEY_QUESTIONS:  # the survey is over: the next one starts afresh
            context.user_data["answers"] = []  # type: ignore[index]
        await reply(update, context, f"Câu {len(answers) % SURVEY_QUESTIONS + 1}")
        return asking

    persistence = PicklePersistence(os.environ["BENCH_PICKLE"], update_interval=60)
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(os.environ["BENCH_BOT_API"] + "/bot")
        .updater(None)
        .persistence(persistence)
        .build()
    )
    application.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={asking: [MessageHandler(filters.TEXT & ~filters.COMMAND, answer)]},
            fallbacks=[],
            name="survey",
            persistent=True,
        )
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        async with application:
            await application.start()
            yield
            await application.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/handled")
    async def count() -> JSONResponse:
        return JSONResponse({"handled": handled[0]})

    @app.post("/webhooks/telegram")
    async def hook(request: Request) -> JSONResponse:
        import hmac

        if not hmac.compare_digest(request.headers.get(HEADER, ""), SECRET):
            return JSONResponse({}, status_code=403)
        update = Update.de_json(json.loads(await request.body()), application.bot)
        await application.process_update(update)
        return JSONResponse({"ok": True})

    return app


# --- load generation ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HAILONG = "hailong serve"  # the app as deployed: `hailong serve`, not a bare uvicorn command


def _spawn(factory: str, port: int, env: dict[str, str], cpu: str, workers: int = 1) -> Any:
    """Start a server pinned to `cpu`; every target logs alike (warnings, no access log)."""
    cmd = ["taskset", "-c", cpu, sys.executable]
    if factory == HAILONG:
        cmd += ["-m", "hailong.cli", "serve"]
    else:
        cmd += ["-m", "uvicorn", "--factory", factory, "--no-access-log"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    if factory == HAILONG:
        cmd += ["--no-access-log"]
    proc = subprocess.Popen(cmd, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{factory} did not start")


def _update(n: int, chat: int, text: str) -> bytes:
    message: dict[str, Any] = {
        "message_id": n,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "B"},
        "text": text,
    }
    if text.startswith("/"):  # as Telegram sends a command: PTB's CommandHandler needs it
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return json.dumps({"update_id": n, "message": message}).encode()


async def _drive(url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    """Post the bodies in order of chats (one in flight per chat); latencies in seconds."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                r = await client.post(
                    url, content=body, headers={HEADER: SECRET, "content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _rounds(chats: int, answers: int, start_id: int, texts: list[str]) -> list[bytes]:
    """Round-robin over chats, so the same chat is rarely hit twice at once."""
    bodies, n = [], start_id
    for text in texts[:answers]:
        for chat in range(chats):
            n += 1
            bodies.append(_update(n, 10_000 + chat, text))
    return bodies


WRK_SCRIPT = """
-- One survey answer per request: unique update_ids, chats taken round-robin. Request `id`
-- is message number floor((id-1)/chats) of chat (id-1) % chats, as in the warm-up (_rounds):
-- 0 "/start", 1 "1" (consent), then a cycle of 23: "1" answers question 1, "4" answers
-- questions 2-22, and "1" at the menu that follows the thanks starts the next survey. So 22
-- of 23 requests answer a question however long the run, instead of chats finishing their
-- survey and every later "4" re-showing the menu.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
-- How many requests were sent (answered or not): the next run goes on from there, so that
-- every chat's messages stay in order.
function done(summary, latency, requests)
  local sent = 0
  for _, thread in ipairs(threads) do sent = sent + thread:get("n") end
  io.write(string.format("sent: %d\\n", sent))
end
function init(args)
  base = tonumber(args[1]); chats = tonumber(args[2]); nthreads = tonumber(args[3]); n = 0
  headers = {["Content-Type"] = "application/json", ["HEADER_NAME"] = "SECRET_VALUE"}
end
function request()
  local id = base + n * nthreads + tid
  n = n + 1
  local chat = 10000 + ((id - 1) % chats)
  local step = math.floor((id - 1) / chats)
  local text = "4"
  if step == 0 then
    text = "/start"
  elseif step == 1 then
    text = "1"
  else
    local pos = (step - 2) % 23
    if pos == 0 or pos == 22 then text = "1" end
  end
  local entities = ""  -- a command carries its entity, as Telegram sends it
  if text == "/start" then
    entities = ',"entities":[{"type":"bot_command","offset":0,"length":6}]'
  end
  local body = string.format('{"update_id":%d,"message":{"message_id":%d,"date":%d,' ..
    '"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"B"},' ..
    '"text":"%s"%s}}', id, id, os.time(), chat, chat, text, entities)
  return wrk.format("POST", nil, headers, body)
end
""".replace("HEADER_NAME", HEADER).replace("SECRET_VALUE", SECRET)


def _drive_wrk(url: str, base: int, chats: int, concurrency: int, seconds: int) -> dict[str, float]:
    """wrk (C, on CPU 1) as the load generator: the Python client caps near 250 req/s."""
    script = Path(tempfile.mkdtemp(prefix="hailong-wrk-")) / "answer.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency"]
    cmd += ["-s", str(script), url, "--", str(base), str(chats), "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)
    text = out.stdout
    if "Non-2xx" in text:
        raise RuntimeError(f"non-2xx answers under load:\n{text}")
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def percentile(p: str) -> float:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == p:
                value = parts[1].rstrip("usm")
                unit = parts[1][len(value) :]
                return round(float(value) * units[unit], 2)
        raise RuntimeError(f"no {p} latency in wrk output:\n{text}")

    requests = int(next(ln.split()[0] for ln in text.splitlines() if "requests in" in ln))
    sent = int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("sent:")))
    rate = float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("Requests/sec")))
    return {
        "requests": requests,
        "sent": sent,
        "req_per_s": rate,
        "p50_ms": percentile("50%"),
        "p99_ms": percentile("99%"),
    }


def run_target(
    name: str,
    factory: str,
    env: dict[str, str],
    requests: int,
    concurrency: int,
    workers: int = 1,
    seconds: int = 0,
    profile: Path | None = None,
) -> dict[str, Any]:
    port = _free_port()
    proc = _spawn(factory, port, env, "0", workers)
    url = f"http://127.0.0.1:{port}/webhooks/telegram"
    chats = max(concurrency * 4, 64) if not seconds else 512
    answers = max(1, requests // chats)
    try:
        # Warm-up (not measured): start, consent, first single-choice question.
        warm = _rounds(chats, 3, 0, ["/start", "1", "1"])
        asyncio.run(_drive(url, warm, concurrency))
        if "DATABASE_URL" in env and env["DATABASE_URL"].startswith("postgresql"):
            _pin_backends(env["DATABASE_URL"], "1")
        if seconds:
            db = env.get("DATABASE_URL")
            before = _count_answers(db) if db else 0
            spy = _py_spy(proc.pid, profile / f"{name}.txt", seconds) if profile else None
            measured = _drive_wrk(url, len(warm) + 1, chats, concurrency, seconds)
            if spy is not None:
                spy.wait(60)
            if db:  # what was measured really were survey answers, committed
                measured["answers_stored"] = _count_answers(db) - before
            return {"target": name, "workers": workers, "load": "wrk", **measured}
        bodies = _rounds(chats, answers, len(warm), ["4"] * answers)
        t0 = time.perf_counter()
        lat = asyncio.run(_drive(url, bodies, concurrency))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(20)
    lat.sort()
    return {
        "target": name,
        "workers": workers,
        "requests": len(lat),
        "req_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
    }


class Running:
    """A server started, warmed up and stopped (SIGSTOP) until its turn to be measured."""

    def __init__(
        self, name: str, factory: str, env: dict[str, str], workers: int, concurrency: int
    ) -> None:
        self.name, self.env, self.workers = name, env, workers
        self.port = _free_port()
        self.proc = _spawn(factory, self.port, env, "0", workers)
        self.url = f"http://127.0.0.1:{self.port}/webhooks/telegram"
        self.chats = 512
        # Warm-up (not measured): start, consent, first single-choice question.
        warm = _rounds(self.chats, 3, 0, ["/start", "1", "1"])
        asyncio.run(_drive(self.url, warm, concurrency))
        self.next_id = len(warm) + 1
        db = env.get("DATABASE_URL", "")
        self.db = db or None
        if db.startswith("postgresql"):
            _pin_backends(db, "1")
        self._signal(signal.SIGSTOP)

    def _signal(self, sig: int) -> None:
        import psutil

        for p in [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)

    def measure(
        self, concurrency: int, seconds: int, profile: Path | None, bot_api: str
    ) -> dict[str, Any]:
        """One wrk run against this server, the others stopped meanwhile."""
        before = _count_answers(self.db) if self.db else 0
        messages = _messages_sent(bot_api)
        self._signal(signal.SIGCONT)
        try:
            time.sleep(0.5)  # let the processes settle after waking up
            handled = self._handled()
            spy = None
            if profile is not None:
                spy = _py_spy(self.proc.pid, profile / f"{self.name}.txt", seconds)
            measured = _drive_wrk(self.url, self.next_id, self.chats, concurrency, seconds)
            if spy is not None:
                spy.wait(60)
            time.sleep(0.5)  # the requests wrk left unanswered finish
            handled = self._handled() - handled
        finally:
            self._signal(signal.SIGSTOP)
        self.next_id += int(measured.pop("sent"))  # those unanswered at the end included
        if self.db:  # what was measured really were survey answers, committed
            measured["answers_stored"] = _count_answers(self.db) - before
        measured["messages_sent"] = _messages_sent(bot_api) - messages
        if self.name.startswith("ptb"):  # its handlers ran, or it is not the reference meant
            measured["answers_handled"] = handled
            if handled < 0.9 * measured["requests"]:
                raise RuntimeError(
                    f"{self.name} handled {handled} answers of {measured['requests']} updates"
                )
        return measured

    def _handled(self) -> int:
        """Answers the PTB bot's handlers took so far (while it runs)."""
        if not self.name.startswith("ptb"):
            return 0
        url = f"http://127.0.0.1:{self.port}/handled"
        return int(httpx.get(url, timeout=60).json()["handled"])

    def stop(self) -> None:
        self._signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # a slow shutdown must not lose the results
            self._signal(signal.SIGKILL)
            self.proc.wait(30)


def interleaved(
    targets: list[tuple[str, str, dict[str, str], int]],
    concurrency: int,
    seconds: int,
    rounds: int,
    profile: Path | None,
    bot_api: str,
) -> list[dict[str, Any]]:
    """Every target measured once a round, in turn, for `rounds` rounds, all servers kept
    running (stopped while not measured): a slow stretch of a shared machine then slows every
    target's run of that round, not one target's whole measurement. Each target's figures
    are its median round; `by_round` keeps every round's req/s."""
    running: list[Running] = []
    try:
        for name, factory, env, workers in targets:
            running.append(Running(name, factory, env, workers, concurrency))
        runs: dict[str, list[dict[str, Any]]] = {r.name: [] for r in running}
        for n in range(rounds):
            for r in running:
                first = profile if n == 0 and r.name.startswith("hailong") else None
                runs[r.name].append(r.measure(concurrency, seconds, first, bot_api))
            print(
                f"round {n + 1}/{rounds}: "
                + ", ".join(f"{k} {v[-1]['req_per_s']:.0f}" for k, v in runs.items()),
                file=sys.stderr,
                flush=True,
            )
    finally:
        for r in running:
            r.stop()
    results = []
    for r in running:
        rates = [m["req_per_s"] for m in runs[r.name]]
        median = sorted(runs[r.name], key=lambda m: m["req_per_s"])[len(rates) // 2]
        result = {"target": r.name, "workers": r.workers, "load": "wrk", **median}
        result["by_round"] = rates
        if r.db:
            result["answers_stored"] = sum(m["answers_stored"] for m in runs[r.name])
        result["requests_all_rounds"] = sum(m["requests"] for m in runs[r.name])
        result["messages_sent_all_rounds"] = sum(m["messages_sent"] for m in runs[r.name])
        results.append(result)
    return results


def _round_ratios(mine: list[float], ptb: list[float]) -> dict[str, Any]:
    ratios = [a / b for a, b in zip(mine, ptb, strict=True)]
    return {
        "median": round(statistics.median(ratios), 2),
        "mean": round(statistics.mean(ratios), 2),
        "min": round(min(ratios), 2),
        "max": round(max(ratios), 2),
        "rounds_at_least_1": f"{sum(x >= 1 for x in ratios)}/{len(ratios)}",
    }


def _messages_sent(bot_api: str) -> int:
    return int(httpx.get(f"{bot_api}/sent", timeout=10).json()["sent"])


def _count_answers(url: str) -> int:
    import sqlalchemy as sa

    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(sa.text("SELECT count(*) FROM answer")).scalar_one())
    engine.dispose()
    return n


def _pin_backends(url: str, cpu: str) -> None:
    """Keep the database's server processes off the server's CPU, like wrk and the fake API:
    left to the scheduler they sometimes ran on CPU 0, taking up to 10% of it."""
    import sqlalchemy as sa

    from storage.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        for pid in pids:
            subprocess.run(["taskset", "-pc", cpu, str(pid)], capture_output=True, check=False)
    engine.dispose()


def _py_spy(pid: int, out: Path, seconds: int) -> Any:
    """Sample the server (and its worker processes) while wrk runs: collapsed stacks."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
    cmd += ["--duration", str(seconds), "--rate", "200", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


ALL_TARGETS = {"bare", "ptb", "ptb-nosend", "sqlite", "postgres"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default="", help="admin URL; adds hailong on PostgreSQL")
    parser.add_argument(
        "--seconds", type=int, default=10, help="wrk run length (0: the Python client instead)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=9,
        help="wrk runs per target, interleaved (each target once a round)",
    )
    parser.add_argument(
        "--targets",
        default="bare,ptb,ptb-nosend,sqlite,postgres",
        help="comma-separated subset of bare, ptb, ptb-nosend, sqlite, postgres (postgres needs"
        " --postgres)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the hailong servers into DIR (collapsed stacks)"
    )
    args = parser.parse_args()
    targets = set(args.targets.split(","))
    if not targets <= ALL_TARGETS:
        parser.error(f"unknown target in --targets {args.targets!r}")
    if args.profile and shutil.which("py-spy") is None:
        parser.error("py-spy is not installed (pip install py-spy)")
    if args.rounds < 1 or args.seconds < 0:
        parser.error("--rounds must be at least 1 and --seconds not negative")
    if args.seconds and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk), or pass --seconds 0")
    answers_cap = 15  # likert questions in a row in the SIPAS questionnaire
    chats = max(args.concurrency * 4, 64)
    requests = min(args.requests, chats * answers_cap)

    tmp = Path(tempfile.mkdtemp(prefix="hailong-bench-"))
    api_port = _free_port()
    api = _spawn("bench.webhook_bench:fake_bot_api", api_port, {}, "1")
    bot_api = f"http://127.0.0.1:{api_port}"
    common = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_BASE_URL": bot_api + "/bot",
        "LINK_SECRET": "bench-" * 8,
    }
    chosen: list[tuple[str, str, dict[str, str], int]] = []
    if "bare" in targets:
        chosen.append(("bare", "bench.webhook_bench:bare_app", {}, 1))
    if "ptb" in targets:
        ptb_env = {"BENCH_PICKLE": str(tmp / "ptb.pickle"), "BENCH_BOT_API": bot_api}
        chosen.append(("ptb", "bench.webhook_bench:ptb_app", ptb_env, 1))
    if "ptb-nosend" in targets:
        quiet = {"BENCH_PICKLE": str(tmp / "ptb-nosend.pickle"), "BENCH_BOT_API": bot_api}
        chosen.append(
            ("ptb-nosend", "bench.webhook_bench:ptb_app", {**quiet, "BENCH_PTB_SEND": "0"}, 1)
        )
    if "sqlite" in targets:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        _migrate(sqlite_url)
        chosen.append(("hailong-sqlite", HAILONG, {**common, "DATABASE_URL": sqlite_url}, 1))
    pg = ""
    results: list[dict[str, Any]] = []
    try:
        if "postgres" in targets and args.postgres:
            pg = _create_pg(args.postgres)
            _migrate(pg)
            chosen.append(("hailong-postgres", HAILONG, {**common, "DATABASE_URL": pg}, 2))
        if args.seconds:
            results = interleaved(
                chosen, args.concurrency, args.seconds, args.rounds, args.profile, bot_api
            )
        else:
            for name, factory, env, workers in chosen:
                results.append(
                    run_target(
                        name,
                        factory,
                        env,
                        requests,
                        args.concurrency,
                        workers=workers,
                        profile=args.profile,
                    )
                )
    finally:
        api.terminate()
        api.wait(20)
        if pg:
            _drop_pg(args.postgres, pg)
    by = {r["target"]: r for r in results}
    ratios: dict[str, float] = {}
    rounds: dict[str, dict[str, Any]] = {}
    for ref in ("ptb", "ptb-nosend"):
        if ref not in by:
            continue
        for k, r in by.items():
            if k.startswith("hailong") or (k == "bare" and ref == "ptb"):
                ratios[f"{k}_vs_{ref}"] = round(r["req_per_s"] / by[ref]["req_per_s"], 2)
                if "by_round" in r:
                    rounds[f"{k}_vs_{ref}"] = _round_ratios(r["by_round"], by[ref]["by_round"])
    out = {
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": args.rounds if args.seconds else 1,
        "results": results,
        "ratios": ratios,
        "ratios_by_round": rounds,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if targets != ALL_TARGETS:
        return  # a partial run does not replace the recorded results
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "webhook.json").write_text(text + "\n", encoding="utf-8")


def _migrate(url: str) -> None:
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def _drop_pg(admin_url: str, url: str) -> None:
    import sqlalchemy as sa

    from storage.db import make_engine

    name = make_engine(url).url.database
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _create_pg(admin_url: str) -> str:
    import sqlalchemy as sa

    from storage.db import make_engine

    name = f"hailong_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_engine(admin_url).url.set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
