"""The survey as a citizen sees it (issue 14: 23, 24), through the real engine: one
direction for every scale, numbers on the buttons, options listed once where buttons show,
a question counter that never changes in front of them, multiple choice marked in place,
stale buttons answered in words."""

from __future__ import annotations

import re

import pytest

from bot import messages as msg
from bot.engine import Phase, RecordAnswer, Reply
from bot.engine.types import CHOSEN_MARK, EDIT_PREFIX, listed_once
from tests.bot.chat import Chat, dossier

HEAD = re.compile(r"^Câu (\d+)(?:/(\d+))?: ")


def rated_chat() -> Chat:
    chat = Chat(dossiers={"HS1": dossier("HS1")})
    chat.send("/start HS1")
    chat.send("đồng ý")
    return chat


def question(chat: Chat) -> Reply:
    """The reply that asks the current question."""
    asked = [r for r in chat.last if HEAD.match(r.text)]
    assert asked, chat.text
    return asked[-1]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("1", "khong_hai_long"), ("2", "hai_long"), ("3", "rat_hai_long")],
)
def test_the_dossier_rating_counts_from_worst_to_best_as_sipas(typed: str, stored: str) -> None:
    chat = rated_chat()
    chat.send(typed)
    assert chat.answers()["DG"].choice == stored


def test_every_option_carries_its_number_on_its_button() -> None:
    chat = rated_chat()
    labels = [b.label for b in question(chat).buttons]
    assert labels == ["1. Không hài lòng", "2. Hài lòng", "3. Rất hài lòng"]
    chat.send("2")  # then the SIPAS offer: its menu's buttons are numbered too
    assert [b.label for b in chat.last[-1].buttons] == [f"1. {msg.YES}", f"2. {msg.NO}"]
    chat.send("1")
    chat.send("1")  # HINHTHUC: in person
    likert = [b.label for b in question(chat).buttons]
    assert likert == [
        "1. Rất không hài lòng",
        "2. Không hài lòng",
        "3. Bình thường",
        "4. Hài lòng",
        "5. Rất hài lòng",
        "0. Không ý kiến",
    ]


def test_options_are_listed_once_where_buttons_show_and_in_full_where_not() -> None:
    chat = rated_chat()
    asked = question(chat)
    lines = asked.text.split("\n")
    assert [b.label for b in asked.buttons] == [ln for ln in lines if re.match(r"^\d\. ", ln)]
    shown = listed_once(asked.text, [b.label for b in asked.buttons])
    assert shown.startswith("Câu 1") and msg.CHOICES_HINT in shown
    assert not any(re.match(r"^\d\. ", ln) for ln in shown.split("\n")), shown
    # A channel that shows only some of the buttons (Zalo: 5) keeps the text as it is.
    assert listed_once(asked.text, []) == asked.text


def headers(chat: Chat, answers: list[str]) -> list[tuple[int, int | None]]:
    """Send each answer; the "Câu n/m" of every question shown, in order."""
    seen = []
    for text in answers:
        for reply in chat.send(text):
            m = HEAD.match(reply.text)
            if m:
                seen.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None))
    return seen


@pytest.mark.parametrize(("filed", "total"), [("1", 22), ("2", 23)])
def test_the_question_counter_never_changes_its_total_over_a_whole_survey(
    filed: str, total: int
) -> None:
    """SIPAS: TCDV5 is asked only of those who filed online (HINHTHUC = 2). Until that is
    answered the total is not shown; then it is, and it stays, to the last question, also
    across «quay lại», a skipped question, a pause and the multiple choice."""
    chat = Chat()
    shown = headers(chat, ["/start", "đồng ý"])
    shown += headers(chat, [filed, "4", "quay lại", "5", "bỏ qua", "dừng", "tiếp tục"])
    while chat.state.phase is Phase.SURVEY:
        current = chat.state.survey.current if chat.state.survey else ""
        reply = {"MONGDOI": "1,3", "GOPY": "Không có"}.get(current, "4")
        shown += headers(chat, [reply])
    assert shown[0] == (1, None)
    totals = {t for _, t in shown[1:]}
    assert totals == {total}, shown
    numbers = [n for n, _ in shown]
    # Sequential (back to 2 after «quay lại», the same 3 again after the pause) and ending
    # on m/m.
    assert numbers[:6] == [1, 2, 3, 2, 3, 4], numbers
    assert numbers[-1] == total and sorted(set(numbers)) == list(range(1, total + 1))


