"""A submitter's deletion request for Open311 complaints, through the API
(`POST privacy/delete.json|xml`) and the CLI (`hailong privacy forget`), both through
storage.open311.forget_submitter: afterwards neither the e-mail, nor the phone, nor the name
is anywhere in the database; the complaints stay, anonymous, and the unit still handles them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.desk import ComplaintDesk
from bot.staff import StaffService
from storage.models import AuditLog, Citizen, ConsentRecord, RoutingExample, table
from storage.open311 import email_pattern, phone_pattern
from storage.types import utcnow
from tests.complaints.conftest import Clock
from tests.complaints.test_handling import GROUP, button, outbox_texts, setup_unit, staff_says
from tests.console.test_staff_cli import url_of
from tests.open311.conftest import BASE, KEY, complaint, count, traces
from tests.open311.test_open311 import LEAK, POTHOLE, filed, one
from tests.test_cli import hailong, one_line_error
from tests.web.conftest import SQLITE_ONLY, Live

PHONE, EMAIL, FIRST, LAST = "0912345678", "an.nguyen@example.com", "Văn An", "Nguyễn"
NAME = "Nguyễn Văn An"
# Every form of them the scan looks for: as stored, as typed with spaces, the digits after 0.
NEEDLES = [PHONE, "0912 345 678", "912345678", EMAIL, NAME]
OTHER_PHONE = "0987654321"


def forget(live: Live, fields: dict[str, Any], *, fmt: str = "json", key: str | None = KEY) -> Any:
    data = {**fields, **({"api_key": key} if key is not None else {})}
    return live.http.post(f"{BASE}/privacy/delete.{fmt}", data=data)


def affected(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == [{"requests_affected": body[0]["requests_affected"]}]
    return int(body[0]["requests_affected"])


def submitter_files_two_and_someone_else_one(api: Live) -> tuple[str, str, str]:
    """A: with consent, name and phone kept as the contact, phone and e-mail typed in the text
    too; B: no consent, the e-mail only in the text; C: another citizen's, with consent. The
    unit answers A quoting the contact, so its history, card and router example hold them."""
    clock = Clock(utcnow())
    setup_unit(api.engine, "CAPNUOC", clock)
    a = filed(
        api,
        {
            "service_code": "CAPNUOC",
            "description": f"Tôi là {NAME}, gọi 0912 345 678 hoặc {EMAIL}. {LEAK}",
            "first_name": FIRST,
            "last_name": LAST,
            "phone": PHONE,
            "email": EMAIL,
            "consent": "true",
            "address_string": "trước chợ Bến Thành",
        },
    )
    b = filed(
        api,
        {"service_code": "CAPNUOC", "description": f"{POTHOLE}. Liên hệ: {EMAIL.upper()}"},
    )
    c = filed(
        api,
        {
            "service_code": "CAPNUOC",
            "description": LEAK + " (khu khác)",
            "first_name": "Bình",
            "last_name": "Trần Thị",
            "phone": OTHER_PHONE,
            "consent": "true",
        },
    )
    staff = StaffService(api.engine, ComplaintDesk(lambda: None), clock=clock)
    row = complaint(api.engine, a)
    assert button(staff, "ct", row.id)  # «Xem liên hệ»: audit-logged
    button(staff, "ans", row.id)
    staff_says(staff, f"Đã gọi anh {NAME} số {PHONE} ({EMAIL}), thay ống xong.")
    return a, b, c


def card_edits(api: Live, message_id: int) -> list[str]:
    """Texts of the queued edits of the unit group's card `message_id`, oldest first."""
    from storage.models import OutboxMessage

    with api.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(OutboxMessage.payload)  # type: ignore[call-overload]
            .where(OutboxMessage.recipient == str(GROUP))
            .order_by(OutboxMessage.id)
        ).scalars()
        return [str(p["text"]) for p in payloads if p.get("edit_message_id") == message_id]


