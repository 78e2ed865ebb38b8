"""The engine's state for one chat: JSON-serialisable, stored by the storage layer."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Phase(StrEnum):
    NEW = "new"  # never talked, or forgotten
    CONSENT = "consent"  # consent asked, not yet answered
    SURVEY = "survey"  # a question is waiting for its answer
    PAUSED = "paused"  # citizen said "dừng"; the next message resumes
    OFFER = "offer"  # dossier rated; offered the longer SIPAS questionnaire
    FORGET = "forget"  # asked to confirm deletion of personal data
    IDLE = "idle"  # consented, nothing in progress


class SurveyProgress(BaseModel):
    """Where the citizen is in one questionnaire."""

    key: str
    questionnaire: str
    version: str
    dossier: str | None = None
    current: str  # question code waiting for an answer
    history: list[str] = Field(default_factory=list)  # questions shown before `current`
    answers: dict[str, str] = Field(default_factory=dict)  # question -> choice code(s) or text
    picked: list[str] = Field(default_factory=list)  # multi-choice buttons tapped so far


class ConversationState(BaseModel):
    """Everything the engine remembers about one chat between messages."""

    phase: Phase = Phase.NEW
    consented: bool = False
    survey: SurveyProgress | None = None
    pending_dossier: str | None = None  # dossier of a start link, waiting for consent
    return_phase: Phase | None = None  # where to go back to after /xoa is cancelled