def test_back_to_the_question_that_decides_hides_the_total_again() -> None:
    chat = Chat()
    headers(chat, ["/start", "đồng ý"])
    assert headers(chat, ["2", "quay lại", "1"]) == [(2, 23), (1, None), (2, 22)]


def test_the_dossier_rating_numbers_its_reason_as_the_last_question() -> None:
    chat = Chat(dossiers={"HS1": dossier("HS1")})
    assert headers(chat, ["/start HS1", "đồng ý", "1"]) == [(1, None), (2, 2)]


def sipas_at(chat: Chat, code: str) -> None:
    chat.send("/start")
    chat.send("đồng ý")
    while chat.state.survey and chat.state.survey.current != code:
        chat.send("1" if chat.state.survey.current == "HINHTHUC" else "4")


def test_a_multiple_choice_tap_marks_the_option_in_the_same_message() -> None:
    chat = Chat()
    sipas_at(chat, "MONGDOI")
    tapped = chat.send(choice="a:MONGDOI:thai_do", ref="501")
    assert len(tapped) == 1  # the question again, nothing re-posted besides
    reply = tapped[0]
    assert reply.text == question(chat).text and msg.MULTI_DONE in [b.label for b in reply.buttons]
    marked = [b.label for b in reply.buttons if b.label.startswith(CHOSEN_MARK)]
    assert marked == [f"{CHOSEN_MARK}3. Thái độ công chức"]
    assert reply.buttons[-1].payload == f"{EDIT_PREFIX}501"  # replaces message 501
    again = chat.send(choice="a:MONGDOI:truc_tuyen", ref="501")[0]
    marked = [b.label for b in again.buttons if b.label.startswith(CHOSEN_MARK)]
    assert marked == [
        f"{CHOSEN_MARK}3. Thái độ công chức",
        f"{CHOSEN_MARK}5. Dịch vụ công trực tuyến",
    ]
    unmarked = chat.send(choice="a:MONGDOI:thai_do", ref="501")[0]
    assert [b.label for b in unmarked.buttons if b.label.startswith(CHOSEN_MARK)] == [
        f"{CHOSEN_MARK}5. Dịch vụ công trực tuyến"
    ]
    chat.send(choice="d:MONGDOI", ref="501")
    assert chat.answers()["MONGDOI"].choice == "|truc_tuyen|"
    # Where the tapped message has no id (web, Zalo), the marked question is a new message.
    other = Chat()
    sipas_at(other, "MONGDOI")
    plain = other.send(choice="a:MONGDOI:co_so")[0]
    assert not [b for b in plain.buttons if b.payload.startswith("@")]


def test_a_stale_button_is_answered_in_words_never_by_its_payload() -> None:
    chat = Chat()
    sipas_at(chat, "TCDV2")
    for payload in ("a:TCDV1:1", "a:HINHTHUC:truc_tuyen", "d:MONGDOI", "y", "a:TCDV2:9"):
        replies = chat.send(choice=payload)
        assert replies[0].text == msg.STALE_BUTTON
        assert replies[-1].text.startswith("Câu ") and "TCDV2" not in replies[-1].text
        assert not any(":" in payload and payload in r.text for r in replies)
        assert chat.state.survey and chat.state.survey.current == "TCDV2"
    assert not [e for e in chat.last_effects if isinstance(e, RecordAnswer)]
    sipas_at(chat, "GOPY")  # a free-text question: an old button is no empty answer
    assert chat.send(choice="a:TCDV1:1")[0].text == msg.STALE_BUTTON
