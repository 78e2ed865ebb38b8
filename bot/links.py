"""Signed dossier links: the token a citizen's QR code or deep link carries.

A token names a registered dossier by its database id and carries an expiry and a MAC:

    base64url( version:1 byte | dossier id:8 bytes | expiry:4 bytes (Unix seconds) | mac:16 )

39 characters of `A-Za-z0-9_-`, inside Telegram's 64-character `/start` payload. The MAC is
HMAC-SHA256 (LINK_SECRET) over the dossier's id, code, unit code, procedure code and the
expiry, truncated to 128 bits. The code, unit and procedure stay on the server: the token
shows only a number, and changing any of them (or the expiry) breaks the MAC.

The expiry is fixed at registration (registered_at + LINK_TTL_DAYS), so registering the same
dossier again hands out the very same links.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlmodel import Session

from base.settings import Settings
from bot.service import PayloadResolver
from storage import dossiers
from storage.dossiers import DossierRef
from storage.types import utcnow

log = logging.getLogger(__name__)

VERSION = 1
_LAYOUT = struct.Struct(">BQI")  # version, dossier id, expiry
_MAC_BYTES = 16
TOKEN_LENGTH = len(base64.urlsafe_b64encode(bytes(_LAYOUT.size + _MAC_BYTES)).rstrip(b"="))
MAX_EXPIRY = datetime.fromtimestamp(2**32 - 1, UTC)


class LinkSecretMissing(RuntimeError):
    """LINK_SECRET is empty: links can be neither issued nor checked."""


@dataclass(frozen=True)
class ParsedToken:
    """The readable part of a token; nothing in it is trusted before `check` passes."""

    dossier_id: int
    expires_at: datetime
    mac: bytes


@dataclass(frozen=True)
class DossierLinks:
    """What a citizen is handed for one dossier. A channel not configured gives None."""

    token: str
    expires_at: datetime
    web: str
    telegram: str | None
    zalo: str | None


def _mac(secret: str, dossier: DossierRef, expiry: int) -> bytes:
    # JSON makes the message unambiguous whatever characters the codes contain.
    message = json.dumps(
        ["hailong-dossier-link", VERSION, dossier.id, dossier.code, dossier.unit_code,
         dossier.procedure_code, expiry],
        ensure_ascii=False,
    ).encode()  # fmt: skip
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_MAC_BYTES]


def expiry_of(dossier: DossierRef, ttl_days: int) -> datetime:
    """When links to this dossier stop working: registration time plus the TTL, to the second."""
    expires = dossier.registered_at.astimezone(UTC) + timedelta(days=ttl_days)
    return min(expires.replace(microsecond=0), MAX_EXPIRY)


def sign(secret: str, dossier: DossierRef, expires_at: datetime) -> str:
    """The token for a dossier, valid until `expires_at`."""
    if not secret:
        raise LinkSecretMissing("LINK_SECRET is not set: dossier links cannot be signed")
    expiry = int(expires_at.timestamp())
    raw = _LAYOUT.pack(VERSION, dossier.id, expiry) + _mac(secret, dossier, expiry)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse(token: str) -> ParsedToken | None:
    """Split a token into its fields, or None when it is not a well-formed token."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # b64decode ignores some malformed input: insist the token is exactly the canonical one.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        return None
    version, dossier_id, expiry = _LAYOUT.unpack_from(raw)
    if version != VERSION:
        return None
    return ParsedToken(dossier_id, datetime.fromtimestamp(expiry, UTC), raw[_LAYOUT.size :])


def check(secret: str, parsed: ParsedToken, dossier: DossierRef, now: datetime) -> str | None:
    """Why the token must be refused for this dossier ("bad signature", "expired"), or None."""
    expected = _mac(secret, dossier, int(parsed.expires_at.timestamp()))
    if not hmac.compare_digest(expected, parsed.mac):
        return "bad signature"
    if now >= parsed.expires_at:
        return "expired"
    return None


def links_for(settings: Settings, dossier: DossierRef) -> DossierLinks:
    """The signed token and the web, Telegram and Zalo links for a dossier."""
    expires_at = expiry_of(dossier, settings.link_ttl_days)
    token = sign(settings.link_secret, dossier, expires_at)
    base = settings.public_base_url.rstrip("/")
    bot = settings.telegram_bot_username.strip().lstrip("@")
    telegram = f"https://t.me/{quote(bot)}?start={token}" if bot else None
    zalo = None
    if settings.zalo_oa_id:
        zalo = settings.zalo_link_template.format(oa_id=quote(settings.zalo_oa_id), token=token)
    return DossierLinks(token, expires_at, f"{base}/?d={token}", telegram, zalo)


def make_resolver(settings: Settings, clock: Callable[[], datetime] = utcnow) -> PayloadResolver:
    """A resolver for `ConversationService.handle`: a valid token → its dossier code.

    Malformed, tampered, unknown and expired tokens give None (the engine then tells the
    citizen politely) and a warning naming the reason; the secret is never logged.
    """
    secret = settings.link_secret

    def resolve(session: Session, payload: str) -> str | None:
        # Not the payload itself: it may be whatever a person typed after /start (a name, a
        # phone number). Its length and a digest are enough to match a reported problem.
        digest = hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()[:12]
        shown = f"{len(payload)} characters, sha256 {digest}"
        if not secret:
            log.warning("dossier link refused (LINK_SECRET not set): %s", shown)
            return None
        parsed = parse(payload)
        if parsed is None:
            log.warning("dossier link refused (malformed): %s", shown)
            return None
        dossier = dossiers.by_id(session, parsed.dossier_id)
        if dossier is None:
            log.warning("dossier link refused (unknown dossier id %s)", parsed.dossier_id)
            return None
        reason = check(secret, parsed, dossier, clock())
        if reason is not None:
            log.warning("dossier link refused (%s) for dossier %s", reason, dossier.code)
            return None
        return dossier.code

    return resolve
