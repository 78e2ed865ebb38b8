"""Complaints end to end on Telegram: the real app under uvicorn, PTB against the fake Bot API.

A citizen writes (text, a photo, their own contact) → the confirmation with the code → the
card in the unit's linked group → staff buttons → the citizen is told → the citizen rates.
And the refusals: someone not registered, staff of another unit, an unlinked group, a forged
callback, an old card's button.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import messages as msg
from bot.desk import ComplaintDesk
from hailong.server import create_app
from storage import complaints as store
from storage import migrate
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import make_engine, session_scope
from storage.models import AuditLog, Complaint, ComplaintEvent
from tests.channels.chat import SECRET, TelegramUser, settle
from tests.channels.fakes import FakeTelegram, serve, wait_for
from tests.channels.test_telegram import channel_settings

GROUP = -1001234
OTHER_GROUP = -1005678
STAFF = 9001
OUTSIDER = 9002
OTHER_UNIT_STAFF = 9003
TEXT = "Đèn đường trên đường Nguyễn Huệ hư hết cả tuần nay, buổi tối tối om rất nguy hiểm"


@pytest.fixture(scope="module")
def model_dir(nlp_model_dir: Path) -> Path:
    return nlp_model_dir


@dataclass
class World:
    engine: Engine
    fake: FakeTelegram
    url: str
    unit: str  # where TEXT is routed

    def citizen(self, chat_id: int) -> TelegramUser:
        return TelegramUser(self.url, self.fake, chat_id)


@pytest.fixture
def world(sqlite_url: str, model_dir: Path) -> Iterator[World]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
        from nlp.router import load_router

        desk = ComplaintDesk(lambda: load_router(model_dir))
        routing, _, _ = desk._route(session, TEXT, None, None)
        unit = routing.unit
        store.add_staff(session, name="Cán bộ An", unit_code=unit, role="staff", telegram_id=STAFF)
        other = "SYT" if unit != "SYT" else "SGDDT"
        store.add_staff(
            session, name="Cán bộ Y", unit_code=other, role="staff", telegram_id=OTHER_UNIT_STAFF
        )
    fake = FakeTelegram()
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg, nlp_model_dir=model_dir)
        with serve(create_app(settings)) as url:
            yield World(engine, fake, url, unit)
    engine.dispose()


_ids = itertools.count(1)


def post(world: World, update: dict[str, Any]) -> None:
    response = httpx.post(
        f"{world.url}/webhooks/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=20,
    )
    assert response.status_code == 200, response.text


def group_text(world: World, user: int, text: str, chat: int = GROUP) -> None:
    n = 500_000 + next(_ids)
    post(
        world,
        {
            "update_id": n,
            "message": {
                "message_id": n,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "supergroup", "title": "Tổ xử lý phản ánh"},
                "from": {"id": user, "is_bot": False, "first_name": f"U{user}"},
                "text": text,
            },
        },
    )


def press(world: World, user: int, data: str, message_id: int, chat: int = GROUP) -> str:
    """A staff member presses a card's button; the text only they are shown."""
    n = 600_000 + next(_ids)
    before = len(world.fake.calls)
    post(
        world,
        {
            "update_id": n,
            "callback_query": {
                "id": f"cq{n}",
                "from": {"id": user, "is_bot": False, "first_name": f"U{user}"},
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": chat, "type": "supergroup"},
                    "text": "card",
                },
            },
        },
    )

    def answered() -> bool:
        return any(
            m == "answerCallbackQuery" and p.get("callback_query_id") == f"cq{n}"
            for m, p in world.fake.calls[before:]
        )

    wait_for(answered, 10, "the button to be answered")
    answer = next(
        p
        for m, p in world.fake.calls[before:]
        if m == "answerCallbackQuery" and p.get("callback_query_id") == f"cq{n}"
    )
    return str(answer.get("text", ""))


def card(world: World, chat: int = GROUP) -> dict[str, Any]:
    cards = [m for m in world.fake.sent(chat) if "📮" in m["text"]]
    assert cards, "no card in the group"
    return cards[-1]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


def complaint(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(Complaint)).one()  # type: ignore[call-overload]


def link_group(world: World) -> None:
    with session_scope(world.engine) as session:
        unit = store.unit_by_code(session, world.unit)
        assert unit is not None and unit.id is not None
        from datetime import timedelta

        from storage.types import utcnow

        code = store.new_link_code(session, unit.id, utcnow(), timedelta(hours=1))
    group_text(world, STAFF, f"/lienket {code}")
    settle(world.engine)
    assert msg.STAFF_LINKED.split("{")[0] in world.fake.sent(GROUP)[-1]["text"]
    group_text(world, OUTSIDER, f"/lienket {code}", chat=OTHER_GROUP)  # used: refused
    settle(world.engine)
    assert world.fake.sent(OTHER_GROUP)[-1]["text"] == msg.STAFF_LINK_REFUSED


