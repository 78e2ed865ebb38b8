"""What the webhook reads from an update's JSON, checked on JSON made by real PTB objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import CallbackQuery, Chat, Message, Update, User

from bot.channels.telegram import translate
from bot.engine import Inbound

NOW = datetime(2026, 11, 22, tzinfo=UTC)
CITIZEN = User(id=42, first_name="Lan", is_bot=False)


def message(text: str | None, chat_type: str = Chat.PRIVATE, chat_id: int = 42) -> Message:
    return Message(1, NOW, Chat(chat_id, chat_type), from_user=CITIZEN, text=text)


def update(**kwargs: Any) -> dict[str, Any]:
    return Update(update_id=7, **kwargs).to_dict()


def test_text_and_commands_of_a_private_chat() -> None:
    assert translate(update(message=message(" 4 "))) == ("42", Inbound(text="4"))
    start = update(message=message("/start@hl_bot  abc"))
    assert translate(start) == ("42", Inbound(text="/start abc"))
    assert translate(update(message=message("/HELP"))) == ("42", Inbound(text="/help"))
    assert translate(update(message=message("/other x"))) == ("42", Inbound(text="/other x"))


def test_a_button_press_is_a_choice_in_the_chat_of_its_message() -> None:
    query = CallbackQuery("q1", CITIZEN, "inst", data="a:DG:3", message=message("Q?", chat_id=99))
    # The tapped message's id goes along: a reply may replace that message.
    assert translate(update(callback_query=query)) == ("99", Inbound(choice="a:DG:3", ref="1"))
    # Too old for Telegram to send its message along: the chat is the user's own.
    old = CallbackQuery("q2", CITIZEN, "inst", data="y")
    assert translate(update(callback_query=old)) == ("42", Inbound(choice="y"))
    assert translate(update(callback_query=CallbackQuery("q3", CITIZEN, "inst"))) is None


@pytest.mark.parametrize(
    "data",
    [
        update(message=message("hi", Chat.GROUP, -100)),
        update(message=message(None)),  # a sticker, a photo
        update(edited_message=message("sửa")),
        {"update_id": 1},
        {"update_id": 1, "message": "text"},
        {"update_id": 1, "message": {"chat": [], "text": "x"}},
        {"update_id": 1, "message": {"chat": {"id": "42", "type": "private"}, "text": "x"}},
        {"update_id": 1, "message": {"chat": {"id": 42, "type": "private"}, "text": 5}},
        {"update_id": 1, "callback_query": {"data": "y", "message": None, "from": None}},
    ],
)
def test_what_the_bot_ignores(data: dict[str, Any]) -> None:
    assert translate(data) is None
