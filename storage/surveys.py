"""Recording survey responses, consent and deletion; looking up dossiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from nlp.pii import mask_pii
from storage.catalogue import ensure_questionnaire
from storage.models import (
    Answer,
    AuditLog,
    Citizen,
    Dossier,
    Procedure,
    ResponseStatus,
    SurveyResponse,
    Unit,
    table,
)
from survey.model import Questionnaire

_answer = table(Answer)
_audit = table(AuditLog)
_citizen = table(Citizen)
_dossier = table(Dossier)
_procedure = table(Procedure)
_response = table(SurveyResponse)
_unit = table(Unit)


class UnknownResponse(LookupError):
    """An answer names a response key that was never started."""


@dataclass(frozen=True)
class DossierInfo:
    """A dossier as the conversation needs it."""

    code: str
    unit_name: str
    procedure_name: str
    rated: frozenset[str]  # questionnaire codes of the responses attached to this dossier


def dossier_info(session: Session, code: str) -> DossierInfo | None:
    """The dossier with this code, its unit and procedure names and what rated it."""
    row = session.execute(
        select(_dossier.c.id, _unit.c.name, _procedure.c.name)
        .join(_unit, _unit.c.id == _dossier.c.unit_id)
        .outerjoin(_procedure, _procedure.c.id == _dossier.c.procedure_id)
        .where(_dossier.c.code == code)
    ).first()
    if row is None:
        return None
    rated = session.execute(
        select(_response.c.questionnaire_code).where(_response.c.dossier_id == row[0])
    ).scalars()
    return DossierInfo(code, row[1], row[2] or "", frozenset(rated))


@dataclass(frozen=True)
class NewResponse:
    """A response a turn opens (`start_response`), for the turn batch's one write."""

    key: str
    questionnaire: Questionnaire
    dossier_code: str | None
    channel: str
    external_id: str  # the citizen, if this chat gave consent
    at: datetime


def start_responses(session: Session, starts: Sequence[NewResponse]) -> None:
    """`start_response` for each, with the citizen row of its chat."""
    for s in starts:
        start_response(
            session,
            key=s.key,
            questionnaire=s.questionnaire,
            dossier_code=s.dossier_code,
            channel=s.channel,
            citizen=citizen_id(session, s.channel, s.external_id),
            at=s.at,
        )


def citizen_id(session: Session, channel: str, external_id: str) -> int | None:
    """The citizen row of a channel identity, if it consented."""
    return session.execute(
        select(_citizen.c.id).where(
            _citizen.c.channel == channel, _citizen.c.external_id == external_id
        )
    ).scalar_one_or_none()


def give_consent(session: Session, channel: str, external_id: str, text: str, at: datetime) -> int:
    """Create (or refresh) the citizen row with proof of consent: time and text shown."""
    cid = citizen_id(session, channel, external_id)
    if cid is None:
        cid = session.execute(
            insert(_citizen)
            .values(
                channel=channel,
                external_id=external_id,
                consent_given_at=at,
                consent_text=text,
                created_at=at,
            )
            .returning(_citizen.c.id)
        ).scalar_one()
    else:
        session.execute(
            update(_citizen)
            .where(_citizen.c.id == cid)
            .values(consent_given_at=at, consent_text=text)
        )
    _audit_log(session, at, f"citizen:{cid}", "consent.given")
    return cid


def forget_citizen(session: Session, channel: str, external_id: str, at: datetime) -> None:
    """Delete the citizen's personal data at once; their answers stay as anonymous statistics."""
    cid = citizen_id(session, channel, external_id)
    if cid is None:
        return
    # Free-text answers stay as statistics, but not word for word: phones, ids, e-mails and
    # house numbers in them are masked before the answers are unlinked.
    typed = session.execute(
        select(_answer.c.id, _answer.c.text)
        .join(_response, _response.c.id == _answer.c.response_id)
        .where(_response.c.citizen_id == cid, _answer.c.text.is_not(None))
    ).all()
    for answer_id, text in typed:
        masked = mask_pii(text)
        if masked != text:
            session.execute(update(_answer).where(_answer.c.id == answer_id).values(text=masked))
    session.execute(update(_response).where(_response.c.citizen_id == cid).values(citizen_id=None))
    session.execute(delete(_citizen).where(_citizen.c.id == cid))
    _audit_log(session, at, f"citizen:{cid}", "citizen.forgotten")


