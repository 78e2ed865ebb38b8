"""A citizen sends a complaint in the chat: intake, routing, tracking code, consent, tracking."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import messages as msg
from bot.service import ConversationService
from storage.models import Citizen, Complaint, ComplaintEvent, ConsentRecord, OutboxMessage
from tests.complaints.conftest import Say, talk

POTHOLE = "Đường Lê Lợi phường Bến Thành có ổ gà rất lớn, xe máy té ngã liên tục, đề nghị sửa gấp"


def rows(engine: Engine, model: type, *where: object) -> list:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(model).where(*where)))  # type: ignore[arg-type]


def send_complaint(say: Say, text: str = POTHOLE) -> list[str]:
    say("/phananh")
    say("1")  # consent to the chat (first time)
    say(text)
    return say("gửi")


def test_a_complaint_gets_a_code_a_unit_and_a_due_date(catalogued: Engine, citizen: Say) -> None:
    replies = send_complaint(citizen)
    assert any("Phường Bến Thành" in r for r in replies)  # the ward found in the text
    assert msg.CONTACT_CONSENT.split("\n")[0] in replies[-1]
    assert citizen("1")[-1] == msg.ASK_NAME  # agrees that the unit sees name and phone
    citizen("Nguyễn Văn An")
    done = citizen("0901 234 567")
    confirmation = done[-1]
    assert "PA-2026-000001" in confirmation
    assert "Hạn trả lời: 11/12/2026" in confirmation  # 10 days, local calendar
    complaint = rows(catalogued, Complaint)[0]
    assert complaint.code == "PA-2026-000001" and complaint.contact_phone == "0901234567"
    assert complaint.contact_name == "Nguyễn Văn An" and complaint.ward_code == "p-ben-thanh"
    assert complaint.status in ("routed", "triage") and complaint.confidence is not None
    assert "[SĐT]" not in complaint.masked_text  # nothing to mask here
    # Consent for this purpose is kept with the text shown; the history starts with intake.
    consent = rows(catalogued, ConsentRecord)[0]
    assert consent.purpose == "complaint_contact" and "Nghị định 20" in consent.text_shown
    assert [e.action for e in rows(catalogued, ComplaintEvent)] == ["submit"]
    assert rows(catalogued, Citizen)[0].phone == "0901234567"


def test_the_second_complaint_skips_the_contact_questions(catalogued: Engine, citizen: Say) -> None:
    send_complaint(citizen)
    citizen("1")
    citizen("Nguyễn Văn An")
    citizen("0901234567")
    citizen("/phananh")
    citizen("Nhà hàng xóm hát karaoke tới 1 giờ sáng mỗi đêm ở phường Tân Định, rất ồn")
    done = citizen("gửi")
    assert "PA-2026-000002" in done[-1]


def test_declining_contact_keeps_the_text_as_anonymous_feedback(
    catalogued: Engine, citizen: Say
) -> None:
    send_complaint(citizen)
    why = citizen("2")[-1]
    assert "Nghị định 20/2008" in why and msg.CONTACT_ANONYMOUS in why
    done = citizen("2")  # anonymous
    assert done[-1] == msg.FEEDBACK_KEPT
    kept = rows(catalogued, Complaint)[0]
    assert kept.anonymous and kept.code is None and kept.status == "feedback"
    assert kept.text == POTHOLE and kept.contact_phone is None and kept.channel is None


def test_free_text_is_offered_as_a_complaint_and_never_lost(
    service: ConversationService, catalogued: Engine
) -> None:
    say = talk(service, "web", "w1")
    first = say(
        "Cống thoát nước trước nhà tôi ở phường Bến Thành bị nghẹt, nước thải tràn ra đường"
    )
    assert msg.CONSENT_REQUEST in first[-1]  # held until consent
    offer = say("1")
    assert msg.COMPLAINT_OFFER in offer[-1]
    kept = say("1")
    assert "ký tự" in kept[-1]
    say("gửi")
    say("1")
    say("Trần Thị Bình")
    done = say("0912345678")
    assert "PA-2026-000001" in done[-1]
    assert "nghẹt" in rows(catalogued, Complaint)[0].text


def test_a_pause_keeps_the_draft(citizen: Say, catalogued: Engine) -> None:
    citizen("/phananh")
    citizen("1")
    citizen("Đèn đường hẻm 12 phường Tân Định hư cả tháng nay")
    assert citizen("dừng")[-1] == msg.PAUSED
    resumed = citizen("còn nữa")
    assert msg.COMPLAINT_RESUMED in resumed[0]
    citizen("Buổi tối rất tối, nguy hiểm cho người đi bộ")
    citizen("gửi")
    citizen("1")
    citizen("Lê Văn Cường")
    citizen("0987654321")
    text = rows(catalogued, Complaint)[0].text
    assert "hư cả tháng" in text and "nguy hiểm" in text


def test_bad_contact_details_are_asked_again(citizen: Say) -> None:
    send_complaint(citizen)
    citizen("1")
    assert citizen("0901234567")[-1] == msg.BAD_NAME  # a phone number is not a name
    citizen("Phạm Thị Dung")
    bad = citizen("12345")[-1]
    assert "chưa hợp lệ" in bad
    assert "PA-2026-000001" in citizen("+84 901 234 567")[-1]


def test_empty_emoji_or_phone_only_content_is_refused_politely(citizen: Say) -> None:
    citizen("/phananh")
    citizen("1")
    assert citizen("gửi")[-1] == msg.COMPLAINT_EMPTY
    citizen("😡😡😡")
    assert citizen("gửi")[-1] == msg.COMPLAINT_UNCLEAR
    citizen("/huy")
    citizen("/phananh")
    citizen("0901234567")
    assert citizen("gửi")[-1] == msg.COMPLAINT_UNCLEAR
    citizen(choice="pa:cancel")
    citizen("/phananh")
    photo = citizen("", attachments=(("photo", "AgACAgIAAx0"),))
    assert "1 ảnh" in photo[-1]
    assert citizen("gửi")[-1] == msg.COMPLAINT_PHOTOS_ONLY


def test_ten_thousand_characters_are_kept_and_more_is_refused(
    citizen: Say, catalogued: Engine
) -> None:
    citizen("/phananh")
    citizen("1")
    long = ("Vỉa hè đường Hai Bà Trưng bị lấn chiếm để bán hàng. " * 200)[:10_000]
    citizen(long)
    refused = citizen("thêm một dòng")
    assert "tối đa 10000" in refused[0]
    citizen("gửi")
    citizen("Bến Thành")
    citizen("1")
    citizen("Võ Văn Em")
    done = citizen("0901234568")
    assert "PA-2026-000001" in done[-1]
    assert len(rows(catalogued, Complaint)[0].text) == 10_000


def test_tracking_shows_only_ones_own_complaints(
    service: ConversationService, citizen: Say
) -> None:
    send_complaint(citizen)
    citizen("1")
    citizen("Nguyễn Văn An")
    citizen("0901234567")
    status = citizen("/tracuu PA-2026-000001")[-1]
    assert "PA-2026-000001" in status and "Tiếp nhận" in status
    assert "PA-2026-000001" in citizen("/tracuu")[-1]
    other = talk(service, "telegram", "6002")
    other("/start")
    other("1")
    refused = other("/tracuu PA-2026-000001")[-1]
    assert refused == msg.TRACK_NOT_FOUND.format(code="PA-2026-000001")
    unknown = other("/tracuu pa-2026-999999")[-1]
    assert unknown == msg.TRACK_NOT_FOUND.format(code="PA-2026-999999")
    assert "Tiếp nhận" in citizen("pa-2026-000001")[-1]  # a bare code typed in the menu


def test_a_formal_denunciation_goes_to_the_inspectorate(citizen: Say, catalogued: Engine) -> None:
    send_complaint(citizen, "Tôi làm đơn tố cáo cán bộ phường nhận tiền để bỏ qua vi phạm xây dựng")
    citizen("bỏ qua")  # no ward
    citizen("1")
    citizen("Nguyễn Văn An")
    done = citizen("0901234567")[-1]
    assert "Thanh tra Thành phố" in done and "Luật Khiếu nại" in done
    assert rows(catalogued, Complaint)[0].track == "khieu_nai"


def test_a_redelivered_message_does_not_submit_twice(
    service: ConversationService, catalogued: Engine
) -> None:
    from bot.engine import Inbound

    say = talk(service, "telegram", "7003")
    send_complaint(say)
    say("1")
    say("Nguyễn Văn An")
    for _ in range(2):
        service.handle("telegram", "7003", Inbound(text="0901234567"), message_id="u-99")
    assert len(rows(catalogued, Complaint)) == 1
    assert re.match(r"PA-2026-\d{6}", rows(catalogued, Complaint)[0].code)
    assert rows(catalogued, OutboxMessage)  # the confirmation is queued


def test_sentences_typed_during_a_survey_are_offered_as_a_complaint(
    citizen: Say, catalogued: Engine
) -> None:
    citizen("/start")
    citizen("1")  # consent: the general survey begins
    offered = citizen("Cán bộ tiếp nhận hồ sơ ở phường Bến Thành thái độ rất khó chịu")
    assert msg.COMPLAINT_OFFER_IN_SURVEY.split("?")[0] in offered[-1]
    back = citizen("2")  # not a complaint: the survey's question again
    assert back[-1].startswith("Câu 1")
    citizen("Cán bộ tiếp nhận hồ sơ ở phường Bến Thành thái độ rất khó chịu")
    citizen("1")  # yes: a complaint with that text
    citizen("gửi")
    citizen("1")
    citizen("Nguyễn Văn An")
    assert "PA-2026-000001" in citizen("0901234567")[-1]
    assert "khó chịu" in rows(catalogued, Complaint)[0].text


def test_a_shared_location_offers_the_nearest_wards(citizen: Say, catalogued: Engine) -> None:
    citizen("/phananh")
    citizen("1")
    citizen("Cây xanh gãy đổ chắn ngang đường, xe không qua được")
    citizen("", location=(10.7721, 106.6983))  # by Bến Thành market
    asked = citizen("gửi")[-1]
    assert asked.startswith(msg.WARD_PICK_NEAR) and "1. Phường Bến Thành" in asked
    assert "Phường Bến Thành" in citizen("1")[0]  # typed: the first ward offered
    citizen("1")
    citizen("Nguyễn Văn An")
    citizen("0901234567")
    row = rows(catalogued, Complaint)[0]
    assert row.ward_code == "p-ben-thanh" and row.latitude == 10.7721
