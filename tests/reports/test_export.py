"""`hailong export`: anonymised answer rows, CSV with BOM, XLSX, streaming in bounded memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import reports.cli
from base.settings import get_settings
from reports.export import EXPORT_COLUMNS, export_answers
from reports.queries import answer_t, response_t
from storage.db import make_engine

ANSWERS_IN_SCENARIO = 5 + 1 + 4 + 4 + 2 + 1 + 7 + 3  # likert+single, ratings, reasons


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, scenario_url: str) -> typer.Typer:
    monkeypatch.setenv("DATABASE_URL", scenario_url)
    get_settings.cache_clear()
    application = typer.Typer()
    application.command("report")(reports.cli.report)
    application.command("export")(reports.cli.export)
    return application


@pytest.fixture(autouse=True)
def _fresh_settings() -> object:
    yield
    get_settings.cache_clear()


def _read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_export_csv_is_anonymous_and_complete(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "answers.csv"
    result = CliRunner().invoke(app, ["export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _read_csv(out)
    assert len(rows) == ANSWERS_IN_SCENARIO
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert "text" not in rows[0]
    content = out.read_text(encoding="utf-8-sig")
    assert "0903123456" not in content and "chờ quá lâu" not in content
    first = rows[0]
    assert first["questionnaire_code"] == "sipas" and first["questionnaire_version"] == "2025.1"
    assert first["unit_code"] == "SXD" and first["procedure_code"] == "GPXD"
    assert first["started_at"] == "2026-03-05T09:00:00+00:00"
    by_question = {r["question_code"]: r for r in rows if r["response_id"] == first["response_id"]}
    assert by_question["TCDV1"]["satisfied"] == "1" and by_question["CC1"]["satisfied"] == "0"
    assert by_question["CC2"]["status"] == "no_opinion" and by_question["CC2"]["score"] == ""


def test_export_free_text_only_on_request_and_masked(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "answers.csv"
    result = CliRunner().invoke(app, ["export", "--include-text", "--out", str(out)])
    assert result.exit_code == 0, result.output
    texts = [r["text"] for r in _read_csv(out) if r["text"]]
    assert texts and all("0903123456" not in t and "chờ quá lâu" in t for t in texts)


def test_export_free_text_masks_names_and_contacts_typed_to_dodge_filters(
    engine: Engine,
) -> None:
    """Issue 14, item 7: names, spaced and dotted phones, e-mails with "(at)" were exported."""
    typed = (
        "Tôi là Nguyễn Văn An, gọi 0 9 0 1 2 3 4 5 6 7 hoặc +84 90 123 4567, mail an (at) "
        "gmail (dot) com; chị Trần Thị Bích ở đường Lê Lợi hướng dẫn sai"
    )
    _bulk_answers(engine, 1, per_response=1)
    with engine.begin() as conn:
        conn.execute(sa.update(answer_t).values(kind="text", score=None, text=typed))
    out = io.StringIO()
    assert export_answers(engine, "csv", out, include_text=True) == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["text"] == (
        "Tôi là [TÊN], gọi [SĐT] hoặc [SĐT], mail [EMAIL]; chị [TÊN] ở đường Lê Lợi hướng dẫn sai"
    )
    with engine.connect() as conn:  # the stored answer is untouched
        assert conn.execute(sa.select(answer_t.c.text)).scalar_one() == typed


def test_export_xlsx_and_date_filter(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "answers.xlsx"
    result = CliRunner().invoke(
        app, ["export", "-f", "xlsx", "-o", str(out), "--from", "2026-04-01"]
    )
    assert result.exit_code == 0, result.output
    wb = load_workbook(out, read_only=True)
    rows = list(wb["Trả lời"].iter_rows(values_only=True))
    assert rows[0] == EXPORT_COLUMNS
    # April in Ho Chi Minh City: R4 (2 answers), R5 (06:30 on April 1st) and the ratings of
    # D6 and D8.
    assert len(rows) - 1 == 5
    assert {r[3] for r in rows[1:]} == {"SXD", "XTD", None}  # R5 has no unit


def test_export_rejects_unknown_format(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "answers.json"
    result = CliRunner().invoke(app, ["export", "-f", "json", "-o", str(out)])
    assert result.exit_code != 0
    assert "unknown --format 'json'" in str(result.exception)
    assert not out.exists()


def _bulk_answers(engine: Engine, responses: int, per_response: int) -> None:
    """Many answers quickly: executemany through Core, as the engine would store them."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        qid = conn.execute(
            sa.text(
                "INSERT INTO questionnaire (code, version, title, definition, created_at) "
                "VALUES ('sipas', '2025.1', 'sipas', '{}', '2026-01-01 00:00:00.000000') "
                "RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            response_t.insert(),
            [
                {
                    "key": f"bulk-{i}",
                    "questionnaire_id": qid,
                    "questionnaire_code": "sipas",
                    "channel": "web",
                    "status": "completed",
                    "started_at": start + timedelta(minutes=i),
                }
                for i in range(responses)
            ],
        )
        ids = conn.execute(sa.select(response_t.c.id)).scalars().all()
        conn.execute(
            answer_t.insert(),
            [
                {
                    "response_id": rid,
                    "question_code": f"CC{q}",
                    "element_code": "CC",
                    "kind": "likert5",
                    "status": "answered",
                    "score": 4,
                    "choice": "4",
                    "satisfied": True,
                    "answered_at": start,
                }
                for rid in ids
                for q in range(per_response)
            ],
        )


