"""The XLSX report read back with openpyxl, and opened for real by LibreOffice: a cover sheet
first, statements beside their codes, wide-enough name columns, and a unit chart whose target
is a second series (a line) that LibreOffice draws."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image

from reports.render import write_xlsx
from tests.reports.render_sample import CRITERIA_TEXT, LONG_NAME, OTHER_LONG_NAME, sample_report

SHEETS = [
    "Giới thiệu",
    "Tổng hợp",
    "Đơn vị × Tháng",
    "Lĩnh vực",
    "Đơn vị",
    "QĐ 766",
    "Đánh giá 3 mức",
]


@pytest.fixture
def workbook_path(tmp_path: Path) -> Path:
    path = tmp_path / "report.xlsx"
    write_xlsx(sample_report(units=8), path)
    return path


def cover_text(path: Path) -> str:
    rows = load_workbook(path)["Giới thiệu"].iter_rows(values_only=True)
    return " ".join(" ".join(str(v) for v in row if v is not None) for row in rows)


def test_cover_sheet_comes_first_and_says_what_when_which_and_how(workbook_path: Path) -> None:
    assert load_workbook(workbook_path).sheetnames == SHEETS
    text = " ".join(cover_text(workbook_path).split())
    for expected in (
        "sipas – Khảo sát sự hài lòng (SIPAS)",  # which questionnaire
        "2025.1, 2026.1",  # and versions
        "2026-11-01 – 2026-11-30",  # from when to when
        "Asia/Ho_Chi_Minh",
        "Khoảng Wilson 95%",  # how
        "«Không ý kiến» và câu bỏ qua không nằm trong mẫu số",  # exclusions
        "mọi câu đã trả lời được giữ và tính",  # the incomplete-response rule
        "n < 30",
        "hồ sơ đúng hạn ≥ 98%",
        "170 hoàn thành; 18 chưa hoàn thành",
        "đã chốt lúc 2026-12-01 09:00 bởi chuyenvien.snv",
        "khi chốt 92.0%, hiện nay 90.0%",
    ):
        assert expected in text, expected


def test_cover_of_an_open_month_says_it_is_not_closed(tmp_path: Path) -> None:
    path = tmp_path / "open.xlsx"
    write_xlsx(sample_report(closed=False), path)
    assert "Chưa chốt" in cover_text(path)


def test_criteria_carry_their_statement_text(workbook_path: Path) -> None:
    wb = load_workbook(workbook_path)
    overall = list(wb["Tổng hợp"].iter_rows(values_only=True))
    assert overall[0][:3] == ("Chỉ tiêu", "Mã", "Nội dung")
    criteria = {r[1]: r[2] for r in overall if r[0] == "Tiêu chí"}
    assert criteria == CRITERIA_TEXT
    heads = next(wb["Đơn vị × Tháng"].iter_rows(values_only=True))
    assert f"CC1: {CRITERIA_TEXT['CC1']}" in heads
    assert "TCDV: Tiếp cận dịch vụ" in heads


def test_unit_name_columns_are_wide_enough(workbook_path: Path) -> None:
    wb = load_workbook(workbook_path)
    for sheet, column in (("Đơn vị", "C"), ("Đơn vị × Tháng", "B"), ("QĐ 766", "B")):
        assert wb[sheet].column_dimensions[column].width >= len(OTHER_LONG_NAME), sheet
    assert len(LONG_NAME) > 60  # the sample has names longer than the old 60-character cap


def test_unit_chart_has_the_index_bars_and_the_target_as_a_line(workbook_path: Path) -> None:
    units = load_workbook(workbook_path)["Đơn vị"]
    (chart,) = units._charts
    kinds = [type(part).__name__ for part in chart._charts]
    assert kinds == ["BarChart", "LineChart"]
    series = [s for part in chart._charts for s in part.series]
    assert len(series) == 2
    bar_ref = series[0].val.numRef.f
    line_ref = series[1].val.numRef.f
    heads = next(units.iter_rows(values_only=True))
    # Bars: the index column; line: the target column; over the 6 ranked units (rows 2-7),
    # not the 3 unranked ones after them.
    index, target = _letter(heads.index("Chỉ số")), _letter(heads.index("Mục tiêu"))
    assert bar_ref.endswith(f"${index}$2:${index}$7")
    assert line_ref.endswith(f"${target}$2:${target}$7")
    targets = [row[heads.index("Mục tiêu")] for row in units.iter_rows(min_row=2, values_only=True)]
    assert set(targets) == {0.95}


def test_766_sheet_has_dossiers_on_time_and_a_total(workbook_path: Path) -> None:
    rows = list(load_workbook(workbook_path)["QĐ 766"].iter_rows(values_only=True))
    heads = rows[0]
    assert "Hồ sơ đúng hạn" in heads and "Đạt mục tiêu đúng hạn" in heads
    bth = rows[1]
    assert bth[heads.index("Hồ sơ đúng hạn")] == pytest.approx(0.9867)
    assert rows[-1][0] == "Tổng" and rows[-1][heads.index("Số hồ sơ")] == 200


def _letter(index0: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index0 + 1))


# --------------------------------------------------------------------------- LibreOffice


def _colour_pixels(png: Path) -> int:
    """Pixels clearly coloured (saturated, unlike white, grey or black text and grid)."""
    saturation = Image.open(png).convert("RGB").convert("HSV").getchannel("S")
    return saturation.point(lambda s: 255 if s > 100 else 0).histogram()[255]


@pytest.mark.slow
def test_libreoffice_opens_it_and_draws_the_chart(workbook_path: Path, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; .ci/run installs it")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed; .ci/run installs it")
    # The same workbook without its chart: what the sheets alone look like.
    bare = tmp_path / "bare.xlsx"
    wb = load_workbook(workbook_path)
    wb["Đơn vị"]._charts = []
    wb.save(bare)
    out = tmp_path / "pdf"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path}/lo",  # a private profile per test
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(workbook_path),
            str(bare),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    coloured: dict[str, list[int]] = {}
    for name in ("report", "bare"):
        pdf = out / f"{name}.pdf"
        assert pdf.exists(), f"LibreOffice made no {pdf.name}"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "50", str(pdf), str(out / name)],
            check=True,
            timeout=120,
        )
        pages = sorted(out.glob(f"{name}-*.png"))
        coloured[name] = [_colour_pixels(page) for page in pages]
    # Every sheet printed (at least one page each).
    assert len(coloured["report"]) >= len(SHEETS)
    # The chart is drawn: a page with the bars and the target line in colour, where the
    # chartless workbook has (almost) none.
    assert max(coloured["report"]) > 300
    assert max(coloured["bare"]) < 30
    text = subprocess.run(
        ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in ("Báo cáo chỉ số hài lòng", "Tiếp cận dịch vụ", "Sở Xây dựng", "Tổng"):
        assert expected in text
