"""Matching what a citizen typed, with or without Vietnamese diacritics."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bot.messages import COMMAND_WORDS

_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ → d) and punctuation: "Rất hài lòng!" → "rat hai long"."""
    return _fold_short(text) if len(text) <= _SHORT else _fold(text)


def tidy(text: str) -> str:
    """NFC, lower-case, inner whitespace collapsed, trailing punctuation dropped."""
    return _tidy_short(text) if len(text) <= _SHORT else _tidy(text)


# Most messages are a few characters ("4", "có", an option's name), the same ones again and
# again; each turn folds its text two to four times (~15 us each): short ones are remembered.
_SHORT = 64


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", bare).strip()


def _tidy(text: str) -> str:
    squashed = " ".join(unicodedata.normalize("NFC", text).lower().split())
    return squashed.rstrip(".!?,;: ") or squashed


_fold_short = lru_cache(maxsize=4096)(_fold)
_tidy_short = lru_cache(maxsize=4096)(_tidy)


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
