"""The text pipeline never fails and normalises the way citizens write."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.text import MAX_CHARS, features_input, normalize, segment, strip_diacritics

ODD_INPUTS = [
    "",
    "   \t\n  ",
    "Đường bị ngập nước quá trời!!!",
    "duong bi ngap nuoc qua troi",
    "cúp điện 😡😡😡 🔥 ⚡️ 👍🏽",
    "đ" * 20_000,
    "Nhà tôi ở 12 Lê Lợi " * 1500,
    "Привет 你好 สวัสดี مرحبا đường ngập",
    "\x00\x01\x07abc\x1b[31m đường\u200b\u202e ngập\ufeff",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
    "\ud7ff\U0010ffff",
]


def test_normalize_never_fails_on_odd_input() -> None:
    for text in ODD_INPUTS:
        out = normalize(text)
        assert isinstance(out, str)
        assert len(out) <= MAX_CHARS * 2
        norm, bare = features_input(text)
        assert isinstance(norm, str) and isinstance(bare, str)


def test_normalize_handles_none_and_whitespace() -> None:
    assert normalize(None) == ""
    assert normalize("  \n ") == ""


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalize_is_total_on_arbitrary_unicode(text: str) -> None:
    out = normalize(text)
    assert isinstance(out, str)
    assert "\x00" not in out


def test_control_characters_are_removed() -> None:
    assert normalize("\x00ngập\x07 nước\u200b") == "ngập nước"


def test_old_style_tone_marks_are_normalised() -> None:
    assert normalize("Hoá đơn tiền điện") == "hóa đơn tiền điện"


def test_teen_code_is_expanded() -> None:
    assert normalize("ko dc j ca") == "không được gì ca"
    assert normalize("cúp điện ntn vậy mn") == "cúp điện như thế nào vậy mọi người"
    assert "không" in normalize("k ai xl").split()


def test_numbers_urls_emails_and_emoji_become_tokens() -> None:
    out = normalize("Xem http://example.com/a, mail a.b@gmail.com, đóng 500.000đ 😡")
    assert "url" in out.split()
    assert "email" in out.split()
    assert "num" in out.split()
    assert "emobuc" in out.split()
    assert "500" not in out


def test_amount_suffixes_are_kept_as_words() -> None:
    assert normalize("mất 50k") == "mất num nghìn"


def test_ward_abbreviations_are_expanded() -> None:
    assert normalize("P.Bến Thành").startswith("phường bến thành")
    assert normalize("q.7").startswith("quận")


def test_repeated_letters_are_collapsed() -> None:
    assert normalize("quáaaaa trờiiii") == "quá trời"


def test_strip_diacritics() -> None:
    assert strip_diacritics("Đường ngập nước ở Thủ Đức") == "Duong ngap nuoc o Thu Duc"


def test_unaccented_view_matches_typed_without_diacritics() -> None:
    _, bare_accented = features_input("Đường bị ngập nước")
    _, bare_typed = features_input("duong bi ngap nuoc")
    assert bare_accented == bare_typed


def test_segmentation_joins_words_and_survives_empty() -> None:
    assert segment("") == ""
    assert "_" in segment("bệnh viện quá tải")
