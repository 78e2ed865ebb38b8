"""The conversation engine: (state, inbound message, context) → (new state, replies, effects).

Pure: no I/O, no clock, no randomness of its own (the context brings `now` and `new_key`).
Channels translate platform events into `Inbound`; storage records the effects. The flow:

    NEW ──any──▶ CONSENT ──yes──▶ SURVEY ──last answer──▶ OFFER ──yes──▶ SURVEY ──▶ IDLE
                   │no                │dừng ▲any            │no
                   ▼                  ▼     │               ▼
                  NEW (forgotten)    PAUSED                IDLE ──/start, khảo sát──▶ SURVEY
                                                            │ «Gửi phản ánh», /phananh, free text
                                                            ▼
                                     COMPLAINT (bot/engine/complaint.py, its own diagram)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot import messages as msg
from bot.engine import complaint
from bot.engine.state import ComplaintDraft, ConversationState, Phase, SurveyProgress
from bot.engine.text import command_of, fold
from bot.engine.types import (
    CHOSEN_MARK,
    EDIT_PREFIX,
    MAX_TEXT,
    Button,
    CompleteResponse,
    Context,
    DossierFacts,
    DossierStatus,
    ForgetCitizen,
    GiveConsent,
    Inbound,
    RecordAnswer,
    Reply,
    StartResponse,
    SubmitComplaint,
    Turn,
)
from nlp import intent
from survey.model import Choice, Question, Questionnaire, QuestionType

# Button payloads, short enough for Telegram's 64-byte callback_data.
YES_PAYLOAD = "y"
NO_PAYLOAD = "n"
SURVEY_PAYLOAD = "s"
HELP_PAYLOAD = "h"
_ANSWER_PAYLOAD = re.compile(r"^a:(?P<q>[A-Za-z0-9_\-]{1,32}):(?P<c>[A-Za-z0-9_\-]{1,32})$")
_DONE_PAYLOAD = re.compile(r"^d:(?P<q>[A-Za-z0-9_\-]{1,32})$")
_QUOTE_MAX = 40
# Outside a question, the numbered buttons can be typed: 1 is the first button, 2 the second.
_MENU_NUMBERS = {
    Phase.CONSENT: ("yes", "no"),
    Phase.OFFER: ("yes", "no"),
    Phase.FORGET: ("yes", "no"),
    Phase.COMPLAINT_OFFER: ("yes", "no"),
    Phase.IDLE: ("survey", "complaint", "help"),
}
# Typed free text this long (in words) from someone not yet asked for consent is held, and
# offered as a complaint once they agree; shorter is a greeting.
_HOLD_WORDS = 4


def handle(
    state: ConversationState, inbound: Inbound, ctx: Context, *, owned: bool = False
) -> Turn:
    """Advance one chat by one inbound message. Never raises on any input.

    The caller's state is left as it was, unless it hands it over (`owned`): the service
    parses a fresh state for every turn and keeps only the result, so it skips the copy.
    """
    # Validating a dump is 4× faster than model_copy(deep=True) (copy.deepcopy), and a tenth
    # of a turn still.
    copied = state if owned else ConversationState.model_validate(state.model_dump())
    turn = Turn(state=copied)
    text = inbound.text.strip()
    if inbound.choice is None and (text == "/start" or text.startswith("/start ")):
        _on_start(turn, ctx)
        return turn
    if inbound.choice is not None:
        if complaint.on_rating_payload(turn, inbound.choice, ctx):
            return turn
        command = _command_of_payload(inbound.choice)
    else:
        command = command_of(text) if text else None
        if command is None and text.lower().startswith("/tracuu "):
            command = "track"
        if command is None and text in ("1", "2", "3"):
            command = _typed_number(turn, text, ctx)
            if command == "":
                return turn
    if command == "forget" and turn.state.phase is not Phase.FORGET:
        _ask_forget(turn)
        return turn
    phase = turn.state.phase
    if command == "track" and phase not in (Phase.NEW, Phase.CONSENT):
        complaint.track(turn, ctx, text)
        return turn
    if command == "complaint" and phase in (Phase.SURVEY, Phase.PAUSED, Phase.OFFER):
        turn.state.pending_dossier = None
        complaint.start(turn, ctx)
        return turn
    if _carries(inbound) and phase in (Phase.SURVEY, Phase.PAUSED, Phase.OFFER):
        # A photo or a location is no survey answer: it starts a complaint (the survey stays
        # where it was, to be resumed with /start).
        turn.state.pending_dossier = None
        complaint.start(turn, ctx)
        complaint.on_draft(turn, inbound, None, ctx)
        return turn
    if phase is Phase.CONSENT and command == "complaint":
        turn.state.intent = "complaint"  # a complaint, once consent is given
        _ask_consent(turn)
        return turn
    if phase is Phase.NEW:
        kind = complaint.kind_of(inbound) if command is None else intent.COMPLAINT
        if kind == intent.SPAM:  # one short reply; nothing asked, nothing kept
            complaint.answer_not_a_complaint(turn, kind)
            return turn
        if kind == intent.FOREIGN:  # said in both languages before the consent request
            complaint.answer_not_a_complaint(turn, kind)
        if command == "complaint":
            turn.state.intent = "complaint"
        elif (
            command is None
            and len(text.split()) >= _HOLD_WORDS
            and inbound.choice is None
            and kind == intent.COMPLAINT
        ):
            turn.state.intent = "offer"
            turn.state.draft = ComplaintDraft(
                key=ctx.new_key(), parts=[text[: complaint.COMPLAINT_MAX]]
            )
        _ask_consent(turn)
    elif phase is Phase.CONSENT:
        _on_consent(turn, command, ctx)
    elif phase is Phase.SURVEY:
        _on_survey(turn, inbound, command, ctx)
    elif phase is Phase.PAUSED:
        _on_paused(turn, command, ctx)
    elif phase is Phase.OFFER:
        _on_offer(turn, command, ctx)
    elif phase is Phase.FORGET:
        _on_forget(turn, command, ctx)
    elif phase is Phase.COMPLAINT:
        complaint.on_draft(turn, inbound, command, ctx)
    elif phase is Phase.COMPLAINT_OFFER:
        draft = turn.state.draft
        dossier = draft.dossier if draft is not None and draft.origin == "dossier_reason" else None
        if command in ("no", "cancel") and dossier is not None:
            # Declined to send the dossier's reason as a complaint: the SIPAS offer as before.
            turn.state.draft = None
            turn.state.pending_dossier = dossier
            turn.state.phase = Phase.OFFER
            turn.replies.append(_menu(msg.OFFER_SIPAS, _yes_no(msg.YES, msg.NO)))
        elif command in ("no", "cancel", "stop") and turn.state.survey is not None:
            turn.state.draft = None  # not a complaint: back to the survey's question
            _resume(turn, ctx, greet=False)
        elif not complaint.on_offer(turn, command, ctx):
            turn.replies.append(complaint.menu(msg.COMPLAINT_OFFER, _offer_buttons()))
    elif phase is Phase.RATE_REASON:
        complaint.on_rate_reason(turn, inbound, command, ctx)
        if turn.state.phase is Phase.SURVEY:
            _resume(turn, ctx, greet=False)
        elif turn.state.phase is Phase.COMPLAINT:
            complaint.resume(turn)
    else:
        _on_idle(turn, inbound, command, ctx)
    return turn


def _typed_number(turn: Turn, text: str, ctx: Context) -> str | None:
    """What a typed 1, 2 or 3 means here: a menu's button, the step of a complaint draft,
    or (in IDLE, when a unit's answer waits for its rating) the rating. "" when handled."""
    st = turn.state
    if st.phase is Phase.IDLE and ctx.complaints is not None:
        waiting = ctx.complaints.pending().rating
        if waiting is not None:
            complaint.rate_typed(turn, waiting, text, ctx)
            return ""
    if st.phase is Phase.COMPLAINT and st.draft is not None and text in ("1", "2"):
        step = st.draft.step.value
        if step == "consent":
            return ("yes", "no")[int(text) - 1]
        if step == "why_contact":
            return ("yes", "anonymous")[int(text) - 1]
        return None
    numbers = _MENU_NUMBERS.get(st.phase)
    if numbers is not None and int(text) <= len(numbers):
        return numbers[int(text) - 1]
    return None


def _offer_buttons() -> tuple[Button, ...]:
    return (
        Button(msg.COMPLAINT_OFFER_YES, YES_PAYLOAD),
        Button(msg.COMPLAINT_OFFER_NO, NO_PAYLOAD),
    )


# --- phases -----------------------------------------------------------------------------


def _on_start(turn: Turn, ctx: Context) -> None:
    st = turn.state
    facts = ctx.dossier_facts
    if facts is not None and facts.status is not DossierStatus.OK:
        invalid = facts.status is DossierStatus.INVALID_LINK
        text = msg.LINK_INVALID if invalid else msg.DOSSIER_UNKNOWN
        turn.replies.append(Reply(text.format(dossier=facts.code)))
        return
    if facts is not None and ctx.dossier_questionnaire in facts.rated:
        turn.replies.append(Reply(msg.DOSSIER_ALREADY_RATED.format(dossier=facts.code)))
        return
    if not st.consented:
        st.pending_dossier = facts.code if facts else None
        _ask_consent(turn)
        return
    if facts is not None:
        _begin(turn, ctx.dossier_questionnaire, facts, ctx)
    elif st.survey is not None and st.phase in (Phase.SURVEY, Phase.PAUSED):
        _resume(turn, ctx)
    else:
        _begin(turn, ctx.general_questionnaire, None, ctx)


def _ask_consent(turn: Turn) -> None:
    turn.state.phase = Phase.CONSENT
    turn.replies.append(_menu(msg.CONSENT_REQUEST, _yes_no(msg.CONSENT_YES, msg.CONSENT_NO)))


def _on_consent(turn: Turn, command: str | None, ctx: Context) -> None:
    st = turn.state
    if command == "help":
        turn.replies.append(Reply(msg.HELP))
        _ask_consent(turn)
    elif command == "yes":
        st.consented = True
        turn.effects.append(GiveConsent(text_shown=msg.CONSENT_REQUEST, at=ctx.now))
        intent, st.intent = st.intent, None
        if intent == "complaint":
            st.pending_dossier = None
            complaint.start(turn, ctx)
            return
        if intent == "offer" and st.draft is not None:
            st.pending_dossier = None
            st.phase = Phase.COMPLAINT_OFFER
            turn.replies.append(complaint.menu(msg.COMPLAINT_OFFER, _offer_buttons()))
            return
        facts = ctx.dossier_facts
        facts = facts if facts and facts.code == st.pending_dossier else None
        st.pending_dossier = None
        if facts is not None and facts.status is DossierStatus.OK:
            if ctx.dossier_questionnaire in facts.rated:  # by another chat since the link
                turn.replies.append(Reply(msg.DOSSIER_ALREADY_RATED.format(dossier=facts.code)))
                st.phase = Phase.IDLE
                return
            _begin(turn, ctx.dossier_questionnaire, facts, ctx)
        else:
            _begin(turn, ctx.general_questionnaire, None, ctx)
    elif command in ("no", "stop"):
        _forget(turn, ctx, msg.CONSENT_DECLINED)
    else:
        turn.replies.append(_menu(msg.CONSENT_REASK, _yes_no(msg.CONSENT_YES, msg.CONSENT_NO)))


def _on_survey(turn: Turn, inbound: Inbound, command: str | None, ctx: Context) -> None:
    progress = turn.state.survey
    q = _questionnaire(progress, ctx)
    if progress is None or q is None:
        # The questionnaire file was removed while this chat was in it: start afresh.
        turn.state.survey = None
        _on_idle(turn, None, None, ctx)
        return
    question = q.question(progress.current)
    if command == "help":
        turn.replies.append(Reply(msg.HELP))
        turn.replies.append(_render(q, progress, question))
    elif command == "stop":
        turn.state.phase = Phase.PAUSED
        turn.replies.append(Reply(msg.PAUSED))
    elif command == "back":
        _back(turn, q, progress, question)
    elif command == "skip":
        if question.required:
            turn.replies.append(Reply(msg.REQUIRED))
            turn.replies.append(_render(q, progress, question))
        else:
            _record(turn, progress, question, ctx, skipped=True)
            progress.answers.pop(question.code, None)
            _advance(turn, q, progress, ctx)
    else:
        _answer(turn, q, progress, question, inbound, command, ctx)


def _on_paused(turn: Turn, command: str | None, ctx: Context) -> None:
    if command == "stop":
        turn.replies.append(Reply(msg.PAUSED))
        return
    if command == "help":
        turn.replies.append(Reply(msg.HELP))
    if turn.state.draft is not None:  # a complaint being written was paused
        complaint.resume(turn)
        return
    _resume(turn, ctx)


def _on_offer(turn: Turn, command: str | None, ctx: Context) -> None:
    st = turn.state
    if command == "yes":
        dossier = ctx.dossier_facts
        dossier = dossier if dossier and dossier.code == st.pending_dossier else None
        st.pending_dossier = None
        if dossier is not None and ctx.general_questionnaire in dossier.rated:
            turn.replies.append(Reply(msg.DOSSIER_ALREADY_RATED.format(dossier=dossier.code)))
            st.phase = Phase.IDLE
            return
        _begin(turn, ctx.general_questionnaire, dossier, ctx)
    elif command in ("no", "stop"):
        st.pending_dossier = None
        st.phase = Phase.IDLE
        turn.replies.append(Reply(msg.GOODBYE))
    else:
        if command == "help":
            turn.replies.append(Reply(msg.HELP))
        turn.replies.append(_menu(msg.OFFER_SIPAS, _yes_no(msg.YES, msg.NO)))


def _on_idle(turn: Turn, inbound: Inbound | None, command: str | None, ctx: Context) -> None:
    turn.state.phase = Phase.IDLE
    text = inbound.text.strip() if inbound is not None and inbound.choice is None else ""
    if command in ("survey", "yes"):
        _begin(turn, ctx.general_questionnaire, None, ctx)
    elif command == "help":
        turn.replies.append(Reply(msg.HELP))
    elif command == "complaint":
        complaint.start(turn, ctx)
    elif command is None and text and complaint.normalise_code(text) and len(text) <= 40:
        complaint.track(turn, ctx, text)
    elif command is None and (text or (inbound is not None and _carries(inbound))):
        _free_text(turn, inbound, text, ctx)
    else:
        turn.replies.append(_idle_menu())


def _carries(inbound: Inbound) -> bool:
    """A photo or a location: the start of a complaint even without a word."""
    return bool(inbound.attachments) or inbound.location is not None


def _idle_menu() -> Reply:
    buttons = (
        Button(msg.MENU_SURVEY, SURVEY_PAYLOAD),
        Button(msg.MENU_COMPLAINT, complaint.COMPLAINT_PAYLOAD),
        Button(msg.MENU_HELP, HELP_PAYLOAD),
    )
    return _menu(msg.IDLE_MENU, buttons)


def _free_text(turn: Turn, inbound: Inbound | None, text: str, ctx: Context) -> None:
    """Typed text outside any flow: the answer a unit asked for, small talk, or (offered)
    a complaint: never silently dropped."""
    pending = ctx.complaints.pending() if ctx.complaints is not None else None
    if pending is not None and pending.info_request is not None and text:
        complaint.provide_info(turn, pending.info_request, text, ctx)
        return
    kind = complaint.kind_of(inbound) if inbound is not None else intent.detect(text)
    if kind != intent.COMPLAINT:
        # Greeting, thanks, a question about the survey, spam, another language, emoji: the
        # chat answers it; nothing is offered or kept as a complaint.
        complaint.answer_not_a_complaint(turn, kind)
        if kind in (intent.GREETING, intent.SURVEY_QUESTION, intent.EMPTY):
            turn.replies.append(_idle_menu())
        return
    if not text and inbound is not None:  # a photo sent on its own: a complaint begins
        complaint.start(turn, ctx)
        complaint.on_draft(turn, inbound, None, ctx)
        return
    complaint.offer(turn, ctx, text)
    if inbound is not None and turn.state.draft is not None:
        turn.state.draft.photos = list(inbound.attachments)[: complaint.PHOTOS_MAX]
        turn.state.draft.location = inbound.location


def _ask_forget(turn: Turn) -> None:
    st = turn.state
    st.return_phase = st.phase
    st.phase = Phase.FORGET
    turn.replies.append(_menu(msg.FORGET_CONFIRM, _yes_no(msg.YES, msg.NO)))


def _on_forget(turn: Turn, command: str | None, ctx: Context) -> None:
    st = turn.state
    if command == "yes":
        _forget(turn, ctx, msg.FORGET_DONE)
        return
    if command != "no":
        turn.replies.append(_menu(msg.FORGET_CONFIRM, _yes_no(msg.YES, msg.NO)))
        return
    st.phase = st.return_phase or Phase.IDLE
    st.return_phase = None
    turn.replies.append(Reply(msg.FORGET_CANCELLED))
    if st.phase is Phase.SURVEY:
        _resume(turn, ctx, greet=False)
    elif st.phase is Phase.CONSENT:
        _ask_consent(turn)
    elif st.phase is Phase.OFFER:
        turn.replies.append(_menu(msg.OFFER_SIPAS, _yes_no(msg.YES, msg.NO)))
    elif st.phase is Phase.COMPLAINT:
        complaint.resume(turn)


def _forget(turn: Turn, ctx: Context, goodbye: str) -> None:
    turn.effects.append(ForgetCitizen(at=ctx.now))
    turn.state = ConversationState()
    turn.replies.append(Reply(goodbye))


# --- surveys ----------------------------------------------------------------------------


def _begin(turn: Turn, code: str, dossier: DossierFacts | None, ctx: Context) -> None:
    q = ctx.questionnaires.get(code)
    if q is None:  # misconfigured questionnaire code: say nothing wrong to the citizen
        turn.state.phase = Phase.IDLE
        turn.replies.append(Reply(msg.GOODBYE))
        return
    key = ctx.new_key()
    first = q.questions[0]
    progress = SurveyProgress(
        key=key,
        questionnaire=q.code,
        version=q.version,
        dossier=dossier.code if dossier else None,
        current=first.code,
    )
    turn.state.survey = progress
    turn.state.phase = Phase.SURVEY
    turn.effects.append(
        StartResponse(
            key=key,
            questionnaire_code=q.code,
            questionnaire_version=q.version,
            dossier_code=progress.dossier,
            at=ctx.now,
        )
    )
    intro = msg.SURVEY_INTRO.format(title=q.title, intro=q.intro).strip()
    if dossier is not None:
        intro += "\n" + msg.DOSSIER_INTRO.format(
            dossier=dossier.code, procedure=dossier.procedure_name, unit=dossier.unit_name
        )
    turn.replies.append(Reply(intro))
    turn.replies.append(_render(q, progress, first))


def _resume(turn: Turn, ctx: Context, *, greet: bool = True) -> None:
    progress = turn.state.survey
    q = _questionnaire(progress, ctx)
    if progress is None or q is None:
        turn.state.survey = None
        _on_idle(turn, None, None, ctx)
        return
    turn.state.phase = Phase.SURVEY
    if greet:
        turn.replies.append(Reply(msg.RESUMED))
    turn.replies.append(_render(q, progress, q.question(progress.current)))


def _back(turn: Turn, q: Questionnaire, progress: SurveyProgress, question: Question) -> None:
    if not progress.history:
        turn.replies.append(Reply(msg.BACK_AT_START))
        turn.replies.append(_render(q, progress, question))
        return
    progress.current = progress.history.pop()
    progress.picked = []
    previous = q.question(progress.current)
    given = progress.answers.get(previous.code)
    if given is not None:
        turn.replies.append(Reply(msg.ANSWER_KEPT.format(answer=_describe(previous, given))))
    turn.replies.append(_render(q, progress, previous))


def _answer(
    turn: Turn,
    q: Questionnaire,
    progress: SurveyProgress,
    question: Question,
    inbound: Inbound,
    command: str | None,
    ctx: Context,
) -> None:
    if question.type is QuestionType.TEXT:
        text = inbound.text.strip()
        if inbound.choice is not None:
            _not_understood(turn, q, progress, question, inbound)  # an old button
        elif not text:
            turn.replies.append(Reply(msg.EMPTY_TEXT))
            turn.replies.append(_render(q, progress, question))
        elif len(text) > MAX_TEXT:
            turn.replies.append(Reply(msg.TOO_LONG.format(max=MAX_TEXT)))
        elif not _rated_by_another(turn, progress, ctx):
            progress.answers[question.code] = text
            _record(turn, progress, question, ctx, text=text)
            _advance(turn, q, progress, ctx)
        return
    if question.type is QuestionType.MULTI:
        _answer_multi(turn, q, progress, question, inbound, command, ctx)
        return
    choice = _match_one(question, inbound)
    if choice is None:
        if inbound.choice is None and len(inbound.text.split()) >= _HOLD_WORDS:
            kind = intent.detect(inbound.text)
            if kind not in (intent.COMPLAINT, intent.EMPTY):
                # "khảo sát này để làm gì?", "thank you so much": answered, then the question
                complaint.answer_not_a_complaint(turn, kind)
                turn.replies.append(_render(q, progress, question))
                return
            # Sentences where an option was expected: a complaint, most likely. Offered,
            # with the survey kept where it was («Không» goes back to the question).
            complaint.offer(turn, ctx, inbound.text.strip(), head=msg.COMPLAINT_OFFER_IN_SURVEY)
            return
        _not_understood(turn, q, progress, question, inbound)
        return
    if _rated_by_another(turn, progress, ctx):
        return
    progress.answers[question.code] = choice.code
    _record(turn, progress, question, ctx, choices=(choice,))
    _advance(turn, q, progress, ctx)


def _answer_multi(
    turn: Turn,
    q: Questionnaire,
    progress: SurveyProgress,
    question: Question,
    inbound: Inbound,
    command: str | None,
    ctx: Context,
) -> None:
    chosen: list[Choice] | None
    if inbound.choice is not None:
        done = _DONE_PAYLOAD.match(inbound.choice)
        if done and done.group("q") == question.code:
            chosen = [c for c in question.options if c.code in progress.picked]
        else:
            tapped = _match_one(question, inbound)
            if tapped is None:
                _not_understood(turn, q, progress, question, inbound)
                return
            if tapped.code in progress.picked:
                progress.picked.remove(tapped.code)
            else:
                progress.picked.append(tapped.code)
            # The question again, its chosen options marked: in place of the tapped message
            # where the channel can edit one (Telegram), else as a new message.
            shown = _render(q, progress, question)
            edit = (Button("", EDIT_PREFIX + inbound.ref),) if inbound.ref else ()
            turn.replies.append(Reply(shown.text, shown.buttons + edit))
            return
    elif command == "done":
        chosen = [c for c in question.options if c.code in progress.picked]
    else:
        chosen = _match_many(question, inbound.text)
        if chosen is None:
            _not_understood(turn, q, progress, question, inbound)
            return
    if not chosen:
        turn.replies.append(Reply(msg.MULTI_EMPTY))
        turn.replies.append(_render(q, progress, question))
        return
    if question.max_choices is not None and len(chosen) > question.max_choices:
        turn.replies.append(Reply(msg.MULTI_TOO_MANY.format(max=question.max_choices)))
        turn.replies.append(_render(q, progress, question))
        return
    if _rated_by_another(turn, progress, ctx):
        return
    progress.picked = []
    progress.answers[question.code] = "|".join(c.code for c in chosen)
    _record(turn, progress, question, ctx, choices=tuple(chosen))
    _advance(turn, q, progress, ctx)


def _advance(turn: Turn, q: Questionnaire, progress: SurveyProgress, ctx: Context) -> None:
    """Move to the next question whose condition holds, or finish."""
    index = q.positions[progress.current]
    progress.history.append(progress.current)
    for question in q.questions[index + 1 :]:
        if _applies(question, progress):
            progress.current = question.code
            turn.replies.append(_render(q, progress, question))
            return
        if question.code in progress.answers:
            # An earlier answer changed (via "quay lại") so this question no longer applies.
            progress.answers.pop(question.code)
            _record(turn, progress, question, ctx, skipped=True)
    _finish(turn, q, progress, ctx)


def _finish(turn: Turn, q: Questionnaire, progress: SurveyProgress, ctx: Context) -> None:
    st = turn.state
    turn.effects.append(CompleteResponse(key=progress.key, at=ctx.now))
    turn.replies.append(Reply(msg.THANKS_DONE))
    st.survey = None
    facts = ctx.dossier_facts
    facts = facts if facts and facts.code == progress.dossier else None
    reason = _unsatisfied_reason(q, progress)
    if reason is not None:
        # The reason for «Không hài lòng» is kept as feedback on the dossier's unit at once,
        # and offered as a complaint (the same key: sending it turns that feedback into it).
        key = ctx.new_key()
        turn.effects.append(
            SubmitComplaint(
                key=key,
                text=reason,
                at=ctx.now,
                dossier=progress.dossier,
                anonymous=True,
                origin="dossier_reason",
            )
        )
        complaint.offer(
            turn,
            ctx,
            reason,
            dossier=progress.dossier,
            origin="dossier_reason",
            key=key,
            head=msg.DOSSIER_REASON_OFFER,
        )
        return
    offer = (
        q.kind == "dossier"
        and ctx.general_questionnaire in ctx.questionnaires
        and not (facts and ctx.general_questionnaire in facts.rated)
    )
    if offer:
        st.phase = Phase.OFFER
        st.pending_dossier = progress.dossier
        turn.replies.append(_menu(msg.OFFER_SIPAS, _yes_no(msg.YES, msg.NO)))
    else:
        st.phase = Phase.IDLE
        turn.replies[-1] = Reply(
            msg.THANKS_DONE, (Button(msg.MENU_COMPLAINT, complaint.COMPLAINT_PAYLOAD),)
        )


def _rated_by_another(turn: Turn, progress: SurveyProgress, ctx: Context) -> bool:
    """Before a response's first answer is stored: whether another chat rated its dossier
    since this survey began (an abandoned start no longer blocks a dossier, so two chats
    can be at its rating at once). If so the survey ends here, nothing stored."""
    if progress.dossier is None or progress.claimed:
        return False
    if progress.answers:  # a state from before `claimed`: its answers attached it already
        progress.claimed = True
        return False
    facts = ctx.dossier_facts
    if facts is None or facts.code != progress.dossier or progress.questionnaire not in facts.rated:
        return False
    turn.state.survey = None
    turn.state.phase = Phase.IDLE
    turn.replies.append(Reply(msg.DOSSIER_ALREADY_RATED.format(dossier=progress.dossier)))
    return True


def _unsatisfied_reason(q: Questionnaire, progress: SurveyProgress) -> str | None:
    """The free-text reason of a dossier rating «Không hài lòng», if one was given."""
    if q.kind != "dossier":
        return None
    unhappy = False
    reason = None
    for question in q.questions:
        given = progress.answers.get(question.code)
        if given is None:
            continue
        if question.type is QuestionType.TEXT:
            reason = reason or given
        elif question.type is not QuestionType.MULTI:
            choice = question.option(given)
            unhappy = unhappy or (choice is not None and choice.satisfied is False)
    return reason if unhappy and reason else None


def _record(
    turn: Turn,
    progress: SurveyProgress,
    question: Question,
    ctx: Context,
    *,
    choices: tuple[Choice, ...] = (),
    text: str | None = None,
    skipped: bool = False,
) -> None:
    def answer(status: str, **values: object) -> RecordAnswer:
        if status != "skipped" and progress.dossier is not None and not progress.claimed:
            # The response's first answer (the dossier's rating): it attaches the response
            # to its dossier, which from then on counts as rated.
            progress.claimed = True
            values["dossier"] = progress.dossier
        return RecordAnswer(
            key=progress.key,
            question_code=question.code,
            element_code=question.element,
            kind=question.type.value,
            status=status,
            at=ctx.now,
            **values,  # type: ignore[arg-type]
        )

    if skipped:
        turn.effects.append(answer("skipped"))
    elif text is not None:
        turn.effects.append(answer("answered", text=text))
    elif question.type is QuestionType.MULTI:
        joined = "|" + "|".join(c.code for c in choices) + "|"
        turn.effects.append(answer("answered", choice=joined))
    else:
        c = choices[0]
        status = "no_opinion" if c.no_opinion else "answered"
        turn.effects.append(answer(status, score=c.score, choice=c.code, satisfied=c.satisfied))


# --- matching and rendering ---------------------------------------------------------------


def _command_of_payload(payload: str) -> str | None:
    return _PAYLOAD_COMMANDS.get(payload)


_PAYLOAD_COMMANDS = {
    YES_PAYLOAD: "yes",
    NO_PAYLOAD: "no",
    SURVEY_PAYLOAD: "survey",
    HELP_PAYLOAD: "help",
    complaint.COMPLAINT_PAYLOAD: "complaint",
    complaint.SEND_PAYLOAD: "send",
    complaint.CANCEL_PAYLOAD: "cancel",
    complaint.ANONYMOUS_PAYLOAD: "anonymous",
    "skip": "skip",
}


def _numbers(question: Question) -> dict[str, Choice]:
    """What each typed number means: the score on a Likert scale, else the position."""
    hit = _NUMBERS.get(id(question))
    if hit is not None and hit[0] is question:
        return hit[1]
    if question.type is QuestionType.LIKERT5:
        numbers = {c.code: c for c in question.options}
    else:
        numbers = {str(i): c for i, c in enumerate(question.options, start=1)}
    _NUMBERS[id(question)] = (question, numbers)
    return numbers


# Per loaded Question, as _BODIES (callers only read it).
_NUMBERS: dict[int, tuple[Question, dict[str, Choice]]] = {}


def _match_one(question: Question, inbound: Inbound) -> Choice | None:
    if inbound.choice is not None:
        m = _ANSWER_PAYLOAD.match(inbound.choice)
        if m is None or m.group("q") != question.code:
            return None  # a button of another (older) question
        return question.option(m.group("c"))
    return _match_text(question, inbound.text)


def _match_text(question: Question, text: str) -> Choice | None:
    folded = fold(text)
    if not folded:
        return None
    numbered = _numbers(question)
    if folded in numbered:
        return numbered[folded]
    for c in question.options:
        names = (c.label, c.code, *c.aliases)
        if any(fold(name) == folded for name in names):
            return c
    return None


def _match_many(question: Question, text: str) -> list[Choice] | None:
    parts = [p for p in re.split(r"[,;/+]+", text) if p.strip()]
    if len(parts) == 1 and re.fullmatch(r"\s*\d+(\s+\d+)+\s*", parts[0]):
        parts = parts[0].split()
    chosen: list[Choice] = []
    for part in parts:
        c = _match_text(question, part)
        if c is None:
            return None
        if c not in chosen:
            chosen.append(c)
    return chosen or None


def _applies(question: Question, progress: SurveyProgress) -> bool:
    if question.when is None:
        return True
    given = progress.answers.get(question.when.question)
    if given is None:
        return False
    return any(code in question.when.in_ for code in given.split("|"))


def _questionnaire(progress: SurveyProgress | None, ctx: Context) -> Questionnaire | None:
    if progress is None:
        return None
    q = ctx.questionnaires.get(progress.questionnaire)
    if q is None or q.version != progress.version:
        return None
    return q


def question_reply(q: Questionnaire, progress: SurveyProgress, question: Question) -> Reply:
    """The reply that asks `question`, as a citizen sees it (the console's preview shows it)."""
    return _render(q, progress, question)


def _render(q: Questionnaire, progress: SurveyProgress, question: Question) -> Reply:
    """The question, numbered "Câu n/m": n counts the questions asked so far; m, the
    questions this citizen will be asked, is shown only once no answer to come can change
    it (skip logic), so that it never changes in front of them (SIPAS: "Câu 1", then
    "Câu 2/22" … "Câu 22/22" for a paper filed in person)."""
    number = len(progress.history) + 1
    total = _total(q, progress)
    if total is None:
        head = msg.QUESTION_OPEN.format(number=number, text=question.text)
    else:
        head = msg.QUESTION.format(number=number, total=total, text=question.text)
    tail, buttons = _body(question)
    if question.type is QuestionType.MULTI and progress.picked:
        buttons = _multi_buttons(question, progress.picked)
    return Reply(f"{head}\n{tail}", buttons)


def _total(q: Questionnaire, progress: SurveyProgress) -> int | None:
    """How many questions this citizen is asked in all, or None while a condition of a
    question not yet asked depends on the current question or a later one."""
    seen = set(progress.history)
    # Most questions have no condition: those are counted as a set difference, the few
    # conditional ones one by one (a generator over all ~23 questions cost ~10 us a turn).
    later = len(q.unconditional - seen)
    for x in q.conditional:
        when = x.when
        if x.code in seen or when is None:
            continue
        if when.question not in seen:
            return None  # its condition is not settled yet
        later += _applies(x, progress)
    return len(progress.history) + max(1, later)


# A question's options, hint and buttons never change: built once per loaded Question (it is
# kept in the entry, so its id cannot be reused). With a set in _render: 39 -> 30 us a turn.
_BODIES: dict[int, tuple[Question, str, tuple[Button, ...]]] = {}


def _body(question: Question) -> tuple[str, tuple[Button, ...]]:
    """The text under a question's heading, and its buttons."""
    hit = _BODIES.get(id(question))
    if hit is not None and hit[0] is question:
        return hit[1], hit[2]
    buttons: tuple[Button, ...] = ()
    if question.type is QuestionType.TEXT:
        tail = msg.TEXT_HINT if question.required else f"{msg.TEXT_HINT} {msg.OPTIONAL_HINT}"
    else:
        multi = question.type is QuestionType.MULTI
        buttons = _multi_buttons(question) if multi else _buttons(question)
        lines = "\n".join(f"{n}. {c.label}" for n, c in _numbers(question).items())
        tail = f"{lines}\n{msg.MULTI_HINT if multi else msg.CHOICES_HINT}"
    _BODIES[id(question)] = (question, tail, buttons)
    return tail, buttons


def _buttons(question: Question, picked: Sequence[str] = ()) -> tuple[Button, ...]:
    """One button per option, labelled as the option is listed ("1. Rất không hài lòng"):
    the number a citizen may type is on the button too. Chosen options (multiple choice)
    are marked."""
    return tuple(
        Button(
            f"{CHOSEN_MARK if c.code in picked else ''}{n}. {c.label}",
            f"a:{question.code}:{c.code}",
        )
        for n, c in _numbers(question).items()
    )


def _multi_buttons(question: Question, picked: Sequence[str] = ()) -> tuple[Button, ...]:
    return (*_buttons(question, picked), Button(msg.MULTI_DONE, f"d:{question.code}"))


def _not_understood(
    turn: Turn, q: Questionnaire, progress: SurveyProgress, question: Question, inbound: Inbound
) -> None:
    if inbound.choice is not None:
        # A button of an earlier question (or of an earlier copy of this one): said as
        # such, never by its payload.
        turn.replies.append(Reply(msg.STALE_BUTTON))
        turn.replies.append(_render(q, progress, question))
        return
    said = inbound.text.strip()
    if len(said) > _QUOTE_MAX:
        said = said[:_QUOTE_MAX] + "…"
    turn.replies.append(Reply(msg.NOT_UNDERSTOOD.format(text=said)))
    turn.replies.append(_render(q, progress, question))


def _describe(question: Question, given: str) -> str:
    if question.type is QuestionType.TEXT:
        return given if len(given) <= _QUOTE_MAX else given[:_QUOTE_MAX] + "…"
    labels = [c.label for c in question.options if c.code in given.split("|")]
    return ", ".join(labels)


def _yes_no(yes: str, no: str) -> tuple[Button, ...]:
    return (Button(yes, YES_PAYLOAD), Button(no, NO_PAYLOAD))


def _menu(head: str, buttons: tuple[Button, ...]) -> Reply:
    return complaint.menu(head, buttons)
