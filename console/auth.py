"""Who is signed in to the console, and what their role lets them do.

Contract for the console's routers (the pages, the dashboard's JSON endpoints): take the user
with `Depends(current_user)` and check the role with `allow(user, ...)`. Tests replace
`current_user` through `app.dependency_overrides[current_user]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

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
    """The signed-in user of this request (sessions: see the session module)."""
    raise LoginRequired


def allow(user: ConsoleUser, *roles: str) -> None:
    """403 unless the user has one of `roles`."""
    if user.role not in roles:
        raise HTTPException(status_code=403, detail="not allowed for this role")
