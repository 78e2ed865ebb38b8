"""The engine along every path of both shipped questionnaires, with no I/O at all."""

from __future__ import annotations

import pytest

from bot import messages as msg
from bot.engine import (
    CompleteResponse,
    ConversationState,
    ForgetCitizen,
    GiveConsent,
    Phase,
    StartResponse,
)
from bot.engine.types import SubmitComplaint
from tests.bot.chat import QUESTIONNAIRES, Chat, dossier

SIPAS_LIKERT = [
    q.code for q in QUESTIONNAIRES["sipas"].questions if q.type == "likert5" and q.when is None
]


def consented(chat: Chat, start: str = "/start") -> Chat:
    chat.send(start)
    chat.tap(msg.CONSENT_YES)
    return chat


def test_first_message_asks_consent_and_says_it_is_automated() -> None:
    chat = Chat()
    replies = chat.send("xin chào")
    assert "tự động" in replies[0].text
    labels = [b.label for b in replies[0].buttons]
    assert labels == [f"1. {msg.CONSENT_YES}", f"2. {msg.CONSENT_NO}"]
    assert chat.effects == []  # nothing personal recorded before consent


def test_declining_consent_stores_nothing_and_says_goodbye() -> None:
    chat = Chat(dossiers={"HS1": dossier("HS1")})
    chat.send("/start HS1")
    chat.send("không đồng ý")
    assert chat.text == msg.CONSENT_DECLINED
    assert [type(e) for e in chat.effects] == [ForgetCitizen]
    assert chat.state == ConversationState()


def test_consent_is_recorded_with_the_text_shown() -> None:
    chat = consented(Chat())
    consent = chat.effects[0]
    assert isinstance(consent, GiveConsent) and consent.text_shown == msg.CONSENT_REQUEST


@pytest.mark.parametrize("typed", ["1", "Đồng ý", "dong y", "có", "co", "OK"])
def test_consent_can_be_typed(typed: str) -> None:
    chat = Chat()
    chat.send("/start")
    chat.send(typed)
    assert chat.state.phase is Phase.SURVEY


def test_unclear_consent_answer_is_asked_again() -> None:
    chat = Chat()
    chat.send("/start")
    chat.send("hả?")
    assert msg.CONSENT_REASK in chat.text and chat.state.phase is Phase.CONSENT


def test_dossier_rated_satisfied_then_sipas_declined() -> None:
    chat = consented(Chat(dossiers={"HS1": dossier("HS1")}), "/start HS1")
    start = chat.effects[1]
    assert isinstance(start, StartResponse)
    assert (start.questionnaire_code, start.dossier_code) == ("danh-gia-ho-so", "HS1")
    assert "HS1" in chat.text and "Sở Tư pháp" in chat.text
    chat.tap("Hài lòng")
    assert msg.THANKS_DONE in chat.text and chat.state.phase is Phase.OFFER
    chat.send("không")
    assert chat.text == msg.GOODBYE and chat.state.phase is Phase.IDLE
    answers = chat.answers()
    assert list(answers) == ["DG"]
    assert (answers["DG"].choice, answers["DG"].score, answers["DG"].satisfied) == (
        "hai_long",
        2,
        True,
    )
    assert isinstance(chat.effects[-1], CompleteResponse)


def test_not_satisfied_requires_a_reason() -> None:
    chat = consented(Chat(dossiers={"HS1": dossier("HS1")}), "/start HS1")
    chat.send("khong hai long")
    assert "lý do" in chat.text
    chat.send("bỏ qua")
    assert msg.REQUIRED in chat.text
    chat.send("   ")
    assert msg.EMPTY_TEXT in chat.text
    chat.send("Chờ quá lâu, hẹn 3 lần vẫn chưa có kết quả")
    answers = chat.answers()
    assert answers["DG"].satisfied is False and answers["DG"].score == 1
    assert answers["LYDO"].text == "Chờ quá lâu, hẹn 3 lần vẫn chưa có kết quả"
    # The reason is kept as feedback on the dossier at once, and offered as a complaint.
    kept = [e for e in chat.last_effects if isinstance(e, SubmitComplaint)]
    assert len(kept) == 1 and kept[0].anonymous and kept[0].dossier == "HS1"
    assert kept[0].origin == "dossier_reason" and "3 lần" in kept[0].text
    assert chat.state.phase is Phase.COMPLAINT_OFFER
    chat.send("không")  # declined: the SIPAS questionnaire is offered, as before
    assert chat.state.phase is Phase.OFFER and msg.OFFER_SIPAS in chat.text


