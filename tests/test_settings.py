"""Every setting is checked when it is read (issue 13, item 4): a wrong value stops every
command, `hailong serve` included, with one line naming the environment variable."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from base.errors import InvalidSetting
from base.settings import Settings, describe, get_settings
from tests.test_cli import hailong

SECRET_32 = "s" * 32

# environment variable, a wrong value, what the message must say
BAD: list[tuple[str, str, str]] = [
    ("ELEMENT_WEIGHTS", '{"CC": -3.9}', "weight of 'CC' must be a positive number"),
    ("ELEMENT_WEIGHTS", '{"CC": 0}', "positive"),
    ("ELEMENT_WEIGHTS", '{"CC": NaN}', "positive"),
    ("ELEMENT_WEIGHTS", '{"CC": Infinity}', "positive"),
    ("ELEMENT_WEIGHTS", '{"CC": "2"}', "positive"),
    ("ELEMENT_WEIGHTS", '{"CC": true}', "positive"),
    ("ELEMENT_WEIGHTS", '{"CC": ', "not valid JSON"),
    ("ELEMENT_WEIGHTS", "[1, 2]", "JSON object"),
    ("API_KEYS", "change-me", "not valid JSON"),
    ("API_KEYS", '["a key"]', "spaces"),
    ("API_KEYS", '[""]', "empty"),
    ("API_KEYS", '{"k": 1}', "JSON list of strings"),
    ("LINK_SECRET", "short-secret", "at least 32 bytes"),
    ("LINK_SECRET", "x" * 31, "it has 31"),
    ("DATABASE_URL", "mysql://x/y", "sqlite://"),
    ("DATABASE_URL", "postgresql+psycopg://h:port/db", "not a database URL"),
    ("PUBLIC_BASE_URL", "hailong.example.vn", "http:// or https://"),
    ("PUBLIC_BASE_URL", "ftp://hailong.example.vn", "http:// or https://"),
    ("TELEGRAM_BASE_URL", "https://", "http:// or https://"),
    ("ZALO_API_BASE_URL", "openapi.zalo.me", "http:// or https://"),
    ("ZALO_OAUTH_BASE_URL", "javascript:alert(1)", "http:// or https://"),
    ("ZALO_LINK_TEMPLATE", "https://zalo.me/{oa_id}", "{token}"),
    ("ZALO_LINK_TEMPLATE", "https://zalo.me/{oa}?d={token}", "only {oa_id} and {token}"),
    ("ZALO_LINK_TEMPLATE", "zalo.me/{oa_id}?d={token}", "http:// or https://"),
    ("ZALO_APP_ID", "app-1", "digits only"),
    ("ZALO_OA_ID", "oa1", "digits only"),
    ("TELEGRAM_BOT_TOKEN", "not-a-token", "Bot API token"),
    ("TELEGRAM_BOT_USERNAME", "hl", "Telegram username"),
    ("TELEGRAM_WEBHOOK_SECRET", "with space", "A-Z, a-z, 0-9"),
    ("COMPLAINT_MONITOR_CHAT_ID", "monitoring", "valid integer"),
    ("REPORT_MIN_N", "0", "greater than or equal to 1"),
    ("REPORT_MIN_N", "thirty", "valid integer"),
    ("SATISFACTION_TARGET", "95", "less than or equal to 1"),
    ("DB_CONNECT_TIMEOUT_SECONDS", "0", "greater than 0"),
    ("DB_STATEMENT_TIMEOUT_SECONDS", "-1", "greater than 0"),
    ("DB_STATEMENT_TIMEOUT_SECONDS", "nan", "finite number"),
    ("OUTBOX_LEASE_SECONDS", "inf", "finite number"),
    ("OUTBOX_RETRY_BASE_SECONDS", "0", "greater than 0"),
    ("SCHEDULER_INTERVAL_SECONDS", "-5", "greater than 0"),
    ("COMPLAINT_TRIAGE_ALARM_MINUTES", "0", "greater than 0"),
    ("LINK_CODE_TTL_HOURS", "0", "greater than 0"),
    ("LINK_TTL_DAYS", "0", "greater than or equal to 1"),
    ("OUTBOX_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
    ("NLP_CONFIDENCE_THRESHOLD", "1.5", "less than or equal to 1"),
    ("COMPLAINT_WORKING_DAYS", "perhaps", "valid boolean"),
    ("QUESTIONNAIRE_DIR", "/nonexistent/questionnaires", "no such folder"),
    ("COMPLAINT_HOLIDAYS_FILE", "/nonexistent/holidays.yaml", "no such file"),
    ("GENERAL_QUESTIONNAIRE", " ", "must name a questionnaire"),
    ("ZALO_REPLY_WINDOW_MAX", "-1", "greater than or equal to 0"),  # an older name, named
]
IDS = [f"{name}={value[:20]}" for name, value, _ in BAD]


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings read here come from the test's environment only, never a developer's .env."""
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(("name", "value", "reason"), BAD, ids=IDS)
def test_a_wrong_setting_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSetting) as caught:
        get_settings()
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and reason in message, message
    assert "\n" not in message


