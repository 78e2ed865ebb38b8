"""Who is signed in to the console, and what their role lets them do.

Contract for the console's routers (the pages, the dashboard's JSON endpoints): take the user
with `Depends(current_user)` and check the role with `allow(user, ...)`. Tests replace
`current_user` through `app.dependency_overrides[current_user]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlmodel import Session

from console.sessions import SESSION_COOKIE, fingerprint
from storage.models import Staff, Unit

ROLES: tuple[str, ...] = ("staff", "lead", "analyst", "admin")


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in staff account (the `staff` table, shared with the Telegram staff)."""

    id: int
    name: str
    role: str  # staff | lead | analyst | admin
    unit_id: int | None = None
    unit_code: str | None = None


class LoginRequired(Exception):
    """No valid session: pages redirect to /console/login, JSON endpoints answer 401."""


def current_user(request: Request) -> ConsoleUser:
    """The signed-in user of this request: a valid session cookie (signature, age) of an
    account that is still active with the same password, issued after the account's last
    cut (`sessions_valid_after`). Read from the database on every request, so a deactivated
    account's session stops working at once, and stays ended when it is reactivated."""
    state = request.app.state.console
    if state.sessions is None:
        raise LoginRequired
    session = state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise LoginRequired
    with Session(state.engine) as db:
        staff = db.get(Staff, session.staff_id)
        if (
            staff is None
            or not staff.active
            or staff.password_hash is None
            or fingerprint(staff.password_hash) != session.fingerprint
            or not session.valid_after(staff.sessions_valid_after)
        ):
            raise LoginRequired
        unit = db.get(Unit, staff.unit_id) if staff.unit_id is not None else None
        user = ConsoleUser(
            id=session.staff_id,
            name=staff.name,
            role=staff.role,
            unit_id=staff.unit_id,
            unit_code=unit.code if unit else None,
        )
    request.state.console_session = session
    return user


def allow(user: ConsoleUser, *roles: str) -> None:
    """403 unless the user has one of `roles`."""
    if user.role not in roles:
        raise HTTPException(status_code=403, detail="not allowed for this role")
