"""The web console's reads: accounts by e-mail, failed sign-ins (the throttle counts them in
the audit log, so every worker sees the same count), and a unit's inbox with its filters.
The rules of what an action does are not here: actions go through `bot.desk`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from complaints import lifecycle as lc
from storage.complaints import as_assignee
from storage.models import AuditLog, Complaint, Staff, Unit

LOGIN_FAILED = "console.login_failed"
PAGE_SIZE = 25


def staff_by_email(session: Session, email: str) -> Staff | None:
    """The account with this e-mail (stored lower-case)."""
    return session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()


def staff_by_id(session: Session, staff_id: int) -> Staff | None:
    return session.get(Staff, staff_id)


def failed_logins(
    session: Session, *, email: str, address: str, since: datetime
) -> tuple[int, int, datetime | None]:
    """Failed sign-ins since `since`: (for this account, from this address, the oldest of
    the counted ones, which says when the pause ends)."""
    recent = select(AuditLog.actor, AuditLog.subject, AuditLog.at).where(
        AuditLog.action == LOGIN_FAILED,
        AuditLog.at >= since,
        or_(AuditLog.actor == f"ip:{address}", AuditLog.subject == f"email:{email}"),  # type: ignore[arg-type]
    )
    by_account = by_address = 0
    oldest: datetime | None = None
    for actor, subject, at in session.execute(recent):
        by_address += actor == f"ip:{address}"
        by_account += subject == f"email:{email}"
        oldest = at if oldest is None or at < oldest else oldest
    return by_account, by_address, oldest


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows: `unit_id` None means every unit (admin)."""

    unit_id: int | None
    status: str = ""  # a status, "open", "closed" or "" (all)
    overdue: bool = False
    ward: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""
    page: int = 1
    assignee_id: int | None = None  # «assigned to me»: this staff member's only


@dataclass(frozen=True)
class InboxPage:
    rows: list[Complaint]
    total: int  # at most COUNT_CAP
    capped: bool  # more than COUNT_CAP match: `total` is a floor, the last page unknown
    page: int
    has_next: bool

    @property
    def pages(self) -> int | None:
        return None if self.capped else max(1, -(-self.total // PAGE_SIZE))


# Counting every match of a large unit costs a scan; past this many the inbox says "more
# than" and pages on with a "next" link, read from the index one page at a time.
COUNT_CAP = 1000


def inbox(session: Session, f: InboxFilter, now: datetime) -> InboxPage:
    """One page of complaints (not anonymous feedback), soonest due first (the index
    `ix_complaint_unit_due` gives a unit's in that order)."""
    query = select(Complaint).where(Complaint.code.is_not(None))  # type: ignore[union-attr]
    if f.unit_id is not None:
        query = query.where(Complaint.unit_id == f.unit_id)
    if f.status == "open":
        query = query.where(Complaint.status.in_([s.value for s in lc.OPEN]))  # type: ignore[attr-defined]
    elif f.status == "closed":
        query = query.where(Complaint.status.in_([s.value for s in lc.CLOSED]))  # type: ignore[attr-defined]
    elif f.status:
        query = query.where(Complaint.status == f.status)
    if f.overdue:
        query = query.where(
            Complaint.status.in_([s.value for s in lc.OPEN]),  # type: ignore[attr-defined]
            Complaint.due_at < now,
        )
    if f.assignee_id is not None:  # with the unit: ix_complaint_unit_assignee, due order
        query = query.where(Complaint.assignee_id == f.assignee_id)
    if f.ward:
        query = query.where(Complaint.ward_code == f.ward)
    if f.since is not None:
        query = query.where(Complaint.received_at >= f.since)
    if f.until is not None:
        query = query.where(Complaint.received_at < f.until)
    if f.text:
        # The masked text only: a search must not find a complaint by a phone number.
        needle = f.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Complaint.masked_text).like(f"%{needle}%", escape="\\"))
    counted = query.with_only_columns(Complaint.id).limit(COUNT_CAP + 1).subquery()  # type: ignore[call-overload]
    total = int(session.execute(select(func.count()).select_from(counted)).scalar_one())
    capped = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    page = max(1, f.page)
    if not capped:
        page = min(page, max(1, -(-total // PAGE_SIZE)))
    # The page's ids first, then their rows (a "deferred join"): the offset is skipped on the
    # index alone (`ix_complaint_unit_due_coded`, an index-only scan on PostgreSQL) instead
    # of reading every skipped row; the last of 4,000 pages of a unit: 270 -> 16 ms.
    order: tuple[Any, ...] = (Complaint.due_at, Complaint.id)
    ids = [
        int(i)
        for (i,) in session.execute(
            query.with_only_columns(Complaint.id)  # type: ignore[call-overload]
            .order_by(*order)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    ]
    rows = (
        list(
            session.exec(
                select(Complaint).where(Complaint.id.in_(ids)).order_by(*order)  # type: ignore[union-attr]
            ).all()
        )
        if ids
        else []
    )
    return InboxPage(rows[:PAGE_SIZE], total, capped, page, len(ids) > PAGE_SIZE)


def transfer_targets(session: Session, row: Complaint) -> list[Unit]:
    """The units a complaint can be transferred to: the Telegram card's picker's list."""
    kinds = ("so", "khac", "dich_vu")
    units = session.exec(select(Unit).where(Unit.active.is_(True))).all()  # type: ignore[attr-defined]
    return [
        u for u in units if u.id != row.unit_id and (u.kind in kinds or u.code == row.ward_code)
    ]


# --- assignment inside the unit ------------------------------------------------------------

ASSIGNABLE_ROLES = ("staff", "lead", "admin")


@dataclass(frozen=True)
class Colleague:
    id: int
    name: str
    role: str


def unit_staff(session: Session, unit_id: int) -> list[Colleague]:
    """The unit's active staff a lead may give a complaint to (the form's list), by name."""
    rows = session.exec(
        select(Staff)
        .where(
            Staff.unit_id == unit_id,
            Staff.active.is_(True),  # type: ignore[attr-defined]
            Staff.role.in_(ASSIGNABLE_ROLES),  # type: ignore[attr-defined]
        )
        .order_by(Staff.name, Staff.id)  # type: ignore[arg-type]
    ).all()
    return [Colleague(s.id or 0, s.name, s.role) for s in rows]


def assignee(session: Session, staff_id: int) -> lc.Assignee | None:
    """An account as the assignment rule sees it (`storage.complaints.as_assignee`); None when
    there is no such account."""
    staff = session.get(Staff, staff_id)
    if staff is None or staff.id is None:
        return None
    return as_assignee(session, staff)


def staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Names of the given accounts (an inbox page's assignees), in one query."""
    if not ids:
        return {}
    rows = session.exec(select(Staff.id, Staff.name).where(Staff.id.in_(ids)))  # type: ignore[union-attr]
    return {i: n for i, n in rows if i is not None}
