"""Zalo OA end to end: the real app under uvicorn, a fake OpenAPI/OAuth server over HTTP."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot import messages as msg
from bot.channels.zalo import BUTTON_PREFIX, MAX_BUTTONS, signature_ok, store_tokens
from bot.engine.types import CHOSEN_MARK
from hailong.server import create_app
from storage import chats, migrate
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import make_engine, session_scope
from storage.models import (
    Answer,
    ChatContact,
    Citizen,
    Complaint,
    ConversationState,
    InboundMessage,
    OutboxMessage,
    SurveyResponse,
    table,
)
from tests.channels.chat import settle
from tests.channels.fakes import FakeZalo, serve

APP_ID = "1234567890"
OA_SECRET = "oa-secret-key"


def zalo_settings(db_url: str, zalo_url: str, **extra: Any) -> Settings:
    return Settings(
        **extra,
        database_url=db_url,
        zalo_app_id=APP_ID,
        zalo_app_secret="app-secret",
        zalo_oa_secret_key=OA_SECRET,
        zalo_oa_id="4321",
        zalo_api_base_url=zalo_url,
        zalo_oauth_base_url=zalo_url,
        outbox_retry_base_seconds=0.05,
        outbox_lease_seconds=2,
    )


def sign(raw: bytes, timestamp: str) -> str:
    return (
        "mac="
        + hashlib.sha256(
            APP_ID.encode() + raw + timestamp.encode() + OA_SECRET.encode()
        ).hexdigest()
    )


@dataclass
class ZaloUser:
    url: str
    fake: FakeZalo
    user_id: str
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def post(self, event: dict[str, Any], *, signature: str | None = "auto") -> httpx.Response:
        raw = json.dumps(event, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        if signature == "auto":
            headers["X-ZEvent-Signature"] = sign(raw, str(event.get("timestamp", "")))
        elif signature is not None:
            headers["X-ZEvent-Signature"] = signature
        return httpx.post(f"{self.url}/webhooks/zalo", content=raw, headers=headers, timeout=10)

    def event(self, name: str, ago: float = 0, **extra: Any) -> dict[str, Any]:
        return {
            "app_id": APP_ID,
            "user_id_by_app": f"app-{self.user_id}",
            "event_name": name,
            "sender": {"id": self.user_id},
            "recipient": {"id": "oa1"},
            "timestamp": str(int((time.time() - ago) * 1000)),
            **extra,
        }

    def text_event(self, text: str, ago: float = 0) -> dict[str, Any]:
        n = next(self.ids)
        return self.event(
            "user_send_text", ago, message={"text": text, "msg_id": f"m{self.user_id}-{n}"}
        )

    def say(self, text: str) -> dict[str, Any]:
        event = self.text_event(text)
        assert self.post(event).status_code == 200
        return event

    def follow(self) -> None:
        event = self.event("follow", follower={"id": self.user_id})
        assert self.post(event).status_code == 200

    def press(self, label: str) -> None:
        """Tap a button of the newest template the OA sent: Zalo sends its payload as text."""
        sent = [m for m in self.fake.sent(self.user_id) if "attachment" in m["message"]]
        buttons = sent[-1]["message"]["attachment"]["payload"]["buttons"]
        assert len(buttons) <= MAX_BUTTONS
        match = [b for b in buttons if label in b["title"]]
        assert match, f"no button {label!r} in {[b['title'] for b in buttons]}"
        self.say(match[0]["payload"])

    def texts(self) -> list[str]:
        return [m["message"]["text"] for m in self.fake.sent(self.user_id)]


@dataclass
class Running:
    engine: Engine
    fake: FakeZalo
    url: str

    def user(self, user_id: str) -> ZaloUser:
        return ZaloUser(self.url, self.fake, user_id)


@pytest.fixture
def running(sqlite_url: str, nlp_model_dir: Path) -> Iterator[Running]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    fake = FakeZalo()
    with serve(fake.app()) as zalo:
        settings = zalo_settings(sqlite_url, zalo, nlp_model_dir=nlp_model_dir)
        # The pair from the developer console; the access token has since been replaced.
        store_tokens(engine, settings, "access-stale", fake.refresh_token, 90000)
        with serve(create_app(settings)) as url:
            yield Running(engine, fake, url)
    engine.dispose()


def count(engine: Engine, model: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table(model))).scalar_one())  # type: ignore[arg-type]


def test_the_signature_is_sha256_of_app_id_body_timestamp_and_secret() -> None:
    raw = b'{"event_name":"user_send_text"}'
    good = sign(raw, "1700000000000")
    assert signature_ok(good, APP_ID, raw, "1700000000000", OA_SECRET)
    assert not signature_ok(good, APP_ID, raw + b" ", "1700000000000", OA_SECRET)
    assert not signature_ok(good, APP_ID, raw, "1700000000001", OA_SECRET)
    assert not signature_ok(good, APP_ID, raw, "1700000000000", "other")
    assert not signature_ok(None, APP_ID, raw, "1700000000000", OA_SECRET)


def test_a_citizen_completes_the_survey_through_zalo_buttons(running: Running) -> None:
    citizen = running.user("u-100")
    citizen.follow()
    settle(running.engine)
    assert citizen.texts()[0].startswith("Xin chào")
    citizen.press(msg.CONSENT_YES)
    settle(running.engine)
    citizen.press("Trực tiếp")  # HINHTHUC
    settle(running.engine)
    citizen.say("4")  # a typed number works as well as a button
    settle(running.engine)
    for _ in range(40):  # the rest by buttons, as a citizen would
        last = citizen.fake.sent(citizen.user_id)[-1]["message"]
        if msg.OFFER_SIPAS in last["text"] or msg.THANKS_DONE in last["text"]:
            break
        buttons = [
            b["title"] for b in last.get("attachment", {}).get("payload", {}).get("buttons", [])
        ]
        if not buttons:
            citizen.say("Cán bộ hướng dẫn tận tình")
        elif msg.MULTI_DONE in buttons and any(b.startswith(CHOSEN_MARK) for b in buttons):
            citizen.press(msg.MULTI_DONE)
        else:
            best = [b for b in buttons if b.endswith(". Rất hài lòng")]  # "5. Rất hài lòng"
            citizen.press(best[0] if best else buttons[0])
        settle(running.engine)

    t = table(Answer)
    r = table(SurveyResponse)
    with running.engine.connect() as conn:
        got = dict(conn.execute(sa.select(t.c.question_code, t.c.choice)).all())
        status = conn.execute(sa.select(r.c.status, r.c.channel)).one()
    assert tuple(status) == ("completed", "zalo")
    assert (got["HINHTHUC"], got["TCDV1"], got["TCDV2"], got["PAKN3"]) == (
        "truc_tiep",
        "4",
        "5",
        "5",
    )
    assert msg.THANKS_DONE in "\n".join(citizen.texts()[-2:])
    # The stale access token was refused once, refreshed once; the new pair is stored.
    assert running.fake.refreshes == 1
    with session_scope(running.engine) as s:
        pair = chats.load_token(s, f"zalo:{APP_ID}")
    assert pair is not None and (pair.access_token, pair.refresh_token) == ("access-1", "refresh-1")
    oauth = [c for c in running.fake.calls if c[0] == "oauth"]
    assert (
        oauth[0][1]["grant_type"] == "refresh_token" and oauth[0][2]["secret_key"] == "app-secret"
    )
    for body in running.fake.sent():
        buttons = body["message"].get("attachment", {}).get("payload", {}).get("buttons", [])
        assert len(buttons) <= MAX_BUTTONS
        assert all(b["payload"].startswith(BUTTON_PREFIX) for b in buttons)


def test_forged_or_missing_signatures_are_refused_and_nothing_stored(running: Running) -> None:
    citizen = running.user("u-200")
    event = citizen.text_event("xin chào")
    assert citizen.post(event, signature=None).status_code == 403
    assert citizen.post(event, signature="mac=" + "0" * 64).status_code == 403
    tampered = dict(event, sender={"id": "u-evil"})
    raw = json.dumps(event).encode()
    forged = httpx.post(
        f"{running.url}/webhooks/zalo",
        content=json.dumps(tampered).encode(),
        headers={"X-ZEvent-Signature": sign(raw, event["timestamp"])},
    )
    assert forged.status_code == 403
    bad = httpx.post(
        f"{running.url}/webhooks/zalo",
        content=b"{not json",
        headers={"X-ZEvent-Signature": "mac=1"},
    )
    assert bad.status_code == 400
    for model in (InboundMessage, ConversationState, OutboxMessage):
        assert count(running.engine, model) == 0
    assert with_chats(running.engine) == 0


def with_chats(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM chat_contact")).scalar_one())


def test_a_redelivered_msg_id_changes_nothing(running: Running) -> None:
    citizen = running.user("u-300")
    event = citizen.say("xin chào")
    settle(running.engine)
    before = (citizen.texts(), count(running.engine, OutboxMessage))
    assert citizen.post(event).status_code == 200
    settle(running.engine)
    assert (citizen.texts(), count(running.engine, OutboxMessage)) == before


def test_contact_details_and_images_are_kept_only_with_consent(running: Running) -> None:
    stranger = running.user("u-400")
    info = {"name": "Nguyễn Văn A", "phone": "0901234567", "address": "Q1"}
    assert stranger.post(stranger.event("user_submit_info", info=info)).status_code == 200
    image = {
        "msg_id": "img-1",
        "attachments": [
            {"type": "image", "payload": {"url": "https://x/1.jpg", "thumbnail": "https://x/t.jpg"}}
        ],
    }
    assert stranger.post(stranger.event("user_send_image", message=image)).status_code == 200
    settle(running.engine)
    assert count(running.engine, Citizen) == 0 and count(running.engine, Complaint) == 0

    # A complaint: a photo starts it, the text follows, Zalo's info form gives the contact
    # details once the citizen agreed that the handling unit sees them.
    citizen = running.user("u-401")
    citizen.say("xin chào")
    citizen.say("1")  # consent to the chat
    image2 = dict(image, msg_id="img-2")
    event = citizen.event("user_send_image", message=image2)
    assert citizen.post(event).status_code == 200
    assert citizen.post(event).status_code == 200  # redelivered: kept once
    citizen.say("Rác đổ bừa bãi đầu hẻm 25 đường Lê Văn Sỹ phường Tân Định, bốc mùi")
    citizen.say("gửi")
    settle(running.engine)
    assert msg.CONTACT_CONSENT.split("\n")[0] in citizen.texts()[-1]
    assert citizen.post(citizen.event("user_submit_info", info=info)).status_code == 200
    settle(running.engine)
    # Sent before agreeing that the unit sees them: not kept, the question is asked again.
    assert msg.CONTACT_CONSENT.split("\n")[0] in citizen.texts()[-1]
    citizen.say("1")  # agrees
    assert citizen.post(citizen.event("user_submit_info", info=info)).status_code == 200
    settle(running.engine)
    assert "PA-" in citizen.texts()[-1]
    sent = [m for m in running.fake.sent("u-401") if "attachment" in m["message"]]
    titles = [b["title"] for m in sent for b in m["message"]["attachment"]["payload"]["buttons"]]
    assert msg.SHARE_CONTACT not in titles  # a Telegram-only button is not offered on Zalo
    t = table(Citizen)
    c = table(Complaint)
    with running.engine.connect() as conn:
        row = conn.execute(sa.select(t.c.external_id, t.c.display_name, t.c.phone)).one()
        photos, phone = conn.execute(sa.select(c.c.photos, c.c.contact_phone)).one()
    assert tuple(row) == ("u-401", "Nguyễn Văn A", "0901234567")
    assert photos == [["image", "https://x/1.jpg"]] and phone == "0901234567"


def test_replies_past_the_free_48_hours_go_on_the_paid_quota_and_say_so(running: Running) -> None:
    citizen = running.user("u-500")
    late = citizen.text_event("xin chào", ago=49 * 3600)  # Zalo delivered it two days late
    assert citizen.post(late).status_code == 200
    settle(running.engine)
    assert len(citizen.texts()) == 1
    t = table(OutboxMessage)
    with running.engine.connect() as conn:
        status, rule = conn.execute(sa.select(t.c.status, t.c.last_error)).one()
    assert status == "sent" and rule.startswith("zalo rule: paid quota")


def test_zalo_errors_are_retried_or_dead_lettered_with_the_reason(running: Running) -> None:
    running.fake.errors = [-32, -201]  # rate limited (retry), then invalid parameter (give up)
    citizen = running.user("u-600")
    citizen.say("xin chào")
    settle(running.engine)
    t = table(OutboxMessage)
    with running.engine.connect() as conn:
        status, attempts, error = conn.execute(
            sa.select(t.c.status, t.c.attempts, t.c.last_error)
        ).one()
    assert (status, attempts) == ("dead", 2) and "-201" in error


def test_lone_surrogates_in_a_signed_event_are_stored_as_replacement_characters(
    running: Running,
) -> None:
    """JSON may escape half a surrogate pair: valid JSON, no character, which neither
    database can encode. Such an event is taken like any other, with U+FFFD in its place."""
    citizen = running.user("u-\ud83d")

    def post(event: dict[str, Any]) -> None:
        raw = json.dumps(event).encode()  # ASCII: the surrogates travel as "\\ud83d"
        assert b"\\ud83d" in raw
        headers = {"X-ZEvent-Signature": sign(raw, event["timestamp"])}
        reply = httpx.post(f"{running.url}/webhooks/zalo", content=raw, headers=headers)
        assert reply.status_code == 200

    post(citizen.text_event("xin chào"))
    post(citizen.text_event("1"))  # consent
    post(citizen.text_event("/phananh"))
    post(citizen.text_event("Đèn đường hẻm 9 phường Bến Thành hư"))
    post(citizen.text_event("gửi"))
    post(citizen.text_event("1"))  # the unit may see name and phone
    post(citizen.event("user_submit_info", info={"name": "Lan \udc00", "phone": "0901234567"}))
    settle(running.engine)
    t = table(Citizen)
    with running.engine.connect() as conn:
        row = conn.execute(sa.select(t.c.external_id, t.c.display_name)).one()
    assert tuple(row) == ("u-\ufffd", "Lan \ufffd")
    assert count(running.engine, InboundMessage) == 7


def test_a_zalo_citizen_is_told_the_answer_and_rates_it_with_the_buttons(
    running: Running,
) -> None:
    from bot.desk import ComplaintDesk, store_outbox
    from complaints import lifecycle as lc
    from storage import complaints as store
    from storage.types import utcnow

    citizen = running.user("u-700")
    citizen.say("xin chào")
    citizen.say("1")
    citizen.say("/phananh")
    citizen.say("Nước máy ở phường Tân Định yếu và có mùi lạ mấy hôm nay")
    citizen.say("gửi")
    citizen.say("1")
    citizen.say("Phạm Văn Lộc")
    citizen.say("0933444555")
    settle(running.engine)
    assert "PA-" in citizen.texts()[-1]
    with session_scope(running.engine) as session:
        row = session.exec(sa.select(Complaint)).one()[0]  # type: ignore[call-overload]
        unit = store.unit_code_of(session, row)
        actor = lc.Actor(lc.ActorKind.STAFF, id="1", name="Cán bộ", unit=unit)
        result = ComplaintDesk(lambda: None).act(
            session, row, lc.Answer("Đã súc xả đường ống."), actor, utcnow()
        )
        store_outbox(session, result.outgoing)
    settle(running.engine)
    assert "Đã súc xả đường ống." in citizen.texts()[-1]
    citizen.press(msg.RATE_SATISFIED)
    settle(running.engine)
    with running.engine.connect() as conn:
        status, satisfied = conn.execute(
            sa.select(table(Complaint).c.status, table(Complaint).c.satisfied)
        ).one()
    assert (status, satisfied) == ("rated", True)
    assert "Cảm ơn" in citizen.texts()[-1]


def test_an_answer_longer_than_zalo_takes_arrives_in_pieces(running: Running) -> None:
    from bot.channels.zalo import TEXT_MAX

    citizen = running.user("u-800")
    citizen.say("xin chào")
    citizen.say("1")
    settle(running.engine)
    long_text = ("Đã kiểm tra hiện trường và lập biên bản xử lý vi phạm. " * 60).strip()
    with session_scope(running.engine) as session:
        from storage.conversations import enqueue

        enqueue(session, "zalo", "u-800", {"text": long_text, "buttons": []})
    settle(running.engine)
    pieces = citizen.texts()[-3:]
    assert all(len(p) <= TEXT_MAX for p in citizen.texts())
    assert " ".join(pieces).replace("  ", " ").endswith(long_text[-200:])


def test_a_location_from_zalo_joins_the_complaint(running: Running) -> None:
    citizen = running.user("u-900")
    citizen.say("xin chào")
    citizen.say("1")
    citizen.say("/phananh")
    place = {
        "msg_id": "loc-1",
        "attachments": [
            {
                "type": "location",
                "payload": {"coordinates": {"latitude": "10.7721", "longitude": "106.6983"}},
            }
        ],
    }
    assert citizen.post(citizen.event("user_send_location", message=place)).status_code == 200
    broken = {
        "msg_id": "loc-2",
        "attachments": [{"type": "location", "payload": {"coordinates": {"latitude": "north"}}}],
    }
    assert citizen.post(citizen.event("user_send_location", message=broken)).status_code == 200
    settle(running.engine)
    assert msg.COMPLAINT_LOCATION_KEPT in citizen.texts()[-1]


def test_the_url_check_gets_200_and_hostile_bodies_get_4xx_storing_nothing(
    running: Running,
) -> None:
    hook = f"{running.url}/webhooks/zalo"
    # Zalo's check when the URL is saved: no signed event, 200 expected.
    assert httpx.post(hook, content=b"").status_code == 200
    assert httpx.post(hook, json={"app_id": APP_ID}).status_code == 200
    citizen = running.user("u-1000")
    assert citizen.post(citizen.text_event("xin chào"), signature=None).status_code == 403
    big = b'{"event_name": "user_send_text", "pad": "' + b"x" * 400_000 + b'"}'
    assert httpx.post(hook, content=big, headers={"X-ZEvent-Signature": "mac=1"}).status_code == 413
    nested = b"[" * 100_000 + b"]" * 100_000
    answer = httpx.post(hook, content=nested, headers={"X-ZEvent-Signature": "mac=1"})
    assert answer.status_code in (400, 413)
    deep = b'{"event_name": "x", "a": ' + b"[" * 60_000 + b"]" * 60_000 + b"}"
    assert (
        httpx.post(hook, content=deep, headers={"X-ZEvent-Signature": "mac=1"}).status_code == 400
    )
    # Signed events whose sender cannot be a chat: acknowledged, nothing kept.
    for sender in ("u-1", {"id": "x" * 65}, {"id": "a\u0000b"}, {"id": True}, None):
        event = citizen.text_event("xin chào")
        event["sender"] = sender
        assert citizen.post(event).status_code == 200
    for model in (InboundMessage, ConversationState, OutboxMessage, Citizen):
        assert count(running.engine, model) == 0
    assert with_chats(running.engine) == 0


def test_buttons_have_zalos_shape_and_token_errors_refresh(running: Running) -> None:
    running.fake.errors = [-220]  # the access token was removed: refresh, then send
    citizen = running.user("u-1100")
    citizen.say("xin chào")
    settle(running.engine)
    assert running.fake.refreshes >= 1
    sent = running.fake.sent("u-1100")
    payload = sent[-1]["message"]["attachment"]["payload"]
    assert "template_type" not in payload and payload["buttons"]
    running.fake.errors = [-14003]  # an OAuth parameter error: retrying cannot help
    citizen.say("1")
    settle(running.engine)
    t = table(OutboxMessage)
    with running.engine.connect() as conn:
        dead = conn.execute(sa.select(t.c.last_error).where(t.c.status == "dead")).scalars().all()
    assert dead and "-14003" in dead[0]


def test_a_sticker_counts_as_the_users_interaction(running: Running) -> None:
    citizen = running.user("u-1200")
    sticker = citizen.event("user_send_sticker", message={"msg_id": "st-1", "attachments": []})
    assert citizen.post(sticker).status_code == 200
    assert with_chats(running.engine) == 1
    assert count(running.engine, OutboxMessage) == 0


def test_forgetting_a_zalo_citizen_leaves_nothing_of_them_in_any_table(running: Running) -> None:
    citizen = running.user("u-zalo-4242")
    citizen.follow()
    citizen.say("1")  # consent: the survey begins
    citizen.say("/phananh")
    citizen.say("Nhà tôi số 12 Lê Lợi phường Bến Thành, gọi 0977888999, cống bị nghẹt")
    citizen.say("gửi")
    citizen.say("1")
    info = {"name": "Trần Văn Tâm", "phone": "0977888999"}
    assert citizen.post(citizen.event("user_submit_info", info=info)).status_code == 200
    settle(running.engine)
    assert "PA-" in citizen.texts()[-1]
    citizen.say("/xoa")
    citizen.say("1")
    settle(running.engine)
    needles = ["u-zalo-4242", "0977888999", "Trần Văn Tâm", "app-u-zalo-4242"]
    found = []
    with running.engine.connect() as conn:
        for name in sa.inspect(running.engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                blob = " ".join(str(v) for v in row)
                found += [f"{name}: {n}" for n in needles if n in blob]
    assert found == []
    assert count(running.engine, Complaint) == 1  # kept for the unit's record, masked


def test_old_signed_events_neither_move_the_window_back_nor_unfollow(running: Running) -> None:
    citizen = running.user("u-1300")
    citizen.say("xin chào")
    settle(running.engine)
    t = table(ChatContact)

    def contact() -> tuple[Any, ...]:
        with running.engine.connect() as conn:
            return tuple(conn.execute(sa.select(t.c.last_inbound_at, t.c.following)).one())

    before = contact()
    stale = citizen.event("unfollow", ago=40 * 86400, follower={"id": "u-1300"})
    assert citizen.post(stale).status_code == 200  # 40 days old: acknowledged, ignored
    late = citizen.text_event("tin nhắn đến muộn", ago=3 * 86400)
    assert citizen.post(late).status_code == 200  # within the window, but older than the last
    settle(running.engine)
    assert contact() == before
