"""Unit staff in Telegram groups: linking a group to a unit, and the complaint cards' buttons.

    /lienket CODE ──▶ group linked to the code's unit (one-time code, `hailong staff link-code`)
    card button ──▶ who? (registered, active staff of the unit holding the complaint, pressing
                    in that unit's linked group) ──▶ complaints.lifecycle through the desk
    «Trả lời & đóng», «Yêu cầu bổ sung», «Từ chối», «Chuyển đơn vị»: the staff member's next
    message in the group is the text (a pending prompt, kept in the database)
    «Xem liên hệ»: name and phone shown to that staff member only (a callback alert), logged

Every refusal and every action is in the audit log. One transaction per update, de-duplicated
on the update id; two staff pressing «Tiếp nhận» at once: the second is told it moved on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot import messages as msg
from bot.desk import ComplaintDesk, Outgoing, store_outbox
from complaints import lifecycle as lc
from storage import complaints as store
from storage.conversations import claim_inbound
from storage.db import session_scope
from storage.models import Complaint, Staff, Unit
from storage.types import utcnow

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_BUTTON = re.compile(r"^k:(?P<key>acc|tr|inf|ans|rej|ct):(?P<id>\d{1,12})$")
_PICK = re.compile(r"^kt:(?P<id>\d{1,12}):(?P<unit>[A-Za-z0-9_\-]{1,32})$")
_PROMPTED = {"inf": "request_info", "ans": "answer", "rej": "reject"}
# Units a card can be transferred to by button (wards: the complaint's own, if any).
_TRANSFER_KINDS = ("so", "khac", "dich_vu")
# A pressed «Trả lời & đóng» waits this long for the text; later messages are conversation.
PROMPT_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class GroupUpdate:
    """A staff group's message or button press, as the Telegram adapter read it."""

    update_id: int
    chat_id: int
    user_id: int
    user_name: str = ""
    chat_title: str = ""
    text: str | None = None
    data: str | None = None  # callback data of a pressed button
    message_id: int | None = None  # the message whose button was pressed


@dataclass
class StaffOutcome:
    answer: str | None = None  # shown to the presser only (answerCallbackQuery)
    alert: bool = False
    outbox_ids: list[int] = field(default_factory=list)
    duplicate: bool = False


def is_staff_callback(data: str) -> bool:
    return data.startswith(("k:", "kt:"))


