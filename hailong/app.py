"""Wiring: settings → database engine, questionnaires, conversation service."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from base.errors import UserError
from base.settings import Settings
from bot.desk import ComplaintDesk
from bot.service import ConversationService
from complaints.holidays import load_holidays
from complaints.lifecycle import Policy
from storage import migrate
from storage.db import DatabaseError, make_engine
from survey.loader import QuestionnaireError, load_questionnaires
from survey.model import Questionnaire


def open_database(settings: Settings, *, require_current: bool = True) -> Engine:
    """An engine for DATABASE_URL, checked reachable (and migrated, unless told not to).
    Migrations (`require_current=False`) are not cut short by the statement timeout."""
    engine = make_engine(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout_seconds,
        statement_timeout=settings.db_statement_timeout_seconds if require_current else None,
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise DatabaseError(f"cannot reach the database: {reason}") from exc
    if require_current and not migrate.is_current(engine):
        raise DatabaseError("the database schema is not up to date: run `hailong db upgrade`")
    return engine


def questionnaires(settings: Settings) -> dict[str, Questionnaire]:
    """The shipped questionnaires plus the operator's, checked against the settings."""
    found = load_questionnaires([settings.questionnaire_dir])
    for name in (settings.dossier_questionnaire, settings.general_questionnaire):
        if name not in found:
            raise QuestionnaireError(f"questionnaire {name!r} named in the settings is not loaded")
    return found


def complaint_policy(settings: Settings) -> Policy:
    """Deadlines and windows of the complaint lifecycle, from the settings."""
    holidays: frozenset[date] = frozenset()
    if settings.complaint_working_days:
        try:
            holidays = load_holidays(settings.complaint_holidays_file)
        except (OSError, ValueError) as exc:
            raise UserError(f"COMPLAINT_HOLIDAYS_FILE: {exc}") from exc
    return Policy(
        due_days=settings.complaint_due_days,
        due_days_multi=settings.complaint_due_days_multi,
        working_days=settings.complaint_working_days,
        holidays=holidays,
        reopen_days=settings.complaint_reopen_days,
        remind_before=timedelta(days=settings.complaint_remind_days),
        triage_alarm_after=timedelta(minutes=settings.complaint_triage_alarm_minutes),
    )


def complaint_desk(settings: Settings) -> ComplaintDesk:
    """The desk, with the router loaded on first use, once per process."""

    def router() -> object:
        from nlp.router import load_router

        return load_router(settings.nlp_model_dir, threshold=settings.nlp_confidence_threshold)

    return ComplaintDesk(
        router, complaint_policy(settings), monitor_chat=settings.complaint_monitor_chat_id
    )


def check_wording(settings: Settings, engine: Engine) -> None:
    """Refuse a questionnaire file that rewords a stored version's question (see
    `storage.catalogue.reworded_questions`): the file needs a new version. Run by the commands
    that start conversations (`chat`, `serve`, `telegram poll`), once, at start."""
    from sqlmodel import Session

    from storage.catalogue import reworded_questions

    with Session(engine) as session:
        for q in questionnaires(settings).values():
            changed = reworded_questions(session, q)
            if changed:
                raise QuestionnaireError(
                    f"questionnaire {q.code} version {q.version} rewords {', '.join(changed)} "
                    "after answers were stored under that version: give the file a new version "
                    "(and list the statements still comparable under `previous:`)"
                )


def conversation_service(settings: Settings, engine: Engine) -> ConversationService:
    return ConversationService(
        engine,
        questionnaires(settings),
        dossier_questionnaire=settings.dossier_questionnaire,
        general_questionnaire=settings.general_questionnaire,
        desk=complaint_desk(settings),
    )
