"""The holiday calendar: the shipped file loads with the official 2025-2026 schedules, and a
broken operator file is refused naming the file and the entry."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

import complaints.holidays as holidays_module
from complaints.holidays import DEFAULT_HOLIDAYS, load_calendar, load_holidays


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_loads_with_tet_2026() -> None:
    days = load_holidays()
    assert isinstance(days, frozenset) and all(type(d) is date for d in days)
    assert date(2026, 2, 17) in days  # mùng 1 Tết Bính Ngọ
    assert {date(2026, 2, d) for d in range(16, 21)} <= days  # Mon 16 - Fri 20 February
    assert date(2026, 2, 13) not in days and date(2026, 2, 23) not in days
    assert {date(2025, 1, d) for d in range(27, 32)} <= days  # Tết Ất Tỵ
    assert {date(y, 1, 1) for y in (2025, 2026, 2027)} <= days


def test_shipped_file_has_the_official_swaps_and_compensatory_days() -> None:
    days = load_holidays()
    assert date(2025, 5, 2) in days  # swapped with Saturday 26/4/2025
    assert date(2026, 1, 2) in days  # swapped with Saturday 10/1/2026
    assert date(2026, 4, 27) in days  # Hùng Kings' day fell on Sunday 26/4/2026
    assert date(2026, 8, 31) in days  # swapped with Saturday 22/8/2026
    assert {date(2025, 9, 1), date(2025, 9, 2), date(2026, 9, 1), date(2026, 9, 2)} <= days
    calendar = load_calendar()
    assert {m.day for m in calendar.make_up_days} == {
        date(2025, 4, 26),
        date(2026, 1, 10),
        date(2026, 8, 22),
    }
    kinds = {d.day: d.kind for d in calendar.days_off}
    assert kinds[date(2026, 1, 2)] == "swapped"
    assert kinds[date(2026, 4, 27)] == "compensatory"
    assert kinds[date(2026, 2, 17)] == "holiday"


def test_shipped_file_is_well_formed() -> None:
    calendar = load_calendar(DEFAULT_HOLIDAYS)
    assert calendar.years() == {2025, 2026, 2027}
    assert calendar.provisional_years == {2027}
    for d in calendar.days_off:
        assert d.day.weekday() < 5, d  # only working days matter to the deadline
        assert d.label
    for m in calendar.make_up_days:
        assert m.day.weekday() == 5, m
    per_year = {y: sum(d.day.year == y for d in calendar.days_off) for y in (2025, 2026)}
    # 11 statutory days, minus those on weekends, plus compensatory and swapped days.
    assert per_year == {2025: 12, 2026: 14}


def test_provisional_days_can_be_left_out() -> None:
    calendar = load_calendar()
    provisional = {d.day for d in calendar.days_off if d.provisional}
    assert all(d.year == 2027 for d in provisional - {date(2026, 11, 24)})
    assert date(2026, 11, 24) in provisional  # Ngày Văn hóa Việt Nam: law not yet amended
    assert {d.day for d in calendar.days_off if d.day.year == 2027} <= provisional
    official = load_holidays(include_provisional=False)
    assert date(2026, 2, 17) in official
    assert date(2026, 11, 24) not in official
    assert not any(d.year == 2027 for d in official)
    assert official < load_holidays()


def test_operator_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
years:
  2030:
    sources: ["Thông báo của Bộ Nội vụ"]
    days_off:
      - {date: 2030-01-01, label: "Tết Dương lịch"}
      - {date: "2030-02-04", label: "Tết", kind: holiday}
      - {date: 2030-02-05, label: "Tết", provisional: true, note: "chưa chốt"}
    make_up_days: []
  "2031":
    status: provisional
    days_off:
      - {date: 2031-01-01, label: "Tết Dương lịch"}
""",
    )
    assert load_holidays(path) == {
        date(2030, 1, 1),
        date(2030, 2, 4),
        date(2030, 2, 5),
        date(2031, 1, 1),
    }
    assert load_holidays(path, include_provisional=False) == {date(2030, 1, 1), date(2030, 2, 4)}
    calendar = load_calendar(path)
    assert calendar.provisional_years == {2031}
    assert calendar.days_off[2].note == "chưa chốt"