class StaffService:
    def __init__(
        self,
        engine: Engine,
        desk: ComplaintDesk,
        *,
        clock: Callable[[], datetime] = utcnow,
        link_ttl: timedelta = timedelta(hours=24),
        attempts: int = 5,
    ) -> None:
        self.engine, self.desk, self.clock = engine, desk, clock
        self.link_ttl, self.attempts = link_ttl, attempts

    def handle(self, update: GroupUpdate) -> StaffOutcome:
        """One group update in one transaction; redone if a complaint moved meanwhile."""
        for _ in range(self.attempts):
            try:
                with session_scope(self.engine) as session:
                    if not claim_inbound(session, CHANNEL, f"u{update.update_id}"):
                        return StaffOutcome(duplicate=True)
                    outcome, outgoing = self._handle(session, update, self.clock())
                    outcome.outbox_ids = store_outbox(session, outgoing)
                    return outcome
            except (store.StaleComplaint, IntegrityError) as exc:
                # Another action on the same complaint (or the same update) committed first.
                log.info("staff action redone: %s", exc)
        return StaffOutcome(answer=msg.STAFF_REFUSED["state"].format(status="?"), alert=True)

    def _handle(
        self, session: Session, u: GroupUpdate, now: datetime
    ) -> tuple[StaffOutcome, list[Outgoing]]:
        if u.data is not None:
            return self._button(session, u, now)
        text = (u.text or "").strip()
        group = str(u.chat_id)
        if text.lower().startswith("/lienket"):
            code = text.partition(" ")[2].strip()
            unit = store.use_link_code(session, code, u.chat_id, u.chat_title, u.user_id, now)
            reply = msg.STAFF_LINKED.format(unit=unit.name) if unit else msg.STAFF_LINK_REFUSED
            if unit is None:
                store.audit(session, f"telegram:{u.user_id}", "group.link_refused", group, {}, now)
            return StaffOutcome(), [(CHANNEL, group, _text(reply))]
        if text.lower().split("@")[0] == "/huy":
            if store.take_prompt(session, u.chat_id, u.user_id) is not None:
                return StaffOutcome(), [(CHANNEL, group, _text(msg.STAFF_PROMPT_CANCELLED))]
            return StaffOutcome(), []
        prompt = store.take_prompt(session, u.chat_id, u.user_id, now - PROMPT_TTL)
        if prompt is None or not text:
            return StaffOutcome(), []  # the group's own conversation
        row = session.get(Complaint, prompt.complaint_id)
        if row is None:
            return StaffOutcome(), []
        target, _, card = prompt.argument.partition("|")
        event: lc.Event
        if prompt.action == "answer":
            event = lc.Answer(text)
        elif prompt.action == "request_info":
            event = lc.RequestInfo(text)
        elif prompt.action == "reject":
            event = lc.Reject(text)
        else:
            event = lc.Transfer(target, text)
        return self._act(session, u, row, event, now, card=int(card) if card else None)

    def _button(
        self, session: Session, u: GroupUpdate, now: datetime
    ) -> tuple[StaffOutcome, list[Outgoing]]:
        data = u.data or ""
        pressed = _BUTTON.match(data)
        picked = _PICK.match(data)
        if pressed is None and picked is None:
            store.audit(
                session, f"telegram:{u.user_id}", "staff.forged_callback", data[:64], {}, now
            )
            return StaffOutcome(answer=msg.STAFF_REFUSED["unknown"], alert=True), []
        number = int((pressed or picked).group("id"))  # type: ignore[union-attr]
        row = session.get(Complaint, number)
        if row is None:
            store.audit(
                session, f"telegram:{u.user_id}", "staff.unknown_complaint", str(number), {}, now
            )
            return StaffOutcome(answer=msg.STAFF_REFUSED["unknown"], alert=True), []
        actor, staff = self._actor(session, u)
        facts = store.facts(row, self.desk.unit_code(session, row))
        group = str(u.chat_id)
        if pressed is not None and u.message_id and actor.via_unit == facts.unit:
            # The pressed message is this complaint's card in the holding unit's group:
            # later changes edit it in place, and the unit's notices answer under it.
            store.remember_card(session, number, u.chat_id, u.message_id)
        if picked is not None:
            target = store.unit_by_code(session, picked.group("unit"))
            if target is None:
                return self._refused(session, u, row, lc.Refusal.UNKNOWN_UNIT, now)
            if (refusal := _check(facts, "transfer", actor)) is not None:
                return self._refused(session, u, row, refusal, now)
            store.set_prompt(
                session,
                u.chat_id,
                u.user_id,
                number,
                "transfer",
                f"{target.code}|{u.message_id or ''}",
                now,
            )
            prompt = msg.STAFF_PROMPTS["transfer"].format(
                who=actor.label, code=row.code, unit=target.name
            )
            return StaffOutcome(answer=msg.STAFF_DONE), [(CHANNEL, group, _text(prompt))]
        assert pressed is not None
        key = pressed.group("key")
        if key == "acc":
            return self._act(session, u, row, lc.Accept(), now, card=u.message_id)
        if key == "ct":
            try:
                lc.check_staff(facts, actor)
            except lc.Refused as exc:
                return self._refused(session, u, row, exc.reason, now)
            store.audit(
                session,
                f"staff:{staff.id if staff else '?'}",
                "complaint.contact_viewed",
                row.code,
                {},
                now,
            )
            if row.contact_phone:
                shown = msg.STAFF_CONTACT.format(
                    code=row.code, name=row.contact_name, phone=row.contact_phone
                )
            else:
                shown = msg.STAFF_NO_CONTACT.format(code=row.code)
            return StaffOutcome(answer=shown, alert=True), []
        action = "transfer" if key == "tr" else _PROMPTED[key]
        if (refusal := _check(facts, action, actor)) is not None:
            return self._refused(session, u, row, refusal, now)
        if key == "tr":
            return StaffOutcome(answer=msg.STAFF_DONE), [
                (CHANNEL, group, self._unit_picker(session, row, facts))
            ]
        store.set_prompt(
            session, u.chat_id, u.user_id, number, action, f"|{u.message_id or ''}", now
        )
        prompt = msg.STAFF_PROMPTS[action].format(who=actor.label, code=row.code)
        return StaffOutcome(answer=msg.STAFF_DONE), [(CHANNEL, group, _text(prompt))]

    def _act(
        self,
        session: Session,
        u: GroupUpdate,
        row: Complaint,
        event: lc.Event,
        now: datetime,
        *,
        card: int | None,
    ) -> tuple[StaffOutcome, list[Outgoing]]:
        actor, staff = self._actor(session, u)
        result = self.desk.act(
            session,
            row,
            event,
            actor,
            now,
            staff_id=staff.id if staff else None,
            card_at=(u.chat_id, card) if card else None,
        )
        if result.refused is not None:
            return self._refused(session, u, row, result.refused, now, audited=True)
        return StaffOutcome(answer=msg.STAFF_DONE), result.outgoing

    def _actor(self, session: Session, u: GroupUpdate) -> tuple[lc.Actor, Staff | None]:
        staff = store.staff_by_telegram(session, u.user_id)
        group_unit = store.unit_of_group(session, u.chat_id)
        via = group_unit.code if group_unit else None
        if staff is None:
            return lc.Actor(
                lc.ActorKind.STAFF,
                id=f"telegram:{u.user_id}",
                name=u.user_name,
                via_unit=via,
                via_group=True,
            ), None
        unit = session.get(Unit, staff.unit_id) if staff.unit_id else None
        role = lc.Role(staff.role) if staff.role in lc.Role.__members__.values() else lc.Role.STAFF
        actor = lc.Actor(
            lc.ActorKind.STAFF,
            id=str(staff.id),
            name=staff.name,
            unit=unit.code if unit else None,
            role=role,
            active=staff.active,
            via_unit=via,
            via_group=True,
        )
        return actor, staff

    def _refused(
        self,
        session: Session,
        u: GroupUpdate,
        row: Complaint,
        reason: lc.Refusal,
        now: datetime,
        *,
        audited: bool = False,
    ) -> tuple[StaffOutcome, list[Outgoing]]:
        if not audited:
            store.audit(
                session,
                f"telegram:{u.user_id}",
                "complaint.refused",
                row.code,
                {"reason": reason.value, "chat": u.chat_id, "data": (u.data or "")[:64]},
                now,
            )
        status = msg.STATUS_LABELS.get(row.status, row.status)
        text = msg.STAFF_REFUSED.get(reason.value, msg.STAFF_REFUSED["unknown"])
        return StaffOutcome(answer=text.format(status=status), alert=True), []

    def _unit_picker(
        self, session: Session, row: Complaint, facts: lc.Complaint
    ) -> dict[str, object]:
        units = [
            u
            for u in session.exec(select(Unit)).all()
            if u.active
            and u.code != facts.unit
            and (u.kind in _TRANSFER_KINDS or u.code == row.ward_code)
        ]
        buttons = [{"label": u.name, "payload": f"kt:{row.id}:{u.code}"} for u in units]
        return {"text": msg.STAFF_PICK_UNIT.format(code=row.code), "buttons": buttons}


def _check(facts: lc.Complaint, action: str, actor: lc.Actor) -> lc.Refusal | None:
    try:
        lc.check(facts, action, actor)
    except lc.Refused as exc:
        return exc.reason
    return None


def _text(text: str) -> dict[str, object]:
    return {"text": text, "buttons": []}
