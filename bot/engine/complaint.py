"""The citizen's side of a complaint (phản ánh, kiến nghị), as engine phases. Pure, like core.

    IDLE ──«Gửi phản ánh», /phananh──▶ COMPLAINT[content] ──«Gửi»──▶ [ward] ──▶ [consent]
      │free text                          ▲ text, photos, location       │ no      │ yes
      ▼                                   │                              ▼         ▼
    COMPLAINT_OFFER ──yes─────────────────┘                      [why_contact] ─▶ [name] ─▶ [phone]
                                                                  │anonymous           │
                                                                  ▼                    ▼
                                                     SubmitComplaint(anonymous)  SubmitComplaint

The draft lives in the chat's state, so nothing typed is lost across a pause or a restart.
After a submission the service tells the citizen the code, the unit and the due date (the
lifecycle's notice). `/tracuu`, an answer to a unit's question and the rating of an answer go
through `Context.complaints` (read-only lookups) and `CitizenAction` effects.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from bot import messages as msg
from bot.engine.state import ComplaintDraft, DraftStep, Phase
from bot.engine.text import fold
from bot.engine.types import (
    Button,
    CitizenAction,
    ComplaintFacts,
    Context,
    Inbound,
    Reply,
    SaveContact,
    SubmitComplaint,
    Turn,
)
from nlp import intent
from nlp.gazetteer import Ward, default_detector, nearest_wards
from nlp.pii import mask_pii

COMPLAINT_PAYLOAD = "pa"
SEND_PAYLOAD = "pa:send"
CANCEL_PAYLOAD = "pa:cancel"
ANONYMOUS_PAYLOAD = "pa:anon"
WARD_SKIP_PAYLOAD = "w:-"
# A button only Telegram can show (a keyboard button that shares the user's own contact);
# other channels drop buttons whose payload starts with "@".
SHARE_CONTACT_PAYLOAD = "@contact"
_WARD_PAYLOAD = re.compile(r"^w:(?P<code>[a-z0-9\-]{1,40})$")
_RATE_PAYLOAD = re.compile(r"^r(?P<what>[hr]):(?P<code>PA-\d{4}-\d{6})(?::(?P<v>[01]))?$")
CODE_PATTERN = re.compile(r"\bPA-?(\d{4})-?(\d{6})\b", re.IGNORECASE)

_HCMC = timezone(timedelta(hours=7))
COMPLAINT_MAX = 10_000  # characters of one complaint, all its messages together
PHOTOS_MAX = 10
_PHONE = re.compile(r"^(?:\+?84|0)(?:[35789]\d{8}|2\d{9})$")
_PLACEHOLDER = re.compile(r"\[[^\]]{1,12}\]")
_LETTERS = re.compile(r"[a-z]{2,}")


def rate_buttons(code: str) -> tuple[Button, ...]:
    """The buttons under a unit's answer: rate it, or reopen the complaint. Numbered worst to
    best like every scale of the bot (SIPAS's direction), the number on the button, so that a
    typed "1" means the same as the first button (`rate_typed`)."""
    return (
        Button(f"1. {msg.RATE_UNSATISFIED}", f"rh:{code}:0"),
        Button(f"2. {msg.RATE_SATISFIED}", f"rh:{code}:1"),
        Button(f"3. {msg.RATE_REOPEN}", f"rr:{code}"),
    )


def normalise_code(text: str) -> str | None:
    """A tracking code typed loosely ("pa 2026 000123" is not; "pa-2026-000123" is)."""
    m = CODE_PATTERN.search(text)
    return f"PA-{m.group(1)}-{m.group(2)}" if m else None


def valid_phone(text: str) -> str | None:
    """A Vietnamese mobile or landline number, normalised to digits with a leading 0."""
    digits = re.sub(r"[\s.\-()]", "", text)
    if not _PHONE.match(digits):
        return None
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84"):
        digits = "0" + digits[2:]
    return digits


# What the chat says to a message that is no complaint (nlp.intent), by its kind; empty text
# gets no words of its own (the caller shows what can be done).
_NOT_A_COMPLAINT = {
    intent.GREETING: msg.SMALL_TALK_REPLY,
    intent.THANKS: msg.THANKS_REPLY,
    intent.SURVEY_QUESTION: msg.SURVEY_EXPLAINED,
    intent.SPAM: msg.SPAM_REPLY,
    intent.FOREIGN: msg.NOT_VIETNAMESE,
}
# In a draft these are said to the bot, not about the matter: answered, not added to it.
_NOT_CONTENT = frozenset({intent.GREETING, intent.THANKS, intent.SURVEY_QUESTION})


def kind_of(inbound: Inbound) -> str:
    """What a message is (`nlp.intent.detect`): a tapped button, a photo or a location is
    never small talk, so it counts as a complaint's."""
    if inbound.choice is not None or inbound.attachments or inbound.location is not None:
        return intent.COMPLAINT
    return intent.detect(inbound.text)


def answer_not_a_complaint(turn: Turn, kind: str) -> None:
    """The chat's own answer to a greeting, thanks, a question about the survey, spam (one
    short reply, nothing stored) or another language (in Vietnamese and English)."""
    text = _NOT_A_COMPLAINT.get(kind)
    if text is not None:
        turn.replies.append(Reply(text))


def describes_something(text: str) -> bool:
    """The text says something beyond a phone number, an id, emoji or punctuation."""
    return bool(_LETTERS.search(fold(_PLACEHOLDER.sub(" ", mask_pii(text)))))


# --- entry points -----------------------------------------------------------------------------


def start(
    turn: Turn,
    ctx: Context,
    *,
    parts: list[str] | None = None,
    dossier: str | None = None,
    origin: str = "chat",
    key: str | None = None,
) -> None:
    """Open a draft (or go on with the one in progress) and say how to write it."""
    st = turn.state
    if st.draft is None:
        st.draft = ComplaintDraft(
            key=key or ctx.new_key(), parts=list(parts or []), dossier=dossier, origin=origin
        )
    st.phase = Phase.COMPLAINT
    st.draft.step = DraftStep.CONTENT
    turn.replies.append(Reply(msg.COMPLAINT_START))
    if st.draft.parts or st.draft.photos:
        turn.replies.append(_kept(st.draft))


def resume(turn: Turn) -> None:
    turn.state.phase = Phase.COMPLAINT
    turn.replies.append(Reply(msg.COMPLAINT_RESUMED))
    _prompt(turn)


def offer(
    turn: Turn,
    ctx: Context,
    text: str,
    *,
    dossier: str | None = None,
    origin: str = "chat",
    key: str | None = None,
    head: str = msg.COMPLAINT_OFFER,
) -> None:
    """Typed text outside any flow (or a dossier rating's reason): send it as a complaint?"""
    st = turn.state
    st.draft = ComplaintDraft(
        key=key or ctx.new_key(), parts=[text[:COMPLAINT_MAX]], dossier=dossier, origin=origin
    )
    st.phase = Phase.COMPLAINT_OFFER
    yes, no = Button(msg.COMPLAINT_OFFER_YES, "y"), Button(msg.COMPLAINT_OFFER_NO, "n")
    turn.replies.append(menu(head, (yes, no)))


def on_offer(turn: Turn, command: str | None, ctx: Context) -> bool:
    """The answer to `offer`; False when the message was something else (handled by core)."""
    st = turn.state
    if command == "yes" and st.draft is not None:
        st.phase = Phase.COMPLAINT
        st.draft.step = DraftStep.CONTENT
        turn.replies.append(_kept(st.draft))
        return True
    if command in ("no", "cancel", "stop"):
        st.draft = None
        st.phase = Phase.IDLE
        turn.replies.append(Reply(msg.GOODBYE))
        return True
    return False


# --- the draft ---------------------------------------------------------------------------------


def on_draft(turn: Turn, inbound: Inbound, command: str | None, ctx: Context) -> None:
    st = turn.state
    draft = st.draft
    if draft is None:  # (a state from before drafts existed)
        start(turn, ctx)
        return
    if command == "cancel":
        st.draft = None
        st.phase = Phase.IDLE
        turn.replies.append(Reply(msg.COMPLAINT_CANCELLED))
        return
    if command == "stop":
        st.phase = Phase.PAUSED
        turn.replies.append(Reply(msg.PAUSED))
        return
    if command == "help":
        turn.replies.append(Reply(msg.COMPLAINT_HELP))
        _prompt(turn)
        return
    step = draft.step
    if step is DraftStep.CONTENT:
        _on_content(turn, draft, inbound, command, ctx)
    elif step is DraftStep.WARD:
        _on_ward(turn, draft, inbound, command, ctx)
    elif step is DraftStep.CONSENT:
        if command == "yes":
            _ask_name(turn, draft)
        elif command == "no":
            draft.step = DraftStep.WHY_CONTACT
            _prompt(turn)
        else:
            _prompt(turn)
    elif step is DraftStep.WHY_CONTACT:
        if command == "yes":
            _ask_name(turn, draft)
        elif command == "anonymous":
            _submit(turn, draft, ctx, anonymous=True)
        else:
            _prompt(turn)
    elif step is DraftStep.NAME:
        _on_name(turn, draft, inbound, ctx)
    else:
        _on_phone(turn, draft, inbound, ctx)


def _on_content(
    turn: Turn, draft: ComplaintDraft, inbound: Inbound, command: str | None, ctx: Context
) -> None:
    if command == "send":
        _finish_content(turn, draft, ctx)
        return
    added = False
    if inbound.location is not None:
        draft.location = inbound.location
        added = True
    for kind, ref in inbound.attachments:
        if len(draft.photos) >= PHOTOS_MAX:
            turn.replies.append(Reply(msg.COMPLAINT_TOO_MANY_PHOTOS.format(max=PHOTOS_MAX)))
            break
        draft.photos.append((kind, ref[:2000]))
        added = True
    text = inbound.text.strip() if inbound.choice is None else ""
    if text and not added:
        kind = intent.detect(text)
        if kind in _NOT_CONTENT:  # "cảm ơn" after the last part: the draft stays as it is
            answer_not_a_complaint(turn, kind)
            _prompt(turn)
            return
    if text:
        used = sum(len(p) for p in draft.parts)
        if used + len(text) > COMPLAINT_MAX:
            turn.replies.append(Reply(msg.COMPLAINT_TOO_LONG.format(max=COMPLAINT_MAX)))
            turn.replies.append(_send_menu())
            return
        draft.parts.append(text)
        added = True
    if added:
        turn.replies.append(_kept(draft))
    else:
        _prompt(turn)


def _finish_content(turn: Turn, draft: ComplaintDraft, ctx: Context) -> None:
    text = "\n".join(draft.parts)
    if not text.strip():
        turn.replies.append(
            Reply(msg.COMPLAINT_PHOTOS_ONLY if draft.photos else msg.COMPLAINT_EMPTY)
        )
        return
    if not describes_something(text):
        turn.replies.append(Reply(msg.COMPLAINT_UNCLEAR))
        return
    if draft.ward is None:
        ward = default_detector().detect(text)
        if ward is not None:
            draft.ward, draft.ward_name = ward.code, ward.full_name
            turn.replies.append(Reply(msg.WARD_FOUND.format(ward=ward.full_name)))
        else:
            draft.step = DraftStep.WARD
            near = nearest_wards(*draft.location) if draft.location else []
            if near:  # the wards around the shared location, nearest first
                draft.ward_options = [w.code for w in near]
                buttons = tuple(Button(w.full_name, f"w:{w.code}") for w in near)
                skip = Button(msg.WARD_SKIP, WARD_SKIP_PAYLOAD)
                turn.replies.append(menu(msg.WARD_PICK_NEAR, (*buttons, skip)))
            else:
                _prompt(turn)
            return
    _after_ward(turn, draft, ctx)


def _on_ward(
    turn: Turn, draft: ComplaintDraft, inbound: Inbound, command: str | None, ctx: Context
) -> None:
    if inbound.choice == WARD_SKIP_PAYLOAD or command == "skip":
        _after_ward(turn, draft, ctx)
        return
    picked = _WARD_PAYLOAD.match(inbound.choice or "")
    if picked is not None:
        ward = ward_by_code().get(picked.group("code"))
        if ward is None:
            _prompt(turn)
            return
        _set_ward(turn, draft, ward)
        _after_ward(turn, draft, ctx)
        return
    text = inbound.text.strip()
    if inbound.choice is not None or not text:
        _prompt(turn)
        return
    if text.isdigit() and draft.ward_options:  # the number of a ward offered as a button
        number = int(text)
        if number == len(draft.ward_options) + 1:
            _after_ward(turn, draft, ctx)  # the last button: «Bỏ qua»
            return
        ward = (
            ward_by_code().get(draft.ward_options[number - 1])
            if number >= 1 and number <= len(draft.ward_options)
            else None
        )
        if ward is not None:
            _set_ward(turn, draft, ward)
            _after_ward(turn, draft, ctx)
            return
    found = ward_candidates(text)
    if len(found) == 1:
        _set_ward(turn, draft, found[0])
        _after_ward(turn, draft, ctx)
    elif found:
        draft.ward_options = [w.code for w in found]
        buttons = tuple(Button(w.full_name, f"w:{w.code}") for w in found)
        turn.replies.append(
            menu(msg.WARD_PICK, (*buttons, Button(msg.WARD_SKIP, WARD_SKIP_PAYLOAD)))
        )
    else:
        said = text if len(text) <= 40 else text[:40] + "…"
        turn.replies.append(
            Reply(msg.WARD_NOT_FOUND.format(text=said), (Button(msg.WARD_SKIP, WARD_SKIP_PAYLOAD),))
        )


def _set_ward(turn: Turn, draft: ComplaintDraft, ward: Ward) -> None:
    draft.ward, draft.ward_name, draft.ward_options = ward.code, ward.full_name, []
    turn.replies.append(Reply(msg.WARD_FOUND.format(ward=ward.full_name)))


def _after_ward(turn: Turn, draft: ComplaintDraft, ctx: Context) -> None:
    if turn.state.contact_on_file:
        _submit(turn, draft, ctx, anonymous=False)
        return
    draft.step = DraftStep.CONSENT
    _prompt(turn)


def _ask_name(turn: Turn, draft: ComplaintDraft) -> None:
    draft.step = DraftStep.NAME
    _prompt(turn)


def _on_name(turn: Turn, draft: ComplaintDraft, inbound: Inbound, ctx: Context) -> None:
    if inbound.contact is not None:
        _contact_given(turn, draft, inbound.contact, ctx)
        return
    name = " ".join(inbound.text.split()) if inbound.choice is None else ""
    if not (2 <= len(name) <= 100) or not re.search(r"[^\W\d_]{2,}", name) or valid_phone(name):
        turn.replies.append(Reply(msg.BAD_NAME))
        return
    draft.name = name
    draft.step = DraftStep.PHONE
    _prompt(turn)


def _on_phone(turn: Turn, draft: ComplaintDraft, inbound: Inbound, ctx: Context) -> None:
    if inbound.contact is not None:
        _contact_given(turn, draft, inbound.contact, ctx)
        return
    text = inbound.text.strip() if inbound.choice is None else ""
    phone = valid_phone(text)
    if phone is None:
        said = text if len(text) <= 20 else text[:20] + "…"
        turn.replies.append(Reply(msg.BAD_PHONE.format(text=said)))
        return
    _contact_given(turn, draft, (draft.name or "", phone), ctx)


def _contact_given(
    turn: Turn, draft: ComplaintDraft, contact: tuple[str, str], ctx: Context
) -> None:
    name, raw_phone = contact
    phone = valid_phone(raw_phone)
    name = " ".join(name.split()) or (draft.name or "")
    if phone is None:
        turn.replies.append(Reply(msg.BAD_PHONE.format(text=raw_phone[:20])))
        draft.step = DraftStep.PHONE
        return
    if not name:
        draft.step = DraftStep.NAME
        turn.replies.append(Reply(msg.ASK_NAME))
        return
    turn.effects.append(
        SaveContact(name=name, phone=phone, text_shown=msg.CONTACT_CONSENT, at=ctx.now)
    )
    turn.state.contact_on_file = True
    draft.name = None  # kept on the citizen's record, not in the chat's state
    _submit(turn, draft, ctx, anonymous=False)


def _submit(turn: Turn, draft: ComplaintDraft, ctx: Context, *, anonymous: bool) -> None:
    st = turn.state
    turn.effects.append(
        SubmitComplaint(
            key=draft.key,
            text="\n".join(draft.parts),
            at=ctx.now,
            photos=tuple(draft.photos),
            location=draft.location,
            ward=draft.ward,
            dossier=draft.dossier,
            anonymous=anonymous,
            origin=draft.origin,
        )
    )
    st.draft = None
    st.phase = Phase.IDLE


def _prompt(turn: Turn) -> None:
    """Ask again for what the draft's step needs."""
    draft = turn.state.draft
    if draft is None:
        return
    step = draft.step
    if step is DraftStep.CONTENT:
        turn.replies.append(
            _kept(draft) if draft.parts or draft.photos else Reply(msg.COMPLAINT_START)
        )
    elif step is DraftStep.WARD:
        turn.replies.append(Reply(msg.WARD_ASK, (Button(msg.WARD_SKIP, WARD_SKIP_PAYLOAD),)))
    elif step is DraftStep.CONSENT:
        turn.replies.append(menu(msg.CONTACT_CONSENT, yes_no(msg.CONSENT_YES, msg.CONSENT_NO)))
    elif step is DraftStep.WHY_CONTACT:
        buttons = (
            Button(msg.CONTACT_PROVIDE, "y"),
            Button(msg.CONTACT_ANONYMOUS, ANONYMOUS_PAYLOAD),
        )
        turn.replies.append(menu(msg.CONTACT_WHY, buttons))
    elif step is DraftStep.NAME:
        share = (Button(msg.SHARE_CONTACT, SHARE_CONTACT_PAYLOAD),)
        turn.replies.append(Reply(msg.ASK_NAME, share))  # Telegram shows the share button
    else:
        turn.replies.append(
            Reply(msg.ASK_PHONE, (Button(msg.SHARE_CONTACT, SHARE_CONTACT_PAYLOAD),))
        )


def _kept(draft: ComplaintDraft) -> Reply:
    chars = sum(len(p) for p in draft.parts)
    location = msg.COMPLAINT_LOCATION_KEPT if draft.location else ""
    text = msg.COMPLAINT_PART_KEPT.format(chars=chars, photos=len(draft.photos), location=location)
    return Reply(text, _send_buttons())


def _send_buttons() -> tuple[Button, ...]:
    return (Button(msg.COMPLAINT_SEND, SEND_PAYLOAD), Button(msg.COMPLAINT_CANCEL, CANCEL_PAYLOAD))


def _send_menu() -> Reply:
    return Reply(msg.COMPLAINT_HELP, _send_buttons())


# --- after intake: tracking, answering a unit's question, rating --------------------------------


def track(turn: Turn, ctx: Context, text: str) -> None:
    """`/tracuu [code]`: one complaint's status and history, or the chat's latest ones."""
    lookups = ctx.complaints
    code = normalise_code(text)
    if code is not None:
        facts = lookups.find(code) if lookups is not None else None
        if facts is None:
            turn.replies.append(Reply(msg.TRACK_NOT_FOUND.format(code=code)))
        else:
            turn.replies.append(Reply(describe(facts)))
        return
    mine = lookups.mine() if lookups is not None else []
    if not mine:
        turn.replies.append(Reply(msg.TRACK_NONE))
        return
    lines = [msg.TRACK_MINE] + [
        msg.TRACK_MINE_LINE.format(
            code=f.code, status=msg.STATUS_LABELS.get(f.status, f.status), unit=f.unit_name
        )
        for f in mine
    ]
    turn.replies.append(Reply("\n".join(lines)))


def describe(facts: ComplaintFacts) -> str:
    head = msg.TRACK_HEAD.format(
        code=facts.code,
        status=msg.STATUS_LABELS.get(facts.status, facts.status),
        unit=facts.unit_name,
        received=local_day(facts.received_at),
        due=local_day(facts.due_at),
    )
    lines = [head]
    for at, action, note in facts.history:
        shown = f": {note[:120]}" if note else ""
        label = msg.ACTION_LABELS.get(action, action)
        lines.append(
            msg.TRACK_LINE.format(at=local_day(at, with_time=True), action=label, note=shown)
        )
    return "\n".join(lines)


def on_rating_payload(turn: Turn, payload: str, ctx: Context) -> bool:
    """A tap under a unit's answer: «Hài lòng», «Không hài lòng» (then asked why), «Mở lại»."""
    m = _RATE_PAYLOAD.match(payload)
    if m is None:
        return False
    code = m.group("code")
    st = turn.state
    if m.group("what") == "r":
        turn.effects.append(CitizenAction(code=code, action="reopen", at=ctx.now))
    elif m.group("v") == "1":
        turn.effects.append(CitizenAction(code=code, action="rate", at=ctx.now, satisfied=True))
    else:
        if st.phase is not Phase.RATE_REASON:
            st.return_phase = st.phase
        st.phase = Phase.RATE_REASON
        st.rating = code
        turn.replies.append(Reply(msg.RATE_REASON_ASK, (Button(msg.WARD_SKIP, "skip"),)))
    return True


def on_rate_reason(turn: Turn, inbound: Inbound, command: str | None, ctx: Context) -> None:
    st = turn.state
    reason = inbound.text.strip() if inbound.choice is None and command != "skip" else ""
    if st.rating is not None:
        turn.effects.append(
            CitizenAction(code=st.rating, action="rate", at=ctx.now, satisfied=False, text=reason)
        )
    st.rating = None
    back = st.return_phase
    st.return_phase = None
    st.phase = back if back in (Phase.SURVEY, Phase.COMPLAINT, Phase.PAUSED) else Phase.IDLE


def rate_typed(turn: Turn, code: str, number: str, ctx: Context) -> None:
    """A typed 1/2/3 while an answer waits for its rating (the buttons' order)."""
    payload = {"1": f"rh:{code}:0", "2": f"rh:{code}:1", "3": f"rr:{code}"}[number]
    on_rating_payload(turn, payload, ctx)


def provide_info(turn: Turn, code: str, text: str, ctx: Context) -> None:
    turn.effects.append(
        CitizenAction(code=code, action="provide_info", at=ctx.now, text=text[:COMPLAINT_MAX])
    )


# --- wards ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def ward_by_code() -> dict[str, Ward]:
    """Every ward of the gazetteer by its code (built once)."""
    return {w.code: w for w in default_detector().wards}


@lru_cache(maxsize=1)
def _folded_wards() -> list[tuple[str, Ward]]:
    return [(fold(w.name), w) for w in default_detector().wards]


def ward_candidates(text: str, limit: int = 5) -> list[Ward]:
    """The wards a citizen may mean by what they typed: a name with or without its prefix,
    with or without diacritics; several when the name is ambiguous or only a beginning."""
    detector = default_detector()
    for probe in (text, f"phường {text}"):
        hit = detector.detect(probe)
        if hit is not None:
            return [hit]
    folded = fold(text)
    for prefix in ("phuong ", "xa ", "p ", "dac khu "):
        folded = folded.removeprefix(prefix)
    if len(folded) < 2:
        return []
    exact = [w for name, w in _folded_wards() if name == folded]
    if exact:
        return exact[:limit]
    starts = [w for name, w in _folded_wards() if name.startswith(folded)]
    if starts:
        return starts[:limit]
    return [w for name, w in _folded_wards() if folded in name][:limit]


# --- small rendering helpers (as core's) -------------------------------------------------------


def yes_no(yes: str, no: str) -> tuple[Button, ...]:
    return (Button(yes, "y"), Button(no, "n"))


def menu(head: str, buttons: tuple[Button, ...]) -> Reply:
    """A reply whose buttons are also listed by number, so that typing works everywhere; the
    buttons carry the same numbered labels, and channels that show them drop the list
    (`listed_once`). Buttons only one channel can show ("@…") are neither numbered nor
    listed. The one menu rule of the bot: the survey's menus use it too."""
    out: list[Button] = []
    lines: list[str] = []
    for button in buttons:
        if button.payload.startswith("@"):
            out.append(button)
            continue
        label = f"{len(lines) + 1}. {button.label}"
        lines.append(label)
        out.append(Button(label, button.payload))
    return Reply(f"{head}\n" + "\n".join(lines), tuple(out))


def local_day(at: datetime, *, with_time: bool = False) -> str:
    """A date as a citizen of Ho Chi Minh City reads it (UTC+7, no daylight saving)."""
    local = at.astimezone(_HCMC)
    return local.strftime("%H:%M %d/%m/%Y" if with_time else "%d/%m/%Y")
