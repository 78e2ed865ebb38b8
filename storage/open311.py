"""What the Open311 GeoReport v2 API (bot/open311.py) reads and writes beyond the complaint
desk: the unit catalogue as services, the public listing of complaints with its filters,
the public note of a closed complaint, a consenting submitter's contact, and the erasure of a
submitter's personal data on request (`forget_submitter`, for the API and the CLI alike).

Complaints themselves are written by the desk, as every other intake's are.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, update
from sqlmodel import Session, col, select

from nlp.pii import EMAIL, NAME, PHONE, mask_pii
from storage.complaints import audit
from storage.models import (
    Citizen,
    Complaint,
    ComplaintEvent,
    ConsentRecord,
    OutboxMessage,
    RoutingExample,
    Unit,
    table,
)

CHANNEL = "open311"  # the origin (and channel) of every complaint filed through the API

# The staff actions whose note is the unit's public word to the citizen on a closed complaint.
CLOSING_ACTIONS = ("answer", "reject")


@dataclass(frozen=True)
class ServiceUnit:
    code: str
    name: str
    kind: str
    description: str
    parent_code: str | None


def services(session: Session) -> list[ServiceUnit]:
    """Every active unit, in catalogue order (by id)."""
    rows = session.exec(select(Unit).where(col(Unit.active).is_(True)).order_by(col(Unit.id))).all()
    return [ServiceUnit(u.code, u.name, u.kind, u.description, u.parent_code) for u in rows]


@dataclass(frozen=True)
class Filters:
    """The GeoReport v2 filters of `GET requests.json`, already checked."""

    codes: Sequence[str] = ()  # service_request_id: when given, every other filter is ignored
    unit_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: Collection[str] = ()
    offset: int = 0
    limit: int = 100


def listing(session: Session, f: Filters) -> list[tuple[Complaint, str, str]]:
    """(complaint, unit code, unit name) of the complaints with a tracking code that match,
    newest first. Anonymous feedback has no code and is never listed."""
    query = (
        select(Complaint, Unit.code, Unit.name)
        .join(Unit, col(Unit.id) == col(Complaint.unit_id))
        .where(col(Complaint.code).is_not(None))
    )
    if f.codes:
        query = query.where(col(Complaint.code).in_(list(f.codes)))
    else:
        if f.unit_code is not None:
            query = query.where(Unit.code == f.unit_code)
        if f.start is not None:
            query = query.where(col(Complaint.received_at) >= f.start)
        if f.end is not None:
            query = query.where(col(Complaint.received_at) <= f.end)
        if f.statuses:
            query = query.where(col(Complaint.status).in_(list(f.statuses)))
    query = (
        query.order_by(col(Complaint.received_at).desc(), col(Complaint.id).desc())
        .offset(f.offset)
        .limit(f.limit)
    )
    return [(row, str(code), str(name)) for row, code, name in session.exec(query).all()]


def closing_notes(session: Session, complaint_ids: Sequence[int]) -> dict[int, str]:
    """The note of each complaint's latest answer or rejection (unmasked: the caller masks)."""
    if not complaint_ids:
        return {}
    latest = (
        select(
            col(ComplaintEvent.complaint_id).label("cid"),
            func.max(ComplaintEvent.id).label("eid"),
        )
        .where(
            col(ComplaintEvent.complaint_id).in_(list(complaint_ids)),
            col(ComplaintEvent.action).in_(CLOSING_ACTIONS),
        )
        .group_by(col(ComplaintEvent.complaint_id))
        .subquery()
    )
    rows = session.exec(
        select(ComplaintEvent.complaint_id, ComplaintEvent.note).join(
            latest, col(ComplaintEvent.id) == latest.c.eid
        )
    ).all()
    return {int(cid): note for cid, note in rows if note}


def add_contact(
    session: Session,
    channel: str,
    external_id: str,
    name: str | None,
    phone: str | None,
    consent_text: str,
    at: datetime,
) -> int:
    """A citizen record for one consenting Open311 submitter (created only on consent, as
    every citizen record is), with the proof of consent; the desk copies name and phone onto
    the complaint as its contact."""
    citizen = Citizen(
        channel=channel,
        external_id=external_id,
        display_name=name[:200] if name else None,
        phone=phone[:32] if phone else None,
        consent_given_at=at,
        consent_text=consent_text,
        created_at=at,
    )
    session.add(citizen)
    session.flush()
    assert citizen.id is not None
    session.add(
        ConsentRecord(
            citizen_id=citizen.id, purpose="complaint_contact", text_shown=consent_text, at=at
        )
    )
    audit(session, f"citizen:{citizen.id}", "consent.given", "complaint_contact", {}, at)
    return citizen.id


