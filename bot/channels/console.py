"""The console channel: a survey in the terminal, one line of input per message.

It reads lines, so it can be scripted: `printf '1\\n5\\n' | hailong chat --user 42`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from bot.engine import Inbound
from bot.sender import Sender
from bot.service import ConversationService

CHANNEL = "console"


class ConsoleTransport:
    """Prints replies; buttons are already listed by number in the text."""

    channel = CHANNEL

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        self.out.write(f"{payload['text']}\n\n")
        self.out.flush()
        return None


def run_chat(
    service: ConversationService,
    sender: Sender,
    user_id: str,
    lines: Iterable[str],
    *,
    dossier: str | None = None,
    prompt: TextIO | None = None,
) -> None:
    """Start (or resume) the user's conversation, then feed it one message per line."""
    start = f"/start {dossier}" if dossier else "/start"
    service.handle(CHANNEL, user_id, Inbound(text=start))
    sender.deliver_due()
    for line in _with_prompt(lines, prompt):
        service.handle(CHANNEL, user_id, Inbound(text=line.rstrip("\r\n")))
        sender.deliver_due()


def _with_prompt(lines: Iterable[str], prompt: TextIO | None) -> Iterable[str]:
    iterator = iter(lines)
    while True:
        if prompt is not None:
            prompt.write("> ")
            prompt.flush()
        try:
            yield next(iterator)
        except StopIteration:
            return
