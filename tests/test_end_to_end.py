"""A scripted terminal survey lands in the report with exactly the right numbers."""

from __future__ import annotations

import json

import pytest

from storage.db import make_engine
from tests.conftest import add_dossier
from tests.test_cli import hailong, migrated

# consent, dossier rating "Hài lòng", yes to SIPAS, submitted in person, then the statements.
ANSWERS = {
    "TCDV1": "5", "TCDV2": "4", "TCDV3": "3", "TCDV4": "0",
    "TTHC1": "rất hài lòng", "TTHC2": "5", "TTHC3": "bỏ qua", "TTHC4": "khong hai long",
    "CC1": "4", "CC2": "4", "CC3": "Hài lòng", "CC4": "4", "CC5": "1",
    "KQ1": "5", "KQ2": "5", "KQ3": "5",
    "PAKN1": "3", "PAKN2": "binh thuong", "PAKN3": "5",
}  # fmt: skip
SCRIPT = ["1", "2", "có", "1", *ANSWERS.values(), "1,2", "bỏ qua"]
EXPECTED_CRITERIA = {
    "TCDV1": 1.0, "TCDV2": 1.0, "TCDV3": 0.0, "TTHC1": 1.0, "TTHC2": 1.0, "TTHC4": 0.0,
    "CC1": 1.0, "CC2": 1.0, "CC3": 1.0, "CC4": 1.0, "CC5": 0.0,
    "KQ1": 1.0, "KQ2": 1.0, "KQ3": 1.0, "PAKN1": 0.0, "PAKN2": 0.0, "PAKN3": 1.0,
}  # fmt: skip
EXPECTED_ELEMENTS = {"TCDV": 2 / 3, "TTHC": 2 / 3, "CC": 0.8, "KQ": 1.0, "PAKN": 1 / 3}


def test_scripted_chat_then_json_report_shows_exactly_those_answers(db_url: str) -> None:
    migrated(db_url)
    add_dossier(make_engine(db_url), "HS-E2E", unit="SNV", unit_name="Sở Nội vụ")
    chat = hailong(
        "chat", "--user", "e2e", "--dossier", "HS-E2E", db=db_url, stdin="\n".join(SCRIPT) + "\n"
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.count("Cảm ơn Ông/Bà đã hoàn thành khảo sát") == 2

    result = hailong("report", "--format", "json", "--by", "unit", db=db_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (row,) = report["breakdowns"][0]["rows"]
    assert row["unit"]["code"] == "SNV" and row["respondents"] == 1
    criteria = {code: c["value"] for code, c in row["criteria"].items() if c["n"]}
    assert criteria == pytest.approx(EXPECTED_CRITERIA, abs=1e-4)
    assert all(row["criteria"][code]["n"] == 1 for code in EXPECTED_CRITERIA)
    elements = {code: e["value"] for code, e in row["elements"].items()}
    assert elements == pytest.approx(EXPECTED_ELEMENTS, abs=1e-4)
    assert row["overall_index"]["value"] == pytest.approx(
        sum(EXPECTED_ELEMENTS.values()) / 5, abs=1e-4
    )
    assert row["overall_index"]["small_n"] is True and row["meets_target"] is False

    (rating,) = report["rating3"]
    assert rating["n"] == 1 and rating["levels"]["hai_long"]["count"] == 1
    (ratio,) = report["ratio_766"]
    assert ratio["dossiers"] == 1 and ratio["ratio"]["value"] == 1.0
