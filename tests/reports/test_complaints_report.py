"""`hailong report complaints`: every figure against a hand computation, on SQLite and
PostgreSQL (the `engine` fixture runs each test on both), and the command line.

The scenario (UTC times; Ho Chi Minh City is UTC+7; NOW = 2026-04-20 12:00 UTC):

  C1 PA-1 SXD   telegram ward p-ben-thanh  recv 03-02 01:00  acc +4h   ans +48h on time,
                rated satisfied
  C2 PA-2 SXD   zalo                       recv 03-05 02:00  acc +10h  ans 03-25 02:00 (+480h)
                transferred once, due 03-20: late, rated not satisfied
  C3 PA-3 SXD   web  via triage            recv 03-31 20:00 (= 1 April local)  acc +8h, open
                (accepted), due 04-11: overdue now
  C4 PA-4 CATP  telegram                   recv 04-10 03:00, routed, due 04-20 16:59: open, not
                overdue
  C5 PA-5 CATP  telegram                   recv 03-10 03:00, rejected (out of scope)
  C6 —    VPUBND (no channel)              recv 03-15 03:00, anonymous feedback (no code)
  C7 PA-6 p-ben-thanh zalo ward p-ben-thanh recv 04-02 03:00  acc +2h  ans +24h on time, reopened
                once, not rated
  C8 PA-7 SXD   telegram                   recv 02-27 03:00  acc +6h   ans +72h on time, rated
                satisfied

By hand, over everything: received 7 (C6 has no code), feedback 1, automatic 6, triage 1
(C3), accepted 5, answered 4 (C1 C2 C7 C8), on time 3, late 1 (C2), rejected 1, open 2
(C3 C4), overdue 1 (C3), transfers 1, reopened 1, rated 3, satisfied 2.
Hours to acceptance [2, 4, 6, 8, 10]: median 6, P90 = 8 + 0.6 × 2 = 9.2.
Hours to answer [24, 48, 72, 480]: median 60, P90 = 72 + 0.7 × 408 = 357.6.
On time 3/4 = 0.75; satisfaction 2/3.
Decision 766: complaints in competence = received − rejected = 6; closed on time 3 → 0.5;
excluded = C2 (not satisfied, late) + C3 (open past due) = 2 → (6 − 2)/6 = 0.6667.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

import reports.cli
from base.errors import UserError
from base.settings import get_settings
from reports.build import build_report
from reports.complaints import (
    ROW_COUNTS,
    build_complaint_report,
    dossier_complaint_exclusion,
    local_date_range,
    parse_by,
    percentile,
)
from storage.models import Complaint, Dossier, Unit

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"
HAILONG = Path(sys.executable).parent / "hailong"


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def local_end_of_day(day: str) -> datetime:
    """23:59:59 Ho Chi Minh City time of `day`, in UTC (the lifecycle's due dates)."""
    return utc(f"{day} 16:59") + timedelta(seconds=59)


def seed(engine: Engine) -> None:
    with Session(engine) as s:
        units = {}
        for code, name, kind, parent in [
            ("SXD", "Sở Xây dựng", "so", None),
            ("CATP", "Công an Thành phố", "khac", None),
            ("VPUBND", "Văn phòng UBND Thành phố", "khac", None),
            ("UBND_XA", "UBND phường/xã/đặc khu", "xa", None),
            ("p-ben-thanh", "UBND Phường Bến Thành", "phuong_xa", "UBND_XA"),
        ]:
            unit = Unit(code=code, name=name, kind=kind, parent_code=parent)
            s.add(unit)
            s.flush()
            units[code] = unit.id
        number = 0

        def add(unit: str, received: str, status: str, **fields: Any) -> None:
            nonlocal number
            at = utc(received)
            coded = status != "feedback"
            if coded:
                number += 1
            s.add(
                Complaint(
                    key=f"k{len(s.new)}-{received}",
                    code=f"PA-2026-{number:06d}" if coded else None,
                    year=2026 if coded else None,
                    seq=number if coded else None,
                    status=status,
                    anonymous=not coded,
                    unit_id=units[unit],
                    units_involved=[unit],
                    text="văn bản",
                    masked_text="văn bản",
                    received_at=at,
                    due_at=fields.pop("due_at", at + timedelta(days=10)),
                    **fields,
                )
            )
            s.flush()

        ward = {"ward_code": "p-ben-thanh", "ward_name": "Phường Bến Thành"}
        c1 = utc("2026-03-02 01:00")
        add(
            "SXD",
            "2026-03-02 01:00",
            "rated",
            channel="telegram",
            **ward,
            accepted_at=c1 + timedelta(hours=4),
            answered_at=c1 + timedelta(hours=48),
            closed_at=c1 + timedelta(hours=48),
            satisfied=True,
        )
        c2 = utc("2026-03-05 02:00")
        add(
            "SXD",
            "2026-03-05 02:00",
            "rated",
            channel="zalo",
            transfers=1,
            due_at=local_end_of_day("2026-03-20"),
            accepted_at=c2 + timedelta(hours=10),
            answered_at=c2 + timedelta(hours=480),
            closed_at=c2 + timedelta(hours=480),
            satisfied=False,
        )
        c3 = utc("2026-03-31 20:00")
        add(
            "SXD",
            "2026-03-31 20:00",
            "accepted",
            channel="web",
            routed_automatically=False,
            due_at=local_end_of_day("2026-04-11"),
            accepted_at=c3 + timedelta(hours=8),
        )
        add(
            "CATP",
            "2026-04-10 03:00",
            "routed",
            channel="telegram",
            due_at=local_end_of_day("2026-04-20"),
        )
        add(
            "CATP",
            "2026-03-10 03:00",
            "rejected",
            channel="telegram",
            closed_at=utc("2026-03-11 03:00"),
        )
        add("VPUBND", "2026-03-15 03:00", "feedback")
        c7 = utc("2026-04-02 03:00")
        add(
            "p-ben-thanh",
            "2026-04-02 03:00",
            "answered",
            channel="zalo",
            reopened=1,
            **ward,
            accepted_at=c7 + timedelta(hours=2),
            answered_at=c7 + timedelta(hours=24),
            closed_at=c7 + timedelta(hours=24),
        )
        c8 = utc("2026-02-27 03:00")
        add(
            "SXD",
            "2026-02-27 03:00",
            "rated",
            channel="telegram",
            accepted_at=c8 + timedelta(hours=6),
            answered_at=c8 + timedelta(hours=72),
            closed_at=c8 + timedelta(hours=72),
            satisfied=True,
        )
        s.commit()


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    seed(engine)
    return engine


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval written out by hand, independently of reports.stats."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def figure(k: int, n: int, min_n: int = 30) -> dict[str, Any]:
    if n == 0:
        return {"value": None, "n": 0, "ci_low": None, "ci_high": None, "small_n": True}
    low, high = wilson(k, n)
    return {"value": round(k / n, 4), "n": n, "ci_low": low, "ci_high": high, "small_n": n < min_n}


def expected(
    counts: dict[str, int],
    accept: tuple[int, float | None, float | None],
    answer: tuple[int, float | None, float | None],
    *,
    competence: int,
    unsatisfied: int,
    late: int,
    excluded: int,
) -> dict[str, Any]:
    row: dict[str, Any] = dict(counts)
    row["hours_to_accept"] = dict(zip(("n", "median", "p90"), accept, strict=True))
    row["hours_to_answer"] = dict(zip(("n", "median", "p90"), answer, strict=True))
    row["on_time"] = figure(counts["answered_on_time"], counts["answered"])
    row["meets_on_time_target"] = (
        counts["answered"] > 0 and counts["answered_on_time"] == counts["answered"]
    )
    row["satisfaction"] = figure(counts["satisfied"], counts["rated"])
    row["meets_satisfaction_target"] = (
        counts["rated"] > 0 and counts["satisfied"] / counts["rated"] >= 0.95
    )
    row["ratio_766"] = {
        "complaints": competence,
        "closed_on_time": counts["answered_on_time"],
        "on_time": figure(counts["answered_on_time"], competence),
        "on_time_meets_target": competence > 0 and counts["answered_on_time"] == competence,
        "rated_khong_hai_long": unsatisfied,
        "late": late,
        "excluded": excluded,
        "satisfaction": figure(competence - excluded, competence),
        "satisfaction_meets_target": competence > 0
        and (competence - excluded) / competence >= 0.95,
    }
    return row


def counts(**values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in ROW_COUNTS}


OVERALL = expected(
    counts(
        received=7,
        feedback=1,
        routed_automatically=6,
        routed_triage=1,
        accepted=5,
        answered=4,
        answered_on_time=3,
        answered_late=1,
        rejected=1,
        open=2,
        overdue=1,
        transfers=1,
        reopened=1,
        rated=3,
        satisfied=2,
    ),
    (5, 6.0, 9.2),
    (4, 60.0, 357.6),
    competence=6,
    unsatisfied=1,
    late=2,
    excluded=2,
)


def _rows(report: dict[str, Any], index: int = 0) -> dict[Any, dict[str, Any]]:
    """The rows of breakdown `index`, keyed by their first dimension (unit/ward by code)."""
    breakdown = report["breakdowns"][index]
    dim = breakdown["by"][0]
    out = {}
    for row in breakdown["rows"]:
        value = row.pop(dim)
        out[value["code"] if isinstance(value, dict) else value] = row
    return out


def test_overall_figures_by_hand(seeded: Engine) -> None:
    report = build_complaint_report(seeded, [["unit"]], now=NOW).to_dict()
    assert report["overall"] == OVERALL
    assert report["targets"] == {"on_time": 1.0, "satisfaction": 0.95}
    assert report["timezone"] == "Asia/Ho_Chi_Minh"
    # The hand-written Wilson agrees with the numbers: 2 satisfied of 3 rated.
    assert report["overall"]["satisfaction"]["ci_low"] == pytest.approx(0.2077, abs=1e-4)
    assert report["overall"]["satisfaction"]["ci_high"] == pytest.approx(0.9385, abs=1e-4)


def test_by_unit_by_hand(seeded: Engine) -> None:
    report = build_complaint_report(seeded, [["unit"]], now=NOW).to_dict()
    rows = _rows(report)
    assert list(rows) == ["CATP", "SXD", "VPUBND", "p-ben-thanh"]
    # SXD: C1 C2 C3 C8. Accept [4, 6, 8, 10]: median 7, P90 8 + 0.7 × 2 = 9.4.
    # Answer [48, 72, 480]: median 72, P90 72 + 0.8 × 408 = 398.4.
    assert rows["SXD"] == expected(
        counts(
            received=4,
            routed_automatically=3,
            routed_triage=1,
            accepted=4,
            answered=3,
            answered_on_time=2,
            answered_late=1,
            open=1,
            overdue=1,
            transfers=1,
            rated=3,
            satisfied=2,
        ),
        (4, 7.0, 9.4),
        (3, 72.0, 398.4),
        competence=4,
        unsatisfied=1,
        late=2,
        excluded=2,
    )
    # CATP: C4 open (not yet due), C5 rejected: nothing answered, nothing timed.
    assert rows["CATP"] == expected(
        counts(received=2, routed_automatically=2, rejected=1, open=1),
        (0, None, None),
        (0, None, None),
        competence=1,
        unsatisfied=0,
        late=0,
        excluded=0,
    )
    assert rows["CATP"]["ratio_766"]["on_time"]["value"] == 0.0
    assert rows["CATP"]["ratio_766"]["satisfaction"]["value"] == 1.0
    # The ward's committee: C7, answered on time after a reopening; 100% meets the target.
    assert rows["p-ben-thanh"] == expected(
        counts(
            received=1,
            routed_automatically=1,
            accepted=1,
            answered=1,
            answered_on_time=1,
            reopened=1,
        ),
        (1, 2.0, 2.0),
        (1, 24.0, 24.0),
        competence=1,
        unsatisfied=0,
        late=0,
        excluded=0,
    )
    assert rows["p-ben-thanh"]["meets_on_time_target"] is True
    assert rows["p-ben-thanh"]["ratio_766"]["on_time_meets_target"] is True
    # The triage desk's anonymous feedback counts as feedback only.
    assert rows["VPUBND"] == expected(
        counts(feedback=1),
        (0, None, None),
        (0, None, None),
        competence=0,
        unsatisfied=0,
        late=0,
        excluded=0,
    )


def test_months_are_local_time_and_date_filter_is_local(seeded: Engine) -> None:
    report = build_complaint_report(seeded, [["month"]], now=NOW).to_dict()
    months = {m: (r["received"], r["feedback"]) for m, r in _rows(report).items()}
    # C3 was received at 20:00 UTC on 31 March: 03:00 on 1 April in Ho Chi Minh City.
    assert months == {"2026-02": (1, 0), "2026-03": (3, 1), "2026-04": (3, 0)}
    march = build_complaint_report(
        seeded, [["unit"]], date(2026, 3, 1), date(2026, 3, 31), now=NOW
    ).to_dict()
    # C1 C2 C5 and the feedback C6; C3 (local April) and C8 (February) are outside.
    assert march["overall"]["received"] == 3 and march["overall"]["feedback"] == 1
    assert march["overall"]["open"] == 0 and march["overall"]["rejected"] == 1
    assert march["filters"] == {"from": "2026-03-01", "to": "2026-03-31"}
    april_first = build_complaint_report(
        seeded, [["unit"]], date(2026, 4, 1), date(2026, 4, 1), now=NOW
    ).to_dict()
    assert april_first["overall"]["received"] == 1  # C3 only
    quarters = _rows(build_complaint_report(seeded, [["quarter"]], now=NOW).to_dict())
    assert {q: r["received"] for q, r in quarters.items()} == {"2026-Q1": 4, "2026-Q2": 3}


def test_by_ward_and_channel_and_combined(seeded: Engine) -> None:
    report = build_complaint_report(
        seeded, [["ward"], ["channel"], ["unit", "month"]], now=NOW
    ).to_dict()
    wards = report["breakdowns"][0]["rows"]
    assert [(r["ward"], r["received"], r["feedback"]) for r in wards] == [
        ({"code": "p-ben-thanh", "name": "Phường Bến Thành"}, 2, 0),
        ({"code": None, "name": "(không rõ)"}, 5, 1),
    ]
    channels = {
        r["channel"]: (r["received"], r["feedback"]) for r in report["breakdowns"][1]["rows"]
    }
    assert channels == {"telegram": (4, 0), "web": (1, 0), "zalo": (2, 0), None: (0, 1)}
    combined = {
        (r["unit"]["code"], r["month"]): r["received"] for r in report["breakdowns"][2]["rows"]
    }
    assert combined == {
        ("CATP", "2026-03"): 1,
        ("CATP", "2026-04"): 1,
        ("p-ben-thanh", "2026-04"): 1,
        ("SXD", "2026-02"): 1,
        ("SXD", "2026-03"): 2,
        ("SXD", "2026-04"): 1,
        ("VPUBND", "2026-03"): 0,
    }


def test_open_and_overdue_are_taken_at_now(seeded: Engine) -> None:
    # A day later C4's due date (20 April, 23:59:59 local) has passed too.
    later = build_complaint_report(seeded, None, now=NOW + timedelta(days=1)).to_dict()
    assert later["overall"]["overdue"] == 2
    assert later["overall"]["ratio_766"]["late"] == 3
    before = build_complaint_report(seeded, None, now=utc("2026-04-05 00:00")).to_dict()
    assert before["overall"]["overdue"] == 0


def test_small_n_follows_min_n(seeded: Engine) -> None:
    report = build_complaint_report(seeded, None, min_n=3, now=NOW).to_dict()
    assert report["overall"]["satisfaction"]["small_n"] is False  # n = 3
    assert report["overall"]["on_time"]["small_n"] is False  # n = 4
    assert report["min_n"] == 3


def test_empty_database_reports_zeros(engine: Engine) -> None:
    report = build_complaint_report(engine, [["unit", "month"]], now=NOW).to_dict()
    assert report["overall"]["received"] == 0
    assert report["overall"]["on_time"]["value"] is None
    assert report["overall"]["hours_to_answer"] == {"n": 0, "median": None, "p90": None}
    assert report["breakdowns"] == [{"by": ["unit", "month"], "rows": []}]


def test_no_personal_data_in_any_output(seeded: Engine, tmp_path: Path) -> None:
    from reports import render

    with Session(seeded) as s:
        row = s.get(Complaint, 1)
        assert row is not None
        row.text = row.masked_text = "Nguyễn Văn Secret gọi 0900000123"
        row.contact_name, row.contact_phone = "Nguyễn Văn Secret", "0900000123"
        row.external_id = "chat-424242"
        s.add(row)
        s.commit()
    report = build_complaint_report(seeded, [["unit", "ward", "channel", "day"]], now=NOW)
    out = io.StringIO()
    render.write_complaints_json(report, out)
    render.write_complaints_csv(report, out)
    render.write_complaints_table(report, out, width=300)
    render.write_complaints_xlsx(report, tmp_path / "c.xlsx")
    wb = load_workbook(tmp_path / "c.xlsx")
    cells = " ".join(
        str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r
    )
    for secret in ("Secret", "0900000123", "424242", "văn bản"):
        assert secret not in out.getvalue() and secret not in cells


def test_percentile_is_linear_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([24.0, 48.0, 72.0, 480.0], 0.9) == pytest.approx(357.6)


def test_parse_by_and_local_range() -> None:
    assert parse_by(None) == (("unit", "month"),)
    assert parse_by(["ward,month", "channel"]) == (("ward", "month"), ("channel",))
    with pytest.raises(ValueError, match="unknown --by value 'procedure'"):
        parse_by(["procedure"])
    with pytest.raises(ValueError, match="two periods"):
        parse_by(["month,year"])
    dates = local_date_range(date(2026, 3, 1), date(2026, 3, 31))
    assert dates.start == utc("2026-02-28 17:00") and dates.end == utc("2026-03-31 17:00")


def test_a_dossier_with_a_complaint_is_excluded_from_the_766_procedure_ratio(
    engine: Engine,
) -> None:
    with Session(engine) as s:
        unit = Unit(code="STP", name="Sở Tư pháp")
        s.add(unit)
        s.flush()
        done = utc("2026-03-10 03:00")
        dossiers = []
        for code in ("D1", "D2", "D3"):
            d = Dossier(code=code, unit_id=unit.id, completed_at=done, due_at=done)
            s.add(d)
            s.flush()
            dossiers.append(d.id)
        # D2 has a complaint about its handling; D3's complaint was rejected (out of scope).
        linked = [(dossiers[1], "answered"), (dossiers[2], "rejected")]
        for i, (dossier_id, status) in enumerate(linked):
            s.add(
                Complaint(
                    key=f"d{i}",
                    code=f"PA-2026-00000{i + 1}",
                    status=status,
                    unit_id=unit.id,
                    dossier_id=dossier_id,
                    origin="dossier_reason",
                    text="x",
                    masked_text="x",
                    received_at=done,
                    due_at=done + timedelta(days=10),
                )
            )
        s.commit()
    plain = build_report(engine).to_dict()["overall"]["ratio_766"]
    assert (plain["dossiers"], plain["excluded"]) == (3, 0)
    with_complaints = build_report(
        engine, extra_766_exclusions=[dossier_complaint_exclusion]
    ).to_dict()["overall"]["ratio_766"]
    assert (with_complaints["dossiers"], with_complaints["excluded"]) == (3, 1)
    assert with_complaints["ratio"]["value"] == pytest.approx(0.6667)


# --------------------------------------------------------------------------- command line


@pytest.fixture
def app() -> typer.Typer:
    """The reports commands, as hailong/cli.py registers them."""
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)
    return application


