"""Wiring: settings → database engine, questionnaires, conversation service."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.service import ConversationService
from hailong.config import Settings
from storage import migrate
from storage.db import DatabaseError, make_engine
from survey.loader import QuestionnaireError, load_questionnaires
from survey.model import Questionnaire


def open_database(settings: Settings, *, require_current: bool = True) -> Engine:
    """An engine for DATABASE_URL, checked reachable (and migrated, unless told not to)."""
    engine = make_engine(settings.database_url)
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


def conversation_service(settings: Settings, engine: Engine) -> ConversationService:
    return ConversationService(
        engine,
        questionnaires(settings),
        dossier_questionnaire=settings.dossier_questionnaire,
        general_questionnaire=settings.general_questionnaire,
    )
