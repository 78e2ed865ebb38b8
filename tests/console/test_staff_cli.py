"""`hailong staff add … --email E --password-stdin` gives a console login (a real
subprocess; the password read from stdin, never echoed, at least 12 characters)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import AuditLog, Staff
from tests.console.conftest import PASSWORD, app_client, login, signed_in
from tests.test_cli import hailong, one_line_error


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_staff_add_with_email_gives_a_console_login(sqlite_db: Engine) -> None:
    db = url_of(sqlite_db)
    added = hailong(
        "staff", "add", "--name", "Trần Thị Bình", "--unit", "SXD", "--role", "lead",
        "--telegram-id", "9001", "--email", "Binh@SXD.gov.vn", "--password-stdin",
        db=db, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "lead of SXD, console login binh@sxd.gov.vn" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr
    with sqlite_db.connect() as conn:
        staff = conn.execute(sa.select(Staff)).one()
        detail = conn.execute(
            sa.select(AuditLog.detail).where(AuditLog.action == "staff.add")  # type: ignore[call-overload]
        ).scalar_one()
    assert staff.email == "binh@sxd.gov.vn" and staff.telegram_user_id == 9001
    assert staff.password_hash.startswith("$argon2id$") and PASSWORD not in staff.password_hash
    assert detail["console_login"] is True and PASSWORD not in str(detail)
    client = signed_in(sqlite_db, "binh@sxd.gov.vn")
    assert client.get("/console").status_code == 200
    # The same e-mail again with a new password: updated, and the old session ends.
    again = hailong(
        "staff", "add", "--name", "Trần Thị Bình", "--unit", "SXD", "--role", "lead",
        "--email", "binh@sxd.gov.vn", "--password-stdin", db=db, stdin="mật khẩu mới rất dài\n",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    with sqlite_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Staff)).scalar_one() == 1
    assert client.get("/console").status_code == 303
    assert login(app_client(sqlite_db), "binh@sxd.gov.vn").status_code == 401
    assert (
        login(app_client(sqlite_db), "binh@sxd.gov.vn", "mật khẩu mới rất dài").status_code == 303
    )


def test_staff_add_refuses_a_short_password_or_a_missing_one(sqlite_db: Engine) -> None:
    db = url_of(sqlite_db)
    base = ("staff", "add", "--name", "An", "--unit", "SXD", "--email", "an@sxd.gov.vn")
    short = hailong(*base, "--password-stdin", db=db, stdin="short-pass1\n")
    one_line_error(short, "at least 12 characters")
    assert "short-pass1" not in short.stderr
    one_line_error(hailong(*base, db=db), "--password-stdin")
    one_line_error(
        hailong("staff", "add", "--name", "An", "--unit", "SXD", "--email", "not-an-email",
                "--password-stdin", db=db, stdin=PASSWORD + "\n"),
        "--email",
    )  # fmt: skip
    with sqlite_db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Staff)).scalar_one() == 0