@pytest.fixture
def use_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def point(url: str, **env: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_cli_json_csv_xlsx_table(
    app: typer.Typer, use_db: Any, seeded: Engine, db_url: str, tmp_path: Path
) -> None:
    use_db(db_url, REPORT_MIN_N="3")
    result = run(app, "report", "complaints", "-f", "json", "--by", "unit", "--by", "ward,month")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["report"] == "complaints" and data["min_n"] == 3
    assert [b["by"] for b in data["breakdowns"]] == [["unit"], ["ward", "month"]]
    overall = data["overall"]
    # Figures that do not depend on the clock (open/overdue are taken at the real now).
    for key in ("received", "feedback", "answered", "answered_on_time", "rated", "satisfied"):
        assert overall[key] == OVERALL[key]
    assert overall["hours_to_answer"] == OVERALL["hours_to_answer"]
    assert overall["satisfaction"]["small_n"] is False

    out = tmp_path / "c.csv"
    result = run(
        app, "report", "complaints", "-f", "csv", "--machine", "--by", "unit", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(BOM)
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    sxd = {r["measure"]: r for r in lines if r["unit_code"] == "SXD"}
    assert sxd["received"]["count"] == "4"
    assert sxd["hours_to_answer_p90"]["value"] == "398.4"
    assert float(sxd["on_time_rate"]["value"]) == pytest.approx(0.6667)
    assert sxd["on_time_rate"]["target"] == "1.0" and sxd["on_time_rate"]["meets_target"] == "0"
    assert sxd["ratio_766_on_time"]["value"] == "0.5"
    ward = next(
        r for r in lines if r["unit_code"] == "p-ben-thanh" and r["measure"] == "on_time_rate"
    )
    assert ward["meets_target"] == "1" and ward["unit_name"] == "UBND Phường Bến Thành"

    xlsx = tmp_path / "c.xlsx"
    result = run(app, "report", "complaints", "-f", "xlsx", "-o", str(xlsx), "--by", "unit")
    assert result.exit_code == 0, result.output
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["Tổng hợp PAKN", "Đơn vị"]
    units = list(wb["Đơn vị"].iter_rows(values_only=True))
    assert units[0][:3] == ("Đơn vị (mã)", "Đơn vị", "Tiếp nhận (có mã)")
    assert [r[0] for r in units[1:]] == ["CATP", "SXD", "VPUBND", "p-ben-thanh"]
    assert units[2][2] == 4

    result = run(app, "report", "complaints", "--by", "unit")
    assert result.exit_code == 0, result.output
    assert "Sở Xây dựng" in result.stdout and "Phản ánh, kiến nghị" in result.stdout
    assert "Mục tiêu: trả lời đúng hạn 100%" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["complaints", "--by", "procedure"], "unknown --by value 'procedure'"),
        (["complaints", "--by", "month,year"], "two periods"),
        (["complaints", "--from", "2026-02-30"], "not a valid date"),
        (["complaints", "--to", "30/03/2026"], "YYYY-MM-DD"),
        (["complaints", "--from", "2026-04-01", "--to", "2026-03-01"], "is after"),
        (["complaints", "-f", "pdf"], "unknown --format 'pdf'"),
        (["complains"], "unknown report 'complains'"),
    ],
)
def test_bad_arguments_refused(
    app: typer.Typer, use_db: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    use_db(f"sqlite:///{tmp_path}/missing.db")  # refused before the database is touched
    out = tmp_path / "out.json"
    result = run(app, "report", *args, "--out", str(out))
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert list(tmp_path.iterdir()) == []


def test_satisfaction_report_is_still_the_default(
    app: typer.Typer, use_db: Any, seeded: Engine, db_url: str
) -> None:
    use_db(db_url)
    for args in (["report", "-f", "json"], ["report", "satisfaction", "-f", "json"]):
        result = run(app, *args)
        assert result.exit_code == 0, result.output
        assert "overall_index" in json.loads(result.stdout)["overall"]


def test_entry_point_one_line_error_and_json(tmp_path: Path, seeded: Engine, db_url: str) -> None:
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    bad = subprocess.run(
        [str(HAILONG), "report", "complaints", "--by", "colour"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("hailong: error: unknown --by value 'colour'")
    assert bad.stderr.strip().count("\n") == 0
    good = subprocess.run(
        [str(HAILONG), "report", "complaints", "-f", "json", "--by", "channel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["overall"]["received"] == 7
