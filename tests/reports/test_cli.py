"""`hailong report` through typer: every format read back, and bad input refused cleanly."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from openpyxl import load_workbook
from typer.testing import CliRunner, Result

import reports.cli
from base.errors import UserError
from base.settings import get_settings

BOM = b"\xef\xbb\xbf"
HAILONG = Path(sys.executable).parent / "hailong"


@pytest.fixture
def app() -> typer.Typer:
    """A fresh app with only the reports commands, as hailong/cli.py registers them."""
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)
    return application


@pytest.fixture
def use_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the settings at a database URL for one test."""

    def point(url: str, **env: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_report_json_to_file(app: typer.Typer, use_db, scenario_url: str, tmp_path: Path) -> None:
    use_db(scenario_url, REPORT_MIN_N="3")
    out = tmp_path / "report.json"
    result = run(app, "report", "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["min_n"] == 3 and data["target"] == 0.95
    assert data["overall"]["overall_index"]["value"] == pytest.approx(0.7625)
    assert data["breakdowns"][0]["by"] == ["unit", "month"]
    names = {r["unit"]["name"] for r in data["breakdowns"][0]["rows"]}
    assert "Sở Xây dựng" in names and "(không rõ)" in names


def test_report_json_to_stdout_with_repeated_by(
    app: typer.Typer, use_db, scenario_url: str
) -> None:
    use_db(scenario_url)
    result = run(
        app,
        "report",
        "-f",
        "json",
        "--by",
        "unit,quarter",
        "--by",
        "channel",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [b["by"] for b in data["breakdowns"]] == [["unit", "quarter"], ["channel"]]
    assert data["filters"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert data["period"] == "quarter"
    assert {r["quarter"] for r in data["ratio_766"]} == {"2026-Q1"}


def test_report_csv_has_bom_and_vietnamese(
    app: typer.Typer, use_db, scenario_url: str, tmp_path: Path
) -> None:
    use_db(scenario_url)
    out = tmp_path / "report.csv"
    result = run(app, "report", "--format", "csv", "--machine", "--out", str(out))
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["section"] == "overall"
    sxd = [r for r in rows if r["unit_name"] == "Sở Xây dựng" and r["section"] == "breakdown"]
    overall = next(r for r in sxd if r["measure"] == "overall_index" and r["month"] == "2026-03")
    assert float(overall["value"]) == pytest.approx(0.7083)
    assert overall["meets_target"] == "0"
    ratio = next(
        r
        for r in rows
        if r["section"] == "ratio_766"
        and r["unit_code"] == "SXD"
        and r["month"] == "2026-03"
        and r["measure"] == "ratio_766"
    )
    assert float(ratio["value"]) == 0.4


def test_report_xlsx_sheets_rows_and_chart(
    app: typer.Typer, use_db, scenario_url: str, tmp_path: Path
) -> None:
    use_db(scenario_url, REPORT_MIN_N="1")  # every unit with an answer is ranked
    out = tmp_path / "report.xlsx"
    result = run(
        app, "report", "-f", "xlsx", "-o", str(out), "--by", "unit,month", "--by", "element"
    )
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == [
        "Giới thiệu",
        "Tổng hợp",
        "Đơn vị × Tháng",
        "Yếu tố",
        "Đơn vị",
        "QĐ 766",
        "Đánh giá 3 mức",
    ]
    units = wb["Đơn vị"]
    rows = list(units.iter_rows(values_only=True))
    assert rows[0][:5] == ("Hạng", "Đơn vị (mã)", "Đơn vị", "Số phiếu", "Chỉ số")
    assert rows[1][:3] == (1, "XTD", "UBND phường Tân Định")
    assert rows[2][1] == "SXD" and rows[2][4] == pytest.approx(0.7083)
    assert len(units._charts) == 1  # bar chart of units against the target line
    monthly = list(wb["Đơn vị × Tháng"].iter_rows(values_only=True))
    assert len([r for r in monthly[1:] if r[3]]) == 3  # rows with answers (others: no data)
    r766 = list(wb["QĐ 766"].iter_rows(values_only=True))
    assert r766[1][:8] == ("SXD", "Sở Xây dựng", "2026-03", 5, 2, 2, 3, 0.4)


def test_report_table_is_readable(app: typer.Typer, use_db, scenario_url: str) -> None:
    use_db(scenario_url)
    result = run(app, "report")
    assert result.exit_code == 0, result.output
    assert "Sở Xây dựng" in result.stdout
    assert "2026-03" in result.stdout and "QĐ 766" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "colour"], "unknown --by value 'colour'"),
        (["--by", "month,year"], "two periods"),
        (["--from", "2026-13-01"], "not a valid date"),
        (["--from", "01/03/2026"], "YYYY-MM-DD"),
        (["--from", "2026-04-01", "--to", "2026-03-01"], "is after"),
        (["--format", "pdf"], "unknown --format 'pdf'"),
    ],
)
def test_bad_arguments_refused_without_output_file(
    app: typer.Typer, use_db, scenario_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    use_db(scenario_url)
    out = tmp_path / "out.json"
    result = run(app, "report", "-f", "json", *args, "--out", str(out))
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "cannot"),
        ("sqlite:///{tmp}/missing.db", "does not exist"),
        ("sqlite:///{tmp}/empty.db", "not up to date"),
    ],
)
def test_unusable_database_refused_without_output_file(
    app: typer.Typer, use_db, tmp_path: Path, url: str, message: str
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    if "empty.db" in url:
        (tmp_path / "empty.db").touch()  # a file, but never migrated
    use_db(url.format(tmp=tmp_path))
    for command in (["report", "-f", "csv"], ["export", "-f", "csv"]):
        out = folder / "out.csv"
        result = run(app, *command, "--out", str(out))
        assert result.exit_code != 0
        assert isinstance(result.exception, UserError)
        assert message in str(result.exception) and "\n" not in str(result.exception)
        assert list(folder.iterdir()) == []
    assert not (tmp_path / "missing.db").exists()  # not created by the attempt


def test_failure_while_writing_leaves_no_file(
    app: typer.Typer, use_db, scenario_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_db(scenario_url)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("reports.render.write_xlsx", broken)
    out = tmp_path / "report.xlsx"
    result = run(app, "report", "-f", "xlsx", "--out", str(out))
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def test_entry_point_prints_one_line_error(scenario_url: str, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    proc = subprocess.run(
        [str(HAILONG), "report", "--by", "colour", "-f", "csv", "--out", str(out)],
        env={"DATABASE_URL": scenario_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "--by" in proc.stderr
    assert not out.exists()


def test_entry_point_report_json(scenario_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(HAILONG), "report", "--format", "json", "--by", "unit"],
        env={"DATABASE_URL": scenario_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["breakdowns"][0]["by"] == ["unit"]
