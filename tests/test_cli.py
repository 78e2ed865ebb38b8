"""The `hailong` command end to end, as a person would run it, in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from base.settings import Settings
from storage import migrate
from storage.db import make_engine
from tests.conftest import add_dossier

ROOT = Path(__file__).resolve().parents[1]


def hailong(
    *args: str, db: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DATABASE_URL": db, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hailong.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hailong: error:"), result.stderr
    for part in expected:
        assert part in lines[0]


def migrated(url: str) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_db_upgrade_then_current(sqlite_url: str) -> None:
    head = ",".join(migrate.head_revisions(make_engine(sqlite_url)))
    assert f"revision {head}" in hailong("db", "upgrade", db=sqlite_url).stdout
    assert "up to date" in hailong("db", "current", db=sqlite_url).stdout


def test_a_scripted_terminal_survey_is_stored(db_url: str) -> None:
    migrated(db_url)
    add_dossier(make_engine(db_url), "HS-42")
    script = "1\nrat hai long\ncó\n1\n5\n4\n0\nbỏ qua\ndừng\n"
    result = hailong("chat", "--user", "an", "--dossier", "HS-42", db=db_url, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Hồ sơ HS-42" in result.stdout and "Đã tạm dừng" in result.stdout
    assert count(db_url, "answer") == 6  # DG, HINHTHUC, TCDV1..TCDV4
    assert count(db_url, "outbox WHERE status = 'sent'") == count(db_url, "outbox")


def test_unknown_dossier_is_a_clear_error_and_stores_nothing(sqlite_url: str) -> None:
    migrated(sqlite_url)
    result = hailong("chat", "--user", "an", "--dossier", "NOPE", db=sqlite_url, stdin="1\n")
    one_line_error(result, "unknown dossier 'NOPE'")
    assert count(sqlite_url, "conversation_state") == 0


def test_unmigrated_and_unreachable_databases_are_clear_errors(tmp_path: Path) -> None:
    one_line_error(
        hailong("chat", "--user", "a", db=f"sqlite:///{tmp_path}/empty.db"), "hailong db upgrade"
    )
    one_line_error(
        hailong("db", "current", db="postgresql+psycopg://nobody@127.0.0.1:9/none"),
        "cannot reach the database",
    )
    one_line_error(hailong("db", "current", db="mysql://x/y"), "DATABASE_URL")


def test_a_broken_questionnaire_file_is_named(sqlite_url: str, tmp_path: Path) -> None:
    migrated(sqlite_url)
    (tmp_path / "bad.yaml").write_text("code: sipas\nversion: '2'\ntitle: x\nquestions: []\n")
    result = hailong("chat", "--user", "a", db=sqlite_url, env={"QUESTIONNAIRE_DIR": str(tmp_path)})
    one_line_error(result, "bad.yaml", "field questions")


# Every usage error of every command: one line `hailong: error: <what>`, one hint line at
# most, exit 2, nothing on stdout (Typer's boxes and usage blocks bypassed the rule).
USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["chat"], "chat: Missing option '--user'"),  # a required option
    (["chat", "--user"], "chat: Option '--user' requires an argument"),
    (["chat", "--user", "a", "--bogus"], "chat: No such option: --bogus"),  # unknown option
    (["frobnicate"], "No such command 'frobnicate'"),
    (["db", "upgrade", "1", "2"], "db upgrade: Got unexpected extra argument"),
    (["demo", "--responses", "many"], "demo: Invalid value for '--responses'"),  # a bad int
    (["serve", "--port", "0"], "serve: Invalid value for '--port'"),  # out of range
    (["serve", "--log-level", "loud"], "unknown log level 'loud'"),  # a bad choice
    (["report", "--format", "pdf"], "unknown --format 'pdf'"),  # a bad choice
    (["staff", "add", "--unit", "SXD"], "staff add: Missing option '--name'"),
    (["staff", "add", "--name", "An", "--role", "boss"], "unknown role 'boss'"),  # a bad choice
    (["staff", "remove", "--telegram-id", "x"], "staff remove: Invalid value for '--telegram-id'"),
    (["nlp", "route"], "nlp route: Missing argument"),
    (["invite", "--dossier", "X"], "invite: Missing option"),
    (["export", "--nope"], "export: No such option: --nope"),
]


@pytest.mark.parametrize(("args", "says"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line_and_exit_2(sqlite_url: str, args: list[str], says: str) -> None:
    result = hailong(*args, db=sqlite_url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert 1 <= len(lines) <= 2 and lines[0].startswith("hailong: error: "), result.stderr
    assert says in lines[0], lines[0]
    assert all(line.startswith("hailong: ") for line in lines), lines  # no box, no usage block
    assert "╭" not in result.stderr and "Usage:" not in result.stderr
    assert result.stdout == ""


def test_help_still_works_and_no_command_shows_it(sqlite_url: str) -> None:
    assert hailong("chat", "--help", db=sqlite_url).returncode == 0
    bare = hailong(db=sqlite_url)
    assert bare.returncode == 2 and "chat" in bare.stdout and bare.stderr == ""


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = {
        line.lstrip("# ").split("=", 1)[0]
        for line in text.splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    assert documented == {name.upper() for name in Settings.model_fields}


def test_catalogue_load_is_idempotent_and_rejects_a_broken_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrated(sqlite_url)
    first = hailong("catalogue", "load", db=sqlite_url)
    # The 18 units of the catalogue and the 168 wards under UBND_XA.
    assert first.returncode == 0 and "186 units" in first.stdout
    assert hailong("catalogue", "load", db=sqlite_url).stdout == first.stdout
    assert count(sqlite_url, "unit") == 186
    broken = tmp_path / "cat.yaml"
    broken.write_text("units: []\nprocedures: []\n", encoding="utf-8")
    one_line_error(hailong("catalogue", "load", "--file", str(broken), db=sqlite_url), "cat.yaml")
    assert count(sqlite_url, "unit") == 186


def test_db_upgrade_to_an_unknown_revision_is_one_line(sqlite_url: str) -> None:
    one_line_error(hailong("db", "upgrade", "nosuchrev", db=sqlite_url), "nosuchrev")
