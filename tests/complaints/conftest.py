"""Complaint tests: a migrated database with the catalogue, and the router trained once."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.desk import ComplaintDesk
from bot.engine import Inbound
from bot.service import ConversationService
from nlp.router import Router, load_router
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import session_scope
from survey.loader import load_questionnaires

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 in Ho Chi Minh City


@pytest.fixture(scope="session")
def router(nlp_model_dir: Path) -> Router:
    return load_router(nlp_model_dir)


class Clock:
    """A controlled clock: `advance` moves it."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalogued(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    return engine


@pytest.fixture
def desk(router: Router) -> ComplaintDesk:
    return ComplaintDesk(lambda: router)


@pytest.fixture
def service(catalogued: Engine, desk: ComplaintDesk, clock: Clock) -> ConversationService:
    keys = itertools.count(1)
    return ConversationService(
        catalogued,
        load_questionnaires(),
        dossier_questionnaire="danh-gia-ho-so",
        general_questionnaire="sipas",
        clock=clock,
        new_key=lambda: f"k{next(keys)}",
        desk=desk,
    )


Say = Callable[..., list[str]]


def talk(svc: ConversationService, channel: str, user: str) -> Say:
    """`say("text")` or `say(choice="payload")`: the replies' texts."""

    def say(text: str = "", *, choice: str | None = None, **extra: Any) -> list[str]:
        outcome = svc.handle(channel, user, Inbound(text=text, choice=choice, **extra))
        return [r.text for r in outcome.replies]

    return say


@pytest.fixture
def citizen(service: ConversationService) -> Iterator[Say]:
    yield talk(service, "telegram", "5001")
