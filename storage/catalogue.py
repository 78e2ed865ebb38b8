"""The unit and procedure catalogue as data, and idempotent upserts of catalogue rows.

The default catalogue ships as `storage/data/catalogue.yaml` (the 18 HCMC unit codes the
router predicts, plus common administrative procedures, TTHC). Operators edit the file; the
database rows are upserted by code, so loading it twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from base.errors import UserError
from nlp.gazetteer import load_wards
from storage.models import Procedure, QuestionnaireVersion, Unit
from survey.model import Questionnaire

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
        definition=questionnaire.model_dump(mode="json"),
    )
    try:
        # A savepoint, so losing a race with another process (bot worker, demo) only undoes
        # this insert, not the caller's transaction.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return _id(session.exec(query).one().id)
    return _id(row.id)


def _id(value: int | None) -> int:
    # A flushed row always has its primary key; this narrows the type for callers.
    if value is None:
        raise RuntimeError("row has no id after flush")
    return value
