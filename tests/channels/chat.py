"""Drive a running app like Telegram does: post updates, press the buttons the bot sent."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import OutboxMessage, table
from tests.channels.fakes import FakeTelegram, wait_for

SECRET = "s3cret_-TOKEN"


def settle(engine: Engine, timeout: float = 20.0) -> None:
    """Wait until the outbox has nothing pending (everything delivered or dead)."""
    t = table(OutboxMessage)

    def idle() -> bool:
        with engine.connect() as conn:
            return not conn.execute(
                sa.select(sa.func.count()).where(t.c.status == "pending")
            ).scalar_one()

    wait_for(idle, timeout, "the outbox to drain")


class TelegramUser:
    """One Telegram citizen talking to the app through its webhook."""

    ids = itertools.count(1)

    def __init__(self, app_url: str, fake: FakeTelegram, chat_id: int) -> None:
        self.url = f"{app_url}/webhooks/telegram"
        self.fake = fake
        self.chat_id = chat_id
        self.user = {"id": chat_id, "is_bot": False, "first_name": "Công dân"}

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return httpx.post(self.url, json=update, headers=headers, timeout=10)

    def text_update(self, text: str) -> dict[str, Any]:
        n = next(self.ids) + self.chat_id * 1000
        return {
            "update_id": n,
            "message": {
                "message_id": n,
                "date": int(time.time()),
                "chat": {"id": self.chat_id, "type": "private"},
                "from": self.user,
                "text": text,
            },
        }

    def say(self, text: str) -> dict[str, Any]:
        update = self.text_update(text)
        assert self.post(update).status_code == 200
        return update

    def last_keyboard(self) -> dict[str, Any]:
        """The newest message sent to this chat that carries buttons."""
        with_buttons = [m for m in self.fake.sent(self.chat_id) if m.get("reply_markup")]
        assert with_buttons, "the bot sent no buttons"
        return with_buttons[-1]

    def press(self, label: str) -> dict[str, Any]:
        """Press the button whose text contains `label` on the newest keyboard."""
        sent = self.last_keyboard()
        buttons = [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]
        match = [b for b in buttons if label in b["text"]]
        assert match, f"no button {label!r} in {[b['text'] for b in buttons]}"
        n = next(self.ids) + self.chat_id * 1000
        message_id = sent["_message_id"]
        update = {
            "update_id": n,
            "callback_query": {
                "id": f"cq{n}",
                "from": self.user,
                "chat_instance": "ci",
                "data": match[0]["callback_data"],
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": self.chat_id, "type": "private"},
                    "text": sent["text"],
                    "reply_markup": sent["reply_markup"],
                },
            },
        }
        assert self.post(update).status_code == 200
        return update

    def texts(self) -> list[str]:
        return [m["text"] for m in self.fake.sent(self.chat_id)]