def test_changing_the_rating_back_to_satisfied_drops_the_reason() -> None:
    chat = consented(Chat(dossiers={"HS1": dossier("HS1")}), "/start HS1")
    chat.send("1")  # Không hài lòng
    chat.send("quay lại")
    assert "Không hài lòng" in chat.text  # the earlier answer is shown
    chat.send("rất hài lòng")
    answers = chat.answers()
    assert answers["DG"].choice == "rat_hai_long" and "LYDO" not in answers
    assert chat.state.phase is Phase.OFFER


@pytest.mark.parametrize("route", ["truc_tiep", "truc_tuyen"])
def test_full_sipas_after_the_dossier_rating(route: str) -> None:
    chat = consented(Chat(dossiers={"HS1": dossier("HS1")}), "/start HS1")
    chat.send("3")  # Rất hài lòng
    chat.tap(msg.YES)
    sipas_key = chat.state.survey.key if chat.state.survey else ""
    chat.send(choice=f"a:HINHTHUC:{route}")
    asked = []
    while chat.state.survey and chat.state.survey.current != "MONGDOI":
        asked.append(chat.state.survey.current)
        chat.send("5")
    assert ("TCDV5" in asked) == (route == "truc_tuyen")
    chat.send("1, 4")
    chat.send("Nên có thêm chỗ đậu xe máy")
    assert msg.THANKS_DONE in chat.text and chat.state.phase is Phase.IDLE
    answers = chat.answers(sipas_key)
    assert answers["HINHTHUC"].choice == route
    assert all(answers[c].score == 5 and answers[c].satisfied for c in SIPAS_LIKERT)
    assert answers["CC1"].element_code == "CC"
    assert answers["MONGDOI"].choice == "|thong_tin|thoi_gian|"
    assert answers["GOPY"].text == "Nên có thêm chỗ đậu xe máy"


@pytest.mark.parametrize(
    ("typed", "score"),
    [
        ("5", 5),
        ("rat hai long", 5),
        ("Rất hài lòng", 5),
        ("RẤT HÀI LÒNG!", 5),
        ("1", 1),
        ("rất không hài lòng", 1),
        ("binh thuong", 3),
        ("Hài lòng", 4),
        ("khong hai long", 2),
    ],
)
def test_likert_answers_typed_as_number_or_label(typed: str, score: int) -> None:
    chat = consented(Chat())
    chat.send("1")  # HINHTHUC: trực tiếp
    chat.send(typed)
    assert chat.answers()["TCDV1"].score == score


@pytest.mark.parametrize("typed", ["0", "không ý kiến", "khong y kien"])
def test_no_opinion_is_kept_but_marked(typed: str) -> None:
    chat = consented(Chat())
    chat.send("1")
    chat.send(typed)
    a = chat.answers()["TCDV1"]
    assert (a.status, a.score, a.satisfied, a.choice) == ("no_opinion", None, None, "0")


def test_skip_records_a_skipped_answer() -> None:
    chat = consented(Chat())
    chat.send("1")
    chat.send("bỏ qua")
    assert chat.answers()["TCDV1"].status == "skipped"
    assert chat.state.survey and chat.state.survey.current == "TCDV2"


def test_back_at_the_first_question_says_so() -> None:
    chat = consented(Chat())
    chat.send("quay lai")
    assert msg.BACK_AT_START in chat.text


def test_unexpected_input_reasks_and_keeps_earlier_answers() -> None:
    chat = consented(Chat())
    chat.send("2")
    chat.send("4")
    for junk in ["bảy", "99", "🙂", "x" * 50_000, "", "/unknown", "rat"]:
        chat.send(junk)
        assert chat.state.survey and chat.state.survey.current == "TCDV2"
        assert chat.last[-1].buttons  # the question again, with its buttons
    assert chat.answers()["TCDV1"].score == 4
    assert "…" in chat.send("y" * 500)[0].text  # a long quote is cut


def test_stop_then_resume_where_left() -> None:
    chat = consented(Chat())
    chat.send("1")
    chat.send("dừng")
    assert chat.text == msg.PAUSED and chat.state.phase is Phase.PAUSED
    chat.send("5")  # the first message after a pause shows the question, it is not an answer
    assert msg.RESUMED in chat.text and "TCDV1" not in chat.answers()
    chat.send("5")
    assert chat.answers()["TCDV1"].score == 5


