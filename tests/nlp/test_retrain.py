"""Staff corrections: recorded masked, merged, and a retrain never installs a worse model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.model import CARD_FILE, MODEL_FILE, CorpusError, ModelConfig, fit, load_corpus, save
from nlp.retrain import Correction, load_corrections, merge, record_correction, retrain


@pytest.fixture()
def small_model_dir(small_corpus: Path, tmp_path: Path) -> Path:
    texts, labels = load_corpus(small_corpus)
    directory = tmp_path / "model"
    save(fit(texts, labels), directory, training_data=(texts, labels))
    return directory


def test_corrections_are_recorded_masked_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "corrections.csv"
    record_correction(path, Correction("cúp nước, gọi 0901234567", "DIENLUC", "CAPNUOC"))
    record_correction(path, Correction("ổ gà đường Lê Lợi", "UBND_XA", "SXD"))
    items = load_corrections(path, known_labels=["CAPNUOC", "SXD"])
    assert [c.right_unit for c in items] == ["CAPNUOC", "SXD"]
    assert items[0].text == "cúp nước, gọi [SĐT]"
    assert "0901234567" not in path.read_text(encoding="utf-8")


def test_correction_with_unknown_unit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text,wrong_unit,right_unit\nabc,SXD,NOPE\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="NOPE"):
        load_corrections(path, known_labels=["SXD"])


def test_merge_lets_staff_relabel_and_add() -> None:
    texts, labels = merge(["a", "b"], ["X", "Y"], [Correction("a", "X", "Z"),
                                                    Correction("c", "Y", "X")])
    assert dict(zip(texts, labels, strict=True)) == {"a": "Z", "b": "Y", "c": "X"}


def test_retrain_never_replaces_a_better_model_with_a_worse_one(small_model_dir: Path) -> None:
    before = (small_model_dir / MODEL_FILE).read_bytes()
    card_before = (small_model_dir / CARD_FILE).read_text(encoding="utf-8")
    # A crippled recipe (character n-grams only, almost no capacity) is measurably worse.
    worse = ModelConfig(features="char", c=0.0005, augment_unaccented=False)
    report = retrain(small_model_dir, [], config=worse)
    assert report.new_macro_f1 < report.old_macro_f1
    assert not report.replaced
    assert (small_model_dir / MODEL_FILE).read_bytes() == before
    assert (small_model_dir / CARD_FILE).read_text(encoding="utf-8") == card_before


def test_retrain_with_useful_corrections_replaces_the_model(small_model_dir: Path) -> None:
    corrections = [
        Correction(f"quầy vé số {i} trước cổng chợ bị nhóm bảo kê thu tiền", "SCT", "CATP")
        for i in range(12)
    ]
    report = retrain(small_model_dir, corrections)
    assert report.replaced
    assert report.new_macro_f1 >= report.old_macro_f1
    card = json.loads((small_model_dir / CARD_FILE).read_text(encoding="utf-8"))
    assert "12 corrections" in card["data"]["source"]
    assert report.n_corrections == 12
