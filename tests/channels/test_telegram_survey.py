"""The survey on Telegram as a citizen sees it (issue 14: 23, 24): the real app and PTB
against the fake Bot API. Numbered buttons and no list repeated above them; a multiple
choice marked in the same message; an old button answered in words."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from bot import messages as msg
from bot.channels.zalo import message_body
from bot.engine.types import CHOSEN_MARK
from hailong.server import create_app
from storage import migrate
from storage.db import make_engine
from storage.models import Answer, table
from tests.channels.chat import TelegramUser, settle
from tests.channels.fakes import FakeTelegram, serve, wait_for
from tests.channels.test_telegram import Running, channel_settings


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Running]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    fake = FakeTelegram()
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg)
        with serve(create_app(settings)) as url:
            yield Running(engine, fake, settings, url)
    engine.dispose()


def keyboard_labels(sent: dict[str, Any]) -> list[str]:
    return [b["text"] for row in sent["reply_markup"]["inline_keyboard"] for b in row]


def calls(running: Running, method: str) -> list[dict[str, Any]]:
    with running.fake.lock:
        return [p for m, p in running.fake.calls if m == method]


def tap(citizen: TelegramUser, sent: dict[str, Any], markup: dict[str, Any], label: str) -> None:
    """Press the button containing `label` on message `sent`, as it now looks (`markup`)."""
    buttons = [b for row in markup["inline_keyboard"] for b in row if label in b["text"]]
    assert buttons, (label, markup)
    n = next(citizen.ids) + citizen.chat_id * 1000
    update = {
        "update_id": n,
        "callback_query": {
            "id": f"cq{n}",
            "from": citizen.user,
            "chat_instance": "ci",
            "data": buttons[0]["callback_data"],
            "message": {
                "message_id": sent["_message_id"],
                "date": int(time.time()),
                "chat": {"id": citizen.chat_id, "type": "private"},
                "text": sent["text"],
                "reply_markup": markup,
            },
        },
    }
    assert citizen.post(update).status_code == 200


def test_a_survey_on_telegram_numbers_its_buttons_and_marks_multiple_choice_in_place(
    app: Running,
) -> None:
    running = app
    citizen = running.user(611)
    citizen.say("/start")
    settle(running.engine)
    citizen.press(msg.CONSENT_YES)
    settle(running.engine)
    first = citizen.last_keyboard()
    # The options once, on the numbered buttons; the question and the hint above them.
    assert keyboard_labels(first) == [
        "1. Trực tiếp tại Bộ phận Một cửa",
        "2. Trực tuyến",
        "3. Qua bưu chính",
    ]
    assert first["text"].startswith("Câu 1: ") and msg.CHOICES_HINT in first["text"]
    assert "Trực tuyến" not in first["text"]
    citizen.say("1")
    settle(running.engine)
    likert = citizen.last_keyboard()
    assert likert["text"].startswith("Câu 2/22: ")
    assert keyboard_labels(likert)[-2:] == ["5. Rất hài lòng", "0. Không ý kiến"]
    assert "Rất hài lòng" not in likert["text"]
    for _ in range(30):
        if msg.MULTI_DONE in keyboard_labels(citizen.last_keyboard()):
            break
        citizen.say("4")
        settle(running.engine)
    question = citizen.last_keyboard()
    assert msg.MULTI_DONE in keyboard_labels(question)
    sent_before = len(citizen.texts())

    tap(citizen, question, question["reply_markup"], "Thái độ công chức")
    settle(running.engine)
    tap(citizen, question, question["reply_markup"], "Dịch vụ công trực tuyến")
    settle(running.engine)
    # No new message per tap: the question itself is edited, its chosen options marked.
    assert len(citizen.texts()) == sent_before
    edits = [e for e in calls(running, "editMessageText") if e.get("reply_markup")]
    assert [e["message_id"] for e in edits[-2:]] == [question["_message_id"]] * 2
    marked = [label for label in keyboard_labels(edits[-1]) if label.startswith(CHOSEN_MARK)]
    assert marked == [
        f"{CHOSEN_MARK}3. Thái độ công chức",
        f"{CHOSEN_MARK}5. Dịch vụ công trực tuyến",
    ]
    assert edits[-1]["text"] == question["text"]

    tap(citizen, question, edits[-1]["reply_markup"], msg.MULTI_DONE)
    settle(running.engine)
    # The closing edit (no keyboard) may still be on its way from the sender under load.
    wait_for(
        lambda: "reply_markup" not in calls(running, "editMessageText")[-1],
        20,
        "the question's closing edit",
    )
    last_edit = calls(running, "editMessageText")[-1]
    assert last_edit["message_id"] == question["_message_id"] and "reply_markup" not in last_edit
    assert last_edit["text"].endswith("✅ 3. Thái độ công chức, 5. Dịch vụ công trực tuyến")
    with running.engine.connect() as conn:
        a = table(Answer)
        stored = conn.execute(sa.select(a.c.choice).where(a.c.question_code == "MONGDOI"))
        assert stored.scalar_one() == "|thai_do|truc_tuyen|"

    # An old button (the first question's) is answered in words; nothing is taken, and
    # the old message is not marked as if it had been.
    edits_before = len(calls(running, "editMessageText"))
    citizen_texts = len(citizen.texts())
    tap(citizen, first, first["reply_markup"], "Trực tuyến")
    settle(running.engine)
    new = citizen.texts()[citizen_texts:]
    assert new[0] == msg.STALE_BUTTON and new[-1].startswith("Câu ")
    assert not any("a:HINHTHUC" in t for t in citizen.texts())
    assert len(calls(running, "editMessageText")) == edits_before
    assert calls(running, "answerCallbackQuery")  # the spinner stopped all the same


def test_zalo_lists_the_options_only_where_every_one_has_its_button() -> None:
    numbered = {
        "text": "Câu 2/22: Câu hỏi\n1. Một\n2. Hai\nBấm nút hoặc gõ số tương ứng.",
        "buttons": [
            {"label": "1. Một", "payload": "a:Q:1"},
            {"label": "2. Hai", "payload": "a:Q:2"},
        ],
    }
    body = message_body("u1", numbered)
    assert body["message"]["text"] == "Câu 2/22: Câu hỏi\nBấm nút hoặc gõ số tương ứng."
    many = {
        "text": "Câu 3: Q\n" + "\n".join(f"{i}. O{i}" for i in range(1, 8)),
        "buttons": [{"label": f"{i}. O{i}", "payload": f"a:Q:{i}"} for i in range(1, 8)],
    }
    body = message_body("u1", many)
    assert body["message"]["text"] == many["text"]  # 5 buttons fit: the list stays whole
    assert len(body["message"]["attachment"]["payload"]["buttons"]) == 5
