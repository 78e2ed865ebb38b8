"""One settings class for the whole application, read from the environment and `.env`."""

from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from base.errors import InvalidSetting

# Each rule below is said in `.env.example` next to its setting.
LINK_SECRET_MIN_BYTES = 32  # HMAC-SHA256 key: shorter keys are guessable offline from one link
_TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")  # "<bot id>:<secret>", from @BotFather
_TELEGRAM_USERNAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{4,31}")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # setWebhook's secret_token alphabet
_DIGITS = re.compile(r"[0-9]{1,32}")
# Values of these settings are never echoed in an error message.
_SECRET_WORDS = ("secret", "token", "key", "database_url")


class Settings(BaseSettings):
    """Every setting hailong reads. `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", allow_inf_nan=False
    )

    database_url: str = Field(
        default="sqlite:///./hailong.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    db_connect_timeout_seconds: float = Field(
        default=5, gt=0, le=300, description="PostgreSQL: give up connecting after this long"
    )
    db_statement_timeout_seconds: float = Field(
        default=30, gt=0, le=3600, description="PostgreSQL: cancel a statement after this long"
    )
    questionnaire_dir: Path | None = Field(
        default=None,
        description="Folder of extra questionnaire YAML files; the shipped ones are always loaded",
    )
    dossier_questionnaire: str = Field(
        default="danh-gia-ho-so", description="Questionnaire asked for a dossier link"
    )
    general_questionnaire: str = Field(
        default="sipas", description="Questionnaire asked when no dossier is given"
    )
    questionnaire_refresh_seconds: float = Field(
        default=30,
        ge=0,
        description="How often a running bot checks for a questionnaire version published in "
        "the console (a cheap query; a new version is read at once; 0: before every turn)",
    )
    report_min_n: int = Field(default=30, ge=1, description="Below this n a rate is flagged")
    satisfaction_target: float = Field(default=0.95, gt=0, le=1)
    dossiers_on_time_target: float = Field(
        default=0.98, gt=0, le=1, description="Decision 766: share of dossiers finished on time"
    )
    report_timezone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="IANA time zone whose calendar reports use for days, months and --from/--to",
    )
    element_weights: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description='JSON map of element code to weight, e.g. {"TCDV": 1, "CC": 2}; default equal',
    )
    report_rollup_seconds: float = Field(
        default=300,
        ge=0,
        description="How often `hailong serve` rebuilds the dashboard's rollup of the recent "
        "months (0: never; `hailong report rollup` does it by hand)",
    )
    report_rollup_full_minutes: float = Field(
        default=60, gt=0, description="How often that rebuild covers every month, not just recent"
    )
    # --- web server and channels (hailong serve) ---
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public HTTPS address of `hailong serve`"
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description='JSON list of keys for /api/v1, e.g. ["k1","k2"]'
    )
    open311_api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='JSON list of keys that may POST /open311/v2/requests.json, e.g. ["k1"]',
    )
    link_secret: str = Field(
        default="", description="HMAC key that signs dossier links; required to issue links"
    )
    link_ttl_days: int = Field(default=30, ge=1, le=366)
    telegram_bot_token: str = Field(default="", description="From @BotFather; empty: off")
    telegram_bot_username: str = Field(default="", description="For t.me deep links")
    telegram_webhook_secret: str = Field(
        default="", description="Sent by Telegram in X-Telegram-Bot-Api-Secret-Token"
    )
    telegram_base_url: str = Field(
        default="https://api.telegram.org/bot", description="Bot API server (tests: a fake)"
    )
    zalo_app_id: str = Field(default="", description="Zalo app id; empty: Zalo off")
    zalo_app_secret: str = Field(default="", description="Zalo app secret key (token refresh)")
    zalo_oa_secret_key: str = Field(default="", description="OA secret key (webhook signature)")
    zalo_oa_id: str = Field(default="", description="Official Account id, for deep links")
    zalo_api_base_url: str = Field(default="https://openapi.zalo.me")
    zalo_oauth_base_url: str = Field(default="https://oauth.zaloapp.com")
    outbox_max_attempts: int = Field(default=5, ge=1)
    turn_writers: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Writer threads a server process runs turn batches on; 0: 2 on PostgreSQL, "
        "1 on SQLite (which writes one transaction at a time)",
    )
    zalo_link_template: str = Field(
        default="https://zalo.me/{oa_id}?d={token}",
        description="Zalo link handed out with a dossier token; {oa_id} and {token} are filled in",
    )
    outbox_retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay of a failed send; doubles each time"
    )
    outbox_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a sender worker holds messages it claimed"
    )
    outbox_retry_for_hours: float = Field(
        default=24.0, gt=0, description="Transient send failures are retried this long"
    )
    outbox_retry_max_delay_seconds: float = Field(
        default=600.0, gt=0, description="Longest wait between two retries of a failed send"
    )
    zalo_event_max_age_hours: float = Field(
        default=168,
        gt=0,
        description="Signed Zalo events older than this are acknowledged and ignored",
    )
    # Zalo's reply window (bot/channels/zalo.py, `reply_rule`): the old names
    # ZALO_REPLY_WINDOW_HOURS / ZALO_REPLY_WINDOW_MAX still set the free part.
    zalo_reply_window_days: float = Field(
        default=7, gt=0, description="The OA may reply this long after the user's last interaction"
    )
    zalo_free_replies: int = Field(
        default=8,
        ge=0,
        validation_alias=AliasChoices("zalo_free_replies", "zalo_reply_window_max"),
        description="Replies free of charge within ZALO_FREE_WINDOW_HOURS of that interaction",
    )
    zalo_free_window_hours: float = Field(
        default=48,
        ge=0,
        validation_alias=AliasChoices("zalo_free_window_hours", "zalo_reply_window_hours"),
        description="How long after the user's last interaction replies are free",
    )
    zalo_use_paid_quota: bool = Field(
        default=True,
        description="Beyond the free replies (within the window) use the OA's paid quota; "
        "false: such replies are dead-lettered, not sent",
    )
    # Zalo Notification Service: the dossier rating invitation sent to a phone number.
    zalo_zns_url: str = Field(default="https://business.openapi.zalo.me/message/template")
    zalo_zns_template_id: str = Field(
        default="", description="The city's registered ZNS rating template; empty: no ZNS"
    )

    nlp_model_dir: Path = Field(
        default=Path.home() / ".cache" / "hailong" / "nlp",
        description="Where the routing model is cached after its first training",
    )
    nlp_confidence_threshold: float = Field(default=0.5, ge=0, le=1)

    # --- complaints (phản ánh, kiến nghị): deadlines, escalation, staff groups ---
    complaint_due_days: int = Field(default=10, ge=1, le=90, description="Days to answer")
    complaint_due_days_multi: int = Field(
        default=15, ge=1, le=90, description="Days to answer once transferred between units"
    )
    complaint_working_days: bool = Field(
        default=False, description="Count deadlines in working days (skips weekends, holidays)"
    )
    complaint_holidays_file: Path | None = Field(
        default=None, description="YAML of public holidays; default: the shipped Vietnam list"
    )
    complaint_reopen_days: int = Field(default=7, ge=0, le=90)
    complaint_remind_days: float = Field(
        default=2, ge=0, description="Remind the unit's group this many days before the due date"
    )
    complaint_triage_alarm_minutes: float = Field(
        default=60, gt=0, description="Alarm when the triage desk holds a complaint this long"
    )
    complaint_monitor_chat_id: int | None = Field(
        default=None, description="Telegram chat of the city's monitoring group (escalations)"
    )
    scheduler_interval_seconds: float = Field(
        default=30, gt=0, description="How often the scheduler looks for due reminders"
    )
    web_photo_max_bytes: int = Field(
        default=5_000_000, ge=10_000, le=20_000_000, description="Largest photo the web chat takes"
    )
    link_code_ttl_hours: float = Field(default=24, gt=0, description="Lifetime of /lienket codes")
    # --- web console (/console): sessions and sign-in ---
    console_secret: str = Field(
        default="",
        description="Key that signs console sessions (>= 32 bytes); empty: derived from "
        "LINK_SECRET; both empty: the console refuses sign-in",
    )
    console_session_hours: float = Field(
        default=8, gt=0, le=720, description="A console session ends this long after sign-in"
    )
    console_login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins per account or address before a pause"
    )
    console_login_window_minutes: float = Field(
        default=15, gt=0, description="The window those failures are counted in (and the pause)"
    )

    @field_validator("nlp_model_dir", "questionnaire_dir", "complaint_holidays_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql+psycopg://")
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL: sqlite:///path.db or postgresql+psycopg://user@host/db"
            ) from None
        return value

    # --- every setting is checked when read: a wrong value stops the command, naming it ---

    @field_validator("element_weights", "api_keys", mode="before")
    @classmethod
    def _json(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """These two are JSON in the environment: a typo is named, not a traceback."""
        weights = info.field_name == "element_weights"
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                example = '{"TCDV": 1, "CC": 2}' if weights else '["k1", "k2"]'
                raise ValueError(
                    f"not valid JSON ({exc.msg} at column {exc.colno}), e.g. {example}"
                ) from None
        return _check_weights(value) if weights else _check_keys(value)

    @field_validator("open311_api_keys", mode="before")
    @classmethod
    def _open311_keys(cls, value: Any) -> list[str]:
        """JSON in the environment, like API_KEYS (a separate list: a system that registers
        dossiers need not be one that files complaints)."""
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f'not valid JSON ({exc.msg} at column {exc.colno}), e.g. ["k1", "k2"]'
                ) from None
        return _check_keys(value)

    @field_validator("link_secret", "console_secret")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        size = len(value.encode())
        if value and size < LINK_SECRET_MIN_BYTES:
            raise ValueError(
                f"must be at least {LINK_SECRET_MIN_BYTES} bytes when set (it has {size}): "
                "use a long random string, e.g. python3 -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("telegram_bot_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        if value and not _TELEGRAM_TOKEN.fullmatch(value):
            raise ValueError("not a Bot API token: <digits>:<letters> as @BotFather gives it")
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _bot_username(cls, value: str) -> str:
        if value and not _TELEGRAM_USERNAME.fullmatch(value):
            raise ValueError("not a Telegram username: 5-32 letters, digits or _ (e.g. hl_bot)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        if value and not _TELEGRAM_SECRET.fullmatch(value):
            raise ValueError("Telegram takes 1-256 characters A-Z, a-z, 0-9, _ and - only")
        return value

    @field_validator("zalo_app_id", "zalo_oa_id")
    @classmethod
    def _numeric_id(cls, value: str) -> str:
        if value and not _DIGITS.fullmatch(value):
            raise ValueError("a Zalo id is digits only")
        return value

    @field_validator("dossier_questionnaire", "general_questionnaire")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a questionnaire")
        return value

    @field_validator("complaint_monitor_chat_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("questionnaire_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"no such folder: {value}")
        return value

    @field_validator("complaint_holidays_file")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("zalo_link_template")
    @classmethod
    def _link_template(cls, value: str) -> str:
        try:
            sample = value.format(oa_id="1", token="t")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may use only {oa_id} and {token}") from None
        if "{token}" not in value:
            raise ValueError("must contain {token}")
        _http_url(sample)
        return value

    @field_validator("*")
    @classmethod
    def _urls(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """Every `*_url` setting but DATABASE_URL is an http(s) address."""
        name = info.field_name or ""
        if name.endswith("_url") and name != "database_url" and isinstance(value, str):
            _http_url(value)
        return value


def _check_weights(value: Any) -> dict[str, Any]:
    """Weights are positive and finite: a negative one made an index outside its interval."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError('must be a JSON object of element code to weight, e.g. {"CC": 2}')
    for code, weight in value.items():
        number = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not code or not number or not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"the weight of {code!r} must be a positive number, got {weight!r}")
    return value


