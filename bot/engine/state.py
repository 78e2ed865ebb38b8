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
    COMPLAINT = "complaint"  # writing a complaint (`ComplaintDraft.step` says which part)
    COMPLAINT_OFFER = "complaint_offer"  # asked whether typed text is to be sent as one
    RATE_REASON = "rate_reason"  # rated a complaint's answer «Không hài lòng»: asked why


class DraftStep(StrEnum):
    CONTENT = "content"  # messages, photos, a location, until «Gửi»
    WARD = "ward"  # asked where it happened
    CONSENT = "consent"  # asked to agree that the unit sees name and phone
    WHY_CONTACT = "why_contact"  # declined: told why, offered anonymous feedback
    NAME = "name"
    PHONE = "phone"


class ComplaintDraft(BaseModel):
    """A complaint being written: kept in the chat's state, so a pause or a restart loses
    nothing the citizen typed."""

    key: str
    parts: list[str] = Field(default_factory=list)
    photos: list[tuple[str, str]] = Field(default_factory=list)
    location: tuple[float, float] | None = None
    ward: str | None = None
    ward_name: str | None = None
    ward_options: list[str] = Field(default_factory=list)
    step: DraftStep = DraftStep.CONTENT
    name: str | None = None
    dossier: str | None = None
    origin: str = "chat"


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
    # The first answer was stored: the response is attached to its dossier (the dossier is
    # rated by it), so later answers need not ask whether another chat rated it first.
    claimed: bool = False


class ConversationState(BaseModel):
    """Everything the engine remembers about one chat between messages."""

    phase: Phase = Phase.NEW
    consented: bool = False
    survey: SurveyProgress | None = None
    pending_dossier: str | None = None  # dossier of a start link, waiting for consent
    return_phase: Phase | None = None  # where to go back to after /xoa is cancelled
    draft: ComplaintDraft | None = None
    contact_on_file: bool = False  # name and phone given, with consent, for complaints
    intent: str | None = None  # what to do once consent is given ("complaint")
    rating: str | None = None  # complaint code rated «Không hài lòng», reason awaited
