"""Passwords (Argon2id), signed session cookies and CSRF tokens of the console.

A session is a signed, timestamped cookie holding the staff id, a random nonce and a short
fingerprint of the password hash: nothing is kept in server memory, so every worker reads
it, and a changed password ends the sessions opened with the old one. The account's
`sessions_valid_after` (set on deactivation, reactivation, a role, unit or password change,
«sign out everywhere») refuses every cookie whose signed issue time is before it, so a
reactivated account does not get its old cookies back. The CSRF token of a
session is an HMAC of its nonce (bound to the session); the sign-in form, which has no
session yet, uses a signed double-submit token instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from base.settings import Settings

MIN_PASSWORD = 12
SESSION_COOKIE = "hl_console"
LOGIN_COOKIE = "hl_console_login"
LOGIN_FORM_SECONDS = 3600
_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so a wrong address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a console password has at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def session_key(settings: Settings) -> bytes | None:
    """CONSOLE_SECRET, or a key derived from LINK_SECRET (HMAC with a fixed label, so the
    dossier links' key is never used as is); None when neither is set."""
    if settings.console_secret:
        return settings.console_secret.encode()
    if settings.link_secret:
        return hmac.new(
            settings.link_secret.encode(), b"hailong console sessions", "sha256"
        ).digest()
    return None


# A sign-in right after a cut waits for the cut's second at most this long (a longer wait
# means clocks that disagree: the cookie is issued, and refused until the cut has passed).
_MAX_WAIT = 1.0


@dataclass(frozen=True)
class Session:
    staff_id: int
    nonce: str
    fingerprint: str
    issued_at: datetime  # signed with the cookie (itsdangerous' timestamp, whole seconds)

    def valid_after(self, cut: datetime | None) -> bool:
        """Issued at or after the account's cut (None: no cut)."""
        return cut is None or self.issued_at >= cut


class Sessions:
    """Issues and reads session cookies and CSRF tokens with one key."""

    def __init__(self, key: bytes, hours: float) -> None:
        self.key = key
        self.max_age = int(hours * 3600)
        self._session = URLSafeTimedSerializer(key, salt="hailong.console.session")
        self._login = URLSafeTimedSerializer(key, salt="hailong.console.login")

    def issue(
        self, staff_id: int, password_hash: str | None, not_before: datetime | None = None
    ) -> str:
        """A session cookie. `not_before`: the account's cut (a whole second); a cookie stamped
        before it would be refused, so the sign-in waits until then (under a second)."""
        if not_before is not None:
            wait = not_before.timestamp() - time.time()
            if wait > 0:
                time.sleep(min(wait, _MAX_WAIT))
        nonce = secrets.token_urlsafe(16)
        return self._session.dumps([staff_id, nonce, fingerprint(password_hash)])

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie still valid (signature and age), or None."""
        if not cookie:
            return None
        try:
            data: Any
            data, issued = self._session.loads(cookie, max_age=self.max_age, return_timestamp=True)
            staff_id, nonce, fp = data
            return Session(int(staff_id), str(nonce), str(fp), issued)
        except (BadSignature, ValueError, TypeError):
            return None

    def csrf(self, session: Session) -> str:
        return hmac.new(self.key, f"csrf:{session.nonce}".encode(), "sha256").hexdigest()

    def csrf_ok(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(self.csrf(session), token or "")

    # The sign-in form: the cookie holds a nonce, the form its signed copy.
    def login_nonce(self) -> tuple[str, str]:
        nonce = secrets.token_urlsafe(16)
        return nonce, self._login.dumps(nonce)

    def login_ok(self, cookie: str | None, token: str) -> bool:
        if not cookie or not token:
            return False
        try:
            nonce = self._login.loads(token, max_age=LOGIN_FORM_SECONDS)
        except BadSignature:
            return False
        return hmac.compare_digest(str(nonce), cookie)
