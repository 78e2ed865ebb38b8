"""The unit inbox: only the unit's complaints, the countdown's colours, the filters (status,
overdue, ward, period, text in the masked text), paging, and htmx's partial table."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from storage import console as queries
from storage.db import session_scope
from storage.models import Complaint
from storage.types import utcnow
from tests.console.conftest import POLICY, add_login, days_ago, seed, signed_in


def codes(html: str) -> list[str]:
    return re.findall(r">(PA-\d{4}-\d{6})</a>", html)


def row_of(html: str, code: str) -> str:
    found = re.search(r'<tr class="([^"]+)">\s*<td[^>]*><a href="[^"]+">' + code, html)
    assert found is not None, code
    return found.group(1)


def test_the_countdown_turns_amber_two_days_before_and_red_when_overdue(
    sqlite_db: Engine,
) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    late = seed(sqlite_db, received_at=days_ago(12))  # due 10 days after: 2 days late
    soon = seed(sqlite_db, received_at=days_ago(9))  # due in about a day
    fresh = seed(sqlite_db, received_at=days_ago(1))
    closed = seed(sqlite_db, received_at=days_ago(20))
    with session_scope(sqlite_db) as session:
        row = session.get(Complaint, closed.id)
        assert row is not None
        row.status = "answered"
        session.add(row)
    client = signed_in(sqlite_db, "an@sxd.gov.vn")
    page = client.get("/console").text
    assert codes(page)[:3] == [closed.code, late.code, soon.code]  # soonest due first
    assert row_of(page, late.code) == "due-late"
    assert row_of(page, soon.code) == "due-soon"
    assert row_of(page, fresh.code) == "due-ok"
    assert row_of(page, closed.code) == "due-closed"
    assert 'class="countdown late">Quá hạn' in page
    assert 'class="countdown soon">Còn' in page
    # Exactly at the edge: 2 days before the due date is amber, a minute more is not.
    from console.pages import countdown

    with session_scope(sqlite_db) as session:
        row = session.get(Complaint, fresh.id)
        assert row is not None
        edge = row.due_at - POLICY.remind_before
        amber = countdown(row, edge, POLICY)
        green = countdown(row, edge - timedelta(minutes=1), POLICY)
        red = countdown(row, row.due_at + timedelta(seconds=1), POLICY)
    assert amber and green and red
    assert (green.level, amber.level, red.level) == ("ok", "soon", "late")


def test_filters_and_search_in_the_masked_text_only(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    ben_thanh = ("p-ben-thanh", "Phường Bến Thành")
    late = seed(sqlite_db, received_at=days_ago(12), text="Đèn đường hỏng, số 0912345678")
    light = seed(sqlite_db, received_at=days_ago(3), ward=ben_thanh, text="Cây xanh ngã 50% tán")
    drain = seed(sqlite_db, received_at=days_ago(1), text="Cống thoát nước nghẹt")
    mine = seed(sqlite_db, "SNNMT", text="Rác thải ven kênh")
    client = signed_in(sqlite_db, "an@sxd.gov.vn")
    everything = codes(client.get("/console").text)
    assert sorted(everything) == sorted([late.code, light.code, drain.code])
    assert mine.code not in everything  # another unit's

    def shown(**params: str) -> list[str]:
        return codes(client.get("/console", params=params).text)

    assert shown(overdue="1") == [late.code]
    assert shown(ward="p-ben-thanh") == [light.code]
    assert shown(q="CỐNG") == [drain.code]  # case does not matter
    assert shown(q="50%") == [light.code]  # % is a character, not a wildcard
    assert shown(q="0912345678") == []  # the phone is masked: not findable
    today = utcnow().astimezone(POLICY.tz).date()
    since = (today - timedelta(days=4)).isoformat()
    until = (today - timedelta(days=2)).isoformat()
    assert shown(**{"from": since, "to": until}) == [light.code]
    assert sorted(shown(status="open")) == sorted([late.code, light.code, drain.code])
    assert shown(status="answered") == []
    assert shown(status="nonsense") == shown()  # an unknown status is no filter
    page = client.get("/console", params={"ward": "p-ben-thanh"}).text
    assert '<option value="p-ben-thanh" selected>' in page


def test_pages_of_25_and_htmx_gets_the_table_alone(
    sqlite_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    for i in range(30):
        seed(sqlite_db, received_at=days_ago(5) + timedelta(minutes=i), text=f"Ổ gà số {i}")
    client = signed_in(sqlite_db, "an@sxd.gov.vn")
    first = client.get("/console").text
    assert len(codes(first)) == 25 and "Trang 1/2 · 30 phản ánh" in first
    assert 'href="/console?page=2"' in first  # no filter: only the page in the link
    second = client.get("/console", params={"page": "2"}, headers={"HX-Request": "true"})
    assert second.status_code == 200
    assert second.text.lstrip().startswith('<div id="inbox-table">')  # the fragment only
    assert "<html" not in second.text and len(codes(second.text)) == 5
    assert set(codes(first)).isdisjoint(codes(second.text))
    searched = client.get("/console", params={"q": "số 1", "overdue": ""}).text
    assert len(codes(searched)) == 11 and "page=2" not in searched  # 1, 10..19: one page
    assert client.get("/console", params={"page": "999"}).status_code == 200  # last page
    # A unit with more than the count's cap: "more than", and pages on with "next".
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    capped = client.get("/console").text
    assert "Trang 1 · hơn 10 phản ánh" in capped and 'href="/console?page=2"' in capped
    last = client.get("/console", params={"page": "2"}).text
    assert len(codes(last)) == 5 and "page=3" not in last and 'href="/console?page=1"' in last


def test_an_admin_sees_every_unit_and_an_analyst_no_inbox(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "root@tp.gov.vn", unit=None, role="admin")
    add_login(sqlite_db, "chi@sonv.gov.vn", unit=None, role="analyst")
    a, b = seed(sqlite_db), seed(sqlite_db, "SNNMT")
    admin = signed_in(sqlite_db, "root@tp.gov.vn").get("/console").text
    assert set(codes(admin)) == {a.code, b.code} and "Sở Nông nghiệp và Môi trường" in admin
    analyst = signed_in(sqlite_db, "chi@sonv.gov.vn").get("/console")
    assert analyst.status_code in (303, 403)  # the dashboard, or refused: never the inbox
    assert a.code not in analyst.text