def start_response(
    session: Session,
    *,
    key: str,
    questionnaire: Questionnaire,
    dossier_code: str | None,
    channel: str,
    citizen: int | None,
    at: datetime,
) -> int:
    """Open a response; unit and procedure are copied from the dossier for the reports.

    The response is not attached to the dossier yet (`dossier_id` stays NULL): its first
    answer attaches it (`record_answers`), so a survey started and abandoned blocks no one.
    """
    dossier = None
    if dossier_code is not None:
        dossier = session.execute(
            select(_dossier.c.id, _dossier.c.unit_id, _dossier.c.procedure_id).where(
                _dossier.c.code == dossier_code
            )
        ).one()
    return session.execute(
        insert(_response)
        .values(
            key=key,
            questionnaire_id=ensure_questionnaire(session, questionnaire),
            questionnaire_code=questionnaire.code,
            citizen_id=citizen,
            unit_id=dossier.unit_id if dossier else None,
            procedure_id=dossier.procedure_id if dossier else None,
            channel=channel,
            status=ResponseStatus.IN_PROGRESS.value,
            started_at=at,
        )
        .returning(_response.c.id)
    ).scalar_one()


ANSWER_VALUES = ("element_code", "kind", "status", "score", "choice", "text", "satisfied")


def _upsert_answer(dialect: Any) -> Any:
    # One statement per answer: the response id comes from its key, and a later answer to the
    # same question replaces the earlier one (quay lại).
    stmt = dialect.insert(_answer).values(
        response_id=select(_response.c.id)
        .where(_response.c.key == bindparam("b_key"))
        .scalar_subquery(),
        question_code=bindparam("b_question"),
        answered_at=bindparam("b_at"),
        **{name: bindparam(f"b_{name}") for name in ANSWER_VALUES},
    )
    replaced = {name: stmt.excluded[name] for name in (*ANSWER_VALUES, "answered_at")}
    return stmt.on_conflict_do_update(
        index_elements=[_answer.c.response_id, _answer.c.question_code], set_=replaced
    )


_UPSERT_ANSWER = {"sqlite": _upsert_answer(sqlite), "postgresql": _upsert_answer(postgresql)}
_ATTACH = (
    update(_response)
    .where(_response.c.key == bindparam("b_key"), _response.c.dossier_id.is_(None))
    .values(
        dossier_id=select(_dossier.c.id)
        .where(_dossier.c.code == bindparam("b_dossier"))
        .scalar_subquery()
    )
)


def record_answers(session: Session, answers: Sequence[Mapping[str, Any]]) -> None:
    """Store answers (key, question_code, at and the answer's values each) in one executemany.

    An answer to a question already answered in the same response replaces it (quay lại);
    within one call the last wins (one multi-row upsert may not touch a row twice on
    PostgreSQL). An unknown response key fails on the NOT NULL response id (IntegrityError).

    An answer carrying a `dossier` code (a response's first answer, when it was opened for
    a dossier) attaches its response to that dossier: from then on the dossier counts as
    rated (`dossier_info`). If another response was attached to it first (two chats rating
    at once), the unique (dossier_id, questionnaire_code) fails with IntegrityError and the
    turn is redone. A response never answered stays unattached: it blocks no one and holds
    no answer (the fast paths, `storage.sqlite_turns` and `storage.pg_turns`, do the same).
    """
    last = last_answers(answers)
    params = [
        {f"b_{name}": a.get(name) for name in ANSWER_VALUES}
        | {"b_key": a["key"], "b_question": a["question_code"], "b_at": a["at"]}
        for a in last
    ]
    if params:
        session.execute(_UPSERT_ANSWER[session.get_bind().dialect.name], params)
    attach = [{"b_key": a["key"], "b_dossier": a["dossier"]} for a in last if a.get("dossier")]
    if attach:
        session.execute(_ATTACH, attach)


def last_answers(answers: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The last answer to each (key, question_code), in the order of those last answers.
    An earlier answer's `dossier` (it attaches the response) is kept on the last one."""
    last: dict[tuple[str, str], Mapping[str, Any]] = {}
    for a in answers:
        earlier = last.pop((a["key"], a["question_code"]), None)  # the last write's order
        if earlier is not None and earlier.get("dossier") and not a.get("dossier"):
            a = {**a, "dossier": earlier["dossier"]}
        last[(a["key"], a["question_code"])] = a
    return list(last.values())


def complete_responses(session: Session, completions: Sequence[tuple[str, datetime]]) -> None:
    """`complete_response` for each (key, time)."""
    for key, at in completions:
        complete_response(session, key, at)


def complete_response(session: Session, key: str, at: datetime) -> None:
    """Mark a response completed."""
    session.execute(
        update(_response)
        .where(_response.c.id == _response_id(session, key))
        .values(status=ResponseStatus.COMPLETED.value, completed_at=at)
    )


def _response_id(session: Session, key: str) -> int:
    rid = session.execute(select(_response.c.id).where(_response.c.key == key)).scalar_one_or_none()
    if rid is None:
        raise UnknownResponse(key)
    return int(rid)


def _audit_log(session: Session, at: datetime, actor: str, action: str) -> None:
    session.execute(insert(_audit).values(at=at, actor=actor, action=action, detail={}))
