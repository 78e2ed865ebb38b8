"""A complaint's page and its actions: the same result and the same refusals as the Telegram
card (both faces through `bot.desk` and `complaints.lifecycle`), unit isolation, contact
details on request, and two staff accepting at once (both databases)."""

from __future__ import annotations

import html
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bot import messages as msg
from bot.desk import ComplaintDesk
from bot.staff import GroupUpdate, StaffService
from storage import complaints as store
from storage.db import session_scope
from storage.models import AuditLog, Complaint, ComplaintEvent, OutboxMessage, Unit
from tests.console.conftest import add_login, csrf_for, seed, signed_in

GROUP = -100777
TELEGRAM_ID = 4242
_updates = iter(range(1, 10**9))


def link_group(engine: Engine, unit: str = "SXD") -> StaffService:
    with session_scope(engine) as session:
        u = store.unit_by_code(session, unit)
        assert u is not None and u.id is not None
        code = store.new_link_code(session, u.id, store.utcnow(), timedelta(hours=1))
    staff = StaffService(engine, ComplaintDesk(lambda: None))
    staff.handle(GroupUpdate(next(_updates), GROUP, TELEGRAM_ID, text=f"/lienket {code}"))
    return staff


def press(staff: StaffService, data: str) -> str:
    update = GroupUpdate(next(_updates), GROUP, TELEGRAM_ID, data=data, message_id=77)
    return staff.handle(update).answer or ""


def type_text(staff: StaffService, text: str) -> None:
    staff.handle(GroupUpdate(next(_updates), GROUP, TELEGRAM_ID, text=text))


def telegram_does(staff: StaffService, cid: int, action: str, text: str, unit: str) -> str:
    if action == "accept":
        return press(staff, f"k:acc:{cid}")
    if action == "transfer":
        answer = press(staff, f"kt:{cid}:{unit}")
    else:
        key = {"request_info": "inf", "answer": "ans", "reject": "rej"}[action]
        answer = press(staff, f"k:{key}:{cid}")
    if answer == msg.STAFF_DONE:
        type_text(staff, text)
    return answer


def console_does(client: TestClient, cid: int, action: str, text: str, unit: str) -> Any:
    token = csrf_for(client, f"/console/c/{cid}")
    data = {"action": action, "text": text, "unit": unit, "csrf": token}
    return client.post(f"/console/c/{cid}/act", data=data)


