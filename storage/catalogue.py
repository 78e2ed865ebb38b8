"""The unit and procedure catalogue as data, and idempotent upserts of catalogue rows.

The default catalogue ships as `storage/data/catalogue.yaml` (the 18 HCMC unit codes the
router predicts, plus common administrative procedures, TTHC). Operators edit the file; the
database rows are upserted by code, so loading it twice changes nothing.

Questionnaire versions are stored rows too (`ensure_questionnaire`), and which version each
conversation asks is decided here, in one rule (`asked_questionnaires`), kept current in a
running process by `AskedQuestionnaires`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from base.errors import UserError
from nlp.gazetteer import load_wards
from storage.models import Procedure, QuestionnaireVersion, Unit, table
from survey.model import Questionnaire

log = logging.getLogger(__name__)

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "catalogue.yaml"


class CatalogueUnit(BaseModel):
    """One responsible unit of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9_]{2,32}$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["so", "xa", "dich_vu", "khac"] = "so"
    description: str = Field(default="", max_length=1000)
    volume: float = Field(default=1.0, gt=0)  # relative dossier volume, for demo data only


class CatalogueProcedure(BaseModel):
    """One administrative procedure (TTHC) and the units that handle it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z0-9_]{2,64}$")
    name: str = Field(min_length=1, max_length=300)
    field: str = Field(default="", max_length=120)  # lĩnh vực
    units: tuple[str, ...] = Field(min_length=1)
    processing_days: int = Field(default=10, ge=1, le=365)
    volume: float = Field(default=1.0, gt=0)


class Catalogue(BaseModel):
    """Units and procedures; every procedure names known units, every unit has a procedure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    units: tuple[CatalogueUnit, ...] = Field(min_length=1)
    procedures: tuple[CatalogueProcedure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalogue:
        unit_codes = [u.code for u in self.units]
        if len(set(unit_codes)) != len(unit_codes):
            raise ValueError("duplicate unit code")
        proc_codes = [p.code for p in self.procedures]
        if len(set(proc_codes)) != len(proc_codes):
            raise ValueError("duplicate procedure code")
        known = set(unit_codes)
        for p in self.procedures:
            unknown = [c for c in p.units if c not in known]
            if unknown:
                raise ValueError(f"procedure {p.code}: unknown unit codes {unknown}")
        return self

    def procedures_of(self, unit_code: str) -> list[CatalogueProcedure]:
        """The procedures a unit handles, in file order."""
        return [p for p in self.procedures if unit_code in p.units]


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate a catalogue file (default: the shipped one)."""
    path = path or DEFAULT_CATALOGUE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read catalogue ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: invalid YAML") from exc
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{path}: field {field}: {first['msg']}") from exc


def upsert_catalogue(
    session: Session, catalogue: Catalogue
) -> tuple[dict[str, int], dict[str, int]]:
    """Insert or update units and procedures by code; return (unit ids, procedure ids) by code.

    Rows missing from the file are left alone: dossiers and answers may still point at them.
    """
    units = {u.code: u for u in session.exec(select(Unit))}
    for cu in catalogue.units:
        row = units.get(cu.code)
        if row is None:
            row = Unit(code=cu.code, name=cu.name, kind=cu.kind, description=cu.description)
            units[cu.code] = row
        else:
            row.name, row.kind, row.description = cu.name, cu.kind, cu.description
        session.add(row)
    # Each ward, commune and the special zone is a unit of its own under UBND_XA: the router's
    # commune-level matters go to the ward the text names (codes of nlp/data/wards.csv).
    if "UBND_XA" in units:
        for ward in load_wards():
            row = units.get(ward.code)
            name = f"UBND {ward.full_name}"
            if row is None:
                row = Unit(code=ward.code, name=name, kind="phuong_xa", parent_code="UBND_XA")
                units[ward.code] = row
            else:
                row.name, row.kind, row.parent_code = name, "phuong_xa", "UBND_XA"
            row.description = ward.former_area
            session.add(row)
    procedures = {p.code: p for p in session.exec(select(Procedure))}
    for cp in catalogue.procedures:
        prow = procedures.get(cp.code)
        if prow is None:
            prow = Procedure(code=cp.code, name=cp.name, field_name=cp.field)
            procedures[cp.code] = prow
        else:
            prow.name, prow.field_name = cp.name, cp.field
        session.add(prow)
    session.flush()
    unit_ids = {code: _id(row.id) for code, row in units.items()}
    procedure_ids = {code: _id(row.id) for code, row in procedures.items()}
    return unit_ids, procedure_ids


def reworded_questions(session: Session, questionnaire: Questionnaire) -> list[str]:
    """Codes whose text differs from the stored row of the same (code, version).

    A version's wording is fixed once answered: rewording a statement without a new version
    would count answers to two statements as one criterion (reports pool by version and code).
    """
    stored = session.exec(
        select(QuestionnaireVersion.definition).where(
            QuestionnaireVersion.code == questionnaire.code,
            QuestionnaireVersion.version == questionnaire.version,
        )
    ).first()
    if not stored:
        return []
    texts = {q.get("code"): q.get("text") for q in stored.get("questions") or ()}
    return [q.code for q in questionnaire.questions if q.code in texts and texts[q.code] != q.text]


def ensure_questionnaire(session: Session, questionnaire: Questionnaire) -> int:
    """The id of the stored questionnaire row for (code, version), created if missing.

    The definition is kept verbatim (`model_dump(mode="json")`) so answers can always be read
    against the wording they were given under. An existing row is never rewritten.
    """
    query = select(QuestionnaireVersion).where(
        QuestionnaireVersion.code == questionnaire.code,
        QuestionnaireVersion.version == questionnaire.version,
    )
    row = session.exec(query).first()
    if row is not None:
        return _id(row.id)
    row = QuestionnaireVersion(
        code=questionnaire.code,
        version=questionnaire.version,
        title=questionnaire.title,
        definition=stored_definition(questionnaire),
    )
    try:
        # A savepoint, so losing a race with another process (bot worker, demo) only undoes
        # this insert, not the caller's transaction.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _id(session.exec(query).one().id)
    return _id(row.id)


def stored_definition(questionnaire: Questionnaire) -> dict[str, Any]:
    """What the questionnaire table keeps of a version (and conversations read back)."""
    return questionnaire.model_dump(mode="json")


def load_definition(definition: Any) -> Questionnaire:
    """A stored definition as the questionnaire conversations ask (ValidationError when it
    no longer loads, e.g. written by an older schema or edited by hand)."""
    return Questionnaire.model_validate(definition)


def as_stored(questionnaire: Questionnaire) -> Questionnaire:
    """The questionnaire as it will be read back once stored: what a preview must show."""
    return load_definition(stored_definition(questionnaire))


# --- which version conversations ask -------------------------------------------------------

_versions = table(QuestionnaireVersion)
# A stored row is never rewritten, so what its definition loads to (or None: it does not load)
# is kept per engine by (id, code, version): a refresh parses only rows it has not seen.
_PARSED: weakref.WeakKeyDictionary[Engine, dict[tuple[int, str, str], Questionnaire | None]] = (
    weakref.WeakKeyDictionary()
)


def _parsed(
    engine: Engine, conn: Connection, row_id: int, code: str, version: str
) -> Questionnaire | None:
    cache = _PARSED.setdefault(engine, {})
    key = (row_id, code, version)
    if key not in cache:
        definition = conn.execute(
            sa.select(_versions.c.definition).where(_versions.c.id == row_id)
        ).scalar_one()
        found: Questionnaire | None
        try:
            found = load_definition(definition)
            if (found.code, found.version) != (code, version):
                raise ValueError(f"its definition is {found.code} version {found.version}")
        except ValueError as exc:  # pydantic's ValidationError is one
            reason = str(exc).strip().splitlines()[0][:200]
            log.error(
                "stored questionnaire %s version %s (id %s) does not load, not asked: %s",
                code,
                version,
                row_id,
                reason,
            )
            found = None
        cache[key] = found
    return cache[key]


def stored_marker(conn: Connection) -> tuple[int, int]:
    """(rows, newest id) of the questionnaire table: it changes whenever a version is stored
    (the count too, should an earlier id commit after a later one)."""
    rows, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(_versions.c.id), 0))
    ).one()
    return int(rows), int(newest)


def published_questionnaires(engine: Engine) -> dict[str, Questionnaire]:
    """For each stored code, its newest version (the newest row) whose definition loads; one
    that does not is logged and the version stored before it taken."""
    found: dict[str, Questionnaire] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_versions.c.id, _versions.c.code, _versions.c.version).order_by(
                _versions.c.code, _versions.c.id.desc()
            )
        ).all()
        for row_id, code, version in rows:
            if code not in found:
                q = _parsed(engine, conn, row_id, code, version)
                if q is not None:
                    found[code] = q
    return found


def asked_questionnaires(
    engine: Engine, files: Mapping[str, Questionnaire]
) -> dict[str, Questionnaire]:
    """THE rule of what a conversation asks: for each code, the newest version stored in the
    database (published in the console, or a file's version stored at start or on first use)
    when one loads, else the file's. Every face reads it: the bot (`AskedQuestionnaires`), the
    CLI's start checks, the reports' questionnaire checks."""
    return {**files, **published_questionnaires(engine)}


def stored_questionnaire(engine: Engine, code: str, version: str) -> Questionnaire | None:
    """One stored version, or None (not stored, or it does not load)."""
    with engine.connect() as conn:
        row_id = conn.execute(
            sa.select(_versions.c.id).where(
                _versions.c.code == code, _versions.c.version == version
            )
        ).scalar()
        return None if row_id is None else _parsed(engine, conn, row_id, code, version)


class AskedQuestionnaires:
    """`asked_questionnaires` for a running process, re-read when a version is stored: at
    most every `refresh_seconds` a turn checks the table's `stored_marker` (one cheap query)
    and reads the versions again only if it changed. Without an engine, the files alone.

    A chat keeps the version it began (`version`), even after a newer one is published."""

    def __init__(
        self,
        files: Mapping[str, Questionnaire],
        engine: Engine | None = None,
        *,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files = dict(files)
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._current: dict[str, Questionnaire] = self.files
        self._known = {(q.code, q.version): q for q in self.files.values()}
        self._marker: tuple[int, int] | None = None
        self._checked_at = -math.inf
        self._lock = threading.Lock()

    def current(self) -> Mapping[str, Questionnaire]:
        """The version of each code a new survey begins with."""
        if self.engine is not None and self.clock() - self._checked_at >= self.refresh_seconds:
            self._refresh(self.engine)
        return self._current

    def version(self, code: str, version: str) -> Questionnaire | None:
        """A version a chat began: known to this process, else read from the database (begun
        in another process, or before a restart); None if it is not stored or does not load."""
        found = self._known.get((code, version))
        if found is None and self.engine is not None:
            found = stored_questionnaire(self.engine, code, version)
            if found is not None:
                self._known[(code, version)] = found
        return found

    def _refresh(self, engine: Engine) -> None:
        first = self._marker is None
        # Another thread reading them: this turn goes on with the current ones (the very first
        # read is waited for, so that no turn starts on a file's version the database replaced).
        if not self._lock.acquire(blocking=first):
            return
        try:
            if self.clock() - self._checked_at < self.refresh_seconds:
                return  # read by the thread this one waited for
            try:
                with engine.connect() as conn:
                    marker = stored_marker(conn)
                if marker != self._marker:
                    asked = asked_questionnaires(engine, self.files)
                    for code, q in asked.items():
                        was = self._current.get(code)
                        if was is None or was.version != q.version or first:
                            log.info("questionnaire %s: version %s asked", code, q.version)
                    self._known.update({(q.code, q.version): q for q in asked.values()})
                    self._current, self._marker = asked, marker
            except SQLAlchemyError as exc:
                log.warning("questionnaire versions not re-read: %s", str(exc).splitlines()[0])
                if first:
                    return  # not yet read once: the next turn tries again
            self._checked_at = self.clock()
        finally:
            self._lock.release()


def _id(value: int | None) -> int:
    # A flushed row always has its primary key; this narrows the type for callers.
    if value is None:
        raise RuntimeError("row has no id after flush")
    return value
