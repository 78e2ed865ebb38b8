"""`hailong outbox retry [--dead] [--channel]` in a real subprocess, as an operator runs it
after an outage."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from storage import conversations, outbox
from storage.db import make_engine, session_scope
from storage.models import OutboxMessage, table
from storage.types import utcnow
from tests.test_cli import hailong, migrated, one_line_error


def _state(url: str) -> dict[str, tuple[str, int, bool]]:
    """Each message's (status, attempts, due now) by its text."""
    t = table(OutboxMessage)
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.payload, t.c.status, t.c.attempts, t.c.next_attempt_at)
        ).all()
    engine.dispose()
    now = utcnow()
    return {r.payload["text"]: (r.status, r.attempts, r.next_attempt_at <= now) for r in rows}


def _seed(url: str) -> None:
    engine = make_engine(url)
    with session_scope(engine) as s:
        for channel, text in [
            ("telegram", "tg-dead"),
            ("zalo", "zl-dead"),
            ("telegram", "tg-wait"),
        ]:
            conversations.enqueue(s, channel, "1", {"text": text, "buttons": []})
    now = utcnow()
    with session_scope(engine) as s:
        for channel in ("telegram", "zalo"):
            [first, *_] = outbox.claim(s, channel, "w", now, timedelta(seconds=30), limit=1)
            outbox.mark_failed(s, first, "HTTP 500 for a day", now, None)  # dead
    with session_scope(engine) as s:
        [wait] = outbox.claim(s, "telegram", "w", now, timedelta(seconds=30), limit=1)
        outbox.mark_failed(s, wait, "HTTP 500", now, timedelta(minutes=10))
    engine.dispose()


def test_outbox_retry_requeues_dead_letters_of_a_channel_and_makes_waiting_ones_due(
    sqlite_url: str,
) -> None:
    url = migrated(sqlite_url)
    _seed(url)
    assert _state(url) == {
        "tg-dead": ("dead", 1, True),
        "zl-dead": ("dead", 1, True),
        "tg-wait": ("pending", 1, False),
    }
    waiting = hailong("outbox", "retry", db=url)
    assert waiting.returncode == 0, waiting.stderr
    assert waiting.stdout.splitlines() == ["1 waiting messages due now"]
    assert _state(url)["tg-wait"] == ("pending", 1, True)
    assert _state(url)["tg-dead"][0] == "dead"  # only with --dead

    result = hailong("outbox", "retry", "--dead", "--channel", "telegram", db=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "1 dead letters re-queued (telegram)",
        "0 waiting messages due now (telegram)",
    ]
    state = _state(url)
    assert state["tg-dead"] == ("pending", 0, True)  # a fresh retry period
    assert state["zl-dead"] == ("dead", 1, True)  # another channel: untouched


def test_outbox_retry_refuses_bad_arguments_in_one_line_and_changes_nothing(
    sqlite_url: str,
) -> None:
    url = migrated(sqlite_url)
    _seed(url)
    before = _state(url)
    one_line_error(hailong("outbox", "retry", "--dead", "--channel", "sms", db=url), "sms")
    assert _state(url) == before
