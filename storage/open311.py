"""What the Open311 GeoReport v2 API (bot/open311.py) reads and writes beyond the complaint
desk: the unit catalogue as services, the public listing of complaints with its filters,
the public note of a closed complaint, and a consenting submitter's contact.

Complaints themselves are written by the desk, as every other intake's are.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.complaints import audit
from storage.models import Citizen, Complaint, ComplaintEvent, ConsentRecord, Unit

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
