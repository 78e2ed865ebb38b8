"""Complaints in the database: numbering, rows and their history, staff, unit groups, link
codes, the scheduler's claim, and erasing a citizen's part. The rules are not here: they are
in `complaints.lifecycle`; this module stores what a `Change` says.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from complaints import lifecycle as lc
from storage.models import (
    AuditLog,
    Citizen,
    Complaint,
    ComplaintCard,
    ComplaintEvent,
    ComplaintPhotoMessage,
    ComplaintSequence,
    ConsentRecord,
    Dossier,
    LinkCode,
    OutboxMessage,
    OutboxStatus,
    RoutingExample,
    Staff,
    StaffPrompt,
    Unit,
    UnitGroup,
    Upload,
    table,
)
from storage.types import utcnow

_seq = table(ComplaintSequence)
_complaint = table(Complaint)
_outbox = table(OutboxMessage)
_unit = table(Unit)
_upload = table(Upload)
_event = table(ComplaintEvent)


class StaleComplaint(Exception):
    """Another action changed the complaint since it was read: redo the action."""


# --- numbering ---------------------------------------------------------------------------------


def next_number(session: Session, year: int) -> int:
    """The next tracking number of `year`. The upsert locks the year's row until commit, so
    concurrent intakes queue for it and a rolled-back one gives its number back: no gaps."""
    insert_ = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    stmt = (
        insert_(_seq)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=[_seq.c.year], set_={"last": _seq.c.last + 1})
        .returning(_seq.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def tracking_code(year: int, number: int) -> str:
    return f"PA-{year:04d}-{number:06d}"


# --- units, groups, staff ------------------------------------------------------------------------


def unit_by_code(session: Session, code: str) -> Unit | None:
    return session.exec(select(Unit).where(Unit.code == code)).first()


def unit_names(session: Session) -> dict[str, str]:
    return {c: n for c, n in session.execute(select(_unit.c.code, _unit.c.name))}


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Units:
    """Every unit, by code and by id: the catalogue changes rarely, a complaint reads it often."""

    by_code: dict[str, UnitRef]
    by_id: dict[int, UnitRef]


def all_units(session: Session) -> Units:
    refs = [
        UnitRef(int(i), c, n)
        for i, c, n in session.execute(select(_unit.c.id, _unit.c.code, _unit.c.name))
    ]
    return Units({r.code: r for r in refs}, {r.id: r for r in refs})


def groups_of_unit(session: Session, unit_id: int) -> list[int]:
    rows = session.execute(select(UnitGroup.chat_id).where(UnitGroup.unit_id == unit_id))
    return [int(r[0]) for r in rows]


def unit_of_group(session: Session, chat_id: int) -> Unit | None:
    group = session.get(UnitGroup, chat_id)
    return session.get(Unit, group.unit_id) if group is not None else None


def staff_by_telegram(session: Session, user_id: int) -> Staff | None:
    return session.exec(select(Staff).where(Staff.telegram_user_id == user_id)).first()


def leads_of_unit(session: Session, unit_id: int) -> list[Staff]:
    query = select(Staff).where(
        Staff.unit_id == unit_id,
        Staff.role == "lead",
        Staff.active.is_(True),  # type: ignore[attr-defined]
    )
    return list(session.exec(query).all())


def end_sessions(staff: Staff, at: datetime | None = None) -> None:
    """Refuse the account's console sessions issued before `at` (now). A cookie's issue time
    has whole seconds (itsdangerous): the cut is rounded up to the next second, so a cookie
    of this very second is refused too, and a sign-in waits for that second to pass
    (`console.sessions.Sessions.issue`)."""
    at = at or utcnow()
    cut = at.replace(microsecond=0) + timedelta(seconds=1 if at.microsecond else 0)
    before = staff.sessions_valid_after
    staff.sessions_valid_after = cut if before is None else max(before, cut)


def add_staff(
    session: Session,
    *,
    name: str,
    unit_code: str | None,
    role: str,
    telegram_id: int | None,
    email: str | None = None,
    at: datetime | None = None,
    password_hash: str | None = None,
) -> Staff:
    """Register a staff member (or update the one with this Telegram id, else this e-mail),
    audit-logged. With `email` and `password_hash` the account can sign in to the console."""
    unit = None
    if unit_code is not None:
        unit = unit_by_code(session, unit_code)
        if unit is None:
            raise LookupError(f"unknown unit {unit_code!r}")
    email = email.strip().lower() if email else None
    staff = staff_by_telegram(session, telegram_id) if telegram_id is not None else None
    by_email = session.exec(select(Staff).where(Staff.email == email)).first() if email else None
    if by_email is not None and staff is not None and by_email.id != staff.id:
        raise ValueError(f"e-mail {email} belongs to another staff member (id {by_email.id})")
    staff = staff or by_email
    if staff is None:
        staff = Staff(name=name, telegram_user_id=telegram_id, email=email)
    unit_id = unit.id if unit is not None else None
    if staff.id is not None and (
        staff.role != role
        or staff.unit_id != unit_id
        or not staff.active
        or (password_hash is not None and password_hash != staff.password_hash)
    ):
        end_sessions(staff, at)  # a session of the old role, unit or password ends
    if telegram_id is not None:
        staff.telegram_user_id = telegram_id
    if email is not None:
        staff.email = email
    if password_hash is not None:
        staff.password_hash = password_hash
    staff.name, staff.role, staff.active = name, role, True
    staff.unit_id = unit_id
    session.add(staff)
    session.flush()
    release_assignments(session, staff, at)  # moved to another unit, or no longer staff
    detail: dict[str, Any] = {"unit": unit_code, "role": role}
    if email is not None:
        detail["console_login"] = password_hash is not None
    audit(session, "cli", "staff.add", f"staff:{staff.id}", detail, at)
    return staff


def remove_staff(session: Session, telegram_id: int, at: datetime | None = None) -> bool:
    staff = staff_by_telegram(session, telegram_id)
    if staff is None:
        return False
    staff.active = False
    end_sessions(staff, at)
    session.add(staff)
    release_assignments(session, staff, at)
    audit(session, "cli", "staff.remove", f"staff:{staff.id}", {}, at)
    return True


def as_assignee(session: Session, staff: Staff) -> lc.Assignee:
    """A staff member as the assignment rule sees them (unit code, role, active). A role the
    rules do not know counts as an analyst's."""
    unit = session.get(Unit, staff.unit_id) if staff.unit_id is not None else None
    roles = {r.value for r in lc.Role}
    role = lc.Role(staff.role) if staff.role in roles else lc.Role.ANALYST
    return lc.Assignee(str(staff.id), staff.name, unit.code if unit else None, role, staff.active)