def detach_chat(session: Session, row: Complaint) -> None:
    """An Open311 complaint has no chat to write to: later notices for the citizen are not
    queued (the submitter follows it with `GET requests/{id}.json`)."""
    row.external_id = None
    session.add(row)


# --- erasing a submitter's personal data ---------------------------------------------------------

_SEP = r"[\s.\-()]{0,3}"  # how people space a phone number: "0912 345 678", "(091) 234-5678"
_PUNCT = (" ", ".", "-", "(", ")", "+")  # stripped in SQL before looking for a phone's digits


def phone_pattern(phone: str) -> re.Pattern[str]:
    """A normalised number ("0912345678") as people write it: spaced or dotted, with 0, 84 or
    +84 in front."""
    body = _SEP.join(phone[1:])
    return re.compile(rf"(?<!\d)(?:\(?\+?84\)?{_SEP}(?:\(0\){_SEP})?|\(?0{_SEP}){body}(?!\d)")


def email_pattern(email: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.+-]){re.escape(email)}(?![\w-]|\.\w)", re.I)


# What the submitter wrote of their own contact, to mask wherever it was copied (a staff note
# quoting it): looser than nlp.pii's rules, since masking a number too many costs nothing here.
_EMAIL_IN_TEXT = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_IN_TEXT = re.compile(
    r"(?<![\d+])(?:\(?\+?84\)?|\(?0)[\s.\-()]{0,3}[1-9](?:[\s.\-()]{0,3}\d){7,9}(?!\d)"
)


def _written_phones(text: str) -> set[str]:
    """The numbers in a text, normalised as phones are (digits, a leading 0)."""
    found = set()
    for match in _PHONE_IN_TEXT.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        found.add("0" + digits[2:] if digits.startswith("84") else digits)
    return found


def _digits_only(column: Any) -> Any:
    """The column with the usual phone separators removed (SQLite has no regexp_replace)."""
    for char in _PUNCT:
        column = func.replace(column, char, "")
    return column


