"""Matching what a citizen typed, with or without Vietnamese diacritics."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.messages import COMMAND_WORDS

_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ → d) and punctuation: "Rất hài lòng!" → "rat hai long"."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare).strip()


def tidy(text: str) -> str:
    """NFC, lower-case, inner whitespace collapsed, trailing punctuation dropped."""
    squashed = " ".join(unicodedata.normalize("NFC", text).lower().split())
    return squashed.rstrip(".!?,;: ") or squashed


@lru_cache(maxsize=1)
def _command_tables() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for command, words in COMMAND_WORDS.items():
        for word in words:
            exact[tidy(word)] = command
            folded.setdefault(fold(word) or word, command)
    return exact, folded


def command_of(text: str) -> str | None:
    """The command a message is, if the whole message is one of its words."""
    exact, folded = _command_tables()
    t = tidy(text)
    if t in exact:
        return exact[t]
    if t.isascii():
        return folded.get(fold(t) or t)
    return None
