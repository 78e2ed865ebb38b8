"""CSV: Vietnamese headers and words for analysts by default; the stable machine form (English
snake_case columns and codes) behind `--format csv --machine`, for both reports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import reports.cli
from base.errors import UserError
from base.settings import get_settings
from reports.render import CSV_COLUMNS, write_csv
from tests.reports.render_sample import CRITERIA_TEXT, sample_report
from tests.reports.test_complaints_report import seed

BOM = b"\xef\xbb\xbf"
# The machine columns as they were before the analyst form existed: a program reading them
# by position or by name keeps working; new columns only ever come after these.
STABLE_PREFIX = [
    "section",
    "by",
    "unit_code",
    "unit_name",
    "procedure_code",
    "procedure_name",
    "element",
    "channel",
    "day",
    "month",
    "quarter",
    "year",
    "rank",
    "measure",
    "code",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "small_n",
    "meets_target",
    "count",
]


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_analyst_csv_speaks_vietnamese() -> None:
    out = io.StringIO()
    write_csv(sample_report(), out)
    text = out.getvalue()
    header = text.splitlines()[0].split(",")
    assert header[:4] == ["Phần", "Phân tổ theo", "Mã đơn vị", "Đơn vị"]
    assert "section" not in header and "measure" not in header
    rows = rows_of(text)
    cc1 = next(r for r in rows if r["Phần"] == "Tổng hợp" and r["Mã tiêu chí/mức"] == "CC1")
    assert cc1["Chỉ tiêu"] == "Tỷ lệ hài lòng tiêu chí"
    assert cc1["Nội dung"] == CRITERIA_TEXT["CC1"]  # the statement beside its code
    overall = next(r for r in rows if r["Chỉ tiêu"] == "Chỉ số hài lòng chung")
    assert overall["Đạt mục tiêu"] == "Chưa đạt" and overall["Mẫu nhỏ"] == "Không"
    monthly = [r for r in rows if r["Phân tổ theo"] == "Đơn vị × Tháng"]
    xtd = next(r for r in monthly if r["Mã đơn vị"] == "XTD")
    assert xtd["Đạt mục tiêu"] == "" and xtd["Giá trị"] == ""  # no data: not judged
    sxd = next(r for r in rows if r["Phần"] == "Xếp hạng đơn vị" and r["Mã đơn vị"] == "SXD")
    assert sxd["Chưa xếp hạng vì"] == "chưa đủ số phiếu để xếp hạng" and sxd["Hạng"] == ""
    on_time = next(r for r in rows if r["Chỉ tiêu"] == "Tỷ lệ hồ sơ đúng hạn")
    assert float(on_time["Giá trị"]) == pytest.approx(0.985)
    assert {r["Lĩnh vực"] for r in rows if r["Phân tổ theo"] == "Lĩnh vực"} == {
        "Xây dựng",
        "Đất đai",
    }


def test_machine_csv_keeps_the_stable_english_columns() -> None:
    out = io.StringIO()
    write_csv(sample_report(), out, machine=True)
    rows = rows_of(out.getvalue())
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert list(CSV_COLUMNS[: len(STABLE_PREFIX)]) == STABLE_PREFIX
    assert rows[0]["section"] == "overall" and rows[0]["measure"] == "overall_index"
    assert rows[0]["meets_target"] == "0" and rows[0]["small_n"] == "0"
    units = [r for r in rows if r["section"] == "units" and r["measure"] == "overall_index"]
    assert [(r["unit_code"], r["rank"], r["unranked"]) for r in units] == [
        ("BTH", "1", ""),
        ("TTHCC2", "2", ""),
        ("SXD", "", "small_n"),
        ("XTD", "", "no_data"),
        ("", "", "unknown_unit"),
    ]
    on_time = [r for r in rows if r["measure"] == "dossiers_on_time"]
    assert on_time and on_time[0]["meets_target"] == "1"
    fields = {r["field"] for r in rows if r["by"] == "field"}
    assert fields == {"Xây dựng", "Đất đai"}


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)
    yield application
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()


def test_cli_csv_default_is_vietnamese_and_machine_is_english(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch, scenario_url: str, tmp_path: Path
) -> None:
    use(monkeypatch, scenario_url)
    for args, first in ((["--format", "csv"], "Phần"), (["-f", "csv", "--machine"], "section")):
        out = tmp_path / "r.csv"
        result = CliRunner().invoke(app, ["report", *args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        raw = out.read_bytes()
        assert raw.startswith(BOM)
        assert raw.decode("utf-8-sig").split(",", 1)[0] == first


def test_cli_complaints_csv_follows_the_same_rule(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    seed(engine)  # the complaints report's hand-computed scenario (SQLite and PostgreSQL)
    use(monkeypatch, db_url)
    out = tmp_path / "c.csv"
    result = CliRunner().invoke(
        app, ["report", "complaints", "-f", "csv", "--by", "unit", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = rows_of(out.read_bytes().decode("utf-8-sig"))
    assert list(rows[0])[:4] == ["Phần", "Phân tổ theo", "Mã đơn vị", "Đơn vị"]
    sxd = {r["Chỉ tiêu"]: r for r in rows if r["Mã đơn vị"] == "SXD"}
    assert sxd["Tiếp nhận (có mã)"]["Số lượng"] == "4"
    assert sxd["Tỷ lệ trả lời đúng hạn"]["Đạt mục tiêu"] == "Chưa đạt"
    assert "Số giờ đến khi trả lời (P90)" in sxd
    result = CliRunner().invoke(
        app, ["report", "complaints", "-f", "csv", "--machine", "--by", "unit", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    machine = rows_of(out.read_bytes().decode("utf-8-sig"))
    assert list(machine[0])[:3] == ["section", "by", "unit_code"]


@pytest.mark.parametrize("fmt", ["json", "table", "xlsx"])
def test_machine_is_for_csv_only(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    use(monkeypatch, f"sqlite:///{tmp_path}/missing.db")  # refused before the database
    result = CliRunner().invoke(
        app, ["report", "-f", fmt, "--machine", "--out", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, UserError)
    assert "--machine applies to --format csv only" in str(result.exception)
    assert list(tmp_path.iterdir()) == []
