"""Signing in to the console: passwords, session cookies, CSRF, the throttle, redirects,
deactivated accounts, the audit log and the security headers (SQLite; the queries are the
same on PostgreSQL, where the action tests run)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import AuditLog, Staff
from tests.console.conftest import (
    PASSWORD,
    add_login,
    app_client,
    csrf_for,
    csrf_of,
    login,
    seed,
    signed_in,
)


def audit_actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditLog.actor, AuditLog.action, AuditLog.subject).order_by(AuditLog.id)  # type: ignore[call-overload]
        )
        return [(r[0], r[1], r[2]) for r in rows]


def test_a_good_password_opens_a_session_in_a_safe_cookie(sqlite_db: Engine) -> None:
    staff = add_login(sqlite_db, "an@sxd.gov.vn")
    code = seed(sqlite_db).code
    client = app_client(sqlite_db)
    response = login(client, "An@SXD.gov.vn ")  # e-mail case and spaces do not matter
    assert response.status_code == 303 and response.headers["location"] == "/console"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hl_console="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/console" in lowered
    assert "max-age=28800" in lowered and "secure" not in lowered  # 8 h; http: not Secure
    inbox = client.get("/console")
    assert inbox.status_code == 200 and code in inbox.text
    assert (f"staff:{staff}", "console.login", "ip:testclient") in audit_actions(sqlite_db)
    # Logout: a POST with the token; the session cookie is gone and the inbox asks again.
    out = client.post("/console/logout", data={"csrf": csrf_of(inbox.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert client.get("/console").status_code == 303
    assert (f"staff:{staff}", "console.logout", None) in audit_actions(sqlite_db)


def test_the_cookie_is_secure_when_the_public_address_is_https(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    client = app_client(
        sqlite_db, "https://testserver", public_base_url="https://hailong.example.vn"
    )
    response = login(client, "an@sxd.gov.vn")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hl_console="))
    assert "secure" in cookie.lower()


def test_a_wrong_password_or_unknown_email_is_refused_and_logged(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    client = app_client(sqlite_db)
    wrong = login(client, "an@sxd.gov.vn", "not the password")
    assert wrong.status_code == 401 and "Sai email hoặc mật khẩu" in wrong.text
    assert "hl_console=" not in wrong.headers.get("set-cookie", "")
    assert login(client, "nobody@sxd.gov.vn").status_code == 401
    failed = [a for a in audit_actions(sqlite_db) if a[1] == "console.login_failed"]
    assert failed == [
        ("ip:testclient", "console.login_failed", "email:an@sxd.gov.vn"),
        ("ip:testclient", "console.login_failed", "email:nobody@sxd.gov.vn"),
    ]
    assert PASSWORD not in str(audit_actions(sqlite_db))


def test_five_failures_pause_the_account_and_the_address_with_429(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    add_login(sqlite_db, "binh@sxd.gov.vn")
    attacker = app_client(sqlite_db)
    for _ in range(5):
        assert login(attacker, "an@sxd.gov.vn", "guess-guess-guess").status_code == 401
    # Even the right password waits now, from this address and from any other.
    paused = login(attacker, "an@sxd.gov.vn")
    assert paused.status_code == 429
    assert 800 <= int(paused.headers["retry-after"]) <= 901
    elsewhere = app_client(sqlite_db)
    elsewhere_client = elsewhere.__class__(
        elsewhere.app, follow_redirects=False, client=("10.0.0.9", 40000)
    )
    assert login(elsewhere_client, "an@sxd.gov.vn").status_code == 429  # per account
    # Per address: this address is paused for another account too; another address is not.
    assert login(attacker, "binh@sxd.gov.vn").status_code == 429
    assert login(elsewhere_client, "binh@sxd.gov.vn").status_code == 303


def test_the_login_form_needs_its_token(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    client = app_client(sqlite_db)
    client.get("/console/login")
    forged = client.post(
        "/console/login", data={"email": "an@sxd.gov.vn", "password": PASSWORD, "csrf": "x"}
    )
    assert forged.status_code == 403 and "hl_console=" not in forged.headers.get("set-cookie", "")


def test_a_post_without_the_csrf_token_changes_nothing(sqlite_db: Engine) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    complaint = seed(sqlite_db)
    client = signed_in(sqlite_db, "an@sxd.gov.vn")
    path = f"/console/c/{complaint.id}/act"
    for data in ({"action": "accept"}, {"action": "accept", "csrf": "forged"}):
        refused = client.post(path, data=data)
        assert refused.status_code == 403
    with sqlite_db.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM complaint")).scalar_one()
    assert status == "routed"
    # With the token of this session it goes through.
    token = csrf_for(client, f"/console/c/{complaint.id}")
    assert client.post(path, data={"action": "accept", "csrf": token}).status_code == 303
    assert any(a[1] == "console.csrf_refused" for a in audit_actions(sqlite_db))


def test_pages_without_a_session_redirect_to_the_login_with_a_local_next(
    sqlite_db: Engine,
) -> None:
    client = app_client(sqlite_db)
    response = client.get("/console/c/1?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fc%2F1%3Fx%3D1"
    assert client.get("/console").headers["location"] == "/console/login?next=%2Fconsole"
    htmx = client.get("/console", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/console/login")
    add_login(sqlite_db, "an@sxd.gov.vn")
    for evil in ("https://evil.example/console", "//evil.example/x", "/console\\@evil"):
        form = client.get("/console/login", params={"next": evil})
        assert 'name="next" value="/console"' in form.text
        done = client.post(
            "/console/login",
            data={
                "email": "an@sxd.gov.vn",
                "password": PASSWORD,
                "csrf": csrf_of(form.text),
                "next": evil,
            },
        )
        assert done.headers["location"] == "/console"
    form = client.get("/console/login", params={"next": "/console/c/1"})
    done = client.post(
        "/console/login",
        data={
            "email": "an@sxd.gov.vn",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "/console/c/1",
        },
    )
    assert done.headers["location"] == "/console/c/1"


def test_an_inactive_account_cannot_sign_in_and_its_session_stops(sqlite_db: Engine) -> None:
    staff_id = add_login(sqlite_db, "an@sxd.gov.vn")
    client = signed_in(sqlite_db, "an@sxd.gov.vn")
    assert client.get("/console").status_code == 200
    with session_scope(sqlite_db) as session:
        staff = session.get(Staff, staff_id)
        assert staff is not None
        staff.active = False
        session.add(staff)
    assert client.get("/console").status_code == 303  # the open session ends at once
    assert login(app_client(sqlite_db), "an@sxd.gov.vn").status_code == 401


def test_console_pages_carry_the_security_headers(sqlite_db: Engine) -> None:
    client = app_client(sqlite_db)
    page = client.get("/console/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and " style=" not in page.text
    js = client.get("/console/static/vendor/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text[:2000]
    assert "content-security-policy" not in client.get("/healthz").headers


def test_json_endpoints_answer_401_and_a_refused_role_gets_a_page(sqlite_db: Engine) -> None:
    client = app_client(sqlite_db)
    api = client.get("/console/api/satisfaction")
    assert api.status_code == 401 and api.json() == {"detail": "login required"}
    add_login(sqlite_db, "chi@sonv.gov.vn", unit=None, role="analyst")
    complaint = seed(sqlite_db)
    analyst = signed_in(sqlite_db, "chi@sonv.gov.vn")
    refused = analyst.get(f"/console/c/{complaint.id}")
    assert refused.status_code == 403 and "Vai trò của bạn không được xem trang này" in refused.text
    assert "0901234567" not in refused.text and complaint.code not in refused.text
    assert client.get("/api/v1/nothing-here").status_code == 404  # other paths as before


def test_a_session_expires_and_a_forged_or_foreign_cookie_is_no_session() -> None:
    import time

    from console.sessions import Sessions

    short = Sessions(b"k" * 32, hours=1 / 3600)  # one second
    cookie = short.issue(7, "$argon2id$hash")
    session = short.read(cookie)
    assert session is not None and session.staff_id == 7
    assert short.csrf_ok(session, short.csrf(session)) and not short.csrf_ok(session, "")
    assert Sessions(b"x" * 32, hours=8).read(cookie) is None  # another key
    assert short.read(cookie[:-2] + "AA") is None  # tampered
    time.sleep(2.1)
    assert short.read(cookie) is None  # expired
