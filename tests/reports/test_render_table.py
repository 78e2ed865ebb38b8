"""The terminal table: says what and when, fits 100 columns, marks every row against the
target, lists unranked units after the ranked ones, and shows a closed month's changes."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
import typer
from typer.testing import CliRunner

import reports.cli
from base.settings import get_settings
from reports.build import Breakdown, Dim, ResponseCounts
from reports.render import write_table
from tests.reports.render_sample import LONG_NAME, OTHER_LONG_NAME, sample_report

WIDTH = 100


def table(**changes: object) -> str:
    report = sample_report()
    if changes:
        report = replace(report, **changes)  # type: ignore[arg-type]
    out = io.StringIO()
    write_table(report, out, width=WIDTH)
    return out.getvalue()


def section(text: str, title: str) -> list[str]:
    """The lines of the table titled `title` (header first), up to the blank line after it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    body: list[str] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        body.append(line)
    return body


def test_no_line_is_longer_than_100_columns_with_long_unit_names() -> None:
    text = table()
    too_long = [line for line in text.splitlines() if len(line) > WIDTH]
    assert too_long == []
    # Wrapping lost nothing: every word of the long names is printed.
    words = set(re.findall(r"\S+", text))
    for name in (LONG_NAME, OTHER_LONG_NAME):
        assert set(name.split()) <= words


def test_names_its_period_time_zone_questionnaire_and_versions_without_dates() -> None:
    text = table()
    assert "từ 2026-11-01 đến 2026-11-30" in text and "Asia/Ho_Chi_Minh" in text
    assert "Bộ câu hỏi: sipas – Khảo sát sự hài lòng (SIPAS); phiên bản: 2025.1, 2026.1" in text


def test_period_of_a_report_without_data_says_so() -> None:
    text = table(span=None, closed=None)
    assert "Kỳ báo cáo: không có dữ liệu" in text


def test_every_row_is_marked_against_the_target_and_small_samples_flagged() -> None:
    rows = section(table(), "Chỉ số hài lòng theo Đơn vị × Tháng")
    data = [line for line in rows if "2026-11" in line]
    assert len(data) == 5
    assert "100.0*" in data[-1]  # the element indices are there, even with the widest cells
    marks = [("Chưa đạt" in r) or (" Đạt" in r) or ("Không có" in r) for r in data]
    assert all(marks), data
    assert "70.8%*" in next(r for r in data if "SXD" in r)
    no_data = next(i for i, r in enumerate(rows) if "XTD" in r)
    assert "Không có" in rows[no_data] and "dữ liệu" in rows[no_data + 1]
    assert "Chưa đạt" not in rows[no_data]  # an empty row is not a missed target


def test_unranked_units_come_after_the_ranked_ones_with_the_reason() -> None:
    text = table()
    ranked = section(text, "Xếp hạng đơn vị")
    assert any(line.strip().startswith("1 ") for line in ranked[2:])
    assert not any("SXD" in line or "XTD" in line for line in ranked)
    unranked = section(text, "Đơn vị chưa xếp hạng")
    assert text.index("Xếp hạng đơn vị") < text.index("Đơn vị chưa xếp hạng")
    sxd = next(line for line in unranked if "SXD" in line)
    assert "chưa đủ số phiếu để xếp hạng" in sxd and "70.8%*" in sxd
    xtd = next(line for line in unranked if "XTD" in line)
    assert "không có dữ liệu" in xtd
    assert any("phiếu không gắn với đơn vị" in line for line in unranked)


def test_766_shows_dossiers_on_time_against_98_percent() -> None:
    text = table()
    rows = section(text, "Tỷ lệ hài lòng giải quyết TTHC (QĐ 766)")
    assert "Đúng hạn" in rows[0] and "MT98" in rows[0]
    bth = next(line for line in rows if "BTH" in line)
    assert "96.7%" in bth and "98.7%" in bth
    after = text[text.index("Tỷ lệ hài lòng giải quyết TTHC") : text.index("Đánh giá 3 mức")]
    total = next(line for line in after.splitlines() if line.startswith("Tổng"))
    assert "98.5%" in total
    assert "MT98: đúng hạn ≥ 98%" in " ".join(text.split())


def test_too_many_columns_leave_out_the_element_indices_never_the_marks() -> None:
    report = sample_report()
    by_procedure = [
        replace(row, keys={"unit": row.keys["unit"], "procedure": Dim("GPXD", OTHER_LONG_NAME)})
        for row in report.breakdowns[0].rows
    ]
    report.breakdowns.append(Breakdown(("unit", "procedure"), by_procedure))
    out = io.StringIO()
    write_table(report, out, width=WIDTH)
    text = out.getvalue()
    assert [line for line in text.splitlines() if len(line) > WIDTH] == []
    rows = section(text, "Chỉ số hài lòng theo Đơn vị × Thủ tục")
    assert "TCDV" not in rows[0] and "MT" in rows[0]
    data = [line for line in rows if "GPXD" in line]
    assert len(data) == 5
    assert all(("Đạt" in r) or ("Chưa đạt" in r) or ("Không có" in r) for r in data)
    assert "Chỉ số từng yếu tố không đủ chỗ ở độ rộng này" in text
    # The same report on a wide terminal keeps them.
    wide = io.StringIO()
    write_table(report, wide, width=160)
    assert "TCDV" in section(wide.getvalue(), "Chỉ số hài lòng theo Đơn vị × Thủ tục")[0]


def test_response_counts_are_shown() -> None:
    text = table(responses=ResponseCounts(complete=11, incomplete_kept=4, without_answers=2))
    line = " ".join(text.split())
    assert "Phiếu: 11 hoàn thành; 4 chưa hoàn thành" in line
    assert "2 không có câu trả lời hợp lệ (không tính)" in line


def test_closed_month_says_who_and_when_and_lists_changes() -> None:
    text = " ".join(table().split())
    # closed_at 02:00 UTC is 09:00 in Ho Chi Minh City.
    assert "Tháng 2026-11 đã chốt lúc 2026-12-01 09:00 bởi chuyenvien.snv" in text
    assert "Thay đổi sau khi chốt (2026-11)" in text
    assert "QĐ 766 · SXD · 2026-11 · tỷ lệ: khi chốt 92.0%, hiện nay 90.0%" in text
    assert "Thay đổi sau khi chốt" not in table(closed=None)


def test_legend_explains_every_abbreviated_header() -> None:
    text = " ".join(table().split())
    for short in ("n:", "KTC 95%:", "MT:", "KHL:", "Trừ:", "MT98:", "TCDV: Tiếp cận dịch vụ"):
        assert short in text


def test_field_breakdown_judges_the_every_field_target() -> None:
    assert "Mọi lĩnh vực ≥ 95%: chưa đạt (1/2 lĩnh vực đạt)" in table()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, scenario_url: str) -> typer.Typer:
    monkeypatch.setenv("DATABASE_URL", scenario_url)
    get_settings.cache_clear()
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)  # two commands: typer keeps the names
    return application


def test_cli_table_of_a_real_report_fits_100_columns(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["report", "--by", "unit,month", "--by", "element"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if len(line) > WIDTH] == []
    assert any(line.startswith("Kỳ báo cáo:") for line in lines)
    assert "Sở Xây dựng" in result.stdout
