"""Messages that are no complaint (nlp.intent) are answered by the chat itself: a greeting with
the menu, thanks with "you're welcome", a question about the survey with what it is for, spam
with one short reply, another language in Vietnamese and English; none is offered or kept as
a complaint, and a "cảm ơn" at the end of a draft is not added to it."""

from __future__ import annotations

import pytest

from bot import messages as msg
from bot.engine import Inbound, Phase, handle
from bot.engine.types import Context, SubmitComplaint
from tests.bot.chat import NOW, QUESTIONNAIRES, Chat

SPAM = "Vay tiền nhanh chỉ cần CCCD, giải ngân trong 24h, liên hệ Zalo 0901234567"
ENGLISH = "My street has been flooded for three days"
CHINESE = "我家门口的路坏了，请修理"
LAMP = "Đèn đường hẻm 12 phường Tân Định hư cả tháng nay"


def idle() -> Chat:
    """A citizen who consented and left the survey: typed text arrives with no flow active."""
    chat = Chat()
    chat.send("/start")
    chat.tap(msg.CONSENT_YES)
    chat.send("dừng")
    chat.state.phase, chat.state.survey = Phase.IDLE, None
    chat.effects.clear()
    return chat


def nothing_kept(chat: Chat) -> None:
    assert chat.state.draft is None and chat.state.phase is Phase.IDLE
    assert chat.effects == []
    assert msg.COMPLAINT_OFFER not in chat.text


@pytest.mark.parametrize("text", ["Chào ad", "chao ad a", "alo", "ad ơi", "Hello ad"])
def test_a_greeting_gets_a_greeting_and_the_menu(text: str) -> None:
    chat = idle()
    replies = chat.send(text)
    assert replies[0].text == msg.SMALL_TALK_REPLY
    assert replies[-1].text.startswith(msg.IDLE_MENU) and replies[-1].buttons
    nothing_kept(chat)


@pytest.mark.parametrize("text", ["cảm ơn", "ok cam on ad", "Thank you", "tạm biệt"])
def test_thanks_get_you_are_welcome(text: str) -> None:
    chat = idle()
    assert [r.text for r in chat.send(text)] == [msg.THANKS_REPLY]
    nothing_kept(chat)


@pytest.mark.parametrize(
    "text", ["Khảo sát này để làm gì?", "ai xem duoc cau tra loi cua toi", "Làm sao đánh giá?"]
)
def test_a_question_about_the_survey_is_explained(text: str) -> None:
    chat = idle()
    replies = chat.send(text)
    assert replies[0].text == msg.SURVEY_EXPLAINED
    assert "ẩn danh" in replies[0].text and "tổng hợp" in replies[0].text
    assert replies[-1].buttons  # the menu: the survey is one tap away
    nothing_kept(chat)


def test_spam_gets_one_short_reply_and_nothing_is_kept() -> None:
    chat = idle()
    assert [r.text for r in chat.send(SPAM)] == [msg.SPAM_REPLY]
    nothing_kept(chat)


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, "안녕하세요"])
def test_another_language_is_told_in_vietnamese_and_english(text: str) -> None:
    chat = idle()
    assert [r.text for r in chat.send(text)] == [msg.NOT_VIETNAMESE]
    assert "Vietnamese" in msg.NOT_VIETNAMESE and "tiếng Việt" in msg.NOT_VIETNAMESE
    nothing_kept(chat)


def test_emoji_only_gets_the_menu() -> None:
    chat = idle()
    replies = chat.send("😀😀")
    assert len(replies) == 1 and replies[0].text.startswith(msg.IDLE_MENU)
    nothing_kept(chat)


@pytest.mark.parametrize(
    "text",
    ["chào ad, đường nhà em ngập quá", "chao ad, duong nha em ngap qua",
     "Đèn đường hư cả tháng nay, mong sửa sớm. Cảm ơn ad!"],
)
def test_a_complaint_with_a_greeting_or_thanks_is_still_offered(text: str) -> None:
    chat = idle()
    assert msg.COMPLAINT_OFFER in chat.send(text)[-1].text
    assert chat.state.phase is Phase.COMPLAINT_OFFER
    assert chat.state.draft is not None and chat.state.draft.parts == [text]