def snapshot(engine: Engine, cid: int) -> dict[str, Any]:
    """What an action leaves in storage, with the complaint's own code and chat taken out."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(Complaint).where(Complaint.id == cid)).one()  # type: ignore[arg-type]
        unit = conn.execute(sa.select(Unit.code).where(Unit.id == row.unit_id)).scalar_one()  # type: ignore[call-overload]
        events = conn.execute(
            sa.select(  # type: ignore[call-overload]
                ComplaintEvent.action,
                ComplaintEvent.actor_kind,
                ComplaintEvent.actor_name,
                ComplaintEvent.from_status,
                ComplaintEvent.to_status,
                ComplaintEvent.from_unit,
                ComplaintEvent.to_unit,
                ComplaintEvent.note,
                ComplaintEvent.staff_id,
            )
            .where(ComplaintEvent.complaint_id == cid)
            .order_by(ComplaintEvent.id)
        ).all()
        texts = conn.execute(
            sa.select(OutboxMessage.payload)  # type: ignore[call-overload]
            .where(OutboxMessage.recipient == row.external_id)
            .order_by(OutboxMessage.id)
        ).all()
        examples = conn.execute(
            sa.text(
                "SELECT predicted_unit, final_unit, reason FROM routing_example "
                "WHERE complaint_id = :c"
            ),
            {"c": cid},
        ).all()
    return {
        "status": row.status,
        "unit": unit,
        "units_involved": row.units_involved,
        "transfers": row.transfers,
        "due_at": row.due_at,
        "accepted": row.accepted_at is not None,
        "answered": row.answered_at is not None,
        "closed": row.closed_at is not None,
        "version": row.version,
        "history": [tuple(e) for e in events],
        "citizen": [p[0]["text"].replace(row.code, "CODE") for p in texts],
        "learnt": [tuple(e) for e in examples],
    }


STEPS = [
    [("accept", "", "")],
    [("transfer", "Thuộc thẩm quyền ngành môi trường", "SNNMT")],
    [("accept", "", ""), ("request_info", "Xin gửi thêm ảnh chụp ổ gà", "")],
    [("answer", "Đã vá ổ gà ngày 02/12, cảm ơn Ông/Bà", "")],
    [("reject", "Việc này thuộc tòa án, đề nghị liên hệ TAND", "")],
    [("accept", "", ""), ("answer", "", "")],  # an empty answer: refused, nothing changes
    [("answer", "Đã xử lý", ""), ("accept", "", "")],  # an old card: refused
]


def test_each_action_does_what_the_telegram_card_does(db: Engine) -> None:
    """For each sequence of STEPS, one complaint acted on by the card's buttons and its twin
    by the console's forms end in the same stored state (status, unit, due date, history,
    the citizen's messages, the router's examples), with the same refusals."""
    staff_id = add_login(db, "an@sxd.gov.vn", telegram_id=TELEGRAM_ID, name="Cán bộ An")
    telegram = link_group(db)
    client = signed_in(db, "an@sxd.gov.vn")
    received = store.utcnow() - timedelta(hours=3)
    for n, steps in enumerate(STEPS):
        by_card = seed(db, received_at=received, chat=f"80{n}1")
        by_page = seed(db, received_at=received, chat=f"80{n}2")
        done = 0
        for action, text, unit in steps:
            answer = telegram_does(telegram, by_card.id, action, text, unit)
            response = console_does(client, by_page.id, action, text, unit)
            refusal = None if answer == msg.STAFF_DONE else answer
            if refusal is None and action != "accept" and not text:
                # Telegram has no empty message to send: the rules refuse an empty text.
                refusal = msg.STAFF_REFUSED["empty"]
            if refusal is None:
                done += 1
                assert response.status_code == 303, response.text
            else:  # refused: the page says what the card's alert says
                assert response.status_code == 409
                assert html.escape(refusal, quote=False) in response.text
        card, page = snapshot(db, by_card.id), snapshot(db, by_page.id)
        assert card == page, steps
        assert len(card["history"]) == 1 + done  # the submission and each action done
        assert card["citizen"] or not done
    with db.connect() as conn:
        audited = {
            r[0]
            for r in conn.execute(
                sa.select(AuditLog.action).where(AuditLog.actor == f"staff:{staff_id}")  # type: ignore[call-overload]
            )
        }
    # Every action (and refusal) by the same staff member is in the audit log, either face.
    assert {"complaint.accept", "complaint.transfer", "complaint.answer"} <= audited
    assert {"complaint.reject", "complaint.request_info", "complaint.refused"} <= audited


def test_the_complaint_page_shows_what_staff_need_and_escapes_the_citizen(
    db: Engine,
) -> None:
    add_login(db, "an@sxd.gov.vn")
    with session_scope(db) as session:
        store.save_upload(session, "up1", "web", "w1", "image/png", b"\x89PNG fake")
    complaint = seed(
        db,
        text="<script>alert(1)</script> cống nghẹt, gọi 0901234567",
        ward=("p-ben-thanh", "Phường Bến Thành"),
        photos=[["upload", "up1"], ["photo", "AgACAgUAAx"]],
        location=(10.772, 106.698),
    )
    client = signed_in(db, "an@sxd.gov.vn")
    page = client.get(f"/console/c/{complaint.id}")
    assert page.status_code == 200
    text = page.text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "0901234567" not in text and "Nguyễn Văn An" not in text  # masked, no contact
    assert "Phường Bến Thành" in text and "ảnh qua Telegram" in text
    assert 'href="geo:10.772000,106.698000"' in text and "10.77200, 106.69800" in text
    assert "Sở Xây dựng" in text and "82%" in text  # router: predicted unit, confidence
    assert "Sở Nông nghiệp và Môi trường — 10%" in text  # and the candidates
    assert "Tiếp nhận" in text and msg.ACTION_LABELS["submit"] in text  # history
    photo = client.get(f"/console/c/{complaint.id}/photo/0")
    assert photo.status_code == 200 and photo.content == b"\x89PNG fake"
    assert client.get(f"/console/c/{complaint.id}/photo/1").status_code == 404


def test_contact_details_only_on_request_and_logged(db: Engine) -> None:
    staff_id = add_login(db, "an@sxd.gov.vn")
    complaint = seed(db)
    client = signed_in(db, "an@sxd.gov.vn")
    page = client.get(f"/console/c/{complaint.id}")
    assert "0901234567" not in page.text and "Xem liên hệ" in page.text
    shown = client.post(f"/console/c/{complaint.id}/contact", data={"csrf": csrf_for(client)})
    assert shown.status_code == 200 and "Nguyễn Văn An — 0901234567" in shown.text
    with db.connect() as conn:
        logged = conn.execute(
            sa.select(AuditLog.actor, AuditLog.subject).where(  # type: ignore[call-overload]
                AuditLog.action == "complaint.contact_viewed"
            )
        ).all()
    assert [tuple(r) for r in logged] == [(f"staff:{staff_id}", complaint.code)]


def test_another_units_staff_get_404_and_analysts_never_see_a_complaint(db: Engine) -> None:
    add_login(db, "an@sxd.gov.vn")
    other = add_login(db, "binh@snnmt.gov.vn", unit="SNNMT")
    add_login(db, "chi@sonv.gov.vn", unit=None, role="analyst")
    complaint = seed(db)
    client = signed_in(db, "binh@snnmt.gov.vn")
    token = csrf_for(client)
    assert complaint.code not in client.get("/console").text  # not in their inbox
    assert client.get(f"/console/c/{complaint.id}").status_code == 404
    assert client.get(f"/console/c/{complaint.id}/photo/0").status_code == 404
    acted = client.post(f"/console/c/{complaint.id}/act", data={"action": "accept", "csrf": token})
    assert acted.status_code == 404
    seen = client.post(f"/console/c/{complaint.id}/contact", data={"csrf": token})
    assert seen.status_code == 404 and "0901234567" not in seen.text
    assert client.get("/console/c/999999").status_code == 404  # the same answer as missing
    with db.connect() as conn:
        status = conn.execute(sa.select(Complaint.status)).scalar_one()  # type: ignore[call-overload]
        denied = conn.execute(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "console.denied", AuditLog.actor == f"staff:{other}")  # type: ignore[arg-type]
        ).scalar_one()
    assert status == "routed" and denied == 5
    analyst = signed_in(db, "chi@sonv.gov.vn")
    assert analyst.get(f"/console/c/{complaint.id}").status_code == 403
    posted = analyst.post(
        f"/console/c/{complaint.id}/contact", data={"csrf": csrf_for(analyst, "/console/login")}
    )
    assert posted.status_code in (403, 404) and "0901234567" not in posted.text


@pytest.mark.postgres
def test_two_staff_accepting_at_once_accept_once(postgres_url: str) -> None:
    from storage import migrate
    from storage.catalogue import load_catalogue, upsert_catalogue
    from storage.db import make_engine

    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    add_login(engine, "an@sxd.gov.vn")
    add_login(engine, "binh@sxd.gov.vn")
    complaint = seed(engine)
    clients = [signed_in(engine, e) for e in ("an@sxd.gov.vn", "binh@sxd.gov.vn")]
    tokens = [csrf_for(c, f"/console/c/{complaint.id}") for c in clients]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def accept(i: int) -> None:
        barrier.wait()
        response = clients[i].post(
            f"/console/c/{complaint.id}/act", data={"action": "accept", "csrf": tokens[i]}
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [303, 409]
    with engine.connect() as conn:
        accepts = conn.execute(
            sa.select(sa.func.count())
            .select_from(ComplaintEvent)
            .where(ComplaintEvent.action == "accept")  # type: ignore[arg-type]
        ).scalar_one()
        notices = conn.execute(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient == "8001")  # type: ignore[arg-type]
        ).scalar_one()
    assert accepts == 1 and notices == 1  # the citizen is told once
    engine.dispose()
