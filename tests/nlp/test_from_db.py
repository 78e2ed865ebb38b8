"""`hailong nlp eval|retrain --from-db`: the router's live accuracy and its learning from
handled complaints, on SQLite and PostgreSQL (the `engine` fixture), in a real subprocess."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hailong.nlp_db import as_corrections, live_accuracy
from nlp.model import (
    CARD_FILE,
    MODEL_FILE,
    TRAINING_DATA_FILE,
    default_corpus_path,
    fit,
    load_corpus,
    save,
)
from storage import routing_examples
from storage.models import Complaint, RoutingExample, Unit
from tests.test_cli import hailong, one_line_error

UNITS = [
    ("SXD", None), ("CATP", None), ("SCT", None), ("DIENLUC", None), ("CAPNUOC", None),
    ("VPUBND", None), ("UBND_XA", None), ("p-ben-thanh", "UBND_XA"),
    ("NOT_IN_CATALOGUE", None),
]


_KEYS = itertools.count(1)


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def add_units(engine: Engine) -> dict[str, int]:
    ids: dict[str, int] = {}
    with Session(engine) as s:
        for code, parent in UNITS:
            unit = Unit(code=code, name=code, parent_code=parent)
            s.add(unit)
            s.flush()
            assert unit.id is not None
            ids[code] = unit.id
        s.commit()
    return ids


def add_complaint(
    engine: Engine,
    units: dict[str, int],
    text: str,
    predicted: str | None,
    examples: list[tuple[str, str, str]],
) -> None:
    """A complaint and its examples, each (UTC time, final unit, reason)."""
    received = utc(examples[0][0]) - timedelta(days=1)
    holder = examples[-1][1]
    with Session(engine) as s:
        row = Complaint(
            key=f"k{next(_KEYS)}", status="answered",
            unit_id=units.get(holder, units["VPUBND"]),
            units_involved=[holder], predicted_unit=predicted, text=text, masked_text=text,
            received_at=received, due_at=received + timedelta(days=10),
        )
        s.add(row)
        s.flush()
        assert row.id is not None
        for at, final, reason in examples:
            s.add(RoutingExample(complaint_id=row.id, at=utc(at), masked_text=text,
                                 predicted_unit=predicted, final_unit=final, reason=reason))
        s.commit()


@pytest.fixture
def handled(engine: Engine, db_url: str) -> str:
    """Eight handled complaints over March and April 2026 (worked out by hand in the tests).

    March (local): C1 SXD→SXD ✓, C2 SCT→CATP ✗ (transfer then answer), C3 UBND_XA→ward ✓,
    C8 no prediction. April (local): C4 DIENLUC→CAPNUOC ✗ (transferred at 31 March 18:00 UTC
    = 1 April 01:00 in Ho Chi Minh City, not answered yet), C5 CAPNUOC ✓, C6 SCT→SXD ✗
    (transferred to CATP in March, then to SXD and answered in April), C7 SCT→CATP ✗.
    """
    units = add_units(engine)
    add_complaint(engine, units, "ổ gà đường Lê Lợi", "SXD",
                  [("2026-03-10 03:00", "SXD", "answered")])
    add_complaint(engine, units, "bảo kê chợ", "SCT",
                  [("2026-03-05 03:00", "CATP", "transfer"),
                   ("2026-03-12 03:00", "CATP", "answered")])
    add_complaint(engine, units, "rác hẻm phường Bến Thành", "UBND_XA",
                  [("2026-03-20 03:00", "p-ben-thanh", "answered")])
    add_complaint(engine, units, "đồng hồ nước chạy sai", "DIENLUC",
                  [("2026-03-31 18:00", "CAPNUOC", "transfer")])
    add_complaint(engine, units, "mất nước cả tuần", "CAPNUOC",
                  [("2026-04-15 03:00", "CAPNUOC", "answered")])
    add_complaint(engine, units, "vỉa hè bị lấn chiếm", "SCT",
                  [("2026-03-28 03:00", "CATP", "transfer"),
                   ("2026-04-02 03:00", "SXD", "transfer"),
                   ("2026-04-03 03:00", "SXD", "answered")])
    add_complaint(engine, units, "trộm xe trước chợ", "SCT",
                  [("2026-04-10 03:00", "CATP", "answered")])
    add_complaint(engine, units, "cống bốc mùi", None,
                  [("2026-03-15 03:00", "SXD", "answered")])
    return db_url


# --- eval --------------------------------------------------------------------------------


def test_eval_by_month_by_hand(handled: str) -> None:
    result = hailong("nlp", "eval", "--from-db", "--json", db=handled)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["timezone"] == "Asia/Ho_Chi_Minh"
    assert (report["n"], report["correct"], report["unpredicted"]) == (7, 3, 1)
    assert report["accuracy"] == pytest.approx(3 / 7)
    assert report["confusions"][0] == {"predicted": "SCT", "final": "CATP", "n": 2}
    assert {(c["predicted"], c["final"], c["n"]) for c in report["confusions"]} == {
        ("SCT", "CATP", 2), ("DIENLUC", "CAPNUOC", 1), ("SCT", "SXD", 1)}
    march, april = report["months"]
    # The ward that answered C3 counts as UBND_XA, which the router predicted: right.
    assert (march["month"], march["n"], march["correct"]) == ("2026-03", 3, 2)
    assert march["accuracy"] == pytest.approx(2 / 3)
    assert march["confusions"] == [{"predicted": "SCT", "final": "CATP", "n": 1}]
    assert (april["month"], april["n"], april["correct"]) == ("2026-04", 4, 1)
    assert april["accuracy"] == pytest.approx(1 / 4)


def test_eval_period_is_local_days_over_final_examples(handled: str) -> None:
    march = json.loads(hailong("nlp", "eval", "--from-db", "--json", "--to", "2026-03-31",
                               db=handled).stdout)
    # C4 (31 March 18:00 UTC) is April locally; C6's March transfer is not its final unit.
    assert [m["month"] for m in march["months"]] == ["2026-03"]
    assert (march["n"], march["correct"], march["to"]) == (3, 2, "2026-03-31")
    april = json.loads(hailong("nlp", "eval", "--from-db", "--json", "--from", "2026-04-01",
                               "--to", "2026-04-30", db=handled).stdout)
    assert (april["n"], april["correct"], april["unpredicted"]) == (4, 1, 0)


def test_eval_table(handled: str) -> None:
    result = hailong("nlp", "eval", "--from-db", db=handled, env={"COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "2026-03" in out and "2026-04" in out and "tổng" in out
    assert "66.7%" in out and "25.0%" in out and "42.9%" in out
    assert "SCT→CATP (2)" in out
    assert "1 phản ánh không có đơn vị dự đoán" in out


def test_empty_table_is_a_clear_message(engine: Engine, db_url: str) -> None:
    result = hailong("nlp", "eval", "--from-db", db=db_url)
    assert result.returncode == 0, result.stderr
    assert "bảng routing_example trống" in result.stdout
    data = json.loads(hailong("nlp", "eval", "--from-db", "--json", db=db_url).stdout)
    assert (data["n"], data["accuracy"], data["months"]) == (0, None, [])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--from-db", "--from", "2026-13-01"], "--from '2026-13-01' is not a valid date"),
        (["eval", "--from-db", "--to", "1/4/2026"], "--to '1/4/2026' is not a date"),
        (["eval", "--from-db", "--from", "2026-04-02", "--to", "2026-04-01"], "is after --to"),
        (["retrain", "--from-db", "--from", "hôm qua"], "--from 'hôm qua' is not a date"),
        (["eval", "--from", "2026-04-01"], "need --from-db"),
        (["eval", "--from-db", "--data", "x.csv"], "do not apply"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], expected: str, sqlite_url: str) -> None:
    one_line_error(hailong("nlp", *args, db=sqlite_url), expected)


def test_unmigrated_database_is_a_one_line_error(sqlite_url: str) -> None:
    one_line_error(hailong("nlp", "eval", "--from-db", db=sqlite_url), "hailong db upgrade")


# --- the pure parts ------------------------------------------------------------------------


def test_final_examples_and_ward_mapping(handled: str, engine: Engine) -> None:
    rows = routing_examples.final_examples(engine)
    assert len(rows) == 8  # one per complaint
    assert [r[4] for r in rows if r[2] == "vỉa hè bị lấn chiếm"] == ["SXD"]
    parents = dict(routing_examples.unit_parents(engine))
    assert parents == {"p-ben-thanh": "UBND_XA"}
    learned = as_corrections(rows, parents, known_labels=["SXD", "CATP", "UBND_XA", "CAPNUOC"])
    by_text = {c.text: c for c in learned.corrections}
    assert by_text["rác hẻm phường Bến Thành"].right_unit == "UBND_XA"
    assert by_text["cống bốc mùi"].wrong_unit == ""  # no prediction: still a labelled example
    assert (learned.n_examples, len(learned.corrections), learned.n_skipped) == (8, 8, 0)
    assert learned.n_router_wrong == 5  # C2, C4, C6, C7, and C8 with no prediction
    assert live_accuracy(rows, parents)["n"] == 7


def test_unknown_final_unit_is_skipped_for_training() -> None:
    at = utc("2026-03-01 00:00")
    rows = [(1, at, "a", "SXD", "NOT_IN_CATALOGUE", "answered"), (2, at, "  ", "SXD", "SXD",
                                                                   "answered")]
    learned = as_corrections(rows, {}, known_labels=["SXD"])
    assert (learned.corrections, learned.n_skipped) == ([], 2)


# --- retrain -------------------------------------------------------------------------------


@pytest.fixture
def small_model(tmp_path: Path) -> Path:
    """A model trained on 20 seed messages per unit (well under a second)."""
    texts, labels = load_corpus(default_corpus_path())
    seen: Counter[str] = Counter()
    keep = []
    for text, label in zip(texts, labels, strict=True):
        if seen[label] < 20:
            seen[label] += 1
            keep.append((text, label))
    directory = tmp_path / "model"
    save(fit([t for t, _ in keep], [y for _, y in keep]), directory,
         training_data=([t for t, _ in keep], [y for _, y in keep]))
    return directory


def test_retrain_learns_from_handled_complaints(engine: Engine, db_url: str,
                                                small_model: Path) -> None:
    units = add_units(engine)
    for i in range(12):
        add_complaint(engine, units, f"quầy vé số {i} trước cổng chợ bị nhóm bảo kê thu tiền",
                      "SCT", [(f"2026-03-{i + 1:02d} 03:00", "CATP", "answered")])
    for i in range(4):
        add_complaint(engine, units, f"đèn đường hẻm {i} phường Bến Thành tắt cả tháng",
                      "UBND_XA", [(f"2026-04-{i + 1:02d} 03:00", "p-ben-thanh", "answered")])
    before = (small_model / MODEL_FILE).read_bytes()
    result = hailong("nlp", "retrain", "--from-db", "--model", str(small_model), "--json",
                     db=db_url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["from_db"] == {"n_examples": 16, "n_used": 16, "n_router_wrong": 12,
                                 "n_skipped": 0}
    assert report["replaced"] and report["new_macro_f1"] >= report["old_macro_f1"]
    assert (small_model / MODEL_FILE).read_bytes() != before
    card = json.loads((small_model / CARD_FILE).read_text(encoding="utf-8"))
    assert "16 corrections" in card["data"]["source"]
    texts, labels = load_corpus(small_model / TRAINING_DATA_FILE)
    trained = dict(zip(texts, labels, strict=True))
    assert trained["đèn đường hẻm 0 phường Bến Thành tắt cả tháng"] == "UBND_XA"
    assert trained["quầy vé số 3 trước cổng chợ bị nhóm bảo kê thu tiền"] == "CATP"
    assert "p-ben-thanh" not in labels


def test_retrain_keeps_the_model_when_the_examples_make_it_worse(
    engine: Engine, db_url: str, small_model: Path
) -> None:
    # 150 near-copies of the model's own training messages, each answered by a random other
    # unit: contradicting labels the new model cannot learn, measurably worse on the hold-out.
    units = add_units(engine)
    texts, labels = load_corpus(small_model / TRAINING_DATA_FILE)
    codes = sorted(set(labels))
    rng = random.Random(2)
    pool = list(zip(texts, labels, strict=True))
    rng.shuffle(pool)
    start = utc("2026-03-01 03:00")
    for i, (text, label) in enumerate(pool[:150]):
        final = rng.choice([c for c in codes if c != label])
        at = (start + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M")
        add_complaint(engine, units, f"{text} (lần {i})", label, [(at, final, "answered")])
    before = (small_model / MODEL_FILE).read_bytes()
    card_before = (small_model / CARD_FILE).read_text(encoding="utf-8")
    result = hailong("nlp", "retrain", "--from-db", "--model", str(small_model), db=db_url)
    assert result.returncode == 0, result.stderr
    assert "Giữ mô hình cũ" in result.stdout
    assert "150 phản ánh đã xử lý" in result.stdout
    assert (small_model / MODEL_FILE).read_bytes() == before
    assert (small_model / CARD_FILE).read_text(encoding="utf-8") == card_before


def test_retrain_with_nothing_to_learn_keeps_the_model(engine: Engine, db_url: str,
                                                       small_model: Path) -> None:
    before = (small_model / MODEL_FILE).read_bytes()
    result = hailong("nlp", "retrain", "--from-db", "--model", str(small_model), db=db_url)
    assert result.returncode == 0, result.stderr
    assert "Không có ví dụ nào để học" in result.stdout
    data = json.loads(hailong("nlp", "retrain", "--from-db", "--model", str(small_model),
                              "--json", db=db_url).stdout)
    assert data["replaced"] is False and data["from_db"]["n_examples"] == 0
    assert (small_model / MODEL_FILE).read_bytes() == before
