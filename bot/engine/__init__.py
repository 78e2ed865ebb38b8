"""The pure conversation engine (sans-I/O): see `bot.engine.core.handle`."""

from bot.engine.core import handle
from bot.engine.state import ConversationState, Phase, SurveyProgress
from bot.engine.types import (
    Button,
    CompleteResponse,
    Context,
    DossierFacts,
    DossierStatus,
    Effect,
    ForgetCitizen,
    GiveConsent,
    Inbound,
    RecordAnswer,
    Reply,
    StartResponse,
    Turn,
)

__all__ = [
    "Button",
    "CompleteResponse",
    "Context",
    "ConversationState",
    "DossierFacts",
    "DossierStatus",
    "Effect",
    "ForgetCitizen",
    "GiveConsent",
    "Inbound",
    "Phase",
    "RecordAnswer",
    "Reply",
    "StartResponse",
    "SurveyProgress",
    "Turn",
    "handle",
]
