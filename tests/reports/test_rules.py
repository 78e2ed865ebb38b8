"""The report's counting rules (issue 13), on SQLite and PostgreSQL: one questionnaire at a time
and versions pooled only where declared comparable, local-time buckets at their boundaries,
no-data rows, dossiers on time, the field breakdown and the response counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reports.build import build_report, periods_between
from reports.queries import fixed_offset_minutes
from storage.models import Answer, Dossier, Procedure, QuestionnaireVersion, SurveyResponse, Unit


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def definition(
    version: str, texts: dict[str, str], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": "sipas",
        "version": version,
        "elements": [{"code": "TCDV", "name": "Tiếp cận"}, {"code": "CC", "name": "Công chức"}],
        "questions": [
            {"code": code, "type": "likert5", "element": code.rstrip("0123456789"), "text": text}
            for code, text in texts.items()
        ],
    }
    if previous is not None:
        out["previous"] = previous
    return out


class World:
    """Rows written as the engine stores them, with explicit versions and timestamps."""

    def __init__(self, engine: Engine) -> None:
        self.session = Session(engine)
        self.n = 0
        self.versions: dict[tuple[str, str], int] = {}
        self.units: dict[str, int] = {}

    def add(self, obj: Any) -> Any:
        self.session.add(obj)
        self.session.flush()
        return obj

    def unit(self, code: str) -> int:
        if code not in self.units:
            self.units[code] = int(self.add(Unit(code=code, name=f"Đơn vị {code}")).id)
        return self.units[code]

    def version(self, code: str, version: str, defn: dict[str, Any] | None = None) -> int:
        if (code, version) not in self.versions:
            row = QuestionnaireVersion(
                code=code, version=version, title=code, definition=defn or {"code": code}
            )
            self.versions[(code, version)] = int(self.add(row).id)
        return self.versions[(code, version)]

    def response(
        self,
        at: str,
        answers: dict[str, int],
        *,
        unit: str = "SXD",
        questionnaire: str = "sipas",
        version: str = "2025.1",
        complete: bool = True,
        procedure_id: int | None = None,
    ) -> int:
        self.n += 1
        rid = int(
            self.add(
                SurveyResponse(
                    key=f"k{self.n}",
                    questionnaire_id=self.version(questionnaire, version),
                    questionnaire_code=questionnaire,
                    unit_id=self.unit(unit),
                    procedure_id=procedure_id,
                    channel="web",
                    status="completed" if complete else "in_progress",
                    started_at=utc(at),
                )
            ).id
        )
        for code, score in answers.items():
            fields: dict[str, Any] = (
                {"status": "no_opinion"}
                if score == 0
                else {"status": "answered", "score": score, "satisfied": score >= 4}
            )
            self.add(
                Answer(
                    response_id=rid,
                    question_code=code,
                    element_code=code.rstrip("0123456789"),
                    kind="likert5",
                    **fields,
                )
            )
        return rid

    def commit(self) -> None:
        self.session.commit()
        self.session.close()


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    w = World(engine)
    yield w
    w.session.close()


def test_another_questionnaire_never_enters_the_index(engine: Engine, world: World) -> None:
    world.response("2026-03-05T03:00:00", {"CC1": 5})
    # Another questionnaire with five-level answers under an element code: it used to be pooled.
    world.response("2026-03-05T04:00:00", {"CC1": 1, "CC2": 1}, questionnaire="khao-sat-khac")
    world.commit()
    report = build_report(engine, [["unit"]])
    assert report.overall.overall_index.value == 1.0
    assert report.overall.respondents == 1
    assert report.questionnaire == "sipas"
    other = build_report(engine, [["unit"]], questionnaire="khao-sat-khac")
    assert other.overall.overall_index.value == 0.0 and other.overall.respondents == 1


def test_versions_pool_only_what_they_declare_comparable(engine: Engine, world: World) -> None:
    world.version("sipas", "2025.1", definition("2025.1", {"CC1": "Lịch sự", "CC2": "Nhanh"}))
    world.version(
        "sipas",
        "2026.1",
        definition(
            "2026.1",
            {"CC1": "Lịch sự, tôn trọng", "CC2": "Trả lời đầy đủ trong một lần"},
            previous={"version": "2025.1", "comparable": ["CC1"]},
        ),
    )
    world.response("2026-03-02T03:00:00", {"CC1": 5, "CC2": 5}, version="2025.1")
    world.response("2026-03-20T03:00:00", {"CC1": 2, "CC2": 2}, version="2026.1")
    world.commit()
    report = build_report(engine, [["unit"]], min_n=1)
    crit = report.overall.criteria
    # CC1 was declared comparable: one criterion over both versions, 1 of 2 satisfied.
    assert crit["CC1"].value == 0.5 and crit["CC1"].n == 2
    # CC2 was reworded and not declared comparable: two criteria, never averaged together.
    assert crit["CC2@2025.1"].value == 1.0 and crit["CC2@2026.1"].value == 0.0
    assert "CC2" not in crit
    assert report.versions == ["2025.1", "2026.1"]
    assert report.criteria_text["CC1"] == "Lịch sự, tôn trọng"  # the newest wording
    assert report.criteria_text["CC2@2025.1"] == "Nhanh"
    # A month holding one version only names its criteria plainly.
    march_20 = build_report(engine, [["unit"]], date_from=date(2026, 3, 10), min_n=1)
    assert set(march_20.overall.criteria) == {"CC1", "CC2"}
    assert march_20.versions == ["2026.1"]


@pytest.mark.parametrize(
    ("started", "month"),
    [
        ("2026-03-31T16:59:59", "2026-03"),  # 23:59:59 on March 31st in Ho Chi Minh City
        ("2026-03-31T17:00:00", "2026-04"),  # 00:00 on April 1st
        ("2026-12-31T17:00:00", "2027-01"),  # new year, local
        ("2026-06-30T16:30:00", "2026-06"),  # 23:30 on June 30th: still Q2
    ],
)
def test_months_are_local_at_the_boundaries(
    engine: Engine, world: World, started: str, month: str
) -> None:
    world.response(started, {"CC1": 5})
    world.commit()
    report = build_report(engine, [["month"], ["day"], ["quarter"]])
    rows = report.breakdowns[0].rows
    assert [r.keys["month"] for r in rows] == [month]
    quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
    assert [r.keys["quarter"] for r in report.breakdowns[2].rows] == [quarter]
    first_of_month = date(int(month[:4]), int(month[5:]), 1)
    inside = build_report(engine, None, date_from=first_of_month)
    before = build_report(engine, None, date_to=first_of_month - timedelta(days=1))
    assert (inside.overall.respondents, before.overall.respondents) == (1, 0)


def test_dates_filter_local_days(engine: Engine, world: World) -> None:
    world.response("2026-03-31T16:59:59", {"CC1": 5})  # March 31st, local
    world.response("2026-03-31T17:00:00", {"CC1": 1})  # April 1st, local
    world.commit()
    march = build_report(engine, None, date_from=date(2026, 3, 31), date_to=date(2026, 3, 31))
    april = build_report(engine, None, date_from=date(2026, 4, 1), date_to=date(2026, 4, 1))
    assert march.overall.overall_index.value == 1.0 and march.overall.respondents == 1
    assert april.overall.overall_index.value == 0.0 and april.overall.respondents == 1
    assert march.span == (date(2026, 3, 31), date(2026, 3, 31))


def test_a_zone_with_daylight_saving_buckets_by_its_own_clock(engine: Engine, world: World) -> None:
    # Paris: UTC+1 in winter, UTC+2 from the last Sunday of March. 22:30 UTC on 31 March is
    # 00:30 on 1 April in Paris (summer time), 23:30 on 31 March if the winter offset were used.
    assert (
        fixed_offset_minutes("Europe/Paris") is None
        and fixed_offset_minutes("Asia/Ho_Chi_Minh") == 420
    )
    world.response("2026-03-31T22:30:00", {"CC1": 5})
    world.response("2026-01-31T23:30:00", {"CC1": 5})  # 00:30 on 1 February, winter time
    world.commit()
    report = build_report(engine, [["month"]], timezone="Europe/Paris")
    months = [r.keys["month"] for r in report.breakdowns[0].rows if not r.no_data]
    assert months == ["2026-02", "2026-04"]


def test_missing_months_and_units_are_no_data_rows(engine: Engine, world: World) -> None:
    world.unit("XTD")  # a unit without answers in the period
    world.add(
        Dossier(code="HS1", unit_id=world.unit("XTD"), completed_at=utc("2026-01-10T03:00:00"))
    )
    world.response("2026-01-10T03:00:00", {"CC1": 5})
    world.response("2026-03-10T03:00:00", {"CC1": 5})
    world.commit()
    report = build_report(engine, [["unit", "month"], ["month"]], min_n=1)
    by_month = {r.keys["month"]: r for r in report.breakdowns[1].rows}
    assert list(by_month) == ["2026-01", "2026-02", "2026-03"]
    february = by_month["2026-02"]
    assert february.no_data and february.meets_target is None and february.respondents == 0
    cells = {(r.keys["unit"].code, r.keys["month"]): r for r in report.breakdowns[0].rows}  # type: ignore[union-attr]
    assert len(cells) == 6  # 2 units × 3 months
    assert cells[("XTD", "2026-01")].no_data and not cells[("SXD", "2026-01")].no_data
    units = {u.keys["unit"].code: u for u in report.units}  # type: ignore[union-attr]
    assert units["XTD"].unranked == "no_data" and units["SXD"].rank == 1


def test_dossiers_on_time_against_98_percent(engine: Engine, world: World) -> None:
    unit = world.unit("SXD")
    for i in range(50):
        late = i < 2  # 48 of 50 on time: 96%, under 98%
        world.add(
            Dossier(
                code=f"HS{i}",
                unit_id=unit,
                completed_at=utc("2026-03-10T03:00:00"),
                due_at=utc("2026-03-09T03:00:00" if late else "2026-03-11T03:00:00"),
            )
        )
    world.commit()
    report = build_report(engine, [["unit", "month"]])
    row = report.ratio_766[0]
    assert row.on_time is not None and row.on_time.value == pytest.approx(0.96)
    assert row.meets_on_time_target is False
    assert report.overall_766.meets_target is True  # the 766 ratio (96%) meets its 95%
    lenient = build_report(engine, [["unit"]], on_time_target=0.95)
    assert lenient.overall_766.meets_on_time_target is True
    assert report.targets.dossiers_on_time == 0.98


def test_by_field_groups_procedures_of_one_field(engine: Engine, world: World) -> None:
    a = int(world.add(Procedure(code="P1", name="Cấp phép xây dựng", field_name="Xây dựng")).id)
    b = int(world.add(Procedure(code="P2", name="Điều chỉnh giấy phép", field_name="Xây dựng")).id)
    c = int(
        world.add(Procedure(code="P3", name="Đăng ký hộ kinh doanh", field_name="Kinh doanh")).id
    )
    world.response("2026-03-10T03:00:00", {"CC1": 5}, procedure_id=a)
    world.response("2026-03-10T03:00:00", {"CC1": 4}, procedure_id=b)
    world.response("2026-03-10T03:00:00", {"CC1": 1}, procedure_id=c)
    world.commit()
    report = build_report(engine, [["field"]], min_n=1)
    rows = {r.keys["field"]: r for r in report.breakdowns[0].rows}
    assert rows["Xây dựng"].respondents == 2 and rows["Xây dựng"].meets_target is True
    assert rows["Kinh doanh"].meets_target is False  # the "every field ≥ 95%" target is missed


def test_incomplete_responses_are_counted_and_shown(engine: Engine, world: World) -> None:
    world.response("2026-03-10T03:00:00", {"CC1": 5, "CC2": 5})
    world.response("2026-03-10T04:00:00", {"CC1": 1}, complete=False)  # stopped early: kept
    world.response("2026-03-10T05:00:00", {"CC1": 0}, complete=False)  # only "không ý kiến"
    world.response("2026-03-10T06:00:00", {}, complete=False)  # opened, nothing answered
    world.commit()
    report = build_report(engine, None, min_n=1)
    assert report.responses.complete == 1
    assert report.responses.incomplete_kept == 1
    assert report.responses.without_answers == 2
    assert report.overall.criteria["CC1"].n == 2  # the stopped response's answer counts


def test_periods_between() -> None:
    span = (date(2026, 11, 30), date(2027, 2, 1))
    assert periods_between("month", span) == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert periods_between("quarter", span) == ["2026-Q4", "2027-Q1"]
    assert periods_between("year", span) == ["2026", "2027"]
    assert periods_between("day", (date(2026, 12, 31), date(2027, 1, 1))) == [
        "2026-12-31",
        "2027-01-01",
    ]
