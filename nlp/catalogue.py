"""The unit catalogue: which bodies a complaint can be routed to (a data file operators edit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

TRIAGE_CODE = "VPUBND"


@dataclass(frozen=True)
class Unit:
    """One body that handles feedback: its routing code, name and what it deals with."""

    code: str
    name: str
    description: str = ""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    triage: bool = False


class CatalogueError(ValueError):
    """The catalogue file is missing fields or repeats a code."""


def default_catalogue_path() -> Path:
    """Path of the shipped catalogue, ``nlp/data/units.yaml``."""
    return Path(str(resources.files("nlp") / "data" / "units.yaml"))


def load_catalogue(path: Path | None = None) -> dict[str, Unit]:
    """Read a catalogue YAML file (default: the shipped one) into ``{code: Unit}``, in order."""
    import yaml

    path = path or default_catalogue_path()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    units: dict[str, Unit] = {}
    for entry in raw.get("units", []):
        if not isinstance(entry, dict) or not entry.get("code") or not entry.get("name"):
            raise CatalogueError(f"{path}: every unit needs a code and a name: {entry!r}")
        code = str(entry["code"]).strip()
        if code in units:
            raise CatalogueError(f"{path}: unit code {code} appears twice")
        units[code] = Unit(
            code=code,
            name=str(entry["name"]),
            description=str(entry.get("description", "")),
            keywords=tuple(str(k) for k in entry.get("keywords", []) or []),
            triage=bool(entry.get("triage", False)),
        )
    if not units:
        raise CatalogueError(f"{path}: no units")
    return units


def triage_code(units: dict[str, Unit]) -> str:
    """Code of the triage desk: the unit marked ``triage: true``, else ``VPUBND``."""
    for unit in units.values():
        if unit.triage:
            return unit.code
    return TRIAGE_CODE
