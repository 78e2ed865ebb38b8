"""Vietnam's public holidays as data, for deadlines counted in working days.

The shipped calendar is `complaints/data/holidays_vn.yaml`: per year, the days off of public
servants that fall on working days (statutory holidays, compensatory days for a holiday on a
weekend, weekdays swapped with a Saturday) and the Saturdays worked in exchange. Years the
Government has not decided yet are marked provisional. An operator can point at their own file
with the same layout.

    policy = Policy(working_days=True, holidays=load_holidays())

Pure apart from reading the file: no database, no clock. Every problem in a file is a
`ValueError` naming the file and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

DEFAULT_HOLIDAYS = Path(__file__).parent / "data" / "holidays_vn.yaml"

KINDS = frozenset({"holiday", "compensatory", "swapped"})
STATUSES = frozenset({"official", "provisional"})
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so a bad date is reported with its entry rather
    than as a bare error from YAML's date constructor."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class DayOff:
    """A working day (Monday-Friday) on which public offices are closed."""

    day: date
    label: str
    kind: str  # holiday | compensatory | swapped
    provisional: bool = False  # not (yet) decided by the Government
    note: str = ""


@dataclass(frozen=True)
class MakeUpDay:
    """A weekly rest day (usually a Saturday) worked in exchange for a swapped day."""

    day: date
    label: str


@dataclass(frozen=True)
class HolidayCalendar:
    days_off: tuple[DayOff, ...]
    make_up_days: tuple[MakeUpDay, ...]
    provisional_years: frozenset[int]

    def holidays(self, *, include_provisional: bool = True) -> frozenset[date]:
        return frozenset(d.day for d in self.days_off if include_provisional or not d.provisional)

    def years(self) -> frozenset[int]:
        return frozenset(d.day.year for d in self.days_off)


def load_holidays(path: Path | None = None, *, include_provisional: bool = True) -> frozenset[date]:
    """The days off of a holiday file (default: the shipped one), for `Policy.holidays`.

    `include_provisional=False` leaves out the days the Government has not decided yet."""
    return load_calendar(path).holidays(include_provisional=include_provisional)


def load_calendar(path: Path | None = None) -> HolidayCalendar:
    """Read and check a holiday file (default: the shipped one)."""
    path = path or DEFAULT_HOLIDAYS
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read holiday file ({exc.strerror or exc})") from exc
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML ({exc})") from exc
    return _parse(raw, path)


# --- checking ------------------------------------------------------------------------------


def _parse(raw: Any, path: Path) -> HolidayCalendar:
    if not isinstance(raw, dict) or not isinstance(raw.get("years"), dict):
        raise ValueError(f"{path}: expected a mapping with a 'years' mapping at the top level")
    unknown = set(raw) - {"years"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level keys {sorted(map(str, unknown))}")
    days_off: list[DayOff] = []
    make_up: list[MakeUpDay] = []
    provisional_years: set[int] = set()
    seen: dict[date, str] = {}
    for year_key, body in raw["years"].items():
        year = _year(year_key, path)
        where = f"{path}: years.{year}"
        if not isinstance(body, dict):
            raise ValueError(f"{where}: expected a mapping with 'days_off'")
        unknown = set(body) - {"status", "sources", "days_off", "make_up_days"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
        status = body.get("status", "official")
        if status not in STATUSES:
            raise ValueError(f"{where}.status: {status!r} is not one of {sorted(STATUSES)}")
        year_provisional = status == "provisional"
        if year_provisional:
            provisional_years.add(year)
        sources = body.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ValueError(f"{where}.sources: expected a list of texts")
        for i, entry in enumerate(_entries(body, "days_off", where, required=True)):
            at = f"{where}.days_off[{i}]"
            fields = _fields(entry, at, {"date", "label", "kind", "provisional", "note"})
            day = _date(fields, at, year)
            kind = fields.get("kind", "holiday")
            if kind not in KINDS:
                raise ValueError(f"{at} ({day}): kind {kind!r} is not one of {sorted(KINDS)}")
            provisional = fields.get("provisional", False)
            if not isinstance(provisional, bool):
                raise ValueError(f"{at} ({day}): provisional must be true or false")
            note = fields.get("note", "")
            if not isinstance(note, str):
                raise ValueError(f"{at} ({day}): note must be text")
            _unique(day, at, seen)
            days_off.append(
                DayOff(day, _label(fields, at, day), kind, provisional or year_provisional, note)
            )
        for i, entry in enumerate(_entries(body, "make_up_days", where, required=False)):
            at = f"{where}.make_up_days[{i}]"
            fields = _fields(entry, at, {"date", "label", "note"})
            day = _date(fields, at, year)
            if day.weekday() < 5:
                raise ValueError(
                    f"{at} ({day}): a make-up day must be a Saturday or Sunday, "
                    f"not a {day.strftime('%A')}"
                )
            _unique(day, at, seen)
            make_up.append(MakeUpDay(day, _label(fields, at, day)))
    return HolidayCalendar(
        tuple(sorted(days_off, key=lambda d: d.day)),
        tuple(sorted(make_up, key=lambda d: d.day)),
        frozenset(provisional_years),
    )


def _year(key: Any, path: Path) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and 1900 <= key <= 9999:
        return key
    if isinstance(key, str) and key.isdigit() and len(key) == 4:
        return int(key)
    raise ValueError(f"{path}: years: {key!r} is not a year")


def _entries(body: dict[Any, Any], key: str, where: str, *, required: bool) -> list[Any]:
    if key not in body:
        if required:
            raise ValueError(f"{where}: missing '{key}'")
        return []
    value = body[key]
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}.{key}: expected a list of entries")
    return value


def _fields(entry: Any, at: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{at}: expected a mapping with 'date' and 'label', got {entry!r}")
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"{at}: unknown keys {sorted(map(str, unknown))}")
    return entry


def _date(fields: dict[str, Any], at: str, year: int) -> date:
    if "date" not in fields:
        raise ValueError(f"{at}: missing 'date'")
    value = fields["date"]
    text = str(value).strip()
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{at}: date {text!r} is not a valid YYYY-MM-DD date ({exc})") from None
    if len(text) != 10:  # fromisoformat also takes 20250101 and 2025-W01-3
        raise ValueError(f"{at}: date {text!r} is not written YYYY-MM-DD")
    if day.year != year:
        raise ValueError(f"{at}: date {text} is not in {year}")
    return day


def _label(fields: dict[str, Any], at: str, day: date) -> str:
    label = fields.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{at} ({day}): missing or empty 'label'")
    return label.strip()


def _unique(day: date, at: str, seen: dict[date, str]) -> None:
    if day in seen:
        raise ValueError(f"{at}: date {day} is listed twice (also at {seen[day]})")
    seen[day] = at
