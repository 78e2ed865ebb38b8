"""Questionnaires as data: the schema every questionnaire file is validated against.

A questionnaire is a YAML file (see `survey/questionnaires/`), never code: the wording changes
year to year. Each file carries a `code` and a `version`; answers are stored against both.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]


class QuestionType(StrEnum):
    """How a question is answered."""

    RATING3 = "rating3"  # Không hài lòng / Hài lòng / Rất hài lòng (Decision 766, national portal)
    LIKERT5 = "likert5"  # 1..5 plus "không ý kiến" (SIPAS)
    SINGLE = "single"
    MULTI = "multi"
    TEXT = "text"


class Choice(BaseModel):
    """One option of a question. `score` is what reports aggregate; `satisfied` marks 'hài lòng'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    label: str = Field(min_length=1, max_length=120)
    score: int | None = None
    satisfied: bool | None = None
    no_opinion: bool = False
    aliases: tuple[str, ...] = ()


# Worst to best, numbered 1..3 as shown, the direction of SIPAS's five levels (1 = Rất không
# hài lòng … 5 = Rất hài lòng): typing "1" is the worst on either scale, never the best.
RATING3_CHOICES: tuple[Choice, ...] = (
    Choice(code="khong_hai_long", label="Không hài lòng", score=1, satisfied=False),
    Choice(code="hai_long", label="Hài lòng", score=2, satisfied=True),
    Choice(code="rat_hai_long", label="Rất hài lòng", score=3, satisfied=True),
)

# Numbered by score so that typing "5" means "Rất hài lòng"; "0" is "không ý kiến".
LIKERT5_CHOICES: tuple[Choice, ...] = (
    Choice(code="1", label="Rất không hài lòng", score=1, satisfied=False),
    Choice(code="2", label="Không hài lòng", score=2, satisfied=False),
    Choice(code="3", label="Bình thường", score=3, satisfied=False),
    Choice(code="4", label="Hài lòng", score=4, satisfied=True),
    Choice(code="5", label="Rất hài lòng", score=5, satisfied=True),
    Choice(code="0", label="Không ý kiến", no_opinion=True, aliases=("khong y kien", "ko y kien")),
)


class Condition(BaseModel):
    """Skip logic: ask a question only when an earlier answer is one of `in_`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    question: Code
    in_: tuple[str, ...] = Field(alias="in", min_length=1)


class Question(BaseModel):
    """One question. Built-in scales (rating3, likert5) bring their own choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    type: QuestionType
    text: str = Field(min_length=1, max_length=1000)
    element: Code | None = None
    choices: tuple[Choice, ...] = ()
    required: bool = False
    when: Condition | None = None
    max_choices: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _choices_fit_type(self) -> Question:
        if self.type in (QuestionType.RATING3, QuestionType.LIKERT5):
            if self.choices:
                raise ValueError(f"a {self.type} question uses the built-in scale: drop 'choices'")
        elif self.type in (QuestionType.SINGLE, QuestionType.MULTI):
            if len(self.choices) < 2:
                raise ValueError(f"a {self.type} question needs at least 2 choices")
            codes = [c.code for c in self.choices]
            if len(set(codes)) != len(codes):
                raise ValueError("choice codes must be unique")
        elif self.choices:
            raise ValueError("a text question has no choices")
        return self

    @property
    def options(self) -> tuple[Choice, ...]:
        """The choices shown to the citizen, in display order."""
        if self.type is QuestionType.RATING3:
            return RATING3_CHOICES
        if self.type is QuestionType.LIKERT5:
            return LIKERT5_CHOICES
        return self.choices

    def option(self, code: str) -> Choice | None:
        """The choice with this code, if any."""
        return next((c for c in self.options if c.code == code), None)


class Element(BaseModel):
    """A SIPAS element (yếu tố): a group of statements whose rates make an index."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)


class PreviousVersion(BaseModel):
    """What a new version says about the one before it: which of its five-level statements
    still measure the same thing (same code, comparable wording). Reports pool only those
    across versions; any other statement of this version is a new criterion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=32)
    comparable: tuple[Code, ...] = ()


class Questionnaire(BaseModel):
    """A versioned questionnaire file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code
    version: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1)
    intro: str = ""
    kind: Literal["dossier", "sipas", "other"] = "other"
    elements: tuple[Element, ...] = ()
    questions: tuple[Question, ...] = Field(min_length=1)
    # The dossier rating (Decision 766): the three-level question the 766 ratio reads.
    rating_question: Code | None = None
    previous: PreviousVersion | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> Questionnaire:
        seen: dict[str, Question] = {}
        element_codes = {e.code for e in self.elements}
        for i, q in enumerate(self.questions):
            where = f"questions[{i}] ({q.code})"
            if q.code in seen:
                raise ValueError(f"{where}: duplicate question code")
            if q.element is not None and q.element not in element_codes:
                raise ValueError(f"{where}.element: unknown element {q.element!r}")
            if q.when is not None:
                earlier = seen.get(q.when.question)
                if earlier is None:
                    raise ValueError(
                        f"{where}.when.question: {q.when.question!r} is not an earlier question"
                    )
                known = {c.code for c in earlier.options}
                unknown = [v for v in q.when.in_ if v not in known]
                if unknown:
                    raise ValueError(
                        f"{where}.when.in: {unknown} are not choices of {earlier.code}"
                    )
            seen[q.code] = q
        if self.rating_question is not None:
            rating = seen.get(self.rating_question)
            if rating is None or rating.type is not QuestionType.RATING3:
                raise ValueError(
                    f"rating_question: {self.rating_question!r} is not a rating3 question"
                )
        if self.previous is not None:
            if self.previous.version == self.version:
                raise ValueError("previous.version: must differ from this version")
            statements = {q.code for q in self.questions if q.type is QuestionType.LIKERT5}
            unknown = [c for c in self.previous.comparable if c not in statements]
            if unknown:
                raise ValueError(
                    f"previous.comparable: {unknown} are not five-level statements of this version"
                )
        return self

    def question(self, code: str) -> Question:
        """The question with this code (KeyError if absent)."""
        return self.questions[self.positions[code]]

    # Looked up on every turn (the engine's hot path), so computed once per questionnaire.
    @cached_property
    def positions(self) -> dict[str, int]:
        """Each question's index in `questions`, by code."""
        return {q.code: i for i, q in enumerate(self.questions)}

    @cached_property
    def unconditional(self) -> frozenset[str]:
        """Codes of the questions asked whatever the answers."""
        return frozenset(q.code for q in self.questions if q.when is None)

    @cached_property
    def conditional(self) -> tuple[Question, ...]:
        """The questions asked only after some answers."""
        return tuple(q for q in self.questions if q.when is not None)

    def element_name(self, code: str | None) -> str | None:
        return next((e.name for e in self.elements if e.code == code), None)
