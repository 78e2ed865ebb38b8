"""The complaint desk: complaints in → routed, numbered, stored, and everyone told.

Every face goes through it: the conversation service (a citizen's intake, answer, rating,
reopening), the Telegram staff groups (card buttons), the scheduler (reminders, escalation)
and the CLI. Each call runs inside the caller's transaction and returns the messages to queue
in the outbox with it; the rules themselves are `complaints.lifecycle`'s.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import messages as msg
from bot.engine.complaint import local_day, rate_buttons, ward_by_code
from bot.engine.text import fold
from bot.engine.types import CitizenAction, CitizenPending, ComplaintFacts, SubmitComplaint
from complaints import lifecycle as lc
from nlp.pii import mask_pii
from storage import complaints as store
from storage.models import Complaint, Unit

log = logging.getLogger(__name__)

TRIAGE_UNIT = "VPUBND"
INSPECTORATE = "THANHTRA"
WARD_PARENT = "UBND_XA"
STAFF_CHANNEL = "telegram"  # unit groups, leads and the monitoring group are on Telegram
_KHIEU_NAI = re.compile(r"\b(khieu nai|to cao|don to cao|don khieu nai)\b")
CARD_TEXT_MAX = 2500

# (channel, recipient, payload): a message for the outbox.
Outgoing = tuple[str, str, dict[str, Any]]


RouterFactory = Callable[[], Any]  # () -> nlp.router.Router


@dataclass
class DeskResult:
    """What an action did: the messages to queue, or why it was refused."""

    outgoing: list[Outgoing] = field(default_factory=list)
    refused: lc.Refusal | None = None
    complaint: Complaint | None = None


class ComplaintDesk:
    def __init__(
        self,
        router_factory: RouterFactory,
        policy: lc.Policy | None = None,
        *,
        monitor_chat: int | None = None,
    ) -> None:
        self._router_factory = router_factory
        self._router: Any = None
        self._lock = threading.Lock()
        self.policy = policy or lc.Policy()
        self.monitor_chat = monitor_chat
        self._units: store.Units | None = None

    def units(
        self, session: Session, *, code: str | None = None, id: int | None = None
    ) -> store.Units:
        """Every unit, read once and again only when asked for one it does not know (after
        `hailong catalogue load`)."""
        units = self._units
        if (
            units is None
            or (code is not None and code not in units.by_code)
            or (id is not None and id not in units.by_id)
        ):
            units = self._units = store.all_units(session)
        return units

    def unit_code(self, session: Session, row: Complaint) -> str:
        return self.units(session, id=row.unit_id).by_id[row.unit_id].code

    @property
    def router(self) -> Any:
        """The router, loaded once per process on first use (training it if no model)."""
        if self._router is None:
            with self._lock:
                if self._router is None:
                    self._router = self._router_factory()
        return self._router

    # --- intake -----------------------------------------------------------------------------

    def submit(
        self, session: Session, channel: str, external_id: str, effect: SubmitComplaint
    ) -> list[Outgoing]:
        """Route, number and store a citizen's complaint (or feedback); tell the citizen the
        code, unit and due date, and the unit's group the card. Idempotent on the draft key:
        feedback kept under the same key becomes the complaint."""
        existing = store.by_key(session, effect.key)
        if existing is not None and not (existing.anonymous and not effect.anonymous):
            return []  # the same draft sent twice
        masked = mask_pii(effect.text)
        dossier = store.dossier_unit(session, effect.dossier) if effect.dossier else None
        routing, candidates, ward = self._route(session, effect.text, effect.ward, dossier)
        units = self.units(session, code=routing.unit)
        if routing.unit != TRIAGE_UNIT and routing.unit not in units.by_code:
            log.warning("routed to %s, which is not in the catalogue: triage", routing.unit)
            routing = lc.Routing(TRIAGE_UNIT, routing.confidence, routing.predicted_unit, True)
        unit = self.units(session, code=routing.unit).by_code.get(routing.unit)
        if unit is None:
            raise LookupError(f"unit {routing.unit} missing: run `hailong catalogue load`")
        new, entry, notices = lc.submit(routing, effect.at, self.policy, anonymous=effect.anonymous)
        cid, name, phone = store.contact_of(session, channel, external_id)
        values: dict[str, Any] = {
            "key": effect.key,
            "status": new.status.value,
            "track": new.track.value,
            "anonymous": effect.anonymous,
            "origin": effect.origin,
            "unit_id": unit.id,
            "units_involved": list(new.units_involved),
            "predicted_unit": routing.predicted_unit,
            "confidence": routing.confidence,
            "candidates": [[u, round(p, 4)] for u, p in candidates],
            "routed_automatically": not routing.triage,
            "ward_code": ward.code if ward else None,
            "ward_name": ward.full_name if ward else None,
            "dossier_id": dossier[0] if dossier else None,
            "text": effect.text,
            "masked_text": masked,
            "photos": [],  # JSON columns have no database default
            "received_at": effect.at,
            "due_at": new.due_at,
            "next_check_at": lc.next_check(new, self.policy),
            "updated_at": effect.at,
        }
        if not effect.anonymous:
            year = effect.at.astimezone(self.policy.tz).year
            number = store.next_number(session, year)
            latitude, longitude = effect.location or (None, None)
            values |= {
                "year": year,
                "seq": number,
                "code": store.tracking_code(year, number),
                "citizen_id": cid,
                "channel": channel,
                "external_id": external_id,
                "contact_name": name,
                "contact_phone": phone,
                "photos": [list(p) for p in effect.photos],
                "latitude": latitude,
                "longitude": longitude,
            }
        row = store.save_new(session, values, existing.id if existing else None)
        store.add_history(session, row, entry)
        if effect.origin == "dossier_reason" and effect.anonymous:
            notices = []  # the engine's offer already says the reason was kept
        # Anonymous feedback keeps no chat: the thanks go to the chat that sent it.
        return self._render(session, row, new, notices, chat=(channel, external_id))

    def _route(
        self,
        session: Session,
        text: str,
        ward_code: str | None,
        dossier: tuple[int, int] | None,
    ) -> tuple[lc.Routing, list[tuple[str, float]], Any]:
        ward = ward_by_code().get(ward_code) if ward_code else None
        if _KHIEU_NAI.search(fold(text)):
            return lc.Routing(INSPECTORATE, 1.0, INSPECTORATE, False, lc.Track.KHIEU_NAI), [], ward
        if dossier is not None:  # a dossier's reason: that dossier's unit
            held = self.units(session, id=dossier[1]).by_id.get(dossier[1])
            if held is not None:
                return lc.Routing(held.code, 1.0, held.code, False), [], ward
        result = self.router.route(text)
        ward = ward or result.ward
        unit, triage = result.unit, result.needs_triage
        if not unit:
            # Sent on purpose (a draft's «Gửi», Open311) though the router reads no complaint
            # in it (result.kind: another language, an ad): the triage desk decides. (A unit
            # named by an Open311 client is kept.)
            unit, triage = TRIAGE_UNIT, True
        if not triage and unit == WARD_PARENT:
            # Commune-level matters go to the ward's people's committee; with no ward named,
            # the triage desk finds it.
            if ward is not None and ward.code in self.units(session, code=ward.code).by_code:
                unit = ward.code
            else:
                unit, triage = TRIAGE_UNIT, True
        routing = lc.Routing(unit, result.confidence, result.predicted_unit, triage)
        return routing, list(result.candidates), ward

    # --- actions ----------------------------------------------------------------------------

    def act(
        self,
        session: Session,
        row: Complaint,
        event: lc.Event,
        actor: lc.Actor,
        now: datetime,
        *,
        staff_id: int | None = None,
        card_at: tuple[int, int] | None = None,
    ) -> DeskResult:
        """Apply one event through the rules; store the change and render its notices.
        `card_at` is the (chat, message) of the card the staff member pressed, edited in place."""
        before = store.facts(row, self.unit_code(session, row))
        try:
            change = lc.apply(before, event, actor, now, self.policy)
        except lc.Refused as exc:
            audit_actor = f"staff:{staff_id}" if staff_id else actor.kind.value
            store.audit(
                session,
                audit_actor,
                "complaint.refused",
                row.code,
                {"action": lc.ACTIONS[type(event)], "reason": exc.reason.value},
                now,
            )
            return DeskResult(refused=exc.reason, complaint=row)
        target = self.units(session, code=change.complaint.unit).by_code.get(change.complaint.unit)
        if target is None:
            return DeskResult(refused=lc.Refusal.UNKNOWN_UNIT, complaint=row)
        store.write_facts(session, row, change.complaint, self.policy, now, target.id)
        store.add_history(session, row, change.history, staff_id)
        store.add_examples(session, row, change.learn, now)
        if staff_id is not None:
            store.audit(
                session,
                f"staff:{staff_id}",
                f"complaint.{change.history.action}",
                row.code,
                {},
                now,
            )
        out = self._render(
            session,
            row,
            change.complaint,
            change.notices,
            card_at=card_at,
            last=change.history,
            refresh=change.card_changed,
        )
        return DeskResult(outgoing=out, complaint=row)

    def redraw(
        self, session: Session, row: Complaint, last: lc.HistoryEntry | None
    ) -> list[Outgoing]:
        """The edits that bring every card of `row` up to date after a change made outside
        `act` (an assignment in the console, a deletion request), `last` being that change's
        history entry if it has one."""
        facts = store.facts(row, self.unit_code(session, row))
        return self._render(session, row, facts, [], last=last, refresh=True)

    def redraw_cards(self, session: Session, complaint_ids: Sequence[int]) -> int:
        """Queue the edits of these complaints' cards (after a deletion request erased the
        citizen's part: the delivered cards lose the text's personal data, the location and
        the photos' count too) and the deletion of their photo messages; how many
        complaints."""
        out: list[Outgoing] = []
        done = 0
        for complaint_id in complaint_ids:
            row = session.get(Complaint, complaint_id)
            if row is not None:
                out += self.redraw(session, row, None)
                done += 1
        # The photos went as messages of their own: deleted, not redrawn.
        out += [
            (STAFF_CHANNEL, str(chat), {"text": "", "delete_message_id": message})
            for chat, message in store.take_photo_messages(session, complaint_ids, STAFF_CHANNEL)
        ]
        store_outbox(session, out)
        return done

    def redraw_released(self, session: Session) -> int:
        """Queue the card edits of the complaints `store.release_assignments` gave back in
        this session (their assignee deactivated or moved); how many complaints. Every
        command that deactivates or moves staff calls it before committing."""
        done = 0
        for complaint_id, entry in store.take_released(session).items():
            row = session.get(Complaint, complaint_id)
            if row is not None:
                store_outbox(session, self.redraw(session, row, entry))
                done += 1
        return done

    def citizen_action(
        self, session: Session, channel: str, external_id: str, effect: CitizenAction
    ) -> list[Outgoing]:
        """A citizen's provide_info / rate / reopen on their own complaint."""
        row = store.by_code(session, effect.code)
        reply_to = (channel, external_id)
        if row is None or (row.channel, row.external_id) != reply_to:
            text = msg.CITIZEN_REFUSED["not_owner"].format(code=effect.code)
            return [(channel, external_id, _payload(text))]
        event: lc.Event
        if effect.action == "provide_info":
            event = lc.ProvideInfo(effect.text)
        elif effect.action == "rate":
            event = lc.Rate(bool(effect.satisfied), effect.text)
        else:
            event = lc.Reopen(effect.text)
        result = self.act(session, row, event, lc.CITIZEN, effect.at)
        if result.refused is not None:
            template = msg.CITIZEN_REFUSED.get(result.refused.value, msg.CITIZEN_REFUSED["state"])
            text = template.format(
                code=effect.code,
                days=self.policy.reopen_days,
                status=msg.STATUS_LABELS.get(row.status, row.status),
            )
            return [(channel, external_id, _payload(text))]
        return result.outgoing

    def system_pass(self, session: Session, now: datetime, limit: int = 200) -> int:
        """One scheduler pass: reminders, escalations and triage alarms due at `now`, each
        at most once (the flag is written with the notice, in this transaction)."""
        done = 0
        for row in store.due_for_check(session, now, limit):
            before = store.facts(row, self.unit_code(session, row))
            events = lc.due_events(before, now, self.policy)
            if not events:
                row.next_check_at = lc.next_check(before, self.policy)
                session.add(row)
                continue
            for event in events:
                result = self.act(session, row, event, lc.SYSTEM, now)
                store_outbox(session, result.outgoing)
                done += 1
        return done

    # --- rendering --------------------------------------------------------------------------

    def _render(
        self,
        session: Session,
        row: Complaint,
        c: lc.Complaint,
        notices: list[lc.Notice],
        *,
        card_at: tuple[int, int] | None = None,
        last: lc.HistoryEntry | None = None,
        refresh: bool = False,
        chat: tuple[str, str] | None = None,
    ) -> list[Outgoing]:
        units = self.units(session, code=c.unit)
        names = {code: ref.name for code, ref in units.by_code.items()}
        unit_name = names.get(c.unit, c.unit)
        out: list[Outgoing] = []
        unit = units.by_code.get(c.unit)
        groups = store.groups_of_unit(session, unit.id) if unit else []
        cards = store.cards_of(session, row.id) if row.id is not None else {}
        assignee = store.assignee_name(session, row)
        common = {
            "code": row.code or "",
            "unit": unit_name,
            "due": local_day(c.due_at),
            "days": self.policy.reopen_days,
        }
        for notice in notices:
            params = {**common, **notice.params}
            if notice.audience is lc.Audience.CITIZEN:
                to = chat or (row.channel, row.external_id)
                if to[0] and to[1]:
                    out.append((str(to[0]), str(to[1]), self._citizen_payload(notice.kind, params)))
            elif notice.audience is lc.Audience.UNIT:
                if notice.kind == "card":
                    # A group that holds a card already has it edited below; others get it.
                    fresh = [g for g in groups if g not in cards]
                    card = card_payload(row, c, names, last, assignee=assignee)
                    out += [(STAFF_CHANNEL, str(g), dict(card)) for g in fresh]
                    out += self._photos(row, fresh)
                else:
                    text = _staff_text(notice.kind, params, row)
                    for g in groups:
                        payload = _payload(text)
                        if g in cards:  # the answer goes under the card
                            payload["reply_to"] = cards[g]
                        out.append((STAFF_CHANNEL, str(g), payload))
            elif notice.audience is lc.Audience.LEADS and unit is not None:
                text = _staff_text(notice.kind, params, row)
                for lead in store.leads_of_unit(session, unit.id):
                    if lead.telegram_user_id:
                        out.append((STAFF_CHANNEL, str(lead.telegram_user_id), _payload(text)))
            elif notice.audience is lc.Audience.MONITOR and self.monitor_chat:
                text = _staff_text(notice.kind, params, row)
                out.append((STAFF_CHANNEL, str(self.monitor_chat), _payload(text)))
        if refresh:
            # Every known card shows the current state; only the holding unit's keep buttons.
            known = dict(cards)
            if card_at is not None:
                known[card_at[0]] = card_at[1]
            for chat_id, message_id in known.items():
                card = card_payload(
                    row, c, names, last, buttons=chat_id in groups, assignee=assignee
                )
                card["edit_message_id"] = message_id
                out.append((STAFF_CHANNEL, str(chat_id), card))
        return out

    def _citizen_payload(self, kind: str, p: dict[str, Any]) -> dict[str, Any]:
        if kind == "received":
            template = msg.COMPLAINT_RECEIVED_TRIAGE if p.get("triage") else msg.COMPLAINT_RECEIVED
            return _payload(template.format(**p))
        if kind == "received_khieu_nai":
            return _payload(msg.COMPLAINT_RECEIVED_KHIEU_NAI.format(**p))
        if kind == "feedback_kept":
            return _payload(msg.FEEDBACK_KEPT)
        if kind == "accepted":
            return _payload(msg.NOTICE_ACCEPTED.format(**p))
        if kind == "transferred":
            template = msg.NOTICE_ROUTED if p.get("from_triage") else msg.NOTICE_TRANSFERRED
            return _payload(template.format(**p))
        if kind == "info_requested":
            return _payload(msg.NOTICE_INFO_REQUESTED.format(**p))
        if kind == "info_received":
            return _payload(msg.NOTICE_INFO_RECEIVED.format(**p))
        if kind == "answered":
            buttons = [{"label": b.label, "payload": b.payload} for b in rate_buttons(p["code"])]
            text = msg.NOTICE_ANSWERED.format(**p)
            lines = "\n".join(f"{i}. {b['label']}" for i, b in enumerate(buttons, start=1))
            return {"text": f"{text}\n{lines}", "buttons": buttons}
        if kind == "rejected":
            return _payload(msg.NOTICE_REJECTED.format(**p))
        if kind == "rated":
            return _payload(msg.NOTICE_RATED_THANKS.format(**p))
        if kind == "reopened":
            return _payload(msg.NOTICE_REOPENED.format(**p))
        raise ValueError(f"no citizen message for notice {kind!r}")

    def _photos(self, row: Complaint, groups: list[int]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for kind, ref in row.photos:
            # "complaint_photo": the sender records where it lands (a deletion request
            # deletes it there).
            if kind == "photo":  # a Telegram file id: the group can be sent the photo itself
                payload = {"text": row.code or "", "photo": ref, "complaint_photo": row.id}
            elif kind == "upload":  # a web chat upload, read from the database when sent
                payload = {"text": row.code or "", "photo_upload": ref, "complaint_photo": row.id}
            else:
                continue  # URLs (Zalo) are listed on the card
            out += [(STAFF_CHANNEL, str(g), dict(payload)) for g in groups]
        return out

    def forget(self, session: Session, channel: str, external_id: str, at: datetime) -> None:
        """`/xoa`: the citizen's part of their complaints erased, the complaints kept."""
        erased = store.forget(session, channel, external_id, mask_pii, at)
        if erased:
            self.redraw_cards(session, erased)
            log.info("erased the citizen's part of %s complaints", len(erased))

    # --- the citizen's read-only view ------------------------------------------------------

    def lookups(self, session: Session, channel: str, external_id: str) -> CitizenLookups:
        return CitizenLookups(session, channel, external_id)


class CitizenLookups:
    """`bot.engine.types.ComplaintLookups` over the database, for one chat."""

    def __init__(self, session: Session, channel: str, external_id: str) -> None:
        self.session, self.channel, self.external_id = session, channel, external_id
        self._pending: CitizenPending | None = None

    def find(self, code: str) -> ComplaintFacts | None:
        row = store.by_code(self.session, code)
        if row is None or (row.channel, row.external_id) != (self.channel, self.external_id):
            return None
        return self._facts(row, with_history=True)

    def mine(self) -> list[ComplaintFacts]:
        return [self._facts(r) for r in store.of_chat(self.session, self.channel, self.external_id)]

    def pending(self) -> CitizenPending:
        if self._pending is None:
            info = rating = None
            for row in store.of_chat(self.session, self.channel, self.external_id, limit=20):
                if row.status == lc.Status.INFO_REQUESTED and info is None:
                    info = row.code
                if row.status == lc.Status.ANSWERED and rating is None:
                    rating = row.code
            self._pending = CitizenPending(info_request=info, rating=rating)
        return self._pending

    def _facts(self, row: Complaint, *, with_history: bool = False) -> ComplaintFacts:
        names = store.unit_names(self.session)
        unit = self.session.get(Unit, row.unit_id)
        events = store.history(self.session, row.id) if with_history and row.id else []
        shown = {"transfer", "request_info", "answer", "reject", "reopen", "submit", "accept"}
        return ComplaintFacts(
            code=row.code or "",
            status=row.status,
            unit_name=names.get(unit.code, unit.code) if unit else "",
            received_at=row.received_at,
            due_at=row.due_at,
            history=tuple(
                (e.at, e.action, e.note if e.action in shown and e.actor_kind != "citizen" else "")
                for e in events
            ),
        )


def store_outbox(session: Session, outgoing: list[Outgoing]) -> list[int]:
    from storage.conversations import enqueue_many

    return enqueue_many(session, outgoing)


def _payload(text: str) -> dict[str, Any]:
    return {"text": text, "buttons": []}


# --- the unit's card ------------------------------------------------------------------------

STAFF_BUTTONS = msg.STAFF_BUTTONS
_BUTTON_ACTIONS = {
    "acc": "accept",
    "tr": "transfer",
    "inf": "request_info",
    "ans": "answer",
    "rej": "reject",
}


def card_payload(
    row: Complaint,
    c: lc.Complaint,
    names: dict[str, str],
    last: lc.HistoryEntry | None,
    *,
    buttons: bool = True,
    assignee: str = "",
) -> dict[str, Any]:
    """The card a unit's group sees: masked text, ward, due date, who holds it in the unit,
    router confidence, and the buttons the complaint's state allows."""
    status = msg.STATUS_LABELS.get(c.status.value, c.status.value)
    lines = [
        msg.CARD_HEAD.format(code=row.code, status=status),
        msg.CARD_UNIT.format(unit=names.get(c.unit, c.unit)),
    ]
    if row.ward_name:
        lines.append(msg.CARD_WARD.format(ward=row.ward_name))
    lines.append(msg.CARD_DUE.format(due=local_day(c.due_at)))
    if assignee and c.assignee is not None:
        lines.append(msg.CARD_ASSIGNEE.format(name=assignee))
    if c.track is lc.Track.KHIEU_NAI:
        lines.append(msg.CARD_KHIEU_NAI)
    if row.confidence is not None and c.track is lc.Track.PAKN:
        ranked = ", ".join(f"{u} {p:.0%}" for u, p in row.candidates[:3])
        lines.append(
            msg.CARD_ROUTER.format(
                unit=row.predicted_unit, confidence=row.confidence, ranked=ranked
            )
        )
    if row.photos:
        lines.append(msg.CARD_PHOTOS.format(n=len(row.photos)))
        lines += [ref for kind, ref in row.photos if kind == "image"][:5]
    if row.latitude is not None and row.longitude is not None:
        lines.append(f"📍 {row.latitude:.5f}, {row.longitude:.5f}")
    text = (
        row.masked_text
        if len(row.masked_text) <= CARD_TEXT_MAX
        else row.masked_text[:CARD_TEXT_MAX] + "…"
    )
    lines += ["———", text, "———"]
    if last is not None and last.action != "submit":
        label = msg.ACTION_LABELS.get(last.action, last.action)
        at = local_day(last.at, with_time=True)
        lines.append(msg.CARD_UPDATED.format(action=label, who=last.actor.label, at=at))
    pressable = []
    for key, label in STAFF_BUTTONS.items() if buttons else ():
        action = _BUTTON_ACTIONS.get(key)
        if action is not None and action not in lc.allowed_actions(c.status):
            continue
        if key == "ct" and c.status not in lc.OPEN:
            continue
        pressable.append({"label": label, "payload": f"k:{key}:{row.id}"})
    return {"text": "\n".join(lines), "buttons": pressable, "complaint": row.id}


def _staff_text(kind: str, p: dict[str, Any], row: Complaint) -> str:
    fields = {
        "code": row.code or "",
        "text": mask_pii(str(p.get("text", ""))),
        "reason": mask_pii(str(p.get("reason") or "—")),
        "due": p.get("due", ""),
        "unit": p.get("unit", ""),
    }
    template = msg.STAFF_NOTICES.get(kind)
    return template.format(**fields) if template else f"{fields['code']}: {kind}"
