"""`hailong staff …`, `hailong worker` and a complaint in `hailong chat`, in real subprocesses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from storage import migrate
from storage.db import make_engine, session_scope
from storage.models import AuditLog, Complaint, LinkCode, Staff, Unit
from tests.test_cli import hailong, one_line_error


def catalogued(url: str) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    assert hailong("catalogue", "load", db=url).returncode == 0
    return url


def test_staff_are_added_removed_and_groups_get_link_codes(sqlite_url: str) -> None:
    db = catalogued(sqlite_url)
    added = hailong(
        "staff",
        "add",
        "--name",
        "Nguyễn Văn An",
        "--unit",
        "SXD",
        "--telegram-id",
        "9001",
        "--role",
        "lead",
        db=db,
    )
    assert added.returncode == 0 and "lead of SXD" in added.stdout
    code = hailong("staff", "link-code", "--unit", "SXD", db=db)
    assert code.returncode == 0 and re.match(
        r"/lienket [0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", code.stdout
    )
    assert hailong("staff", "remove", "--telegram-id", "9001", db=db).returncode == 0
    engine = make_engine(db)
    with engine.connect() as conn:
        staff = conn.execute(sa.select(Staff)).one()  # type: ignore[call-overload]
        assert staff.active is False and staff.role == "lead"
        assert conn.execute(sa.select(sa.func.count()).select_from(LinkCode)).scalar_one() == 1  # type: ignore[arg-type]
        actions = [r[0] for r in conn.execute(sa.select(AuditLog.action))]  # type: ignore[call-overload]
        assert "staff.add" in actions and "staff.remove" in actions
    engine.dispose()


def test_staff_cli_refuses_bad_input_in_one_line(sqlite_url: str) -> None:
    db = catalogued(sqlite_url)
    one_line_error(hailong("staff", "add", "--name", "A", "--unit", "NOPE", db=db), "unknown unit")
    one_line_error(hailong("staff", "add", "--name", "A", db=db), "--unit is required")
    one_line_error(
        hailong("staff", "add", "--name", "A", "--unit", "SXD", "--role", "boss", db=db), "role"
    )
    one_line_error(hailong("staff", "link-code", "--unit", "NOPE", db=db), "unknown unit")
    one_line_error(hailong("staff", "remove", "--telegram-id", "1", db=db), "no staff")


def test_a_complaint_in_the_terminal_and_the_worker_escalates_it_once(sqlite_url: str) -> None:
    db = catalogued(sqlite_url)
    chat = hailong(
        "chat",
        "--user",
        "c1",
        stdin="/phananh\n1\nCây xanh ngã đè lên dây điện đường Lê Lợi phường Bến Thành\ngửi\n"
        "1\nNguyễn Văn An\n0901234567\n/tracuu\n",
        db=db,
    )
    assert chat.returncode == 0, chat.stderr
    code = re.search(r"PA-\d{4}-\d{6}", chat.stdout)
    assert code is not None and "Hạn trả lời" in chat.stdout
    engine = make_engine(db)
    with session_scope(engine) as session:  # a complaint long overdue
        row = session.exec(sa.select(Complaint)).one()[0]  # type: ignore[call-overload]
        row.due_at = datetime.now(UTC) - timedelta(days=1)
        row.next_check_at = datetime.now(UTC) - timedelta(days=1)
        session.add(row)
    first = hailong("worker", "--once", db=db)
    second = hailong("worker", "--once", db=db)
    assert first.returncode == 0 and first.stdout.startswith("1 ")
    assert second.stdout.startswith("0 ")
    with engine.connect() as conn:
        assert conn.execute(sa.select(Complaint.escalated)).scalar_one() is True  # type: ignore[call-overload]
        assert conn.execute(sa.select(sa.func.count()).select_from(Unit)).scalar_one() > 150  # type: ignore[arg-type]
    engine.dispose()


def test_the_readme_chat_examples_run_as_written(sqlite_url: str) -> None:
    """The `printf … | hailong chat` examples of the README, taken from the README itself."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"`(printf '[^`]*' \\\| hailong chat --user \d+)`", readme)
    assert len(examples) == 2
    db = catalogued(sqlite_url)
    for example in examples:
        printf, _, chat = example.partition(" \\| ")
        lines = shlex.split(printf)[1].encode().decode("unicode_escape").encode("latin-1").decode()
        result = hailong(*shlex.split(chat)[1:], db=db, stdin=lines)
        assert result.returncode == 0, result.stderr
        assert "Xin lỗi, tôi chưa hiểu" not in result.stdout, result.stdout[-500:]
        assert "Câu 3/" in result.stdout or "Đã ghi nhận" in result.stdout
