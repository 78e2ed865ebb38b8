"""Zalo's reply window and quota (issue 14: 17): 7 days after the user's last interaction,
the first 8 replies within 48 h free, the paid quota after that (or nothing, when it is off).
The real transport and outbox worker send to FakeZalo over HTTP under a controlled clock; the
rule each message went under is in its outbox row and in the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot.channels.zalo import TEXT_MAX, ReplyRule, ZaloTransport, reply_rule, store_tokens
from bot.sender import OutboxWorker, RateLimits
from storage import chats
from storage.conversations import enqueue
from storage.db import session_scope
from storage.models import OutboxMessage, table
from storage.types import utcnow
from tests.channels.fakes import FakeZalo, serve
from tests.channels.test_zalo import zalo_settings

H = timedelta(hours=1)
D = timedelta(days=1)
NO_PACING = RateLimits(per_second=1000, per_chat_interval=0.001, per_chat_burst=100, tick=0)


@dataclass
class Oa:
    engine: Engine
    fake: FakeZalo
    url: str
    db_url: str

    def settings(self, **extra: Any) -> Settings:
        return zalo_settings(self.db_url, self.url, **extra)

    def user(self, user_id: str, last_interaction: datetime, texts: list[str]) -> None:
        with session_scope(self.engine) as session:
            chats.touch_contact(session, "zalo", user_id, last_interaction)
            for text in texts:
                enqueue(session, "zalo", user_id, {"text": text, "buttons": []})

    def deliver(self, now: datetime, **extra: Any) -> None:
        """Send everything due as the OA's worker would, the clock standing at `now`."""
        settings = self.settings(**extra)

        async def run() -> None:
            transport = ZaloTransport(settings, self.engine, clock=lambda: now)
            worker = OutboxWorker(
                self.engine, transport, limits=NO_PACING, clock=lambda: now, max_attempts=1
            )
            try:
                while (await worker.deliver_once()).done:
                    pass
            finally:
                await transport.close()

        asyncio.run(run())

    def rows(self, user_id: str) -> list[tuple[str, str, str]]:
        t = table(OutboxMessage)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.payload, t.c.status, t.c.last_error)
                .where(t.c.recipient == user_id)
                .order_by(t.c.id)
            ).all()
        return [(r.payload["text"], r.status, r.last_error or "") for r in rows]

    def texts(self, user_id: str) -> list[str]:
        return [m["message"]["text"] for m in self.fake.sent(user_id)]


@pytest.fixture
def oa(engine: Engine, db_url: str) -> Iterator[Oa]:
    fake = FakeZalo()
    with serve(fake.app()) as url:
        store_tokens(
            engine, zalo_settings(db_url, url), fake.access_token, fake.refresh_token, 90000
        )
        yield Oa(engine, fake, url, db_url)


def clock() -> datetime:
    """A moment just ahead of the real clock, so rows queued now are due."""
    return utcnow() + timedelta(minutes=1)


