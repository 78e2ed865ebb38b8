"""The console admin pages' reads and writes: stored questionnaire versions with their answer
counts, staff accounts (list, deactivate, reactivate, sign out everywhere), units with their
wards. Every write is audit-logged here, so the CLI and the console leave the same trail."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.complaints import audit, end_sessions, release_assignments
from storage.models import (
    Answer,
    QuestionnaireVersion,
    Staff,
    StaffInvitation,
    SurveyResponse,
    Unit,
)


@dataclass(frozen=True)
class StoredVersion:
    id: int
    code: str
    version: str
    title: str
    created_at: datetime
    answers: int


def questionnaire_versions(session: Session) -> list[StoredVersion]:
    """Every stored (code, version), with how many answers were given under it."""
    counts = dict(
        session.exec(
            select(SurveyResponse.questionnaire_id, func.count(col(Answer.id)))
            .join(Answer, col(Answer.response_id) == col(SurveyResponse.id))
            .group_by(col(SurveyResponse.questionnaire_id))
        ).all()
    )
    rows = session.exec(
        select(QuestionnaireVersion).order_by(
            col(QuestionnaireVersion.code), col(QuestionnaireVersion.created_at)
        )
    ).all()
    return [
        StoredVersion(r.id or 0, r.code, r.version, r.title, r.created_at, counts.get(r.id or 0, 0))
        for r in rows
    ]


def version_exists(session: Session, code: str, version: str) -> bool:
    return (
        session.exec(
            select(QuestionnaireVersion.id).where(
                QuestionnaireVersion.code == code, QuestionnaireVersion.version == version
            )
        ).first()
        is not None
    )


@dataclass(frozen=True)
class StaffRow:
    id: int
    name: str
    role: str
    unit_code: str | None
    telegram_linked: bool
    email: str | None
    active: bool


def staff_list(session: Session) -> list[StaffRow]:
    """Every staff account, active ones first, by name."""
    rows = session.exec(
        select(Staff, Unit.code)
        .join(Unit, col(Unit.id) == col(Staff.unit_id), isouter=True)
        .order_by(col(Staff.active).desc(), col(Staff.name), col(Staff.id))
    ).all()
    return [
        StaffRow(
            s.id or 0,
            s.name,
            s.role,
            code,
            s.telegram_user_id is not None,
            s.email,
            s.active,
        )
        for s, code in rows
    ]


def set_active(session: Session, staff_id: int, active: bool, actor: str) -> Staff | None:
    """Deactivate or reactivate an account; None when there is no such account. Either way
    its console sessions end for good: every request reads `active`, and the cut
    (`sessions_valid_after`) keeps a reactivation from reviving cookies issued before."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return None
    staff.active = active
    end_sessions(staff)
    session.add(staff)
    release_assignments(session, staff)
    action = "staff.reactivate" if active else "staff.remove"
    audit(session, actor, action, f"staff:{staff_id}", {})
    return staff


def sign_out_everywhere(session: Session, staff_id: int, actor: str) -> Staff | None:
    """End every console session of an account (a lost phone, a shared computer), audit-
    logged; None when there is no such account."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return None
    end_sessions(staff)
    session.add(staff)
    audit(session, actor, "staff.sessions_ended", f"staff:{staff_id}", {})
    return staff


def remove_staff_by_email(session: Session, email: str, actor: str = "cli") -> bool:
    """Deactivate the account with this console e-mail; False when there is none."""
    staff = session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()
    if staff is None or staff.id is None:
        return False
    set_active(session, staff.id, False, actor)
    return True


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    kind: str
    active: bool
    wards: int


def units_with_wards(session: Session) -> list[UnitRow]:
    """The catalogue's top-level units (wards are counted under their parent, not listed)."""
    wards = dict(
        session.exec(
            select(Unit.parent_code, func.count(col(Unit.id)))
            .where(col(Unit.parent_code).is_not(None))
            .group_by(col(Unit.parent_code))
        ).all()
    )
    rows = session.exec(
        select(Unit).where(col(Unit.parent_code).is_(None)).order_by(col(Unit.code))
    ).all()
    return [UnitRow(u.code, u.name, u.kind, u.active, wards.get(u.code, 0)) for u in rows]


# --- invitations: a one-time link to set a console password ---------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invitation(
    session: Session, staff_id: int, now: datetime, ttl: timedelta, actor: str
) -> str:
    """A one-time token for `staff_id` (only its hash is stored), audit-logged."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffInvitation(
            token_hash=_token_hash(token),
            staff_id=staff_id,
            expires_at=now + ttl,
            created_by=actor[:100],
            created_at=now,
        )
    )
    audit(
        session,
        actor,
        "staff.invite",
        f"staff:{staff_id}",
        {"expires_at": (now + ttl).isoformat()},
        now,
    )
    return token


def invited(session: Session, token: str, now: datetime) -> Staff | None:
    """The account an unused, unexpired invitation token is for; None otherwise."""
    row = session.get(StaffInvitation, _token_hash(token[:100]))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return session.get(Staff, row.staff_id)


def accept_invitation(
    session: Session, token: str, password_hash: str, now: datetime, address: str
) -> Staff | None:
    """Set the invited account's password and spend the token (once: the row is locked);
    None when the token is unknown, used or expired."""
    row = session.get(StaffInvitation, _token_hash(token[:100]), with_for_update=True)
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None:
        return None
    row.used_at = now
    staff.password_hash, staff.active = password_hash, True
    end_sessions(staff, now)  # a new password: sessions of an earlier one end
    session.add_all([row, staff])
    audit(session, f"staff:{staff.id}", "staff.invitation_used", f"ip:{address}", {}, now)
    return staff