def test_start_while_paused_resumes_the_same_response() -> None:
    chat = consented(Chat())
    key = chat.state.survey.key if chat.state.survey else ""
    chat.send("stop")
    chat.send("/start")
    assert chat.state.survey and chat.state.survey.key == key
    assert sum(isinstance(e, StartResponse) for e in chat.effects) == 1


def test_help_then_the_question_again() -> None:
    chat = consented(Chat())
    chat.send("trợ giúp")
    assert chat.last[0].text == msg.HELP and chat.last[1].buttons


def test_multi_choice_by_buttons_then_done() -> None:
    chat = consented(Chat())
    chat.send("1")
    while chat.state.survey and chat.state.survey.current != "MONGDOI":
        chat.send("4")
    chat.tap("Thái độ công chức")
    chat.tap("Dịch vụ công trực tuyến")
    chat.tap("Thái độ công chức")  # tapped twice: unselected
    assert "Dịch vụ công trực tuyến" in chat.text
    chat.tap(msg.MULTI_DONE)
    assert chat.answers()["MONGDOI"].choice == "|truc_tuyen|"


def test_multi_choice_limits() -> None:
    chat = consented(Chat())
    chat.send("1")
    while chat.state.survey and chat.state.survey.current != "MONGDOI":
        chat.send("4")
    chat.send("1,2,3,4")
    assert msg.MULTI_TOO_MANY.format(max=3) in chat.text
    chat.send("xong")
    assert msg.MULTI_EMPTY in chat.text
    chat.send("1 3")
    assert chat.answers()["MONGDOI"].choice == "|thong_tin|thai_do|"


def test_a_stale_button_does_not_answer_the_current_question() -> None:
    chat = consented(Chat())
    chat.send("1")
    chat.send(choice="a:HINHTHUC:truc_tuyen")
    assert chat.answers()["HINHTHUC"].choice == "truc_tiep"
    assert chat.state.survey and chat.state.survey.current == "TCDV1"


def test_a_dossier_is_rated_once() -> None:
    chat = Chat(dossiers={"HS1": dossier("HS1", "danh-gia-ho-so")})
    chat.send("/start HS1")
    assert chat.text == msg.DOSSIER_ALREADY_RATED.format(dossier="HS1")
    assert chat.effects == []


def test_no_sipas_offer_when_the_dossier_already_has_one() -> None:
    chat = consented(Chat(dossiers={"HS1": dossier("HS1", "sipas")}), "/start HS1")
    chat.send("3")
    assert chat.state.phase is Phase.IDLE and msg.OFFER_SIPAS not in chat.text


def test_unknown_dossier_and_invalid_link_are_refused_politely() -> None:
    chat = Chat()
    chat.send("/start NOPE")
    assert chat.text == msg.DOSSIER_UNKNOWN.format(dossier="NOPE")
    assert chat.effects == [] and chat.state.phase is Phase.NEW


def test_idle_menu_starts_a_general_survey() -> None:
    chat = consented(Chat())
    chat.send("stop")
    chat.state.phase = Phase.IDLE
    chat.state.survey = None
    chat.send("hello")
    assert chat.last[-1].buttons  # a greeting, then the menu
    chat.send("1")
    assert chat.state.phase is Phase.SURVEY
    assert chat.state.survey and chat.state.survey.questionnaire == "sipas"


def test_forget_my_data_confirmed_and_cancelled() -> None:
    chat = consented(Chat())
    chat.send("1")
    chat.send("/xoa")
    assert chat.state.phase is Phase.FORGET
    chat.send("không")
    assert msg.FORGET_CANCELLED in chat.text
    assert chat.state.phase is Phase.SURVEY and chat.state.survey
    chat.send("/xoa")
    chat.send("có")
    assert chat.text == msg.FORGET_DONE
    assert isinstance(chat.effects[-1], ForgetCitizen) and chat.state == ConversationState()


def test_a_survey_on_a_removed_questionnaire_version_restarts_cleanly() -> None:
    chat = consented(Chat())
    assert chat.state.survey
    chat.state.survey.version = "1999"
    chat.send("5")
    assert chat.state.phase is Phase.IDLE and chat.state.survey is None
