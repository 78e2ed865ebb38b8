"""A pure, in-memory driver of the engine for tests: no database, no network."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.engine import (
    Context,
    ConversationState,
    DossierFacts,
    DossierStatus,
    Effect,
    Inbound,
    RecordAnswer,
    Reply,
    handle,
)
from bot.engine.types import CHOSEN_MARK
from survey.loader import load_questionnaires

QUESTIONNAIRES = load_questionnaires()
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@dataclass
class Chat:
    """One citizen's chat. `dossiers` plays the database: code → facts."""

    dossiers: dict[str, DossierFacts] = field(default_factory=dict)
    state: ConversationState = field(default_factory=ConversationState)
    effects: list[Effect] = field(default_factory=list)
    last: list[Reply] = field(default_factory=list)
    last_effects: list[Effect] = field(default_factory=list)
    _keys: itertools.count[int] = field(default_factory=itertools.count)

    def send(
        self, text: str = "", *, choice: str | None = None, ref: str | None = None
    ) -> list[Reply]:
        payload_code = text.removeprefix("/start ").strip() if text.startswith("/start ") else None
        code = (
            payload_code
            or self.state.pending_dossier
            or (self.state.survey.dossier if self.state.survey else None)
        )
        facts = None
        if code is not None:
            facts = self.dossiers.get(code, DossierFacts(code=code, status=DossierStatus.UNKNOWN))
        ctx = Context(
            now=NOW,
            questionnaires=QUESTIONNAIRES,
            dossier_questionnaire="danh-gia-ho-so",
            general_questionnaire="sipas",
            new_key=lambda: f"r{next(self._keys)}",
            dossier=facts,
        )
        turn = handle(self.state, Inbound(text=text, choice=choice, ref=ref), ctx)
        self.state = turn.state
        self.effects.extend(turn.effects)
        self.last_effects = list(turn.effects)
        self.last = turn.replies
        return turn.replies

    def tap(self, label: str) -> list[Reply]:
        """Press the button with this label (its number and chosen mark aside, or in full)
        on the last reply that had buttons."""
        for reply in reversed(self.last):
            for button in reply.buttons:
                if label in (button.label, bare(button.label)):
                    return self.send(choice=button.payload)
        raise AssertionError(f"no button {label!r} in {[r.text[:40] for r in self.last]}")

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)

    def answers(self, key: str | None = None) -> dict[str, RecordAnswer]:
        """The stored answers, folding later answers over earlier ones as storage does."""
        folded: dict[str, RecordAnswer] = {}
        for e in self.effects:
            if isinstance(e, RecordAnswer) and (key is None or e.key == key):
                folded[e.question_code] = e
        return folded


def bare(label: str) -> str:
    """A button's label without its chosen mark and number: "✓ 2. Hài lòng" → "Hài lòng"."""
    return re.sub(r"^\d+\. ", "", label.removeprefix(CHOSEN_MARK))


def dossier(code: str, *rated: str) -> DossierFacts:
    return DossierFacts(
        code=code,
        status=DossierStatus.OK,
        unit_name="Sở Tư pháp",
        procedure_name="Đăng ký khai sinh",
        rated=frozenset(rated),
    )
