"""Open311 GeoReport v2 over real HTTP: services, filing complaints through the desk (router or
named unit, the unit's card queued), following them as the unit acts, idempotent retries,
API keys, bad input, and no personal data in any response."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.desk import ComplaintDesk
from bot.staff import StaffService
from storage.db import session_scope
from storage.models import Citizen, ComplaintEvent, ConsentRecord, OutboxMessage
from storage.types import utcnow
from tests.complaints.conftest import Clock
from tests.complaints.test_handling import GROUP, button, outbox_texts, setup_unit, staff_says
from tests.open311.conftest import BASE, KEY, complaint, count, post, stored_nothing
from tests.web.conftest import SQLITE_ONLY, Live

POTHOLE = "Ổ gà lớn giữa đường Nguyễn Thị Minh Khai phường Bến Thành, xe máy té liên tục"
LEAK = "Ống nước bể trước chợ, nước chảy tràn ra đường cả tuần nay"
HCMC = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = re.compile(r"^PA-\d{4}-\d{6}$")

# GeoReport v2's fields (http://wiki.open311.org/GeoReport_v2).
SERVICE_FIELDS = {
    "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
}  # fmt: skip
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
}  # fmt: skip
CREATED_FIELDS = {"service_request_id", "service_notice", "account_id"}


def filed(live: Live, fields: dict[str, Any], **kw: Any) -> str:
    response = post(live, fields, **kw)
    assert response.status_code == 201, response.text
    out = response.json()
    assert isinstance(out, list) and len(out) == 1 and set(out[0]) == CREATED_FIELDS
    assert CODE.match(out[0]["service_request_id"]) and out[0]["account_id"] is None
    return str(out[0]["service_request_id"])


def one(live: Live, code: str) -> dict[str, Any]:
    response = live.http.get(f"{BASE}/requests/{code}.json")
    assert response.status_code == 200, response.text
    out = response.json()
    assert isinstance(out, list) and len(out) == 1
    return dict(out[0])


def codes(live: Live, **params: Any) -> list[str]:
    response = live.http.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


@SQLITE_ONLY
def test_services_are_the_unit_catalogue_in_georeport_fields(api: Live) -> None:
    response = api.http.get(f"{BASE}/services.json")
    assert response.status_code == 200
    services = {s["service_code"]: s for s in response.json()}
    assert {"SXD", "CAPNUOC", "UBND_XA", "THANHTRA", "VPUBND"} <= set(services)
    for service in services.values():
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] is False and service["type"] == "realtime"
        assert service["service_name"] and isinstance(service["keywords"], str)
    assert services["SXD"]["service_name"] == "Sở Xây dựng"
    assert services["SXD"]["group"] == "Sở, ngành"
    assert "ổ gà" in services["SXD"]["keywords"].split(",")
    assert services["CAPNUOC"]["group"] == "Dịch vụ công ích"
    # XML too (tests/open311/test_open311_xml.py), and nothing else.
    assert api.http.get(f"{BASE}/services.xml").status_code == 200
    assert api.http.get(f"{BASE}/services.html").status_code == 404


@SQLITE_ONLY
def test_a_request_without_service_code_goes_through_the_router(api: Live) -> None:
    code = filed(api, {"description": POTHOLE, "lat": "10.7721", "long": "106.6983"})
    row = complaint(api.engine, code)
    assert row.channel == "open311" and row.origin == "open311" and row.external_id is None
    assert row.routed_automatically and row.predicted_unit and row.confidence is not None
    assert row.ward_name == "Phường Bến Thành"  # the router's ward, as in the chat
    assert (row.latitude, row.longitude) == (10.7721, 106.6983)
    assert row.contact_name is None and row.citizen_id is None
    shown = one(api, code)
    assert set(shown) == REQUEST_FIELDS
    assert shown["status"] == "open" and shown["status_notes"] is None
    assert shown["description"] == POTHOLE and shown["address"] == "Phường Bến Thành"
    assert (shown["lat"], shown["long"]) == (10.7721, 106.6983)
    assert shown["expected_datetime"] and shown["requested_datetime"].endswith("+07:00")
    with session_scope(api.engine) as session:
        actions = session.execute(sa.select(ComplaintEvent.action)).scalars().all()  # type: ignore[call-overload]
    assert actions == ["submit"]


@SQLITE_ONLY
def test_service_code_routes_to_the_named_unit_and_its_group_gets_the_card(api: Live) -> None:
    clock = Clock(utcnow())
    setup_unit(api.engine, "CAPNUOC", clock)
    # A pothole the router would send elsewhere: the client named the water company.
    code = filed(
        api,
        {
            "service_code": "CAPNUOC",
            "description": POTHOLE,
            "address_string": "trước số 5 Lê Lợi, phường Sài Gòn",
            "media_url": "https://city.example/photos/1.jpg",
        },
    )
    row = complaint(api.engine, code)
    assert row.predicted_unit != "CAPNUOC"  # the router's own guess, kept for its accuracy
    shown = one(api, code)
    assert shown["service_code"] == "CAPNUOC"
    assert shown["agency_responsible"] == "Tổng công ty Cấp nước Sài Gòn"
    assert shown["address"] == "Phường Sài Gòn"  # the ward of address_string
    assert shown["media_url"] is None
    assert row.photos == [["image", "https://city.example/photos/1.jpg"]]
    cards = outbox_texts(api.engine, str(GROUP))
    card = next(text for text in cards if code in text)
    assert "Lê Lợi" in card and "https://city.example/photos/1.jpg" in card  # a link, on the card
    # Nothing is queued for a chat the complaint does not have.
    with api.engine.connect() as conn:
        channels = set(conn.execute(sa.select(OutboxMessage.channel)).scalars())  # type: ignore[call-overload]
    assert channels == {"telegram"}


@SQLITE_ONLY
def test_json_bodies_and_a_key_in_the_header_are_accepted(api: Live) -> None:
    response = api.http.post(
        f"{BASE}/requests.json",
        json={"service_code": "SXD", "description": POTHOLE, "lat": 10.77, "long": 106.69},
        headers={"X-API-Key": "other-key"},
    )
    assert response.status_code == 201, response.text
    assert one(api, response.json()[0]["service_request_id"])["service_code"] == "SXD"


@SQLITE_ONLY
def test_the_status_follows_the_unit_through_the_desk(api: Live) -> None:
    clock = Clock(utcnow())
    setup_unit(api.engine, "CAPNUOC", clock)
    code = filed(api, {"service_code": "CAPNUOC", "description": LEAK})
    row = complaint(api.engine, code)
    staff = StaffService(api.engine, ComplaintDesk(lambda: None), clock=clock)
    clock.advance(minutes=5)
    assert button(staff, "acc", row.id)
    shown = one(api, code)
    assert shown["status"] == "open" and shown["status_notes"] is None
    assert shown["updated_datetime"] > shown["requested_datetime"]
    assert codes(api, status="open") == [code] and codes(api, status="closed") == []
    clock.advance(hours=2)
    button(staff, "ans", row.id)
    staff_says(staff, "Đã thay ống ngày 04/12. Cần hỏi thêm gọi anh Trần Văn Bình 0909123456.")
    shown = one(api, code)
    assert shown["status"] == "closed"
    notes = shown["status_notes"]
    assert notes.startswith("Đã thay ống ngày 04/12.")
    assert "0909123456" not in notes and "Trần Văn Bình" not in notes
    assert codes(api, status="closed") == [code] and codes(api, status="open") == []
    assert codes(api, status="open,closed") == [code]


@SQLITE_ONLY
def test_listing_filters_and_pages(api: Live) -> None:
    first = filed(api, {"service_code": "SXD", "description": POTHOLE})
    second = filed(api, {"service_code": "CAPNUOC", "description": LEAK})
    third = filed(api, {"service_code": "CAPNUOC", "description": LEAK + " (lần 2)"})
    assert codes(api) == [third, second, first]  # newest first, the last 90 days
    assert codes(api, service_code="CAPNUOC") == [third, second]
    assert codes(api, service_request_id=f"{first},{third}") == [third, first]
    # The id list overrides every other filter, as the spec says.
    assert codes(api, service_request_id=first, service_code="CAPNUOC") == [first]
    assert codes(api, page_size=2) == [third, second]
    assert codes(api, page_size=2, page=2) == [first]
    assert codes(api, page_size=2, page=3) == []
    today = utcnow().astimezone(HCMC).date()  # a bare date is Ho Chi Minh City's day
    assert codes(api, start_date=str(today - timedelta(days=1))) == [third, second, first]
    assert codes(api, end_date=str(today - timedelta(days=1))) == []
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert codes(api, start_date=later) == []
    with session_scope(api.engine) as session:  # received 100 days ago: outside the default
        session.execute(
            sa.text("UPDATE complaint SET received_at = :at WHERE code = :code"),
            {"at": utcnow() - timedelta(days=100), "code": first},
        )
    assert codes(api) == [third, second]
    old = str(today - timedelta(days=120))
    assert codes(api, start_date=old, end_date=str(today)) == [third, second, first]
    assert one(api, first)["service_request_id"] == first  # by id: whatever its age


@SQLITE_ONLY
def test_no_personal_data_in_any_response(api: Live) -> None:
    phone, email, first, last = "0912345678", "an.nguyen@example.com", "Văn An", "Nguyễn"
    described = f"Tôi là Nguyễn Văn An, số {phone}, email {email}. {LEAK}"
    consenting = {
        "service_code": "CAPNUOC",
        "description": described,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "email": email,
    }
    responses: list[httpx.Response] = [post(api, {**consenting, "consent": "true"})]
    kept = responses[0].json()[0]["service_request_id"]
    responses.append(post(api, {**consenting, "description": LEAK + " lần hai"}))  # no consent
    dropped = responses[1].json()[0]["service_request_id"]
    row = complaint(api.engine, kept)
    # With consent: the complaint's contact for the unit, and the proof of consent.
    assert (row.contact_name, row.contact_phone) == ("Nguyễn Văn An", phone)
    assert count(api.engine, ConsentRecord) == 1 and count(api.engine, Citizen) == 1
    assert email not in row.masked_text and phone not in row.masked_text
    # Without consent: dropped.
    row = complaint(api.engine, dropped)
    assert row.contact_name is None and row.contact_phone is None and row.citizen_id is None
    clock = Clock(utcnow())
    setup_unit(api.engine, "CAPNUOC", clock)
    staff = StaffService(api.engine, ComplaintDesk(lambda: None), clock=clock)
    button(staff, "ans", complaint(api.engine, kept).id)
    staff_says(staff, f"Đã liên hệ anh Nguyễn Văn An qua số {phone} và sửa xong.")
    responses += [
        api.http.get(f"{BASE}/requests.json"),
        api.http.get(f"{BASE}/requests/{kept}.json"),
        api.http.get(f"{BASE}/requests.json", params={"service_request_id": f"{kept},{dropped}"}),
        api.http.get(f"{BASE}/services.json"),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        for secret in (phone, "912345678", email, "Văn An", "Nguyen Van An"):
            assert secret not in response.text, (secret, response.text)
    shown = one(api, kept)
    assert shown["status"] == "closed" and "sửa xong" in shown["status_notes"]
    assert LEAK in shown["description"]


@SQLITE_ONLY
def test_a_denunciation_shows_neither_text_nor_place(api: Live) -> None:
    text = "Tố cáo cán bộ phường nhận tiền để bỏ qua vi phạm xây dựng"
    response = post(api, {"description": text, "lat": "10.77", "long": "106.69"})
    assert response.status_code == 201
    assert "khiếu nại/tố cáo" in response.json()[0]["service_notice"]  # another legal track
    shown = one(api, response.json()[0]["service_request_id"])
    assert shown["service_code"] == "THANHTRA"
    assert shown["description"] is None and shown["lat"] is None and shown["long"] is None


@SQLITE_ONLY
def test_a_missing_or_wrong_api_key_is_refused_and_nothing_is_stored(api: Live) -> None:
    body = {"service_code": "SXD", "description": POTHOLE}
    missing = post(api, body, key=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "ApiKey"
    assert missing.json() == [{"code": 401, "description": "api_key missing"}]
    assert post(api, body, key="").status_code == 401
    assert post(api, body, key="nope").status_code == 403
    assert post(api, body, key=KEY[:-1]).status_code == 403  # a prefix of a key
    wrong_header = api.http.post(
        f"{BASE}/requests.json", data={**body, "api_key": KEY}, headers={"X-API-Key": "nope"}
    )
    assert wrong_header.status_code == 403  # a wrong header is not saved by a right field
    # Keys of /api/v1 are not Open311 keys.
    assert post(api, body, key="test-key-6a1f0c").status_code == 403
    assert stored_nothing(api.engine)


@SQLITE_ONLY
def test_no_configured_key_means_no_filing(start_server: Any) -> None:
    live = start_server(open311_api_keys=[])
    assert post(live, {"description": POTHOLE}, key="anything").status_code == 403
    assert live.http.get(f"{BASE}/services.json").status_code == 200  # reading stays open
    assert stored_nothing(live.engine)


@SQLITE_ONLY
def test_bad_input_gets_400_with_a_clear_message_and_stores_nothing(api: Live) -> None:
    def refused(fields: dict[str, Any], expected: str) -> None:
        response = post(api, fields)
        assert response.status_code == 400, (fields, response.text)
        error = response.json()
        assert error[0]["code"] == 400 and expected in error[0]["description"], error

    refused({"service_code": "SXD"}, "description is required")
    refused({"description": "   "}, "description is required")
    refused({"description": "0909123456 !!!"}, "says nothing")
    refused({"description": "a" * 10_001}, "longer than 10000")
    refused({"description": POTHOLE, "service_code": "NOPE"}, "unknown service_code 'NOPE'")
    refused({"description": POTHOLE, "lat": "91", "long": "106"}, "lat must be between")
    refused({"description": POTHOLE, "lat": "10", "long": "-181"}, "long must be between")
    refused({"description": POTHOLE, "lat": "ten", "long": "106"}, "lat must be a number")
    refused({"description": POTHOLE, "lat": "nan", "long": "106"}, "lat must be between")
    refused({"description": POTHOLE, "lat": "10.7"}, "lat and long go together")
    refused({"description": POTHOLE, "media_url": "javascript:alert(1)"}, "media_url")
    refused({"description": POTHOLE, "consent": "true", "phone": "12345"}, "not a Vietnamese phone")
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    for raw, expected in (
        (b'{"description": ', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"description": ["a"]}', "description must be a string"),
        (b"\xff\xfe", "not valid JSON"),
    ):
        response = api.http.post(f"{BASE}/requests.json", content=raw, headers=headers)
        assert response.status_code == 400 and expected in response.text, response.text
    form = {"X-API-Key": KEY, "Content-Type": "application/x-www-form-urlencoded"}
    response = api.http.post(f"{BASE}/requests.json", content=b"description=%ff", headers=form)
    assert response.status_code == 400 and "UTF-8" in response.text
    huge = api.http.post(f"{BASE}/requests.json", content=b"a" * 300_000, headers=form)
    assert huge.status_code == 413
    xml = {"X-API-Key": KEY, "Content-Type": "text/xml"}
    assert api.http.post(f"{BASE}/requests.json", content=b"<x/>", headers=xml).status_code == 415
    assert stored_nothing(api.engine)
    for params, expected in (
        ({"start_date": "yesterday"}, "start_date is not a date-time"),
        ({"end_date": "2026-13-01"}, "end_date is not a date-time"),
        ({"start_date": "2026-12-02", "end_date": "2026-12-01"}, "after end_date"),
        ({"status": "pending"}, "status must be open, closed"),
        ({"service_code": "NOPE"}, "unknown service_code"),
        ({"page_size": "0"}, "page_size must be"),
        ({"page_size": "1001"}, "page_size must be"),
        ({"page": "-1"}, "page must be"),
        ({"service_request_id": ","}, "service_request_id"),
    ):
        response = api.http.get(f"{BASE}/requests.json", params=params)
        assert response.status_code == 400 and expected in response.text, (params, response.text)
    unknown = api.http.get(f"{BASE}/requests/PA-2026-999999.json")
    assert unknown.status_code == 404
    assert unknown.json() == [{"code": 404, "description": "no service request 'PA-2026-999999'"}]


@SQLITE_ONLY
def test_a_retried_request_files_one_complaint(api: Live) -> None:
    body = {"service_code": "SXD", "description": POTHOLE}
    first = post(api, body)
    again = post(api, body)  # the same body within a minute: a retry
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert post(api, body, key="other-key").status_code == 201  # another client's: its own
    header = {"Idempotency-Key": "req-7f3a"}
    one_ = post(api, {**body, "description": LEAK}, headers=header)
    two = post(api, {**body, "description": LEAK, "lat": "10.7", "long": "106.7"}, headers=header)
    assert one_.status_code == 201 and two.status_code == 200 and one_.json() == two.json()
    assert count(api.engine) == 3 and count(api.engine, ComplaintEvent) == 3


def test_concurrent_retries_file_one_complaint_and_keep_numbers_gapless(api: Live) -> None:
    """Eight copies of one request at once (a client retrying on a timeout): one complaint,
    every copy answered with its code; the next complaint takes the next number."""
    body = {"service_code": "SXD", "description": POTHOLE}
    results: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            barrier.wait()
            results.append(http.post(f"{BASE}/requests.json", data={**body, "api_key": KEY}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200] * 7 + [201], [r.text for r in results]
    assert len({r.json()[0]["service_request_id"] for r in results}) == 1
    assert count(api.engine) == 1
    first = results[0].json()[0]["service_request_id"]
    following = filed(api, {"service_code": "SXD", "description": LEAK})
    assert int(following[-6:]) == int(first[-6:]) + 1


def test_the_router_request_and_reading_work_on_both_databases(api: Live) -> None:
    code = filed(api, {"description": POTHOLE, "address_string": "phường Bến Thành"})
    assert codes(api, service_request_id=code) == [code]
    assert one(api, code)["address"] == "Phường Bến Thành"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_outbox_rows_are_only_the_units(api: Live, engine: Engine) -> None:
    setup_unit(engine, "SXD", Clock(utcnow()))
    filed(
        api,
        {"service_code": "SXD", "description": POTHOLE, "consent": "true", "phone": "0912345678"},
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(OutboxMessage.channel, OutboxMessage.recipient)).all()  # type: ignore[call-overload]
    assert rows and all(tuple(r) == ("telegram", str(GROUP)) for r in rows)


@SQLITE_ONLY
def test_a_rejected_request_is_closed_with_the_units_guidance(api: Live) -> None:
    clock = Clock(utcnow())
    setup_unit(api.engine, "CAPNUOC", clock)
    code = filed(api, {"service_code": "CAPNUOC", "description": POTHOLE})
    staff = StaffService(api.engine, ComplaintDesk(lambda: None), clock=clock)
    button(staff, "rej", complaint(api.engine, code).id)
    staff_says(staff, "Không thuộc ngành nước: xin gửi Sở Xây dựng (service_code SXD).")
    shown = one(api, code)
    assert complaint(api.engine, code).status == "rejected"
    assert shown["status"] == "closed"
    assert (
        shown["status_notes"] == "Không thuộc ngành nước: xin gửi Sở Xây dựng (service_code SXD)."
    )
