"""Outbox bookkeeping a channel needs beyond sending: what a reply window counts, the rule
each message went out under, and invitations addressed to a phone number.

An invitation is an outbox row whose recipient names the dossier (not a chat) and whose
payload alone holds the citizen's phone number, under "phone". `settle` replaces the number
by the outcome once the invitation is sent or refused for good; `purge` removes what is left
of sent rows and of dead ones whose link has expired. Nothing else keeps the number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from storage.conversations import enqueue
from storage.models import OutboxMessage, OutboxStatus, Procedure, Unit, table

_outbox = table(OutboxMessage)
_unit = table(Unit)
_procedure = table(Procedure)
PHONE = "phone"  # the payload key that holds personal data


def sent_texts_since(session: Session, channel: str, recipient: str, since: datetime) -> list[str]:
    """The texts of the messages sent to a chat since `since` (a reply window counts them,
    each as the pieces it went out in)."""
    rows = session.execute(
        select(_outbox.c.payload).where(
            _outbox.c.channel == channel,
            _outbox.c.recipient == recipient,
            _outbox.c.status == OutboxStatus.SENT.value,
            _outbox.c.sent_at >= since,
        )
    ).scalars()
    return [str(p.get("text", "")) if isinstance(p, dict) else "" for p in rows]


def note_rule(
    session: Session, channel: str, recipient: str, payload: dict[str, Any], note: str
) -> bool:
    """Write which rule lets a message go into its row's `last_error` column (a failure
    later overwrites it; a successful send keeps it). The row is the chat's oldest pending
    one with this payload: a chat's messages are sent one at a time, in order. False if none
    is found."""
    rows = session.execute(
        select(_outbox.c.id, _outbox.c.payload)
        .where(
            _outbox.c.channel == channel,
            _outbox.c.recipient == recipient,
            _outbox.c.status == OutboxStatus.PENDING.value,
        )
        .order_by(_outbox.c.id)
        .limit(50)
    ).all()
    for row in rows:
        if row.payload == payload:
            session.execute(
                update(_outbox).where(_outbox.c.id == row.id).values(last_error=note[:1000])
            )
            return True
    return False


def names(session: Session, unit_code: str, procedure_code: str) -> tuple[str, str]:
    """The unit's and the procedure's names from the catalogue ("" when unknown)."""
    unit = session.execute(select(_unit.c.name).where(_unit.c.code == unit_code)).scalar()
    procedure = session.execute(
        select(_procedure.c.name).where(_procedure.c.code == procedure_code)
    ).scalar()
    return str(unit or ""), str(procedure or "")


def queue(session: Session, channel: str, recipient: str, payload: dict[str, Any]) -> int:
    """Queue an invitation (in the caller's transaction: with the dossier's registration)."""
    return enqueue(session, channel, recipient, payload)


def queued(session: Session, channel: str, recipient: str) -> bool:
    """Whether an invitation was ever queued for this recipient."""
    found = session.execute(
        select(_outbox.c.id).where(_outbox.c.channel == channel, _outbox.c.recipient == recipient)
    ).first()
    return found is not None


def settle(
    session: Session, channel: str, recipient: str, outcome: str, **extra: str | None
) -> None:
    """Replace an invitation's phone number by its outcome ("sent", "refused: …"): once
    sent or refused for good the number has no further use."""
    row = session.execute(
        select(_outbox.c.id, _outbox.c.payload)
        .where(_outbox.c.channel == channel, _outbox.c.recipient == recipient)
        .with_for_update()
    ).first()
    if row is None:
        return
    payload = {k: v for k, v in dict(row.payload).items() if k != PHONE}
    payload.update(outcome=outcome, **{k: v for k, v in extra.items() if v is not None})
    session.execute(update(_outbox).where(_outbox.c.id == row.id).values(payload=payload))


def purge(session: Session, channel: str, prefix: str, now: datetime) -> int:
    """Remove the phone number from invitations that no longer need it: sent ones (whose
    `settle` did not commit), and dead ones whose link has expired (until then a dead letter
    may still be re-queued). Pending ones are settled by the sender when their turn comes.
    Returns how many rows were cleaned."""
    rows = session.execute(
        select(_outbox.c.id, _outbox.c.status, _outbox.c.payload).where(
            _outbox.c.channel == channel,
            _outbox.c.recipient.startswith(prefix, autoescape=True),
            _outbox.c.status != OutboxStatus.PENDING.value,
            _outbox.c.payload[PHONE].as_string().is_not(None),
        )
    ).all()
    cleaned = 0
    for row in rows:
        payload = dict(row.payload)
        try:
            expired = datetime.fromisoformat(str(payload.get("expires_at"))) <= now
        except ValueError:
            expired = True  # no expiry recorded: nothing to keep the number for
        if row.status == OutboxStatus.SENT.value:
            outcome = "sent"
        elif expired:
            outcome = "refused: the link expired"
        else:
            continue
        payload.pop(PHONE, None)
        payload.setdefault("outcome", outcome)
        session.execute(update(_outbox).where(_outbox.c.id == row.id).values(payload=payload))
        cleaned += 1
    return cleaned
