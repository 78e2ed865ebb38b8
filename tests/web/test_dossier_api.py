"""POST /api/v1/dossiers over real HTTP: API keys, bodies, signed links, idempotency."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import Dossier
from tests.web.conftest import BOT_USERNAME, OA_ID, SQLITE_ONLY, Live

BODY = {"code": "000.00.20.H29-250101-0001", "unit": "STP", "procedure": "CC_HOP_DONG"}
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def dossier_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(Dossier)).scalar_one())


def test_missing_or_wrong_api_key_is_refused_and_nothing_is_stored(live: Live) -> None:
    missing = live.register(BODY, key=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "ApiKey"
    assert live.register(BODY, key="nope").status_code == 403
    assert live.register(BODY, key="x" * 300).status_code == 403
    assert live.register(BODY, key="test-key-6a1f0").status_code == 403  # a prefix of a key
    # The key is checked before the body is even read.
    garbage = live.http.post("/api/v1/dossiers", content=b"{not json", headers={})
    assert garbage.status_code == 401
    assert dossier_count(live.engine) == 0


@SQLITE_ONLY
def test_no_configured_keys_means_no_access(start_server: Callable[..., Live]) -> None:
    live = start_server(api_keys=[])
    assert live.register(BODY, key="").status_code == 401
    assert live.register(BODY, key="anything").status_code == 403
    assert dossier_count(live.engine) == 0


def test_malformed_or_invalid_bodies_get_a_clear_message_and_store_nothing(live: Live) -> None:
    headers = {"X-API-Key": "second-key", "Content-Type": "application/json"}
    bad_json = live.http.post("/api/v1/dossiers", content=b'{"code": ', headers=headers)
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["detail"]
    not_object = live.http.post("/api/v1/dossiers", content=b"[1, 2]", headers=headers)
    assert not_object.status_code == 422 and "JSON object" in not_object.json()["detail"]
    cases = {
        "procedure": {"code": "HS-1", "unit": "STP"},
        "unit": {**BODY, "unit": "stp lowercase"},
        "completed_at": {**BODY, "completed_at": "2025-01-02T10:00:00"},  # no time zone
        "citizen_phone": {**BODY, "citizen_phone": "0900000000"},  # typo-proof: no extras
    }
    for field, body in cases.items():
        response = live.register(body)
        assert response.status_code == 422, body
        assert field in response.json()["detail"], response.json()
    unknown_unit = live.register({**BODY, "unit": "NOPE"})
    assert (
        unknown_unit.status_code == 422 and "unknown unit 'NOPE'" in unknown_unit.json()["detail"]
    )
    unknown_proc = live.register({**BODY, "procedure": "NO_SUCH"})
    assert unknown_proc.status_code == 422 and "unknown procedure" in unknown_proc.json()["detail"]
    assert dossier_count(live.engine) == 0


def test_registration_returns_signed_links_and_is_idempotent(live: Live) -> None:
    body = {
        **BODY,
        "received_at": "2025-01-02T08:00:00+07:00",
        "due_at": "2025-01-09T17:00:00+07:00",
        "completed_at": "2025-01-08T10:30:00Z",
    }
    first = live.register(body)
    assert first.status_code == 201, first.text
    out = first.json()
    token = out["token"]
    assert TOKEN.match(token) and len(token) <= 64
    assert BODY["code"] not in token  # details stay on the server
    assert out["links"] == {
        "web": f"{live.url}/?d={token}",
        "telegram": f"https://t.me/{BOT_USERNAME}?start={token}",
        "zalo": f"https://zalo.me/{OA_ID}?d={token}",
    }
    expires = datetime.fromisoformat(out["expires_at"])
    days = (expires - datetime.now(UTC)).total_seconds() / 86400
    assert 29.9 < days <= 30
    assert out["created"] is True and out["unit"] == "STP"

    again = live.register(body)
    assert again.status_code == 200 and again.json() == {**out, "created": False}
    conflict = live.register({**BODY, "unit": "SXD"})
    assert conflict.status_code == 409 and "already registered" in conflict.json()["detail"]

    with live.engine.connect() as conn:
        row = conn.execute(sa.select(Dossier.__table__)).one()  # type: ignore[attr-defined]
    assert row.code == BODY["code"]
    assert row.due_at == datetime(2025, 1, 9, 10, 0, tzinfo=UTC)
    assert row.completed_at == datetime(2025, 1, 8, 10, 30, tzinfo=UTC)


@SQLITE_ONLY
def test_without_a_link_secret_nothing_is_registered(start_server: Callable[..., Live]) -> None:
    live = start_server(link_secret="")
    response = live.register(BODY)
    assert response.status_code == 503 and "LINK_SECRET" in response.json()["detail"]
    assert dossier_count(live.engine) == 0


@SQLITE_ONLY
def test_the_api_is_described_in_openapi(live: Live) -> None:
    spec = live.http.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/dossiers"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"code", "unit", "procedure"}
    assert {"200", "201", "401", "403", "409"} <= set(post["responses"])
    assert "/api/v1/chat" in spec["paths"]