def submit(world: World, citizen: TelegramUser) -> str:
    citizen.say("/phananh")
    settle(world.engine)
    citizen.press(msg.CONSENT_YES)
    citizen.say(TEXT)
    photo = citizen.text_update("")
    del photo["message"]["text"]
    photo["message"]["photo"] = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "AgACAgBIG", "file_unique_id": "b", "width": 800, "height": 600},
    ]
    assert citizen.post(photo).status_code == 200
    settle(world.engine)
    citizen.press(msg.COMPLAINT_SEND)
    settle(world.engine)
    citizen.press(msg.WARD_SKIP)
    settle(world.engine)
    citizen.press(msg.CONSENT_YES)  # contact details for the unit
    settle(world.engine)
    asked = citizen.last_keyboard()
    assert asked["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    share = citizen.text_update("")
    del share["message"]["text"]
    share["message"]["contact"] = {
        "phone_number": "+84901234567",
        "first_name": "Nguyễn",
        "last_name": "Văn An",
        "user_id": citizen.chat_id,
    }
    assert citizen.post(share).status_code == 200
    settle(world.engine)
    confirmation = citizen.texts()[-1]
    assert "PA-" in confirmation and "Hạn trả lời" in confirmation
    return confirmation


def test_the_whole_loop_from_citizen_to_staff_and_back(world: World) -> None:
    link_group(world)
    citizen = world.citizen(701)
    submit(world, citizen)
    row = complaint(world.engine)
    assert row.contact_phone == "0901234567" and row.photos == [["photo", "AgACAgBIG"]]
    the_card = card(world)
    assert row.code in the_card["text"] and "Phân loại tự động" in the_card["text"]
    assert "0901234567" not in the_card["text"]  # contact only on request
    photos = [p for m, p in world.fake.calls if m == "sendPhoto"]
    assert photos and int(photos[0]["chat_id"]) == GROUP and photos[0]["photo"] == "AgACAgBIG"
    card_id = the_card["_message_id"]
    keys = buttons(the_card)

    # Refusals: not registered, another unit's staff, another group, a forged callback.
    assert (
        press(world, OUTSIDER, keys[msg.STAFF_BUTTONS["acc"]], card_id)
        == msg.STAFF_REFUSED["not_staff"]
    )
    refused = press(world, OTHER_UNIT_STAFF, keys[msg.STAFF_BUTTONS["acc"]], card_id)
    assert refused == msg.STAFF_REFUSED["wrong_unit"]
    refused = press(world, STAFF, keys[msg.STAFF_BUTTONS["acc"]], card_id, chat=OTHER_GROUP)
    assert refused == msg.STAFF_REFUSED["wrong_group"]
    assert press(world, STAFF, "k:acc:999999", card_id) == msg.STAFF_REFUSED["unknown"]
    assert press(world, STAFF, "k:zzz:1", card_id) == msg.STAFF_REFUSED["unknown"]
    assert complaint(world.engine).status in ("routed", "triage")

    # Contact details: shown to the presser only, logged.
    shown = press(world, STAFF, keys[msg.STAFF_BUTTONS["ct"]], card_id)
    assert "0901234567" in shown

    # Accept: the citizen is told, the card is edited to show who acted.
    if complaint(world.engine).status == "routed":
        assert press(world, STAFF, keys[msg.STAFF_BUTTONS["acc"]], card_id) == msg.STAFF_DONE
        settle(world.engine)
        assert "đã được" in citizen.texts()[-1] and row.code in citizen.texts()[-1]
        edits = [
            p for m, p in world.fake.calls if m == "editMessageText" and int(p["chat_id"]) == GROUP
        ]
        assert edits and "Cán bộ An" in edits[-1]["text"]
        # The old card's «Tiếp nhận» again: it moved on.
        again = press(world, STAFF, keys[msg.STAFF_BUTTONS["acc"]], card_id)
        assert again.startswith(msg.STAFF_REFUSED["state"].split("(")[0].strip()[:20])

    # Request information: the staff member's next message is the question.
    edits = [
        p for m, p in world.fake.calls if m == "editMessageText" and int(p["chat_id"]) == GROUP
    ]
    keys = buttons(edits[-1]) if edits else keys
    press(world, STAFF, keys[msg.STAFF_BUTTONS["inf"]], card_id)
    group_text(world, STAFF, "Xin cho biết số nhà gần nhất?")
    settle(world.engine)
    assert "Xin cho biết số nhà gần nhất?" in citizen.texts()[-1]
    citizen.say("Trước số nhà 45")
    settle(world.engine)
    under = world.fake.sent(GROUP)[-1]
    assert under["reply_parameters"]["message_id"] == card_id  # a reply under the card
    assert (
        "Trước số nhà" in world.fake.sent(GROUP)[-1]["text"]
        or "[SỐ NHÀ]" in world.fake.sent(GROUP)[-1]["text"]
    )

    # Answer and close: the citizen gets the answer with the rating buttons, and rates.
    press(world, STAFF, keys[msg.STAFF_BUTTONS["ans"]], card_id)
    group_text(world, STAFF, "Đã thay bóng đèn ngày 05/12. Cảm ơn ông.")
    settle(world.engine)
    assert "Đã thay bóng đèn" in citizen.texts()[-1]
    citizen.press(msg.RATE_SATISFIED)
    settle(world.engine)
    final = complaint(world.engine)
    assert final.status == "rated" and final.satisfied is True
    edits = [
        p for m, p in world.fake.calls if m == "editMessageText" and int(p["chat_id"]) == GROUP
    ]
    assert msg.STATUS_LABELS["rated"] in edits[-1]["text"]  # the card follows the citizen too
    assert not edits[-1].get("reply_markup")  # closed: no buttons left
    with world.engine.connect() as conn:
        actions = [r[0] for r in conn.execute(sa.select(ComplaintEvent.action))]  # type: ignore[call-overload]
        audit = [r[0] for r in conn.execute(sa.select(AuditLog.action))]  # type: ignore[call-overload]
    assert actions[0] == "submit" and "answer" in actions and actions[-1] == "rate"
    assert "complaint.contact_viewed" in audit and "complaint.refused" in audit
    assert "staff.forged_callback" in audit


def test_transfer_with_the_unit_picker_then_reopen(world: World) -> None:
    link_group(world)
    citizen = world.citizen(702)
    submit(world, citizen)
    row = complaint(world.engine)
    card_id = card(world)["_message_id"]
    keys = buttons(card(world))
    target = "CAPNUOC" if world.unit != "CAPNUOC" else "DIENLUC"
    # «Chuyển đơn vị»: a message with a button per unit; picking one asks for the reason.
    assert press(world, STAFF, keys[msg.STAFF_BUTTONS["tr"]], card_id) == msg.STAFF_DONE
    settle(world.engine)
    picker = world.fake.sent(GROUP)[-1]
    units = buttons(picker)
    assert any("Cấp nước" in label for label in units)
    pick = next(data for label, data in units.items() if data.endswith(f":{target}"))
    assert press(world, STAFF, pick, picker["_message_id"]) == msg.STAFF_DONE
    group_text(world, STAFF, "Đây là việc của ngành nước")
    settle(world.engine)
    moved = complaint(world.engine)
    assert moved.transfers == 1 and moved.status == "routed"
    assert "Đây là việc của ngành nước" in citizen.texts()[-1]
    # The other unit answers (through the rules, as its group would), then the citizen
    # reopens with the button under the answer.
    with session_scope(world.engine) as session:
        from bot.desk import ComplaintDesk, store_outbox
        from complaints import lifecycle as lc
        from storage.types import utcnow

        row_now = session.get(Complaint, row.id)
        assert row_now is not None
        actor = lc.Actor(lc.ActorKind.STAFF, id="9", name="Cán bộ nước", unit=target)
        result = ComplaintDesk(lambda: None).act(
            session, row_now, lc.Answer("Đã sửa xong."), actor, utcnow()
        )
        store_outbox(session, result.outgoing)
    settle(world.engine)
    assert "Đã sửa xong." in citizen.texts()[-1]
    citizen.press(msg.RATE_REOPEN)
    settle(world.engine)
    assert complaint(world.engine).status == "reopened"
    assert "mở lại" in citizen.texts()[-1]


def test_a_delivered_card_is_remembered_and_redrawn_when_the_citizen_erases_their_data(
    world: World,
) -> None:
    """The card and the photo the group received (nobody pressed the card) are recorded
    where they landed; the citizen's `/xoa` then edits the card (no photo count, the text as
    masked) and deletes the photo message."""
    link_group(world)
    citizen = world.citizen(705)
    submit(world, citizen)
    row = complaint(world.engine)
    the_card = card(world)
    assert msg.CARD_PHOTOS.format(n=1) in the_card["text"]
    (photo,) = [p for m, p in world.fake.calls if m == "sendPhoto" and int(p["chat_id"]) == GROUP]
    with session_scope(world.engine) as session:
        assert store.cards_of(session, row.id) == {GROUP: the_card["_message_id"]}
    wait_for(lambda: photo_rows(world.engine) == [(row.id, GROUP, photo["_message_id"])],
             what="the photo message recorded")
    citizen.say("/xoa")
    settle(world.engine)
    citizen.say("có")
    settle(world.engine)
    assert citizen.texts()[-1] == msg.FORGET_DONE
    edits = [
        p for m, p in world.fake.calls
        if m == "editMessageText" and int(p["chat_id"]) == GROUP
        and int(p["message_id"]) == the_card["_message_id"]
    ]  # fmt: skip
    assert edits, "the delivered card was not edited"
    assert row.code in edits[-1]["text"]
    assert msg.CARD_PHOTOS.format(n=1) not in edits[-1]["text"]
    assert complaint(world.engine).photos == []
    deleted = [p for m, p in world.fake.calls if m == "deleteMessage"]
    assert [(int(p["chat_id"]), int(p["message_id"])) for p in deleted] == [
        (GROUP, photo["_message_id"])
    ]
    assert photo_rows(world.engine) == []  # forgotten once deleted


def photo_rows(engine: Engine) -> list[tuple[int, int, int]]:
    from storage.models import ComplaintPhotoMessage

    with engine.connect() as conn:
        t = ComplaintPhotoMessage.__table__  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(sa.select(t.c.complaint_id, t.c.chat_id,
                                                         t.c.message_id))]
