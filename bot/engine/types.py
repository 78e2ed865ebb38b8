"""What goes in and out of the conversation engine. Plain data, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from survey.model import Questionnaire

MAX_TEXT = 4000  # characters of one free-text answer (also the column width)


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, already translated from the channel's format.

    `text` is what was typed ("/start abc" included); `choice` is the payload of a tapped
    button. A channel sets exactly one of them.
    """

    text: str = ""
    choice: str | None = None
    # What else a message can carry (complaints): photos as (kind, reference) pairs (a
    # Telegram file id, a Zalo image URL, a web upload's key), a location, and contact
    # details the platform vouches for (Telegram's own-contact share, Zalo's submitted info).
    attachments: tuple[tuple[str, str], ...] = ()
    location: tuple[float, float] | None = None
    contact: tuple[str, str] | None = None  # (name, phone)
    # The channel's id of the message whose button was tapped (Telegram), so that a reply
    # can replace that message (a multiple-choice tap re-marks the question in place).
    ref: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _storable(self.text))
        if self.choice is not None:
            object.__setattr__(self, "choice", _storable(self.choice))
        if self.contact is not None:
            name, phone = self.contact
            object.__setattr__(self, "contact", (_storable(name)[:200], _storable(phone)[:32]))


# Half a UTF-16 surrogate pair: valid in JSON ("\\ud83d" alone) but no character.
SURROGATES = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    """What both databases can store of a channel's text, for every channel alike: NUL cannot
    be in PostgreSQL text (nor in an array literal's parameter, which libpq ends there), and a
    lone surrogate (JSON "\\ud800", valid JSON but no character) cannot be encoded as UTF-8
    for either database; both failed the turn. NUL is dropped, a surrogate becomes U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = SURROGATES.sub("\ufffd", value)
    return value


@dataclass(frozen=True)
class Button:
    """A tappable answer. `payload` is at most 64 bytes (Telegram's callback_data limit)."""

    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """A message to send back, with optional buttons."""

    text: str
    buttons: tuple[Button, ...] = ()


# A button no channel shows, naming the message (`Inbound.ref`) this reply replaces: channels
# that can edit a sent message (Telegram) edit it, the others send the reply as a new one.
EDIT_PREFIX = "@edit:"
# Put before the label of a multiple-choice option already chosen.
CHOSEN_MARK = "✓ "


def listed_once(text: str, labels: Iterable[str]) -> str:
    """The text without the lines that repeat a shown button's label: where a channel shows
    the buttons (which carry the options' numbers), the numbered list is not repeated above
    them. A chosen mark on a label does not count; text-only channels keep the whole text."""
    shown = {label.removeprefix(CHOSEN_MARK) for label in labels}
    if not shown:
        return text
    lines = text.split("\n")
    kept = [line for line in lines if line not in shown]
    return text if len(kept) == len(lines) else "\n".join(kept)


class DossierStatus(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    INVALID_LINK = "invalid_link"  # tampered or expired signed link


@dataclass(frozen=True)
class DossierFacts:
    """What the service looked up about the dossier a start link names."""

    code: str
    status: DossierStatus
    unit_name: str = ""
    procedure_name: str = ""
    rated: frozenset[str] = frozenset()  # questionnaire codes already answered for it


@dataclass(frozen=True)
class ComplaintFacts:
    """What a citizen may see of one of their complaints (`/tracuu`)."""

    code: str
    status: str  # complaints.lifecycle.Status values
    unit_name: str
    received_at: datetime
    due_at: datetime
    history: tuple[tuple[datetime, str, str], ...] = ()  # (at, action, note shown)


@dataclass(frozen=True)
class CitizenPending:
    """What a citizen's complaints wait for from them: an answer to a unit's question, or a
    rating of an answer (the newest of each)."""

    info_request: str | None = None  # code
    rating: str | None = None  # code


class ComplaintLookups(Protocol):
    """Read-only lookups of this chat's complaints, made only when a turn needs them."""

    def find(self, code: str) -> ComplaintFacts | None:
        """The complaint with this code if this chat sent it (else None: never another's)."""

    def mine(self) -> list[ComplaintFacts]:
        """This chat's latest complaints, newest first."""

    def pending(self) -> CitizenPending: ...


@dataclass(frozen=True)
class Context:
    """Facts and services the engine may use; everything else it must be told."""

    now: datetime
    questionnaires: Mapping[str, Questionnaire]
    dossier_questionnaire: str
    general_questionnaire: str
    new_key: Callable[[], str]
    dossier: DossierFacts | None = None  # set when the inbound message is a start link
    # Or a lookup of those facts, made only if the turn reads them: most answers do not, and
    # a dossier survey's turns would otherwise each query the dossier (the service's way).
    find_dossier: Callable[[], DossierFacts | None] | None = None
    complaints: ComplaintLookups | None = None
    _looked_up: list[DossierFacts | None] = field(default_factory=list, repr=False, compare=False)

    @property
    def dossier_facts(self) -> DossierFacts | None:
        """The dossier this message is about, if any: `dossier`, or looked up once.

        Not functools.cached_property: on Python 3.11 its lock is shared by every instance, so
        one turn's database lookup would hold up the lookups of every other thread's turns.
        """
        if not self._looked_up:
            found = self.find_dossier() if self.find_dossier is not None else self.dossier
            self._looked_up.append(found)
        return self._looked_up[0]


# Effects: what the storage layer must record for this turn, in order.


@dataclass(frozen=True)
class GiveConsent:
    text_shown: str
    at: datetime


@dataclass(frozen=True)
class ForgetCitizen:
    """Delete the citizen's personal data; answers stay, unlinked."""

    at: datetime


@dataclass(frozen=True)
class StartResponse:
    key: str
    questionnaire_code: str
    questionnaire_version: str
    dossier_code: str | None
    at: datetime


@dataclass(frozen=True)
class RecordAnswer:
    """One answer (or skip). A later RecordAnswer for the same question replaces it."""

    key: str
    question_code: str
    element_code: str | None
    kind: str
    status: str  # storage.models.AnswerStatus values
    at: datetime
    score: int | None = None
    choice: str | None = None
    text: str | None = None
    satisfied: bool | None = None
    # The first answer of a response opened for a dossier carries that dossier's code: storing
    # it attaches the response to the dossier, which then counts as rated (and fails, for the
    # turn to be redone, if another response was attached to it first).
    dossier: str | None = None


@dataclass(frozen=True)
class CompleteResponse:
    key: str
    at: datetime


@dataclass(frozen=True)
class SubmitComplaint:
    """A complaint the citizen sent (or, `anonymous`, feedback to keep and count). The
    service routes it, numbers it and tells the citizen and the unit. `key` makes it
    idempotent, and turns feedback kept earlier under the same key into the complaint."""

    key: str
    text: str
    at: datetime
    photos: tuple[tuple[str, str], ...] = ()
    location: tuple[float, float] | None = None
    ward: str | None = None
    dossier: str | None = None
    anonymous: bool = False
    origin: str = "chat"


@dataclass(frozen=True)
class SaveContact:
    """Contact details for the handling unit, with the consent text shown for that purpose."""

    name: str
    phone: str
    text_shown: str
    at: datetime


@dataclass(frozen=True)
class CitizenAction:
    """The citizen acts on one of their complaints: provide_info, rate or reopen."""

    code: str
    action: str
    at: datetime
    text: str = ""
    satisfied: bool | None = None


Effect = (
    GiveConsent
    | ForgetCitizen
    | StartResponse
    | RecordAnswer
    | CompleteResponse
    | SubmitComplaint
    | SaveContact
    | CitizenAction
)


@dataclass
class Turn:
    """The engine's output for one inbound message."""

    state: ConversationState
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)


from bot.engine.state import ConversationState  # noqa: E402  (Turn's annotation only)
