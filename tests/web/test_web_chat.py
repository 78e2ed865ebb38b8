"""The web chat's JSON API over real HTTP: whole surveys, signed links, idempotency."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot import messages as msg
from bot.links import sign
from storage import outbox
from storage.db import session_scope
from storage.dossiers import DossierRef, by_code
from storage.models import Answer, OutboxMessage, SurveyResponse
from tests.test_cli import hailong
from tests.web.chat import COMMENT, EXPECTED_ELEMENTS, WebChat, take_whole_survey
from tests.web.conftest import LINK_SECRET, SQLITE_ONLY, Live


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def register(live: Live, code: str, unit: str = "STP") -> str:
    response = live.register({"code": code, "unit": unit, "procedure": "LLTP_CAP_PHIEU"})
    assert response.status_code in (200, 201), response.text
    web = response.json()["links"]["web"]
    assert web.startswith(f"{live.url}/?d=")
    return str(web.split("?d=", 1)[1])


def test_whole_survey_over_the_json_api_shows_in_the_report(live: Live, db_url: str) -> None:
    token = register(live, "HS-WEB-1", unit="SNV")
    chat = WebChat(live.http)
    take_whole_survey(chat, token)

    with session_scope(live.engine) as session:
        counts = outbox.status_counts(session)
    assert counts.get(("web", "pending"), 0) == 0
    assert counts[("web", "sent")] == len(chat.shown)
    status = hailong("outbox", "status", db=db_url)
    assert status.returncode == 0 and "web" in status.stdout, status.stderr

    result = hailong("report", "--format", "json", "--by", "unit", db=db_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["breakdowns"][0]["rows"]
    assert row["unit"]["code"] == "SNV" and row["respondents"] == 1
    elements = {code: e["value"] for code, e in row["elements"].items()}
    assert elements == pytest.approx(EXPECTED_ELEMENTS, abs=1e-4)
    assert row["criteria"]["TCDV4"]["n"] == 0  # "Không ý kiến" is out of the denominator
    (rating,) = report["rating3"]
    assert rating["n"] == 1 and rating["levels"]["hai_long"]["count"] == 1
    with live.engine.connect() as conn:
        channels = conn.execute(sa.select(SurveyResponse.channel).distinct()).scalars().all()  # type: ignore[call-overload]
        comment = conn.execute(
            sa.select(Answer.text).where(Answer.question_code == "GOPY")  # type: ignore[arg-type]
        ).scalar_one()
    assert channels == ["web"] and comment == COMMENT


def test_tampered_expired_and_unknown_links_are_refused_politely(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    token = register(live, "HS-WEB-2")
    with session_scope(live.engine) as session:
        ref = by_code(session, "HS-WEB-2")
    assert ref is not None
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    unknown = DossierRef(ref.id + 1000, "HS-NOPE", "STP", "LLTP_CAP_PHIEU", ref.registered_at)
    refused = {
        "bad signature": flipped,
        "expired": sign(LINK_SECRET, ref, yesterday),
        "unknown dossier": sign(LINK_SECRET, unknown, yesterday + timedelta(days=30)),
        "malformed": "HS-WEB-2",  # a bare dossier code is not a link
        "forged": sign("another-secret", ref, yesterday + timedelta(days=30)),
    }
    caplog.set_level(logging.WARNING, logger="bot.links")
    for payload in refused.values():
        chat = WebChat(live.http)
        (reply,) = chat.send(text=f"/start {payload}")
        assert reply["text"] == msg.LINK_INVALID and reply["buttons"] == []
    assert count(live.engine, SurveyResponse) == 0
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "bot.links")
    for reason in ("bad signature", "expired", "unknown dossier", "malformed"):
        assert f"refused ({reason}" in logged
    assert LINK_SECRET not in logged

    good = WebChat(live.http)
    good.send(text=f"/start {token}")
    assert good.last_text().startswith(msg.CONSENT_REQUEST)


def test_a_dossier_is_rated_once(live: Live) -> None:
    token = register(live, "HS-WEB-3")
    first = WebChat(live.http)
    first.send(text=f"/start {token}")
    first.press("y")
    first.press("a:DG:rat_hai_long")
    first.press("n")  # no SIPAS
    assert first.last_text() == msg.GOODBYE

    already = msg.DOSSIER_ALREADY_RATED.format(dossier="HS-WEB-3")
    other = WebChat(live.http)  # another browser, same printed QR code
    (reply,) = other.send(text=f"/start {token}")
    assert reply["text"] == already and reply["buttons"] == []
    first.send(text=f"/start {token}")
    assert first.last_text() == already
    with live.engine.connect() as conn:
        dg = conn.execute(
            sa.select(sa.func.count()).select_from(Answer).where(Answer.question_code == "DG")  # type: ignore[arg-type]
        ).scalar_one()
    assert dg == 1


def test_a_retried_message_is_processed_once_and_its_replies_sent_again(live: Live) -> None:
    token = register(live, "HS-WEB-4")
    chat = WebChat(live.http)
    chat.send(text=f"/start {token}")
    chat.press("y")
    before = chat.after
    first = chat.post("retry-0001", choice="a:DG:hai_long").json()
    assert first["duplicate"] is False
    # The response was "lost": the page retries with the same message_id and old cursor.
    again = chat.post("retry-0001", choice="a:DG:hai_long").json()
    assert again["duplicate"] is True
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]
    assert all(m["id"] > before for m in again["messages"])
    assert count(live.engine, Answer) == 1
    with session_scope(live.engine) as session:
        counts = outbox.status_counts(session)
    assert counts.get(("web", "pending"), 0) == 0
    assert counts[("web", "sent")] == count(live.engine, OutboxMessage)
    # The same message id from another session is that session's own message.
    other = WebChat(live.http)
    assert other.post("retry-0001", text="/start").json()["duplicate"] is False


@SQLITE_ONLY
def test_history_is_returned_after_a_reload(live: Live) -> None:
    chat = WebChat(live.http)
    chat.send(text="/start")
    chat.press("y")
    history = live.http.get(
        "/api/v1/chat/messages", params={"session_id": chat.session_id, "after": 0}
    ).json()["messages"]
    assert [m["id"] for m in history] == [m["id"] for m in chat.shown]
    stranger = live.http.get(
        "/api/v1/chat/messages", params={"session_id": "0" * 32, "after": 0}
    ).json()["messages"]
    assert stranger == []


@SQLITE_ONLY
def test_bad_requests_are_rejected_with_a_clear_message(live: Live) -> None:
    ok = {"session_id": "a" * 32, "message_id": "m-0000001", "text": "hi"}
    bad = {
        "session_id": [{**ok, "session_id": "short"}, {**ok, "session_id": "a" * 31 + "<"}],
        "message_id": [{**ok, "message_id": "x"}, {**ok, "message_id": "a b c d e f"}],
        "exactly one of text or choice": [
            {**ok, "choice": "y"},
            {"session_id": "a" * 32, "message_id": "m-0000001"},
        ],
        "text": [{**ok, "text": "x" * 8001}],
    }
    for expected, bodies in bad.items():
        for body in bodies:
            response = live.http.post("/api/v1/chat", json=body)
            assert response.status_code == 422, body
            assert expected in response.json()["detail"], response.json()
    malformed = live.http.post(
        "/api/v1/chat", content=b'{"session_id": "', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["detail"]
    query = live.http.get("/api/v1/chat/messages", params={"session_id": "../etc"})
    assert query.status_code == 422
    assert count(live.engine, OutboxMessage) == 0


@SQLITE_ONLY
def test_the_page_is_served_in_vietnamese_with_strict_headers(live: Live) -> None:
    page = live.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in page.text and msg.WEB_HEADING in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "{{" not in page.text
    script = live.http.get("/static/web/chat.js")
    assert script.status_code == 200 and "/api/v1/chat" in script.text
    assert live.http.get("/static/web/chat.css").status_code == 200


def test_hostile_bodies_get_4xx_never_a_500(live: Live) -> None:
    nested = b'{"session_id": "' + b"a" * 32 + b'", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    answer = live.http.post("/api/v1/chat", content=nested)
    assert answer.status_code in (400, 413)
    chat = WebChat(live.http)
    huge = chat.post(text="/start", after=str(10**30))  # type: ignore[arg-type]
    assert huge.status_code == 422
    history = live.http.get(
        "/api/v1/chat/messages", params={"session_id": chat.session_id, "after": 10**30}
    )
    assert history.status_code == 422
    assert count(live.engine, OutboxMessage) == 0
