"""The application service: one inbound message → one committed turn.

Channel adapters call `ConversationService.handle`. In one database transaction it
de-duplicates the message, loads the chat's state, runs the pure engine, records the
effects, saves the new state and queues the replies in the outbox. A sender delivers the
outbox afterwards, so a crash between commit and delivery loses nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.desk import CitizenLookups, ComplaintDesk, Outgoing
from bot.engine import (
    Button,
    CompleteResponse,
    Context,
    ConversationState,
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
    handle,
)
from bot.engine.types import (
    CitizenAction,
    CitizenPending,
    ComplaintFacts,
    SaveContact,
    SubmitComplaint,
)
from storage import chats, conversations, surveys
from storage import complaints as complaint_store
from storage.catalogue import AskedQuestionnaires
from storage.conversations import Direct, NeedsSession
from storage.db import is_disconnect, session_scope
from storage.types import utcnow
from survey.model import Questionnaire

log = logging.getLogger(__name__)

# What a start payload names: a dossier code, or None when the link is invalid or expired.
# It may look the dossier up (signed links cover its unit and procedure), hence the session.
PayloadResolver = Callable[[Session, str], str | None]


def plain_dossier_code(_session: Session, payload: str) -> str | None:
    """Trusted channels (the console) pass the dossier code itself as the payload."""
    return payload or None


def _nothing() -> None:
    """No hook: `handle_many` called without a batcher waiting for its write to be sent."""


@dataclass(frozen=True)
class Outcome:
    """What one inbound message did."""

    duplicate: bool
    replies: list[Reply]
    outbox_ids: list[int]


@dataclass(frozen=True)
class TurnRequest:
    """One inbound message to process: what `ConversationService.handle` takes."""

    channel: str
    external_id: str
    inbound: Inbound
    message_id: str | None = None
    resolve: PayloadResolver = plain_dossier_code


class ConversationService:
    """Runs turns for every channel against one database.

    `questionnaires` is what new surveys begin with: fixed (a mapping by code) or kept current
    from the database (`AskedQuestionnaires`: a version published in the console reaches the
    next survey begun). A chat in a survey finishes the version it began."""

    def __init__(
        self,
        engine: Engine,
        questionnaires: Mapping[str, Questionnaire] | AskedQuestionnaires,
        *,
        dossier_questionnaire: str,
        general_questionnaire: str,
        clock: Callable[[], datetime] = utcnow,
        new_key: Callable[[], str] = lambda: uuid.uuid4().hex,
        attempts: int = 5,
        desk: ComplaintDesk | None = None,
    ) -> None:
        self.engine = engine
        self.asked = (
            questionnaires
            if isinstance(questionnaires, AskedQuestionnaires)
            else AskedQuestionnaires(questionnaires)
        )
        self.dossier_questionnaire = dossier_questionnaire
        self.general_questionnaire = general_questionnaire
        self.clock = clock
        self.new_key = new_key
        self.attempts = attempts
        self.desk = desk or ComplaintDesk(_default_router)

    @property
    def questionnaires(self) -> Mapping[str, Questionnaire]:
        """The version of each code a new survey begins with now."""
        return self.asked.current()

    def handle(
        self,
        channel: str,
        external_id: str,
        inbound: Inbound,
        *,
        message_id: str | None = None,
        resolve: PayloadResolver = plain_dossier_code,
    ) -> Outcome:
        """Process one inbound message exactly once (per `message_id`, when given)."""
        result = self._one(TurnRequest(channel, external_id, inbound, message_id, resolve))
        if isinstance(result, Exception):
            raise result
        return result

    def handle_many(
        self, requests: Sequence[TurnRequest], *, writing: Callable[[], None] = _nothing
    ) -> list[Outcome | Exception]:
        """Process many inbound messages in one transaction (a group commit), in order.

        Turns of one chat see each other's writes. If the batch cannot commit (a conflict
        with another worker, a dossier rated twice, a bad message), it is rolled back and
        every message is redone in its own transaction, so one failure stays with its turn.
        `writing` is called just before the batch's write is sent: from then on the batch
        only waits on the database (`TurnBatcher` lets another writer start the next one).
        """
        if len(requests) > 1:
            try:
                return list(self._batch(requests, writing))
            except Exception as exc:
                log.info("batch of %s turns redone one by one: %s", len(requests), exc)
        return [self._one(request) for request in requests]

    def keep_connections(self) -> None:
        """The calling thread runs batch after batch (a writer): it keeps its database
        connection between them, until `release_connections`."""
        conversations.keep_connections()

    def release_connections(self) -> None:
        conversations.release_connections()

    def _one(self, request: TurnRequest) -> Outcome | Exception:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._batch([request])[0]
            except (conversations.StaleState, IntegrityError) as exc:
                # Another worker took a turn in the same chat, or rated the same dossier, at
                # the same moment: redo ours on top of what they committed.
                log.info("turn retried (%s/%s): %s", attempt, self.attempts, exc)
            except Exception as exc:
                if not is_disconnect(exc):
                    return exc  # handed to the caller of this one turn
                # A pooled connection had died (the pool is not pinged): the pool is
                # invalidated now, so the next attempt connects afresh.
                log.warning("turn retried on a new database connection: %s", exc)
        return RuntimeError(f"could not commit a turn for {request.channel}:{request.external_id}")

    def _batch(
        self, requests: Sequence[TurnRequest], writing: Callable[[], None] = _nothing
    ) -> list[Outcome]:
        """The turns in one transaction; on PostgreSQL in two statements on a pooled
        connection, no Session, unless a turn needs the ORM (then redone with one)."""
        # What new surveys begin with, checked for a newly published version at most every
        # QUESTIONNAIRE_REFRESH_SECONDS, before the batch holds a connection of the pool.
        current = self.asked.current()
        direct = conversations.direct(self.engine)
        if direct is not None:
            try:
                return self._turns(direct, requests, writing, current)
            except NeedsSession:
                pass  # raised before the batch's write: nothing was stored
            finally:
                direct.close()
        with session_scope(self.engine) as session:
            return self._turns(session, requests, writing, current)

    def _turns(
        self,
        db: Session | Direct,
        requests: Sequence[TurnRequest],
        writing: Callable[[], None],
        current: Mapping[str, Questionnaire],
    ) -> list[Outcome]:
        """Run the turns in this transaction: reads and writes batched across them."""
        chats = list(dict.fromkeys((r.channel, r.external_id) for r in requests))
        claimed, stored = conversations.read_batch(
            db,
            [(r.channel, r.message_id) for r in requests if r.message_id is not None],
            chats,
        )
        latest: dict[tuple[str, str], ConversationState | None] = {}
        taken: list[tuple[str, str]] = []
        answers: list[dict[str, object]] = []
        starts: list[surveys.NewResponse] = []
        completions: list[tuple[str, datetime]] = []
        outgoing: list[tuple[str, str, dict[str, object]]] = []
        done: list[tuple[list[Reply], int] | None] = []  # replies and their first outbox row
        later: list[Outgoing] = []  # messages for other chats (a unit's group, its leads)
        for r in requests:
            if r.message_id is not None:
                if (r.channel, r.message_id) not in claimed:
                    done.append(None)
                    continue
                claimed.discard((r.channel, r.message_id))  # a second copy is a duplicate
                taken.append((r.channel, r.message_id))
            chat = (r.channel, r.external_id)
            if chat in latest:
                state = latest[chat] or ConversationState()
            else:
                raw = stored[chat][0] if chat in stored else None
                state = _parse_state(raw, r.channel, r.external_id)
            ctx = Context(
                now=self.clock(),
                questionnaires=current,
                dossier_questionnaire=self.dossier_questionnaire,
                general_questionnaire=self.general_questionnaire,
                new_key=self.new_key,
                find_dossier=self._dossier_lookup(db, state, r.inbound, r.resolve),
                complaints=_Lookups(db, self.desk, r.channel, r.external_id),
            )
            ctx, turn = self._turn(state, r.inbound, ctx)
            forgotten = False
            extra: list[Outgoing] = []
            # The usual effects are written with the batch in one go; the rare ones go
            # through the ORM at once, in the batch's transaction.
            for effect in turn.effects:
                if isinstance(effect, RecordAnswer):
                    answers.append({name: getattr(effect, name) for name in _ANSWER_FIELDS})
                elif isinstance(effect, StartResponse):
                    starts.append(
                        surveys.NewResponse(
                            key=effect.key,
                            # The version the survey began with: its response row names it.
                            questionnaire=ctx.questionnaires[effect.questionnaire_code],
                            dossier_code=effect.dossier_code,
                            channel=r.channel,
                            external_id=r.external_id,
                            at=effect.at,
                        )
                    )
                elif isinstance(effect, CompleteResponse):
                    completions.append((effect.key, effect.at))
                else:  # (its statement begins the batch's transaction, if not yet begun)
                    extra += self._apply(_session(db), r.channel, r.external_id, effect)
                    forgotten = forgotten or isinstance(effect, ForgetCitizen)
            latest[chat] = None if forgotten else turn.state
            # What the complaint desk says to this chat is part of the turn's replies (the web
            # chat answers with them); cards for staff groups are queued after them.
            mine = [o for o in extra if (o[0], o[1]) == chat]
            replies = turn.replies + [_reply_of(o[2]) for o in mine]
            done.append((replies, len(outgoing)))
            payloads = [reply_payload(x) for x in turn.replies] + [o[2] for o in mine]
            if forgotten:
                # The goodbye after /xoa is the last trace of the chat: erased once delivered.
                payloads = [{**p, "erase": True} for p in payloads]
            outgoing += [(r.channel, r.external_id, p) for p in payloads]
            later += [o for o in extra if (o[0], o[1]) != chat]
        outgoing += later
        writing()
        ids = conversations.write_batch(
            db,
            taken,
            answers,
            starts,
            completions,
            [
                (
                    c,
                    e,
                    None if s is None else s.model_dump_json(),
                    stored.get((c, e), ("", 0))[1],
                )
                for (c, e), s in latest.items()
            ],
            outgoing,
        )
        return [
            Outcome(duplicate=True, replies=[], outbox_ids=[])
            if d is None
            else Outcome(duplicate=False, replies=d[0], outbox_ids=ids[d[1] : d[1] + len(d[0])])
            for d in done
        ]

    def _turn(
        self, state: ConversationState, inbound: Inbound, ctx: Context
    ) -> tuple[Context, Turn]:
        """The engine's turn, and the context it ran with. A chat in a survey whose version is
        no longer the current one is given that version (by its code: the engine looks the
        survey's questionnaire up by code and checks the version), so it finishes it; a new
        survey of the same code begun in that turn (a new dossier link) is begun again on the
        current version."""
        progress = state.survey
        if progress is None:
            return ctx, handle(state, inbound, ctx, owned=True)  # a state nobody else holds
        now = ctx.questionnaires.get(progress.questionnaire)
        if now is not None and now.version == progress.version:
            return ctx, handle(state, inbound, ctx, owned=True)
        begun = self.asked.version(progress.questionnaire, progress.version)
        if begun is None:  # not stored, or no longer loads: the engine starts the chat afresh
            return ctx, handle(state, inbound, ctx, owned=True)
        older = dataclasses.replace(
            ctx, questionnaires={**ctx.questionnaires, progress.questionnaire: begun}
        )
        turn = handle(state, inbound, older)  # the state is copied: the turn may be redone
        if any(
            isinstance(e, StartResponse) and e.questionnaire_code == progress.questionnaire
            for e in turn.effects
        ):
            return ctx, handle(state, inbound, ctx, owned=True)
        return older, turn

    def _dossier_lookup(
        self,
        db: Session | Direct,
        state: ConversationState,
        inbound: Inbound,
        resolve: PayloadResolver,
    ) -> Callable[[], DossierFacts | None] | None:
        """How to find the facts of the dossier this message is about, if any. The dossier's
        code is settled now, from the state before the turn (the engine changes it); the
        lookup is run only if the engine asks (starts, offers, a survey's end)."""
        text = inbound.text.strip()
        if inbound.choice is None and text.startswith("/start "):
            payload = text.removeprefix("/start ").strip()
            code = resolve(_session(db), payload)
            if code is None:
                # Never the payload itself: it may be anything a person typed (a name, a
                # phone number); its digest is enough to match a complaint about a link.
                digest = hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()[:12]
                log.warning("refused start link (%s characters, sha256 %s)", len(payload), digest)
                refused = DossierFacts(code=payload[:64], status=DossierStatus.INVALID_LINK)
                return lambda: refused
        else:
            code = state.pending_dossier or (state.survey.dossier if state.survey else None)
            if code is None:
                return None
        return functools.partial(self._dossier_facts, db, code)

    def _dossier_facts(self, db: Session | Direct, code: str) -> DossierFacts:
        info = surveys.dossier_info(_session(db), code)
        if info is None:
            return DossierFacts(code=code[:64], status=DossierStatus.UNKNOWN)
        return DossierFacts(
            code=info.code,
            status=DossierStatus.OK,
            unit_name=info.unit_name,
            procedure_name=info.procedure_name,
            rated=info.rated,
        )

    def _apply(
        self, session: Session, channel: str, external_id: str, effect: Effect
    ) -> list[Outgoing]:
        """Record a rare effect (consent, forgetting, complaints) through the ORM; answers and
        responses opened or completed are written with the batch (`conversations.write_batch`).
        Returns the messages the complaint desk queues with the turn."""
        if isinstance(effect, GiveConsent):
            surveys.give_consent(session, channel, external_id, effect.text_shown, effect.at)
        elif isinstance(effect, ForgetCitizen):
            self.desk.forget(session, channel, external_id, effect.at)
            surveys.forget_citizen(session, channel, external_id, effect.at)
            conversations.forget_chat(session, channel, external_id)
            chats.forget_contact(session, channel, external_id)
        elif isinstance(effect, SaveContact):
            complaint_store.save_contact(
                session,
                channel,
                external_id,
                effect.name,
                effect.phone,
                effect.text_shown,
                effect.at,
            )
        elif isinstance(effect, SubmitComplaint):
            return self._desk().submit(session, channel, external_id, effect)
        elif isinstance(effect, CitizenAction):
            return self._desk().citizen_action(session, channel, external_id, effect)
        else:
            raise TypeError(f"unknown effect {effect!r}")
        return []

    def _desk(self) -> ComplaintDesk:
        return self.desk


_ANSWER_FIELDS = tuple(f.name for f in fields(RecordAnswer))


def reply_payload(reply: Reply) -> dict[str, object]:
    """The channel-neutral outbox payload of a reply."""
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "payload": b.payload} for b in reply.buttons],
    }