IN_CODE = [case for case in BAD if case[0] in ("ELEMENT_WEIGHTS", "LINK_SECRET", "ZALO_OA_ID")]


@pytest.mark.parametrize(("name", "value", "reason"), IN_CODE, ids=[c[0] for c in IN_CODE])
def test_settings_built_in_code_are_checked_the_same(name: str, value: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **{name.lower(): value})  # type: ignore[call-arg]
    assert describe(caught.value).startswith(f"{name}: ")
    assert reason in describe(caught.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINK_SECRET", "hunter2-hunter2")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "hunter3")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:hunter4@h:x/db")
    with pytest.raises(InvalidSetting) as caught:
        get_settings()
    message = str(caught.value)
    assert "LINK_SECRET" in message and "TELEGRAM_BOT_TOKEN" in message
    assert "DATABASE_URL" in message and "hunter" not in message


def test_good_values_pass_and_are_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "ELEMENT_WEIGHTS": '{"TCDV": 1, "CC": 2.5}',
        "API_KEYS": '["k1", "k2"]',
        "LINK_SECRET": SECRET_32,
        "PUBLIC_BASE_URL": "https://hailong.example.vn/",
        "TELEGRAM_BOT_TOKEN": "123456:AAE-x_y",
        "TELEGRAM_BOT_USERNAME": "@hailong_bot",
        "ZALO_OA_ID": "4318005",
        "COMPLAINT_MONITOR_CHAT_ID": "-1001234567890",
        "QUESTIONNAIRE_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert settings.element_weights == {"TCDV": 1.0, "CC": 2.5}
    assert settings.api_keys == ["k1", "k2"] and settings.link_secret == SECRET_32
    assert settings.complaint_monitor_chat_id == -1001234567890


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env.example` leaves some settings empty (`LINK_SECRET=`): that is "not set"."""
    for name in ("LINK_SECRET", "COMPLAINT_MONITOR_CHAT_ID", "ELEMENT_WEIGHTS", "API_KEYS"):
        monkeypatch.setenv(name, "")
    settings = get_settings()
    assert settings.link_secret == "" and settings.complaint_monitor_chat_id is None
    assert settings.element_weights == {} and settings.api_keys == []


def test_a_setting_in_dotenv_is_named_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('ELEMENT_WEIGHTS={"KQ": -1}\n', encoding="utf-8")
    with pytest.raises(InvalidSetting, match=r"^ELEMENT_WEIGHTS: the weight of 'KQ'"):
        get_settings()


def test_weights_are_finite() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, element_weights={"CC": math.inf})  # type: ignore[call-arg]


# Through the command line: a few commands, `serve` among them (it must not start at all).
CLI_CASES = [
    (["report"], "ELEMENT_WEIGHTS", '{"CC": -3.9}'),
    (["report"], "ELEMENT_WEIGHTS", '{"CC": '),
    (["serve", "--port", "1"], "LINK_SECRET", "too-short"),
    (["serve", "--port", "1"], "PUBLIC_BASE_URL", "hailong.example.vn"),
    (["db", "current"], "DB_CONNECT_TIMEOUT_SECONDS", "0"),
    (["chat", "--user", "a"], "ZALO_OA_ID", "oa1"),
    (["invite", "--dossier", "X", "--unit", "SXD", "--procedure", "P"], "API_KEYS", "k1,k2"),
    (["outbox", "status"], "COMPLAINT_MONITOR_CHAT_ID", "monitoring"),
]


@pytest.mark.parametrize(("args", "name", "value"), CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_a_wrong_setting_stops_every_command_in_one_line(
    tmp_path: Path, args: list[str], name: str, value: str
) -> None:
    db = f"sqlite:///{tmp_path}/never.db"
    result = hailong(*args, db=db, env={name: value})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr  # one line
    assert result.stderr.startswith(f"hailong: error: {name}: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "never.db").exists()  # nothing was started, nothing written
