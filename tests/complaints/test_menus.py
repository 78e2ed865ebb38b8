"""The complaint flow's menus follow the bot's one menu rule (issue 14: 24): numbered labels on
the buttons, the list in the text only for channels without buttons."""

from __future__ import annotations

from bot.engine import complaint
from bot.engine.types import Button, listed_once
from bot.messages import COMPLAINT_OFFER, WARD_PICK


def test_a_menu_numbers_its_buttons_and_lists_them_once_where_buttons_show() -> None:
    reply = complaint.menu(
        WARD_PICK,
        (Button("Phường Bến Thành", "w:1"), Button("Bỏ qua", "skip"), Button("Chia sẻ", "@c")),
    )
    labels = [b.label for b in reply.buttons]
    assert labels == ["1. Phường Bến Thành", "2. Bỏ qua", "Chia sẻ"]
    assert reply.text.splitlines()[-2:] == ["1. Phường Bến Thành", "2. Bỏ qua"]
    # A channel that shows the buttons shows the question once, without the list.
    assert listed_once(reply.text, labels) == WARD_PICK


def test_the_offer_after_free_text_is_one_list() -> None:
    turn_reply = complaint.menu(COMPLAINT_OFFER, complaint.yes_no("Có", "Không"))
    shown = listed_once(turn_reply.text, [b.label for b in turn_reply.buttons])
    assert shown == COMPLAINT_OFFER and "1." not in shown