def release_assignments(session: Session, staff: Staff, at: datetime | None = None) -> int:
    """After an account changed (deactivated, moved to another unit, another role): its open
    complaints it may no longer hold (`lc.assignee_fits`) go back to nobody, each with a
    history row (`lc.release`). How many."""
    if staff.id is None:
        return 0
    now = at or utcnow()
    session.flush()
    rows = session.exec(
        select(Complaint).where(
            Complaint.assignee_id == staff.id,
            Complaint.status.in_([s.value for s in lc.OPEN]),  # type: ignore[attr-defined]
        )
    ).all()
    who = as_assignee(session, staff)
    released = 0
    for row in rows:
        before = facts(row, unit_code_of(session, row))
        if lc.assignee_fits(before, who):
            continue
        change = lc.release(before, now)
        result = session.execute(
            update(_complaint)
            .where(_complaint.c.id == row.id, _complaint.c.version == row.version)
            .values(assignee_id=None, version=row.version + 1, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleComplaint(row.code or str(row.id))
        row.assignee_id, row.version = None, row.version + 1
        add_history(session, row, change.history)
        # The unit's cards name the assignee: the caller has them redrawn (take_released).
        session.info.setdefault(_RELEASED, {})[row.id] = change.history
        released += 1
    return released


_RELEASED = "hailong.released_complaints"


def take_released(session: Session) -> dict[int, lc.HistoryEntry]:
    """The complaints `release_assignments` gave back in this session (id -> its history
    entry), forgotten once taken: `ComplaintDesk.redraw_released` redraws their cards."""
    taken: dict[int, lc.HistoryEntry] = session.info.pop(_RELEASED, {})
    return taken


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_link_code(session: Session, unit_id: int, now: datetime, ttl: timedelta) -> str:
    """A one-time code for `/lienket CODE`; only its hash is stored."""
    code = "-".join(secrets.token_hex(2).upper() for _ in range(3))
    session.add(
        LinkCode(code_hash=_hash(code), unit_id=unit_id, expires_at=now + ttl, created_at=now)
    )
    return code


def use_link_code(
    session: Session, code: str, chat_id: int, title: str, user_id: int, now: datetime
) -> Unit | None:
    """Link the group to the code's unit; None when the code is unknown, used or expired."""
    row = session.get(LinkCode, _hash(code), with_for_update=True)
    if row is None or row.used_at is not None or row.expires_at < now:
        return None
    row.used_at, row.used_by_chat = now, chat_id
    group = session.get(UnitGroup, chat_id)
    if group is None:
        group = UnitGroup(chat_id=chat_id, unit_id=row.unit_id)
    group.unit_id, group.title, group.linked_by, group.linked_at = (
        row.unit_id,
        title[:200],
        user_id,
        now,
    )
    session.add_all([row, group])
    audit(
        session,
        f"telegram:{user_id}",
        "group.linked",
        f"chat:{chat_id}",
        {"unit_id": row.unit_id},
        now,
    )
    return session.get(Unit, row.unit_id)


# --- staff prompts (an answer's text typed after pressing a card's button) ----------------------


def set_prompt(
    session: Session,
    chat_id: int,
    user_id: int,
    complaint_id: int,
    action: str,
    argument: str = "",
    at: datetime | None = None,
) -> None:
    prompt = session.get(StaffPrompt, (chat_id, user_id)) or StaffPrompt(
        chat_id=chat_id, user_id=user_id, complaint_id=complaint_id, action=action
    )
    prompt.complaint_id, prompt.action, prompt.argument = complaint_id, action, argument
    prompt.created_at = at or utcnow()
    session.add(prompt)


def take_prompt(
    session: Session, chat_id: int, user_id: int, newer_than: datetime | None = None
) -> StaffPrompt | None:
    """The staff member's pending prompt in this group, taken (deleted); one older than
    `newer_than` is dropped unused, so an old button does not capture a later message."""
    prompt = session.get(StaffPrompt, (chat_id, user_id))
    if prompt is None:
        return None
    session.delete(prompt)
    if newer_than is not None and prompt.created_at < newer_than:
        return None
    return prompt


# --- complaints ----------------------------------------------------------------------------------


def by_key(session: Session, key: str) -> Complaint | None:
    return session.exec(select(Complaint).where(Complaint.key == key)).first()


def by_code(session: Session, code: str) -> Complaint | None:
    return session.exec(select(Complaint).where(Complaint.code == code)).first()


def save_new(session: Session, values: dict[str, Any], existing: int | None) -> Complaint:
    """Insert a new complaint (or turn feedback kept under the same key into it) with Core
    statements, then load it. Building a SQLModel object validates every field and calls
    each default factory (~0.5 ms for this table, measured): more than the whole insert."""
    if existing is None:
        cid = session.execute(
            insert(_complaint).values(values).returning(_complaint.c.id)
        ).scalar_one()
    else:
        session.execute(update(_complaint).where(_complaint.c.id == existing).values(values))
        cid = existing
    row = session.get(Complaint, cid, populate_existing=True)
    assert row is not None
    return row


def facts(row: Complaint, unit_code: str) -> lc.Complaint:
    """The complaint as the rules see it."""
    return lc.Complaint(
        status=lc.Status(row.status),
        unit=unit_code,
        track=lc.Track(row.track),
        received_at=row.received_at,
        due_at=row.due_at,
        code=row.code,
        anonymous=row.anonymous,
        units_involved=tuple(row.units_involved),
        predicted_unit=row.predicted_unit,
        accepted_at=row.accepted_at,
        answered_at=row.answered_at,
        closed_at=row.closed_at,
        reopened=row.reopened,
        transfers=row.transfers,
        satisfied=row.satisfied,
        reminded=row.reminded,
        escalated=row.escalated,
        triage_alarmed=row.triage_alarmed,
        assignee=str(row.assignee_id) if row.assignee_id is not None else None,
    )


def unit_code_of(session: Session, row: Complaint) -> str:
    unit = session.get(Unit, row.unit_id)
    assert unit is not None
    return unit.code


def write_facts(
    session: Session,
    row: Complaint,
    new: lc.Complaint,
    policy: lc.Policy,
    now: datetime,
    unit_id: int,
) -> None:
    """Copy the rules' fields onto the row (`unit_id`: the unit `new.unit` names), checking
    nobody changed it since it was read."""
    values: dict[str, Any] = {
        "status": new.status.value,
        "unit_id": unit_id,
        "units_involved": list(new.units_involved),
        "due_at": new.due_at,
        "accepted_at": new.accepted_at,
        "answered_at": new.answered_at,
        "closed_at": new.closed_at,
        "satisfied": new.satisfied,
        "reopened": new.reopened,
        "transfers": new.transfers,
        "reminded": new.reminded,
        "escalated": new.escalated,
        "triage_alarmed": new.triage_alarmed,
        "assignee_id": int(new.assignee) if new.assignee is not None else None,
        "next_check_at": lc.next_check(new, policy),
        "version": row.version + 1,
        "updated_at": now,
    }
    if new.status is lc.Status.RATED and row.rated_at is None:
        values["rated_at"] = now
    result = session.execute(
        update(_complaint)
        .where(_complaint.c.id == row.id, _complaint.c.version == row.version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleComplaint(row.code or str(row.id))
    for name, value in values.items():
        setattr(row, name, value)


def add_history(
    session: Session, row: Complaint, entry: lc.HistoryEntry, staff_id: int | None = None
) -> None:
    assert row.id is not None
    session.execute(  # Core, not a SQLModel object: see `save_new`
        insert(_event).values(
            complaint_id=row.id,
            at=entry.at,
            action=entry.action,
            actor_kind=entry.actor.kind.value,
            staff_id=staff_id,
            actor_name=entry.actor.name[:200],
            from_status=entry.from_status.value if entry.from_status else None,
            to_status=entry.to_status.value,
            from_unit=entry.from_unit,
            to_unit=entry.to_unit,
            note=entry.note,
        )
    )


def add_examples(
    session: Session, row: Complaint, examples: Sequence[lc.LearnExample], at: datetime
) -> None:
    assert row.id is not None
    for ex in examples:
        session.add(
            RoutingExample(
                complaint_id=row.id,
                at=at,
                masked_text=row.masked_text,
                predicted_unit=ex.predicted_unit,
                final_unit=ex.final_unit,
                reason=ex.reason,
            )
        )


def history(session: Session, complaint_id: int) -> list[ComplaintEvent]:
    query = (
        select(ComplaintEvent)
        .where(ComplaintEvent.complaint_id == complaint_id)
        .order_by(ComplaintEvent.at, ComplaintEvent.id)  # type: ignore[arg-type]
    )
    return list(session.exec(query).all())


def of_chat(session: Session, channel: str, external_id: str, limit: int = 5) -> list[Complaint]:
    """A chat's complaints (with a code: not anonymous feedback), newest first."""
    query = (
        select(Complaint)
        .where(
            Complaint.channel == channel,
            Complaint.external_id == external_id,
            Complaint.code.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(limit)
    )
    return list(session.exec(query).all())


def due_for_check(session: Session, now: datetime, limit: int) -> list[Complaint]:
    """Complaints the scheduler must look at now, locked for this transaction; rows another
    worker holds are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer)."""
    query = (
        select(Complaint)
        .where(Complaint.next_check_at.is_not(None), Complaint.next_check_at <= now)  # type: ignore[union-attr,operator]
        .order_by(Complaint.next_check_at)  # type: ignore[arg-type]
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(query).all())


def dossier_unit(session: Session, dossier_code: str) -> tuple[int, int] | None:
    """(dossier id, unit id) of a dossier code."""
    row = session.execute(
        select(Dossier.id, Dossier.unit_id).where(Dossier.code == dossier_code)
    ).first()
    return (int(row[0]), int(row[1])) if row else None


# --- contact details and erasure ------------------------------------------------------------


def save_contact(
    session: Session,
    channel: str,
    external_id: str,
    name: str,
    phone: str,
    text_shown: str,
    at: datetime,
) -> int | None:
    """Keep name and phone on the citizen's record, with proof of consent for this purpose."""
    citizen = session.exec(
        select(Citizen).where(Citizen.channel == channel, Citizen.external_id == external_id)
    ).first()
    if citizen is None or citizen.id is None:
        return None
    citizen.display_name, citizen.phone = name[:200], phone[:32]
    session.add(citizen)
    session.add(
        ConsentRecord(
            citizen_id=citizen.id, purpose="complaint_contact", text_shown=text_shown, at=at
        )
    )
    audit(session, f"citizen:{citizen.id}", "consent.given", "complaint_contact", {}, at)
    return citizen.id


def contact_of(
    session: Session, channel: str, external_id: str
) -> tuple[int | None, str | None, str | None]:
    citizen = session.exec(
        select(Citizen).where(Citizen.channel == channel, Citizen.external_id == external_id)
    ).first()
    if citizen is None:
        return None, None, None
    return citizen.id, citizen.display_name, citizen.phone


def forget(
    session: Session, channel: str, external_id: str, mask: Any, at: datetime
) -> list[int]:
    """Erase a citizen's part of their complaints (chat, contact details, photos, location;
    the text masked) and drop every outbox message still waiting for that chat. The
    complaints stay for the unit's record and the statistics. Returns their ids (their
    cards are redrawn: `ComplaintDesk.redraw_cards`)."""
    rows = list(
        session.exec(
            select(Complaint).where(
                Complaint.channel == channel, Complaint.external_id == external_id
            )
        ).all()
    )
    for row in rows:
        row.text = row.masked_text = mask(row.text)
        row.channel = row.external_id = None
        row.citizen_id = None
        row.contact_name = row.contact_phone = None
        row.latitude = row.longitude = None
        row.photos = []
        session.add(row)
    for event in (
        session.exec(
            select(ComplaintEvent).where(
                ComplaintEvent.complaint_id.in_([r.id for r in rows]),  # type: ignore[attr-defined]
                ComplaintEvent.actor_kind == "citizen",
            )
        ).all()
        if rows
        else []
    ):
        event.note = mask(event.note)
        session.add(event)
    session.execute(
        delete(_outbox).where(_outbox.c.channel == channel, _outbox.c.recipient == external_id)
    )
    session.execute(
        delete(_upload).where(_upload.c.channel == channel, _upload.c.external_id == external_id)
    )
    cid = session.execute(
        select(Citizen.id).where(Citizen.channel == channel, Citizen.external_id == external_id)
    ).scalar_one_or_none()
    if cid is not None:
        session.execute(
            delete(table(ConsentRecord)).where(table(ConsentRecord).c.citizen_id == cid)
        )
    return [r.id for r in rows if r.id is not None]


def audit(
    session: Session,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
    at: datetime | None = None,
) -> None:
    session.add(
        AuditLog(
            at=at or utcnow(), actor=actor[:100], action=action, subject=subject, detail=detail
        )
    )


# --- photos uploaded in the web chat ----------------------------------------------------------


def save_upload(
    session: Session, key: str, channel: str, external_id: str, content_type: str, data: bytes
) -> None:
    """Keep an uploaded photo under `key` (a retried request stores it once)."""
    if session.get(Upload, key) is None:
        session.add(
            Upload(
                key=key,
                channel=channel,
                external_id=external_id,
                content_type=content_type,
                size=len(data),
                data=data,
            )
        )


def load_upload(session: Session, key: str) -> tuple[str, bytes] | None:
    row = session.get(Upload, key)
    return (row.content_type, row.data) if row is not None else None


# --- where the cards are -------------------------------------------------------------------


def remember_card(session: Session, complaint_id: int, chat_id: int, message_id: int) -> None:
    """The card of a complaint is this message of this group (delivered there, or its
    buttons pressed there): later changes edit it in place."""
    insert_ = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    card = table(ComplaintCard)
    values = {
        "complaint_id": complaint_id,
        "chat_id": chat_id,
        "message_id": message_id,
        "updated_at": utcnow(),
    }
    # An upsert: two staff pressing the same card at once must not collide on the key.
    session.execute(
        insert_(card)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[card.c.complaint_id, card.c.chat_id],
            set_={"message_id": message_id, "updated_at": values["updated_at"]},
        )
    )


def remember_photo(session: Session, complaint_id: int, chat_id: int, message_id: int) -> None:
    """A photo of the complaint was delivered as this message of this group."""
    if session.get(ComplaintPhotoMessage, (complaint_id, chat_id, message_id)) is None:
        session.add(
            ComplaintPhotoMessage(complaint_id=complaint_id, chat_id=chat_id, message_id=message_id)
        )


def remember_delivery(
    session: Session, kind: str, complaint_id: int, chat_id: int, message_id: int
) -> None:
    """Where a complaint's card (`kind` "card") or photo ("photo") landed: the sender
    records it with the platform's acknowledgement."""
    remember = remember_card if kind == "card" else remember_photo
    remember(session, complaint_id, chat_id, message_id)


def take_photo_messages(
    session: Session, complaint_ids: Sequence[int], channel: str
) -> list[tuple[int, int]]:
    """(chat, message) of these complaints' delivered photo messages, forgotten once taken
    (to be deleted there), and their photo messages still waiting in `channel`'s outbox
    dropped (one scan of it for all the complaints)."""
    wanted = set(complaint_ids)
    rows = session.exec(
        select(ComplaintPhotoMessage).where(
            col(ComplaintPhotoMessage.complaint_id).in_(wanted)
        )
    ).all()
    found = [(row.chat_id, row.message_id) for row in rows]
    for row in rows:
        session.delete(row)
    waiting = session.execute(
        select(_outbox.c.id, _outbox.c.payload).where(
            _outbox.c.status == OutboxStatus.PENDING.value, _outbox.c.channel == channel
        )
    ).all()
    drop = [i for i, payload in waiting if (payload or {}).get("complaint_photo") in wanted]
    if drop:
        session.execute(delete(_outbox).where(_outbox.c.id.in_(drop)))
    return found


def assignee_name(session: Session, row: Complaint) -> str:
    """The name of the staff member the complaint is assigned to, or "" (nobody)."""
    if row.assignee_id is None:
        return ""
    staff = session.get(Staff, row.assignee_id)
    return staff.name if staff is not None else ""


def cards_of(session: Session, complaint_id: int) -> dict[int, int]:
    """chat id → message id of the complaint's known cards."""
    rows = session.exec(select(ComplaintCard).where(ComplaintCard.complaint_id == complaint_id))
    return {card.chat_id: card.message_id for card in rows}