def test_thanks_at_the_end_of_a_draft_are_not_added_to_it() -> None:
    chat = idle()
    chat.send("/phananh")
    chat.send(LAMP)
    replies = chat.send("cảm ơn ad nhiều nha")
    assert replies[0].text == msg.THANKS_REPLY
    assert any(b.label == msg.COMPLAINT_SEND for b in replies[-1].buttons)  # «Gửi» still there
    assert chat.state.draft is not None and chat.state.draft.parts == [LAMP]
    assert chat.state.phase is Phase.COMPLAINT
    chat.send("gửi")
    chat.send("2")  # no contact details
    chat.tap(msg.CONTACT_ANONYMOUS)
    sent = [e for e in chat.effects if isinstance(e, SubmitComplaint)]
    assert [e.text for e in sent] == [LAMP]


def test_a_greeting_before_the_draft_leaves_it_empty() -> None:
    chat = idle()
    chat.send("/phananh")
    replies = chat.send("chào ad")
    assert [r.text for r in replies] == [msg.SMALL_TALK_REPLY, msg.COMPLAINT_START]
    assert chat.state.draft is not None and chat.state.draft.parts == []


def test_a_draft_keeps_what_the_citizen_sends_on_purpose() -> None:
    """In a draft only words said to the bot are left out: a quoted ad or English text is the
    complaint's content (the triage desk reads it)."""
    chat = idle()
    chat.send("/phananh")
    chat.send(SPAM)
    chat.send(ENGLISH)
    assert chat.state.draft is not None and chat.state.draft.parts == [SPAM, ENGLISH]


def test_a_photo_with_a_thank_you_caption_starts_a_complaint() -> None:
    chat = idle()
    ctx = Context(
        now=NOW, questionnaires=QUESTIONNAIRES, dossier_questionnaire="danh-gia-ho-so",
        general_questionnaire="sipas", new_key=lambda: "p1",
    )
    inbound = Inbound(text="cảm ơn", attachments=(("photo", "AgAC"),))
    turn = handle(chat.state, inbound, ctx)
    assert turn.state.phase is Phase.COMPLAINT_OFFER
    assert turn.state.draft is not None and turn.state.draft.photos == [("photo", "AgAC")]


def test_first_message_spam_is_answered_once_and_no_consent_is_asked() -> None:
    chat = Chat()
    assert [r.text for r in chat.send(SPAM)] == [msg.SPAM_REPLY]
    assert chat.state.phase is Phase.NEW and chat.effects == []


def test_first_message_in_english_is_told_so_before_the_consent_request() -> None:
    chat = Chat()
    replies = chat.send(ENGLISH)
    assert replies[0].text == msg.NOT_VIETNAMESE
    assert replies[-1].text.startswith(msg.CONSENT_REQUEST)
    chat.tap(msg.CONSENT_YES)
    assert chat.state.draft is None  # not held as a complaint to offer
    assert msg.COMPLAINT_OFFER not in chat.text


def test_a_long_first_greeting_is_not_held_as_a_complaint() -> None:
    chat = Chat()
    chat.send("xin chào ad ạ, cho em hỏi chút")
    chat.tap(msg.CONSENT_YES)
    assert chat.state.draft is None and chat.state.phase is Phase.SURVEY


def test_a_question_about_the_survey_during_it_is_answered_then_asked_again() -> None:
    chat = Chat()
    chat.send("/start")
    chat.tap(msg.CONSENT_YES)
    question = chat.last[-1].text
    replies = chat.send("khảo sát này để làm gì vậy ạ")
    assert [r.text for r in replies] == [msg.SURVEY_EXPLAINED, question]
    assert chat.state.phase is Phase.SURVEY and chat.state.draft is None
