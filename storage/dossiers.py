"""Registering completed dossiers (hồ sơ) and looking them up for signed links.

A dossier names a unit and a procedure that must already be in the catalogue: a typo in a
unit code must fail loudly, never create a new unit that reports would count separately.
Registering the same dossier twice changes nothing; registering a code again with another
unit or procedure is a conflict, because links already handed out are signed over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.models import Dossier, Procedure, Unit, table

_dossier = table(Dossier)
_procedure = table(Procedure)
_unit = table(Unit)


class DossierError(ValueError):
    """A dossier cannot be registered as asked; the message says why, in plain words."""


class UnknownUnit(DossierError):
    """The unit code is not in the catalogue."""


class UnknownProcedure(DossierError):
    """The procedure code is not in the catalogue."""


class DossierConflict(DossierError):
    """The code is already registered with another unit or procedure."""


@dataclass(frozen=True)
class DossierRef:
    """What a signed link covers, plus when the dossier was registered."""

    id: int
    code: str
    unit_code: str
    procedure_code: str  # "" when the dossier has no procedure
    registered_at: datetime


@dataclass(frozen=True)
class Registered:
    """The outcome of `register`: the dossier, and whether this call created it."""

    dossier: DossierRef
    created: bool


def _query() -> Select[Any]:
    return (
        select(
            _dossier.c.id,
            _dossier.c.code,
            _unit.c.code.label("unit_code"),
            _procedure.c.code.label("procedure_code"),
            _dossier.c.created_at,
        )
        .join(_unit, _unit.c.id == _dossier.c.unit_id)
        .outerjoin(_procedure, _procedure.c.id == _dossier.c.procedure_id)
    )


def _ref(row: object) -> DossierRef:
    r = row._mapping  # type: ignore[attr-defined]
    return DossierRef(
        id=int(r["id"]),
        code=r["code"],
        unit_code=r["unit_code"],
        procedure_code=r["procedure_code"] or "",
        registered_at=r["created_at"],
    )


def by_id(session: Session, dossier_id: int) -> DossierRef | None:
    """The dossier with this id, or None."""
    row = session.execute(_query().where(_dossier.c.id == dossier_id)).first()
    return _ref(row) if row is not None else None


def by_code(session: Session, code: str) -> DossierRef | None:
    """The dossier with this code, or None."""
    row = session.execute(_query().where(_dossier.c.code == code)).first()
    return _ref(row) if row is not None else None


def register(
    session: Session,
    *,
    code: str,
    unit_code: str,
    procedure_code: str,
    now: datetime,
    received_at: datetime | None = None,
    due_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> Registered:
    """Register a completed dossier, or return the one already registered under `code`.

    Raises UnknownUnit / UnknownProcedure for codes missing from the catalogue, and
    DossierConflict when `code` exists with another unit or procedure.
    """
    existing = by_code(session, code)
    if existing is not None:
        _check_same(existing, unit_code, procedure_code)
        return Registered(existing, created=False)
    unit_id = session.execute(select(_unit.c.id).where(_unit.c.code == unit_code)).scalar()
    if unit_id is None:
        raise UnknownUnit(f"unknown unit {unit_code!r}: not in the unit catalogue")
    procedure_id = session.execute(
        select(_procedure.c.id).where(_procedure.c.code == procedure_code)
    ).scalar()
    if procedure_id is None:
        raise UnknownProcedure(f"unknown procedure {procedure_code!r}: not in the catalogue")
    completed = completed_at or now
    values = {
        "code": code,
        "unit_id": unit_id,
        "procedure_id": procedure_id,
        "received_at": received_at,
        "due_at": due_at,
        "completed_at": completed,
        "created_at": now,
    }
    try:
        # A savepoint: losing a race with another worker registering the same code undoes
        # only this insert, and the winner's row is returned instead.
        with session.begin_nested():
            session.execute(insert(_dossier).values(values))
    except IntegrityError:
        winner = by_code(session, code)
        if winner is None:
            raise
        _check_same(winner, unit_code, procedure_code)
        return Registered(winner, created=False)
    created = by_code(session, code)
    if created is None:  # just inserted in this transaction: cannot happen
        raise RuntimeError(f"dossier {code!r} missing after insert")
    return Registered(created, created=True)


def _check_same(existing: DossierRef, unit_code: str, procedure_code: str) -> None:
    if (existing.unit_code, existing.procedure_code) != (unit_code, procedure_code):
        raise DossierConflict(
            f"dossier {existing.code!r} is already registered for unit {existing.unit_code!r} "
            f"and procedure {existing.procedure_code!r}"
        )
