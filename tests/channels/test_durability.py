"""Crashes and concurrency: SIGKILL mid-survey, several sender workers on PostgreSQL, leases."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import messages as msg
from bot.engine.types import listed_once
from bot.sender import OutboxWorker, RateLimits
from storage import conversations, migrate, outbox
from storage.db import make_engine, session_scope
from storage.models import Answer, OutboxMessage, SurveyResponse, table
from storage.types import utcnow
from tests.channels.chat import SECRET, TelegramUser, settle
from tests.channels.fakes import FakeTelegram, free_port, serve, wait_for


def server_env(db_url: str, telegram_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": FakeTelegram.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_BASE_URL": f"{telegram_url}/bot",
        "LINK_SECRET": "test-link-secret-0123456789abcdef",
        "OUTBOX_LEASE_SECONDS": "2",
        "OUTBOX_RETRY_BASE_SECONDS": "0.05",
    }


@contextmanager
def server_process(env: dict[str, str], port: int, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`hailong serve`'s app in its own process, as production runs it."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "hailong.server:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=cwd,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 30, "the server to start")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def test_a_server_killed_mid_survey_resumes_without_losing_or_repeating(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram()
    port = free_port()
    with serve(fake.app()) as tg:
        env = server_env(sqlite_url, tg)
        citizen = TelegramUser(f"http://127.0.0.1:{port}", fake, 701)
        with server_process(env, port, tmp_path) as first:
            citizen.say("/start")
            settle(engine)
            citizen.press(msg.CONSENT_YES)
            settle(engine)
            citizen.press("Trực tuyến")
            settle(engine)
            citizen.press("Hài lòng")  # TCDV1 = 4 ("Rất hài lòng" is another button)
            last = citizen.say("5")  # TCDV2, committed; its replies may not be sent yet
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        with server_process(env, port, tmp_path):
            assert citizen.post(last).status_code == 200  # Telegram redelivers: ignored
            settle(engine)
            citizen.press("Rất hài lòng")  # TCDV3: the survey goes on where it was
            settle(engine)
            citizen.say("3")  # TCDV4
            settle(engine)
            citizen.press("Rất hài lòng")  # TCDV5 (asked: the service was online)
            settle(engine)
            citizen.say("dừng")
            settle(engine)
    a, r, o = table(Answer), table(SurveyResponse), table(OutboxMessage)
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(a.c.question_code, a.c.score)).all())
        status = conn.execute(sa.select(r.c.status)).scalar_one()
        queued = conn.execute(sa.select(o.c.payload, o.c.status).order_by(o.c.id)).all()
    engine.dispose()
    assert status == "in_progress" and msg.PAUSED in citizen.texts()[-1]
    assert [got[f"TCDV{i}"] for i in range(1, 6)] == [4, 5, 5, 3, 5]
    assert {s for _, s in queued} == {"sent"}
    # Nothing lost, nothing twice (as shown: the options' list is on the buttons).
    shown = [listed_once(p["text"], [b["label"] for b in p["buttons"]]) for p, _ in queued]
    assert citizen.texts() == shown


class RecordingTransport:
    """Sends nowhere; records which worker sent what, slowly, to provoke overlaps."""

    channel = "telegram"

    def __init__(self, name: str, log: list[tuple[str, str, int]]) -> None:
        self.name = name
        self.log = log

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        await asyncio.sleep(random.uniform(0, 0.004))
        self.log.append((self.name, recipient, int(payload["n"])))
        return None


def _enqueue(engine: Engine, chats: int, per_chat: int) -> None:
    with session_scope(engine) as s:
        for n in range(per_chat):
            for chat in range(chats):
                conversations.enqueue(
                    s, "telegram", f"c{chat}", {"text": "x", "buttons": [], "n": n}
                )


def test_one_worker_per_channel_sends_on_postgresql_and_another_takes_over(
    postgres_url: str,
) -> None:
    """Three processes' sender loops: one leads (Telegram's limits are per bot); when it
    stops mid-way a standby takes over; every message once, in order per chat."""
    setup = make_engine(postgres_url)
    migrate.upgrade(setup)
    _enqueue(setup, chats=25, per_chat=12)
    sent: list[tuple[str, str, int]] = []
    engines = [make_engine(postgres_url) for _ in range(3)]
    workers = [
        OutboxWorker(
            e,
            RecordingTransport(f"w{i}", sent),
            limits=RateLimits(per_second=10_000, per_chat_interval=0.001, per_chat_burst=100),
            batch=7,
            poll_interval=0.01,
            standby_interval=0.05,
        )
        for i, e in enumerate(engines)
    ]

    async def run() -> tuple[list[bool], str]:
        for w in workers:
            await w.start()
        while len(sent) < 100:
            await asyncio.sleep(0.01)
        leaders = [w.leading for w in workers]
        first = sent[0][0]
        await workers[int(first[1:])].stop()  # the leader goes mid-way
        while len(sent) < 300:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # anything sent twice would show up now
        for w in workers:
            await w.stop()
        return leaders, first

    leaders, first = asyncio.run(asyncio.wait_for(run(), 60))
    assert leaders.count(True) == 1 and leaders[int(first[1:])]
    assert len(sent) == 300
    assert len({(chat, n) for _, chat, n in sent}) == 300
    for chat in {c for _, c, _ in sent}:
        assert [n for _, c, n in sent if c == chat] == list(range(12))
    senders = list(dict.fromkeys(w for w, _, _ in sent))
    assert len(senders) == 2 and senders[0] == first  # one at a time: the leader, then one
    order = [w for w, _, _ in sent]
    assert sum(a != b for a, b in itertools.pairwise(order)) == 1  # never interleaved
    with setup.connect() as conn:
        statuses = conn.execute(sa.text("SELECT DISTINCT status FROM outbox")).scalars().all()
    assert statuses == ["sent"]
    for e in [setup, *engines]:
        e.dispose()


def test_a_crashed_workers_lease_expires_and_another_takes_over(engine: Engine) -> None:
    _enqueue(engine, chats=2, per_chat=2)
    now = utcnow()
    lease = timedelta(seconds=30)
    with session_scope(engine) as s:
        first = outbox.claim(s, "telegram", "dead-worker", now, lease, limit=3)
    assert [(p.recipient, p.payload["n"]) for p in first] == [("c0", 0), ("c1", 0), ("c0", 1)]
    with session_scope(engine) as s:
        # c0 and c1 are held; c1's second message must not overtake its leased first one.
        assert outbox.claim(s, "telegram", "other", now, lease, limit=10) == []
    with session_scope(engine) as s:
        later = outbox.claim(s, "telegram", "other", now + lease + timedelta(seconds=1), lease, 10)
    assert [(p.recipient, p.payload["n"]) for p in later] == [
        ("c0", 0),
        ("c1", 0),
        ("c0", 1),
        ("c1", 1),
    ]


def test_hailong_telegram_poll_answers_updates_and_set_webhook_sends_the_secret(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from base.settings import get_settings
    from hailong import channels_cli

    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram()
    citizen = TelegramUser("http://unused", fake, 801)
    fake.updates.append(citizen.text_update("/start"))
    with serve(fake.app()) as tg:
        for key, value in server_env(sqlite_url, tg).items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        try:
            channels_cli.set_webhook("https://example.org/webhooks/telegram")
            channels_cli.poll(timeout=0, max_seconds=1.5)
        finally:
            get_settings.cache_clear()
    hook = next(p for m, p in fake.calls if m == "setWebhook")
    assert hook["url"] == "https://example.org/webhooks/telegram" and hook["secret_token"] == SECRET
    assert "deleteWebhook" in fake.methods()
    assert citizen.texts()[0].startswith("Xin chào")
    engine.dispose()


def test_a_claim_reads_past_a_long_blocked_chat_to_the_messages_it_may_send(
    engine: Engine,
) -> None:
    """The claim walks pending messages a page at a time: a chat whose oldest message waits
    for a retry, with more than a page queued behind it, neither goes out of order nor
    hides the chats after it."""
    with session_scope(engine) as s:
        for n in range(250):
            conversations.enqueue(s, "telegram", "slow", {"text": "x", "buttons": [], "n": n})
        for n in range(3):
            conversations.enqueue(s, "telegram", "fast", {"text": "x", "buttons": [], "n": n})
    now = utcnow()
    with session_scope(engine) as s:
        first = outbox.claim(s, "telegram", "w", now, timedelta(seconds=30), limit=1)
        assert [(p.recipient, p.payload["n"]) for p in first] == [("slow", 0)]
        outbox.mark_failed(s, first[0], "HTTP 500", now, timedelta(minutes=5))
    with session_scope(engine) as s:
        got = outbox.claim(s, "telegram", "w", now, timedelta(seconds=30), limit=2)
    assert [(p.recipient, p.payload["n"]) for p in got] == [("fast", 0), ("fast", 1)]