BAD_DATE = """
years:
  2026:
    days_off:
      - {date: 2026-02-17, label: "Tết"}
      - {date: 2026-02-30, label: "Ngày không có"}
"""


def test_a_bad_date_names_the_file_and_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, BAD_DATE)
    with pytest.raises(ValueError) as err:
        load_holidays(path)
    message = str(err.value)
    assert str(path) in message
    assert "years.2026.days_off[1]" in message
    assert "2026-02-30" in message
    assert "YYYY-MM-DD" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "years:\n  2026:\n    days_off:\n      - {date: 17/02/2026, label: Tết}\n",
            "years.2026.days_off[0]: date '17/02/2026' is not a valid",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {date: 20260217, label: Tết}\n",
            "years.2026.days_off[0]: date '20260217' is not written YYYY-MM-DD",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {date: 2025-02-17, label: Tết}\n",
            "years.2026.days_off[0]: date 2025-02-17 is not in 2026",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {label: Tết}\n",
            "years.2026.days_off[0]: missing 'date'",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {date: 2026-02-17}\n",
            "years.2026.days_off[0] (2026-02-17): missing or empty 'label'",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {date: 2026-02-17, label: Tết, kind: fun}\n",
            "(2026-02-17): kind 'fun' is not one of",
        ),
        (
            "years:\n  2026:\n    days_off:\n"
            "      - {date: 2026-02-17, label: Tết}\n      - {date: 2026-02-17, label: Tết}\n",
            "years.2026.days_off[1]: date 2026-02-17 is listed twice (also at",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - {date: 2026-02-17, label: Tết, when: x}\n",
            "years.2026.days_off[0]: unknown keys ['when']",
        ),
        (
            "years:\n  2026:\n    days_off:\n      - 2026-02-17\n",
            "years.2026.days_off[0]: expected a mapping",
        ),
        (
            "years:\n  2026:\n    days_off: []\n"
            "    make_up_days:\n      - {date: 2026-01-12, label: bù}\n",
            "years.2026.make_up_days[0] (2026-01-12): a make-up day must be a Saturday",
        ),
        ("years:\n  2026:\n    status: maybe\n    days_off: []\n", "years.2026.status: 'maybe'"),
        ("years:\n  2026:\n    make_up_days: []\n", "years.2026: missing 'days_off'"),
        ("years:\n  twenty:\n    days_off: []\n", "years: 'twenty' is not a year"),
        ("- 2026-02-17\n", "expected a mapping with a 'years' mapping"),
        ("", "expected a mapping with a 'years' mapping"),
        ("years: {}\nextra: 1\n", "unknown top-level keys ['extra']"),
        ("years: [2026\n", "invalid YAML"),
    ],
    ids=[
        "dmy",
        "compact",
        "other-year",
        "no-date",
        "no-label",
        "kind",
        "duplicate",
        "unknown-key",
        "bare-date",
        "make-up-weekday",
        "status",
        "no-days-off",
        "year-key",
        "list",
        "empty",
        "top-level-key",
        "yaml",
    ],
)
def test_broken_files_are_refused_clearly(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ValueError) as err:
        load_calendar(path)
    assert str(err.value).startswith(f"{path}:")
    assert expected in str(err.value)


def test_a_missing_file_is_a_value_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ValueError, match="cannot read holiday file") as err:
        load_holidays(path)
    assert str(path) in str(err.value)


def test_the_module_is_pure() -> None:
    tree = ast.parse(Path(holidays_module.__file__).read_text(encoding="utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert not imported & {"hailong", "storage", "bot", "sqlmodel", "sqlalchemy"}
