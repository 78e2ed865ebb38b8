"""Telegram end to end: the real app under uvicorn, PTB talking to a fake Bot API over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot import messages as msg
from bot.engine.types import listed_once
from bot.links import links_for
from hailong.server import create_app
from storage import dossiers, migrate
from storage.db import make_engine, session_scope
from storage.models import Answer, ConversationState, InboundMessage, OutboxMessage, table
from tests.channels.chat import SECRET, TelegramUser, settle
from tests.channels.fakes import FakeTelegram, serve
from tests.conftest import add_dossier

ROOT = Path(__file__).resolve().parents[2]


def channel_settings(db_url: str, telegram_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "telegram_bot_token": FakeTelegram.token,
        "telegram_webhook_secret": SECRET,
        "telegram_base_url": f"{telegram_url}/bot",
        "telegram_bot_username": "hl_bot",
        "link_secret": "test-link-secret-0123456789abcdef",
        "outbox_retry_base_seconds": 0.05,
        "outbox_lease_seconds": 2,
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Running:
    engine: Engine
    fake: FakeTelegram
    settings: Settings
    url: str

    def user(self, chat_id: int) -> TelegramUser:
        return TelegramUser(self.url, self.fake, chat_id)

    def token(self, code: str) -> str:
        with session_scope(self.engine) as s:
            ref = dossiers.by_code(s, code)
        assert ref is not None
        return links_for(self.settings, ref).token


@pytest.fixture
def running(sqlite_url: str) -> Iterator[Running]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram()
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg)
        with serve(create_app(settings)) as url:
            yield Running(engine, fake, settings, url)
    engine.dispose()


def count(engine: Engine, model: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table(model))).scalar_one())  # type: ignore[arg-type]


def answers(engine: Engine) -> list[tuple[str, str | None, str | None]]:
    t = table(Answer)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.question_code, t.c.choice, t.c.text).order_by(t.c.id))
        return [tuple(r) for r in rows]


def test_a_citizen_rates_a_dossier_with_the_buttons_the_bot_sent(running: Running) -> None:
    add_dossier(running.engine, "HS-TG-1")
    citizen = running.user(501)
    citizen.say(f"/start {running.token('HS-TG-1')}")
    settle(running.engine)
    assert citizen.texts()[0].startswith("Xin chào")
    citizen.press(msg.CONSENT_YES)
    settle(running.engine)
    assert "HS-TG-1" in "\n".join(citizen.texts())
    citizen.press("Không hài lòng")
    settle(running.engine)
    citizen.say("Phải đi lại ba lần mới xong")
    settle(running.engine)
    assert msg.DOSSIER_REASON_OFFER in citizen.texts()[-1]
    citizen.press(msg.COMPLAINT_OFFER_NO)  # the reason stays feedback, not a complaint
    settle(running.engine)
    citizen.press(msg.NO)  # no detailed survey afterwards
    settle(running.engine)

    assert answers(running.engine) == [
        ("DG", "khong_hai_long", None),
        ("LYDO", None, "Phải đi lại ba lần mới xong"),
    ]
    assert citizen.texts()[-1] == msg.GOODBYE
    methods = running.fake.methods()
    # Every press answered; the question edited to show the choice, keyboard removed.
    assert methods.count("answerCallbackQuery") == 4
    edits = [p for m, p in running.fake.calls if m == "editMessageText"]
    assert any("✅ 1. Không hài lòng" in e["text"] and "reply_markup" not in e for e in edits)
    for sent in running.fake.sent():
        for row in sent.get("reply_markup", {}).get("inline_keyboard", []):
            assert all(len(b["callback_data"].encode()) <= 64 for b in row)

    report = subprocess.run(
        [sys.executable, "-m", "hailong.cli", "report", "--format", "json", "--by", "unit"],
        env={**os.environ, "DATABASE_URL": running.settings.database_url},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    data = json.dumps(json.loads(report.stdout), ensure_ascii=False)
    assert "khong_hai_long" in data


def test_missing_or_wrong_secret_is_refused_and_nothing_is_stored(running: Running) -> None:
    citizen = running.user(502)
    update = citizen.text_update("/start")
    assert citizen.post(update, secret=None).status_code == 403
    assert citizen.post(update, secret="wrong").status_code == 403
    assert citizen.post(update, secret=SECRET + "x").status_code == 403
    bad = httpx.post(
        citizen.url,
        content=b'{"update_id": 1, "message": ',
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"},
    )
    assert bad.status_code == 400
    not_update = httpx.post(
        citizen.url, json=[1, 2], headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert not_update.status_code == 400
    not_utf8 = httpx.post(
        citizen.url, content=b"\xff\xfe{}", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert not_utf8.status_code == 400
    huge = httpx.post(
        citizen.url,
        content=b'{"update_id": 1, "x": "' + b"a" * 2_000_000 + b'"}',
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert huge.status_code == 413
    assert httpx.get(citizen.url).status_code == 405  # other methods reach FastAPI's routing
    for model in (InboundMessage, ConversationState, OutboxMessage):
        assert count(running.engine, model) == 0
    assert citizen.post(update).status_code == 200
    assert count(running.engine, InboundMessage) == 1


def test_a_redelivered_update_changes_nothing(running: Running) -> None:
    citizen = running.user(503)
    first = citizen.say("/start")
    settle(running.engine)
    press = citizen.press(msg.CONSENT_YES)
    settle(running.engine)
    before = (citizen.texts(), count(running.engine, OutboxMessage))
    assert citizen.post(first).status_code == 200
    assert citizen.post(press).status_code == 200
    settle(running.engine)
    assert (citizen.texts(), count(running.engine, OutboxMessage)) == before
    # The redelivered press is answered again (the first answer may have been lost) but the
    # message is not edited twice.
    assert running.fake.methods().count("editMessageText") == 1


def test_a_flaky_bot_api_still_gets_every_message_once_in_order(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram(failures=[429, 500, 429, 502, 500, 429])
    with serve(fake.app()) as tg, serve(create_app(channel_settings(sqlite_url, tg))) as url:
        users = [TelegramUser(url, fake, chat) for chat in (601, 602, 603)]
        for user in users:
            user.say("/start")
        for user in users:
            user.say("1")  # consent by typing the number
        for user in users:
            user.say("2")  # HINHTHUC: typed choice
        settle(engine, timeout=30)
    t = table(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.recipient, t.c.payload, t.c.status, t.c.attempts).order_by(t.c.id)
        ).all()
    engine.dispose()
    assert {r.status for r in rows} == {"sent"}
    assert sum(1 for m in fake.methods() if m.startswith("sendMessage!")) == 6
    for user in users:
        queued = [r.payload for r in rows if r.recipient == str(user.chat_id)]
        # Exactly once each, in the order they were queued (as shown: the options' list is
        # on the buttons).
        shown = [listed_once(p["text"], [b["label"] for b in p["buttons"]]) for p in queued]
        assert user.texts() == shown


def test_a_press_too_malformed_to_answer_is_still_taken(running: Running) -> None:
    citizen = running.user(504)
    assert citizen.post(citizen.text_update("/start")).status_code == 200
    press = {"update_id": 9_000_001, "callback_query": {"data": "y", "from": {"id": 504}}}
    assert citizen.post(press).status_code == 200  # no id to answer it by: logged, not a 500
    assert count(running.engine, InboundMessage) == 2


def test_a_message_longer_than_telegram_takes_arrives_in_pieces(running: Running) -> None:
    from storage.conversations import enqueue

    text = "\n".join(f"Dòng {n}: nội dung trả lời của đơn vị xử lý phản ánh." for n in range(120))
    with session_scope(running.engine) as session:
        buttons = [{"label": "Hài lòng", "payload": "rh:PA-2026-000001:1"}]
        enqueue(session, "telegram", "777", {"text": text, "buttons": buttons})
    settle(running.engine)
    sent = running.fake.sent(777)
    assert len(sent) == 2 and all(len(m["text"]) <= 4096 for m in sent)
    assert "\n".join(m["text"] for m in sent) == text
    assert "reply_markup" not in sent[0] and sent[1]["reply_markup"]  # buttons on the last


def test_a_poison_message_fails_alone_and_nothing_is_sent_twice(sqlite_url: str) -> None:
    """A payload the client library refuses (here a chat id that is no number) fails that
    message alone: retried, then dead-lettered with the reason; every other message goes out
    exactly once."""
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram()
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg, outbox_max_attempts=3)
        with session_scope(engine) as session:
            from storage.conversations import enqueue

            enqueue(session, "telegram", "True", {"text": "poison", "buttons": []})
            for n in range(12):
                enqueue(session, "telegram", str(900 + n % 3), {"text": f"m{n}", "buttons": []})
        with serve(create_app(settings)):
            settle(engine)
    t = table(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.recipient, t.c.status, t.c.attempts, t.c.last_error))
        by_status = {(r.recipient, r.status, r.attempts, r.last_error) for r in rows}
    poison = [r for r in by_status if r[0] == "True"]
    assert poison and poison[0][1] == "dead" and poison[0][2] == 3
    assert "ValueError" in poison[0][3]
    texts = [m["text"] for m in fake.sent()]
    assert sorted(texts) == sorted(f"m{n}" for n in range(12))  # each exactly once
    engine.dispose()


def test_an_update_whose_chat_id_is_no_integer_is_ignored(running: Running) -> None:
    citizen = running.user(9901)
    update = citizen.text_update("xin chào")
    update["message"]["chat"]["id"] = True
    assert citizen.post(update).status_code == 200
    assert count(running.engine, InboundMessage) == 0 and count(running.engine, OutboxMessage) == 0


def test_hostile_updates_get_4xx_or_are_ignored_never_a_500(running: Running) -> None:
    citizen = running.user(9902)
    nested = b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = httpx.post(
        citizen.url, content=nested, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert answer.status_code == 400
    huge = citizen.text_update("xin chào")
    huge["update_id"] = 10**80
    assert citizen.post(huge).status_code == 400
    group = citizen.text_update("/lienket ABCD")
    group["message"]["chat"] = {"id": -(10**80), "type": "supergroup"}
    assert citizen.post(group).status_code == 200
    citizen.say("/start")
    settle(running.engine)
    pressed = citizen.press(msg.CONSENT_YES)
    pressed["update_id"] += 1000
    pressed["callback_query"]["message"]["date"] = 10**20  # a date no datetime can hold
    assert citizen.post(pressed).status_code == 200
    assert citizen.post(pressed).status_code == 200  # and again, as Telegram would redeliver


def test_a_photo_message_is_deleted_gone_is_done_and_too_old_is_dead_lettered(
    sqlite_url: str,
) -> None:
    """Deletion payloads (a complaint's photo, after a deletion request) through the real
    transport: deleted; already gone counts as done; one Telegram refuses (older than 48
    hours) is dead-lettered with its reason, at once."""
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram(refusals={
        502: "Bad Request: message to delete not found",
        503: "Bad Request: message can't be deleted",
    })  # fmt: skip
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg, outbox_max_attempts=3)
        with session_scope(engine) as session:
            from storage.conversations import enqueue

            for message in (501, 502, 503):
                enqueue(session, "telegram", "-100777", {"text": "", "delete_message_id": message})
        with serve(create_app(settings)):
            settle(engine)
    t = table(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.payload, t.c.status, t.c.attempts, t.c.last_error))
        by_message = {r.payload["delete_message_id"]: r for r in rows}
    assert by_message[501].status == by_message[502].status == "sent"
    assert by_message[503].status == "dead" and by_message[503].attempts == 1
    assert "can't be deleted" in by_message[503].last_error
    assert [int(p["message_id"]) for m, p in fake.calls if m.startswith("deleteMessage")] == [
        501, 502, 503
    ]
    assert not [m for m, _ in fake.calls if m in ("sendMessage", "editMessageText")]
    engine.dispose()