def _check_keys(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ValueError('must be a JSON list of strings, e.g. ["k1", "k2"]')
    if any(not k.isprintable() or not k or any(c.isspace() for c in k) for k in value):
        raise ValueError("a key is empty or has spaces or control characters")
    return value


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(f"not an http:// or https:// address: {value!r}")


def describe(exc: pydantic.ValidationError) -> str:
    """One line naming each wrong setting by its environment variable, with the reason;
    secrets are not echoed."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        name = _variable(loc[0]) if loc else "settings"
        reason = error["msg"].removeprefix("Value error, ")
        if len(loc) > 1:
            reason = f"{'.'.join(loc[1:])}: {reason}"
        shown = error.get("input")
        secret = any(word in name.lower() for word in _SECRET_WORDS)
        if error["type"] != "value_error" and isinstance(shown, str | int | float) and not secret:
            reason += f" (got {str(shown)[:60]!r})"
        parts.append(f"{name}: {reason}")
    return "; ".join(parts)


def _variable(key: str) -> str:
    """The environment variable behind an error's key: of a setting with older names too
    (AliasChoices), the one that is set."""
    field = Settings.model_fields.get(key)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        names = [str(choice).upper() for choice in alias.choices]
        return next((n for n in names if n in os.environ), key.upper())
    return key.upper()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once. Raises InvalidSetting (one line, naming the
    environment variable) for any value that is wrong."""
    try:
        return Settings()
    except pydantic.ValidationError as exc:
        raise InvalidSetting(describe(exc)) from None
    except SettingsError as exc:  # a source that could not even be read
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1).upper() if found else "settings"
        raise InvalidSetting(f"{name}: {exc.__cause__ or exc}") from None