def _peak_export_memory(engine: Engine, out: Path, fmt: str) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = export_answers(engine, fmt, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def test_export_streams_in_bounded_memory(sqlite_url: str, tmp_path: Path) -> None:
    """Peak memory does not grow with the number of answers (10× more rows, same peak)."""
    small_url = sqlite_url
    large_path = tmp_path / "large.db"
    large_url = f"sqlite:///{large_path}"
    from storage.migrate import upgrade

    peaks = {}
    for url, responses in ((small_url, 400), (large_url, 4000)):
        engine = make_engine(url)
        if url == large_url:
            upgrade(engine)
        _bulk_answers(engine, responses, per_response=5)
        count, peak = _peak_export_memory(engine, tmp_path / f"{responses}.csv", "csv")
        assert count == responses * 5
        peaks[responses] = peak
        engine.dispose()
    # Materialising 20,000 rows would cost several MB; streaming stays at one batch.
    assert peaks[4000] < peaks[400] * 2 + 512 * 1024
    assert peaks[4000] < 4 * 1024 * 1024


def test_streamed_xlsx_escapes_text_and_rolls_over_sheets(tmp_path: Path) -> None:
    from reports.xlsx_stream import write_table_xlsx

    rows = [(i, f"Sở <{i}> & \x01 “Tân Định”", None, 0.5, True) for i in range(5)]
    out = tmp_path / "t.xlsx"
    count = write_table_xlsx(
        out, "Trả lời", ["id", "text", "none", "num", "flag"], rows, max_rows=3
    )
    assert count == 5
    wb = load_workbook(out)
    assert wb.sheetnames == ["Trả lời", "Trả lời 2", "Trả lời 3"]
    first = list(wb["Trả lời"].iter_rows(values_only=True))
    assert first == [
        ("id", "text", "none", "num", "flag"),
        (0, "Sở <0> &  “Tân Định”", None, 0.5, True),
        (1, "Sở <1> &  “Tân Định”", None, 0.5, True),
    ]
    assert [r[0] for r in wb["Trả lời 3"].iter_rows(values_only=True)] == ["id", 4]
    empty = tmp_path / "empty.xlsx"
    assert write_table_xlsx(empty, "Trả lời", ["id"], []) == 0
    assert list(load_workbook(empty).active.iter_rows(values_only=True)) == [("id",)]