def test_a_deletion_request_erases_the_submitter_everywhere(api: Live) -> None:
    a, b, c = submitter_files_two_and_someone_else_one(api)
    before = traces(api.engine, NEEDLES)
    # The scan sees them before: in the complaint, its contact, citizen record, history,
    # router example and the card in the outbox.
    assert {t.split(":")[0] for t in before} >= {
        "complaint", "citizen", "complaint_event", "routing_example", "outbox",
    }, before  # fmt: skip
    assert count(api.engine, Citizen) == 2 and count(api.engine, ConsentRecord) == 2

    assert forget(api, {"email": EMAIL}, key=None).status_code == 401
    assert forget(api, {"email": EMAIL}, key="nope").status_code == 403
    cards_before = card_edits(api, 77)
    assert affected(forget(api, {"phone": "+84 912 345 678", "email": EMAIL.title()})) == 2

    assert traces(api.engine, NEEDLES) == []
    # A's card, already delivered to the unit's group (message 77), is edited: masked text.
    (redrawn,) = card_edits(api, 77)[len(cards_before):]
    assert a in redrawn and "[TÊN]" in redrawn and LEAK in redrawn
    # The complaints stay, handled as before: A answered, B open at the unit; the contact gone.
    kept = complaint(api.engine, a)
    assert kept.status == "answered" and kept.code == a and kept.unit_id is not None
    assert kept.contact_name is None and kept.contact_phone is None and kept.citizen_id is None
    assert "[SĐT]" in kept.text and "[EMAIL]" in kept.text and "[TÊN]" in kept.text
    assert kept.text == kept.masked_text and LEAK in kept.text
    assert "Bến Thành" in kept.text  # what the unit needs to fix it stays
    assert one(api, a)["status"] == "closed" and "thay ống xong" in one(api, a)["status_notes"]
    other = complaint(api.engine, b)
    assert other.status in ("routed", "accepted") and "[EMAIL]" in other.text
    assert POTHOLE in other.text
    # Someone else's complaint is untouched.
    untouched = complaint(api.engine, c)
    assert (untouched.contact_name, untouched.contact_phone) == ("Trần Thị Bình", OTHER_PHONE)
    assert count(api.engine, Citizen) == 1 and count(api.engine, ConsentRecord) == 1
    # The router's example and the unit's card keep their sense, masked.
    audit, examples_t = table(AuditLog), table(RoutingExample)
    with api.engine.connect() as conn:
        examples = conn.execute(sa.select(examples_t.c.masked_text)).scalars().all()
        logged = conn.execute(
            sa.select(audit.c.actor, audit.c.detail).where(audit.c.action == "open311.forgotten")
        ).all()
    assert examples and all(LEAK in text and "[TÊN]" in text for text in examples)
    assert any(a in text and "[TÊN]" in text for text in outbox_texts(api.engine, str(GROUP)))
    # Audit-logged, by counts and codes: no personal data (the scan above covers the log).
    ((actor, detail),) = logged
    assert actor.startswith("open311:") and KEY not in actor
    assert detail["by"] == ["email", "phone"] and sorted(detail["requests"]) == sorted([a, b])
    # Asking again: nothing left to erase.
    assert affected(forget(api, {"phone": PHONE})) == 0
    assert affected(forget(api, {"email": EMAIL})) == 0


@SQLITE_ONLY
def test_by_service_request_id_only_that_request(api: Live) -> None:
    a, b, _ = submitter_files_two_and_someone_else_one(api)
    # The contact must match: someone else's code with this e-mail erases nothing.
    assert affected(forget(api, {"email": EMAIL, "service_request_id": "PA-2026-999999"})) == 0
    assert affected(forget(api, {"email": EMAIL, "service_request_id": b.lower()})) == 1
    assert "[EMAIL]" in complaint(api.engine, b).text
    assert EMAIL in complaint(api.engine, a).text  # not named: left alone
    assert complaint(api.engine, a).contact_phone == PHONE
    # XML, as every endpoint.
    response = forget(api, {"phone": PHONE, "service_request_id": f"{a}, {b}"}, fmt="xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "deletions" and [(e.tag, e.findtext("requests_affected")) for e in root] == [
        ("deletion", "1")
    ]
    assert traces(api.engine, [PHONE, "912345678", NAME]) == []
    assert traces(api.engine, [EMAIL]) == []  # A's text held the e-mail too: masked with it


