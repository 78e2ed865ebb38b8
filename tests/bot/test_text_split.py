"""Long texts cut for the platforms' limits: nothing lost, no piece too long."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.text_split import split_text


def test_a_short_text_is_one_piece() -> None:
    assert split_text("xin chào", 10) == ["xin chào"]
    assert split_text("", 10) == [""]


def test_cuts_fall_on_line_breaks_then_spaces() -> None:
    text = "Dòng thứ nhất dài.\n" + "a " * 30
    pieces = split_text(text, 20)
    assert pieces[0] == "Dòng thứ nhất dài."
    assert all(len(p) <= 20 for p in pieces)


@given(st.text(alphabet=st.sampled_from("ab \nđ"), max_size=300), st.integers(2, 50))
def test_no_piece_is_too_long_and_only_whitespace_at_a_cut_is_lost(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