class _Scrubber:
    """Replaces one submitter's phone numbers, e-mail and names with the masks of nlp.pii."""

    def __init__(self) -> None:
        self.rules: list[tuple[re.Pattern[str], str]] = []

    def add(self, pattern: re.Pattern[str], mask: str) -> None:
        if all(p.pattern != pattern.pattern for p, _ in self.rules):
            self.rules.append((pattern, mask))

    def add_name(self, name: str | None) -> None:
        if name and len(name.strip()) >= 3:  # "An" alone would mask every "An" of a text
            self.add(re.compile(re.escape(name.strip())), NAME)

    def __call__(self, text: str) -> str:
        for pattern, mask in self.rules:
            text = pattern.sub(mask, text)
        return text

    def deep(self, value: Any) -> Any:
        """Every string inside a JSON value (an outbox payload, a photo list)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Forgotten:
    """What a deletion request changed: the Open311 requests (complaints) whose submitter's
    data was erased, and the citizen records (with their consent records) deleted."""

    requests: int
    citizens: int
    complaint_ids: tuple[int, ...] = ()  # their cards are redrawn (ComplaintDesk.redraw_cards)


def forget_submitter(
    session: Session,
    *,
    email: str | None,
    phone: str | None,
    actor: str,
    at: datetime,
    codes: Sequence[str] = (),
) -> Forgotten:
    """Erase an Open311 submitter's personal data, named by e-mail and/or phone (normalised:
    lower case; digits with a leading 0), optionally only on the requests `codes` names.

    The submitter's requests are those whose contact, citizen record or text holds that phone,
    or whose text holds that e-mail (the API never keeps an e-mail elsewhere). On each: the
    contact, the citizen link and record, the consent records go; the text is masked as `/xoa`
    masks it (nlp.pii, plus the submitter's own name); the same phone, e-mail and name are
    masked wherever the complaint was copied (its history's notes, the router's examples, the
    cards in the outbox). The complaint itself stays, with its place and photos, for the unit
    to handle. The audit log records the deletion by its counts and codes: no personal data."""
    if not email and not phone:
        raise ValueError("an e-mail or a phone is needed")
    email = email.strip().lower() if email else None
    scrub = _Scrubber()
    wanted: list[Any] = []
    if phone:
        scrub.add(phone_pattern(phone), PHONE)
        by_phone = select(Citizen.id).where(Citizen.channel == CHANNEL, Citizen.phone == phone)
        wanted += [
            Complaint.contact_phone == phone,
            col(Complaint.citizen_id).in_(by_phone),
            _digits_only(col(Complaint.text)).contains(phone[1:], autoescape=True),
        ]
    if email:
        scrub.add(email_pattern(email), EMAIL)
        wanted.append(func.lower(col(Complaint.text)).contains(email, autoescape=True))
    query = select(Complaint).where(Complaint.origin == CHANNEL, or_(*wanted))
    if codes:
        query = query.where(col(Complaint.code).in_(list(codes)))
    found = session.exec(query.order_by(col(Complaint.id)).with_for_update()).all()
    citizens = {
        c.id: c
        for c in session.exec(
            select(Citizen).where(
                col(Citizen.id).in_([r.citizen_id for r in found if r.citizen_id is not None])
            )
        ).all()
    }
    rows: list[Complaint] = []
    for row in found:
        citizen = citizens.get(row.citizen_id) if row.citizen_id is not None else None
        own = {row.contact_phone, citizen.phone if citizen else None}
        # The SQL above is a sieve (digits anywhere, any case): the patterns decide.
        if not (
            (phone and phone in own)
            or (phone and phone_pattern(phone).search(row.text))
            or (email and email_pattern(email).search(row.text))
        ):
            continue
        rows.append(row)
        # Their other details go too, wherever this request put them.
        for number in {n for n in own if n} | _written_phones(row.text):
            scrub.add(phone_pattern(number), PHONE)
        for address in _EMAIL_IN_TEXT.findall(row.text):
            scrub.add(email_pattern(address.lower()), EMAIL)
        scrub.add_name(row.contact_name)
        scrub.add_name(citizen.display_name if citizen else None)
    if not rows:
        return Forgotten(0, 0)
    ids = [r.id for r in rows if r.id is not None]
    gone = sorted({r.citizen_id for r in rows if r.citizen_id is not None})
    for row in rows:
        row.text = row.masked_text = mask_pii(scrub(row.text))
        if row.answer_text:
            row.answer_text = scrub(row.answer_text)
        row.contact_name = row.contact_phone = None
        row.citizen_id = None
        row.external_id = None
        row.photos = scrub.deep(row.photos)
        session.add(row)
    session.flush()
    for event in session.exec(
        select(ComplaintEvent).where(col(ComplaintEvent.complaint_id).in_(ids))
    ).all():
        note = scrub(event.note)
        event.note = mask_pii(note) if event.actor_kind == "citizen" else note
        event.actor_name = scrub(event.actor_name)
        session.add(event)
    for example in session.exec(
        select(RoutingExample).where(col(RoutingExample.complaint_id).in_(ids))
    ).all():
        example.masked_text = scrub(example.masked_text)
        session.add(example)
    _scrub_outbox(session, [r.code for r in rows if r.code], scrub)
    if gone:
        # Every Open311 submitter has a record of their own (bot/open311.py, add_contact).
        session.execute(
            update(table(Complaint))
            .where(table(Complaint).c.citizen_id.in_(gone))
            .values(citizen_id=None)
        )
        consent = table(ConsentRecord)
        session.execute(delete(consent).where(consent.c.citizen_id.in_(gone)))
        session.execute(delete(table(Citizen)).where(table(Citizen).c.id.in_(gone)))
    audit(
        session,
        actor,
        "open311.forgotten",
        None,
        {
            "by": [k for k, v in (("email", email), ("phone", phone)) if v],
            "requests": [r.code for r in rows],
            "citizens": gone,
        },
        at,
    )
    return Forgotten(len(rows), len(gone), tuple(r.id for r in rows if r.id is not None))


def _scrub_outbox(session: Session, codes: Sequence[str], scrub: _Scrubber) -> None:
    """The cards of these complaints, queued or sent, with the submitter's details masked (a
    card shows the masked text, in which a name may still stand)."""
    outbox = table(OutboxMessage)
    for start in range(0, len(codes), 100):
        chunk = codes[start : start + 100]
        rows = session.execute(
            select(outbox.c.id, outbox.c.payload).where(
                or_(*(cast(outbox.c.payload, Text).contains(code) for code in chunk))
            )
        ).all()
        for message_id, payload in rows:
            cleaned = scrub.deep(payload)
            if cleaned != payload:
                session.execute(
                    update(outbox).where(outbox.c.id == message_id).values(payload=cleaned)
                )