@SQLITE_ONLY
def test_bad_deletion_requests_get_400_and_erase_nothing(api: Live) -> None:
    submitter_files_two_and_someone_else_one(api)
    before = traces(api.engine, NEEDLES)
    for fields, expected in (
        ({}, "email or phone is required"),
        ({"email": " ", "phone": ""}, "email or phone is required"),
        ({"phone": "12345"}, "not a Vietnamese phone"),
        ({"email": "an.nguyen"}, "not an e-mail address"),
        ({"email": "%"}, "not an e-mail address"),
    ):
        response = forget(api, fields)
        assert response.status_code == 400, response.text
        assert expected in response.json()[0]["description"]
    xml = forget(api, {}, fmt="xml")
    assert xml.status_code == 400 and ET.fromstring(xml.content).tag == "errors"
    # A wildcard is a character, not a pattern: `_` and `%` match themselves only.
    assert affected(forget(api, {"email": "an_nguyen@example.com"})) == 0
    assert traces(api.engine, NEEDLES) == before


def test_the_cli_forgets_through_the_same_function(api: Live) -> None:
    _, b, c = submitter_files_two_and_someone_else_one(api)
    db = url_of(api.engine)
    one_line_error(hailong("privacy", "forget", db=db), "give --email, --phone or both")
    one_line_error(hailong("privacy", "forget", "--phone", "123", db=db), "not a Vietnamese phone")
    one_line_error(hailong("privacy", "forget", "--email", "x", db=db), "not an e-mail address")
    done = hailong("privacy", "forget", "--phone", "091.234.5678", db=db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 Open311 requests: the submitter's personal data erased")
    assert traces(api.engine, [PHONE, "912345678", NAME]) == []
    assert EMAIL.upper() in complaint(api.engine, b).text  # B had only the e-mail
    done = hailong("privacy", "forget", "--email", EMAIL, "--phone", PHONE, db=db)
    assert done.stdout.startswith("1 Open311 requests"), done.stdout
    assert traces(api.engine, NEEDLES) == []
    assert complaint(api.engine, c).contact_phone == OTHER_PHONE
    audit = table(AuditLog)
    with api.engine.connect() as conn:
        actors = (
            conn.execute(sa.select(audit.c.actor).where(audit.c.action == "open311.forgotten"))
            .scalars()
            .all()
        )
    assert actors == ["cli", "cli"]


@pytest.mark.parametrize(
    "written",
    [
        "0912345678", "0912 345 678", "091.234.5678", "091-234-5678", "(091) 234 5678",
        "+84 912 345 678", "+84912345678", "84912345678", "(+84) 912345678", "+84 (0) 912 345 678",
    ],
)  # fmt: skip
def test_the_phone_is_found_as_people_write_it(written: str) -> None:
    found = phone_pattern(PHONE).search(f"gọi {written}, cảm ơn")
    assert found is not None and found.group(0) == written


@pytest.mark.parametrize(
    "text", ["10912345678", "09123456789", "số 0912345679", "0912 345 677", "912345678"]
)
def test_other_numbers_are_not_the_phone(text: str) -> None:
    assert phone_pattern(PHONE).search(text) is None


def test_the_email_is_found_in_any_case_and_not_in_longer_addresses() -> None:
    pattern = email_pattern(EMAIL)
    assert pattern.search(f"thư: {EMAIL.upper()}.") is not None
    assert pattern.search(f"<{EMAIL}>") is not None
    for other in (
        "x" + EMAIL,
        EMAIL + ".vn",
        "an.nguyen@example.community",
        "dan.nguyen@example.com",
    ):
        assert pattern.search(other) is None, other