def _default_router() -> Any:
    from nlp.router import load_router

    return load_router()


def _reply_of(payload: dict[str, Any]) -> Reply:
    buttons = tuple(Button(b["label"], b["payload"]) for b in payload.get("buttons", []))
    return Reply(str(payload.get("text", "")), buttons)


class _Lookups:
    """This chat's complaints for the engine, read only if a turn asks (rare turns: a free
    text, a code typed, /tracuu); on the PostgreSQL fast path that redoes the batch with a
    Session (`NeedsSession`), as a dossier lookup does."""

    def __init__(
        self, db: Session | Direct, desk: ComplaintDesk, channel: str, external_id: str
    ) -> None:
        self.db, self.desk, self.channel, self.external_id = db, desk, channel, external_id

    def _inner(self) -> CitizenLookups:
        return self.desk.lookups(_session(self.db), self.channel, self.external_id)

    def find(self, code: str) -> ComplaintFacts | None:
        return self._inner().find(code)

    def mine(self) -> list[ComplaintFacts]:
        return self._inner().mine()

    def pending(self) -> CitizenPending:
        return self._inner().pending()


def _session(db: Session | Direct) -> Session:
    """The batch's Session, for what only the ORM does (consent, forgetting, dossiers)."""
    if isinstance(db, Direct):
        raise NeedsSession
    return db


def _parse_state(raw: str | None, channel: str, external_id: str) -> ConversationState:
    if raw is None:
        return ConversationState()
    try:
        return ConversationState.model_validate_json(raw)  # JSON text to model, in Rust
    except ValidationError:
        # A state written by an incompatible older version: start over rather than crash.
        log.warning("unreadable state for %s:%s reset", channel, external_id)
        return ConversationState()
