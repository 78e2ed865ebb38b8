"""One settings class for the whole application, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting hailong reads. `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
    report_min_n: int = Field(default=30, ge=1, description="Below this n a rate is flagged")
    satisfaction_target: float = Field(default=0.95, gt=0, le=1)
    element_weights: dict[str, float] = Field(
        default_factory=dict,
        description='JSON map of element code to weight, e.g. {"TCDV": 1, "CC": 2}; default equal',
    )
    # --- web server and channels (hailong serve) ---
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Public HTTPS address of `hailong serve`"
    )
    api_keys: list[str] = Field(
        default_factory=list, description='JSON list of keys for /api/v1, e.g. ["k1","k2"]'
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

    @field_validator("nlp_model_dir", "questionnaire_dir", "complaint_holidays_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql+psycopg://")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