def test_the_eighth_reply_within_48_hours_is_free_the_ninth_needs_the_paid_quota(
    oa: Oa, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock()
    nine = [f"tin {i}" for i in range(1, 10)]
    oa.user("u-off", now - 47 * H, nine)
    with caplog.at_level(logging.INFO, logger="bot.channels.zalo"):
        oa.deliver(now, zalo_use_paid_quota=False)
    assert oa.texts("u-off") == nine[:8]
    rows = oa.rows("u-off")
    assert [r[1] for r in rows] == ["sent"] * 8 + ["dead"]
    assert "zalo rule: free reply (8 of 8 within 48 h" in rows[7][2]
    assert rows[8][2].startswith("zalo rule: refused: paid quota off")
    assert "zalo rule: refused: paid quota off" in caplog.text
    assert "zalo rule: free reply (1 of 8" in caplog.text

    oa.user("u-paid", now - 47 * H, nine)
    oa.deliver(now, zalo_use_paid_quota=True)
    assert oa.texts("u-paid") == nine
    rows = oa.rows("u-paid")
    assert [r[1] for r in rows] == ["sent"] * 9
    assert rows[7][2].startswith("zalo rule: free reply (8 of 8")
    assert rows[8][2].startswith("zalo rule: paid quota (8 sent since")


def test_a_reply_at_6_days_23_hours_goes_at_7_days_1_hour_it_is_dead_lettered(oa: Oa) -> None:
    now = clock()
    oa.user("u-6d23h", now - (6 * D + 23 * H), ["Đơn vị đã trả lời phản ánh của bạn."])
    oa.user("u-7d1h", now - (7 * D + 1 * H), ["Đơn vị đã trả lời phản ánh của bạn."])
    oa.deliver(now)
    assert oa.texts("u-6d23h") == ["Đơn vị đã trả lời phản ánh của bạn."]
    assert oa.texts("u-7d1h") == []  # never reached Zalo
    [(_, status, rule)] = oa.rows("u-6d23h")
    assert status == "sent" and rule.startswith("zalo rule: paid quota")
    [(_, status, rule)] = oa.rows("u-7d1h")
    assert status == "dead" and rule.startswith("zalo rule: refused: reply window closed")
    assert "7 d 1 h ago" in rule

    # Without the paid quota, 6 days 23 hours is past the free 48 hours: refused too.
    oa.user("u-6d23h-off", now - (6 * D + 23 * H), ["Nhắc lại"])
    oa.deliver(now, zalo_use_paid_quota=False)
    assert oa.texts("u-6d23h-off") == []
    assert oa.rows("u-6d23h-off")[0][2].startswith("zalo rule: refused: paid quota off")


def test_a_long_reply_counts_as_the_messages_it_is_split_into(oa: Oa) -> None:
    now = clock()
    long_text = ("Đã kiểm tra hiện trường và lập biên bản. " * 60).strip()
    assert len(long_text) > TEXT_MAX  # two messages at Zalo
    oa.user("u-long", now - H, [long_text] + [f"tin {i}" for i in range(1, 8)])
    oa.deliver(now, zalo_use_paid_quota=False)
    statuses = [r[1] for r in oa.rows("u-long")]
    assert statuses == ["sent"] * 7 + ["dead"]  # 2 + 6 = 8 free messages, the 9th refused
    assert len(oa.fake.sent("u-long")) == 8


def test_the_rule_at_the_exact_boundaries() -> None:
    s = Settings(zalo_use_paid_quota=False)
    at = utcnow()
    assert reply_rule(s, at + 48 * H, at, used=7).rule == ReplyRule.FREE
    assert reply_rule(s, at + 48 * H, at, used=8).rule == ReplyRule.QUOTA_OFF
    assert reply_rule(s, at + 48 * H + timedelta(seconds=1), at, used=0).rule == ReplyRule.QUOTA_OFF
    assert reply_rule(s, at + H, at, used=7, pieces=2).rule == ReplyRule.QUOTA_OFF
    paid = Settings(zalo_use_paid_quota=True)
    assert reply_rule(paid, at + 7 * D, at, used=30).rule == ReplyRule.PAID
    closed = reply_rule(paid, at + 7 * D + timedelta(seconds=1), at, used=0)
    assert (closed.allowed, closed.rule) == (False, ReplyRule.WINDOW_CLOSED)
    custom = Settings(zalo_reply_window_days=2, zalo_free_replies=1, zalo_free_window_hours=1)
    assert reply_rule(custom, at + 30 * 60 * timedelta(seconds=1), at, used=1).rule == "paid quota"
    assert not reply_rule(custom, at + 2 * D + H, at, used=0).allowed


def test_the_former_setting_names_still_set_the_free_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZALO_REPLY_WINDOW_HOURS", "24")
    monkeypatch.setenv("ZALO_REPLY_WINDOW_MAX", "3")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.zalo_free_window_hours, s.zalo_free_replies) == (24, 3)
