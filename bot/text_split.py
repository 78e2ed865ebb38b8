"""Long texts cut into the pieces a platform takes (Telegram 4,096 characters a message, Zalo
2,000): a unit's answer may be long, and a message over the limit is refused for good."""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or else a space where one
    falls in the second half of a piece; nothing is dropped but the whitespace at a cut."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
