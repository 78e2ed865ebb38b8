"""A complaint from the web chat over real HTTP: a photo upload (checked, size-limited, kept in
the database), the confirmation in the response, and a unit's later answer picked up by the
page's polling of /api/v1/chat/messages."""

from __future__ import annotations

import base64
from pathlib import Path

import sqlalchemy as sa

from bot import messages as msg
from bot.desk import ComplaintDesk
from complaints import lifecycle as lc
from storage import complaints as store
from storage.db import session_scope
from storage.models import Complaint, Upload
from tests.web.chat import WebChat
from tests.web.conftest import Live

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def photo(chat: WebChat, data: bytes, kind: str = "image/png", **extra: str) -> object:
    body = {
        "session_id": chat.session_id,
        "message_id": extra.pop("message_id", "photo-00001"),
        "image": f"data:{kind};base64," + base64.b64encode(data).decode(),
        "after": chat.after,
        **extra,
    }
    return chat.http.post("/api/v1/chat/photo", json=body)


def test_a_complaint_with_a_photo_and_the_answer_arrives_later(
    start_server: object, nlp_model_dir: Path
) -> None:
    live: Live = start_server(nlp_model_dir=nlp_model_dir)  # type: ignore[operator]
    chat = WebChat(live.http)
    chat.send(text="/phananh")
    chat.send(text="1")  # consent to the chat
    response = photo(chat, PNG)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert "1 ảnh" in response.json()["messages"][-1]["text"]  # type: ignore[attr-defined]
    again = photo(chat, PNG)  # the same message retried: kept once
    assert again.status_code == 200  # type: ignore[attr-defined]
    # Refused politely: not an image, too big, not a data URL.
    assert photo(chat, b"%PDF-1.4 not an image", message_id="photo-00002").status_code == 415  # type: ignore[attr-defined]
    big = photo(chat, b"\x89PNG\r\n\x1a\n" + b"0" * 6_000_000, message_id="photo-00003")
    assert big.status_code == 413  # type: ignore[attr-defined]
    broken = chat.http.post(
        "/api/v1/chat/photo",
        json={
            "session_id": chat.session_id,
            "message_id": "photo-00004",
            "image": "hello there friend",
        },
    )
    assert broken.status_code == 422
    chat.send(text="Vỉa hè trước chợ Bến Thành phường Bến Thành bị lấn chiếm hết")
    chat.send(text="gửi")
    chat.send(text="1")
    chat.send(text="Trần Văn Bình")
    done = chat.send(text="0912345678")
    assert "PA-" in done[-1]["text"]
    with live.engine.connect() as conn:
        row = conn.execute(sa.select(Complaint)).one()  # type: ignore[call-overload]
        uploads = conn.execute(sa.select(Upload.content_type, Upload.size)).all()  # type: ignore[call-overload]
    assert row.photos and row.photos[0][0] == "upload"
    assert [tuple(u) for u in uploads] == [("image/png", len(PNG))]

    # The unit answers (as its staff would, through the rules): the page's next poll has it.
    with session_scope(live.engine) as session:
        complaint = session.get(Complaint, row.id)
        assert complaint is not None
        desk = ComplaintDesk(lambda: None)
        unit = store.unit_code_of(session, complaint)
        actor = lc.Actor(lc.ActorKind.STAFF, id="1", name="Cán bộ", unit=unit)
        result = desk.act(session, complaint, lc.Answer("Đã xử lý lấn chiếm."), actor, lc_now())
        assert result.refused is None
        from bot.desk import store_outbox

        store_outbox(session, result.outgoing)
    polled = chat.http.get(
        "/api/v1/chat/messages", params={"session_id": chat.session_id, "after": chat.after}
    ).json()["messages"]
    assert "Đã xử lý lấn chiếm." in polled[-1]["text"]
    assert [b["label"] for b in polled[-1]["buttons"]][:2] == [
        f"1. {msg.RATE_UNSATISFIED}",  # worst to best, as every scale of the bot
        f"2. {msg.RATE_SATISFIED}",
    ]


def lc_now() -> object:
    from storage.types import utcnow

    return utcnow()
