"""Wiring: settings → database engine, questionnaires, conversation service."""

from __future__ import annotations

import logging
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
from storage.catalogue import AskedQuestionnaires, asked_questionnaires
from storage.db import DatabaseError, make_engine
from survey.loader import QuestionnaireError, load_questionnaires
from survey.model import Questionnaire

log = logging.getLogger(__name__)


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


def questionnaire_files(settings: Settings) -> dict[str, Questionnaire]:
    """The shipped questionnaire files, overridden by code by QUESTIONNAIRE_DIR's."""
    return load_questionnaires([settings.questionnaire_dir])


def questionnaires(settings: Settings, engine: Engine | None = None) -> dict[str, Questionnaire]:
    """What conversations ask, checked against the settings: for each code the newest version
    stored in the database, else the file's (`storage.catalogue.asked_questionnaires`, the
    rule a running service re-reads too); the files alone without an engine."""
    files = questionnaire_files(settings)
    found = files if engine is None else asked_questionnaires(engine, files)
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
    `storage.catalogue.reworded_questions`): the file needs a new version. Then store the
    files' versions not stored yet: a file's new version is published when the bot starts
    (newer than what the console published before), and one stored first cannot later
    overtake a version published in the console. Run by the commands that start
    conversations (`chat`, `serve`, `telegram poll`), once, at start."""
    from storage.catalogue import ensure_questionnaire, reworded_questions
    from storage.db import session_scope

    files = questionnaire_files(settings)
    with session_scope(engine) as session:
        for q in files.values():
            changed = reworded_questions(session, q)
            if changed:
                raise QuestionnaireError(
                    f"questionnaire {q.code} version {q.version} rewords {', '.join(changed)} "
                    "after answers were stored under that version: give the file a new version "
                    "(and list the statements still comparable under `previous:`)"
                )
        for q in files.values():
            ensure_questionnaire(session, q)
    for code, q in questionnaires(settings, engine).items():
        file = files.get(code)
        if file is not None and file.version != q.version:
            log.info(
                "questionnaire %s: version %s asked (published), not the file's %s",
                code,
                q.version,
                file.version,
            )


def conversation_service(settings: Settings, engine: Engine) -> ConversationService:
    """The service, asking what `questionnaires` names, read again from the database at most
    every QUESTIONNAIRE_REFRESH_SECONDS (the database is not reached before the first turn)."""
    asked = AskedQuestionnaires(
        questionnaire_files(settings),
        engine,
        refresh_seconds=settings.questionnaire_refresh_seconds,
    )
    return ConversationService(
        engine,
        asked,
        dossier_questionnaire=settings.dossier_questionnaire,
        general_questionnaire=settings.general_questionnaire,
        desk=complaint_desk(settings),
    )
