"""What the chat channels keep besides conversations: contact windows and OAuth tokens.
(Photos and contact details a citizen sends belong to a complaint: storage/complaints.py.)

Channels call these functions; they never touch the tables themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import ChannelToken, ChatAttachment, ChatContact, Citizen, table
from storage.types import utcnow

_contact = table(ChatContact)
_token = table(ChannelToken)
_attachment = table(ChatAttachment)
_citizen = table(Citizen)


# --- contact windows -------------------------------------------------------------------------


def touch_contact(
    session: Session, channel: str, external_id: str, at: datetime, *, following: bool = True
) -> None:
    """Record that the chat wrote to us (or followed / unfollowed) at `at`."""
    dialect = session.get_bind().dialect.name
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "channel": channel,
        "external_id": external_id,
        "last_inbound_at": at,
        "following": following,
        "updated_at": utcnow(),
    }
    stmt = insert_(_contact).values(values)
    # Only forward in time: an event delivered late (older than what is recorded) neither
    # moves the reply window back nor undoes a later follow or unfollow.
    newer = stmt.excluded.last_inbound_at >= _contact.c.last_inbound_at
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[_contact.c.channel, _contact.c.external_id],
            set_={
                "last_inbound_at": stmt.excluded.last_inbound_at,
                "following": stmt.excluded.following,
                "updated_at": stmt.excluded.updated_at,
            },
            where=newer,
        )
    )


@dataclass(frozen=True)
class Contact:
    last_inbound_at: datetime
    following: bool


def forget_contact(session: Session, channel: str, external_id: str) -> None:
    """`/xoa`: when the chat last wrote to us is the citizen's data too."""
    session.execute(
        delete(_contact).where(_contact.c.channel == channel, _contact.c.external_id == external_id)
    )


def contact(session: Session, channel: str, external_id: str) -> Contact | None:
    """When the chat last wrote to us and whether it follows the account (None: never)."""
    row = session.execute(
        select(_contact.c.last_inbound_at, _contact.c.following).where(
            _contact.c.channel == channel, _contact.c.external_id == external_id
        )
    ).first()
    return None if row is None else Contact(row[0], bool(row[1]))


# --- OAuth token pairs --------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime | None
    version: int


def load_token(session: Session, name: str, *, lock: bool = False) -> TokenPair | None:
    """The stored pair. `lock=True` holds the row until the transaction ends, so only one
    worker at a time spends the single-use refresh token."""
    if lock:
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a no-op write takes the database's write lock now.
            session.execute(
                update(_token).where(_token.c.name == name).values(version=_token.c.version)
            )
        query = select(_token).where(_token.c.name == name)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
    else:
        query = select(_token).where(_token.c.name == name)
    row = session.execute(query).first()
    if row is None:
        return None
    return TokenPair(row.access_token, row.refresh_token, row.expires_at, int(row.version))


def store_token(
    session: Session, name: str, access_token: str, refresh_token: str, expires_at: datetime | None
) -> TokenPair:
    """Replace the pair (insert the first one). Commit before using the new access token."""
    current = load_token(session, name)
    version = (current.version if current else 0) + 1
    values = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "expires_at": expires_at,
        "version": version,
        "updated_at": utcnow(),
    }
    if current is None:
        session.execute(insert(_token).values(name=name, **values))
    else:
        session.execute(update(_token).where(_token.c.name == name).values(**values))
    return TokenPair(access_token, refresh_token, expires_at, version)
