"""Corpus loading, the train -> save -> load -> predict round trip, and refusing tampered files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nlp.model import (
    CARD_FILE,
    MODEL_FILE,
    CorpusError,
    ModelConfig,
    ModelError,
    TrainedModel,
    _sha256,
    cross_validate,
    default_corpus_path,
    evaluate,
    fit,
    load,
    load_corpus,
    save,
)


def test_seed_corpus_has_at_least_60_messages_per_unit() -> None:
    texts, labels = load_corpus(default_corpus_path())
    counts = {label: labels.count(label) for label in set(labels)}
    assert len(counts) == 18
    assert min(counts.values()) >= 60
    assert len(set(texts)) == len(texts)


def test_load_corpus_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="không tìm thấy"):
        load_corpus(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("message,unit\nđường ngập,SXD\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="text,label"):
        load_corpus(bad)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,label\nđường ngập,SXDD\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="SXDD"):
        load_corpus(unknown, known_labels=["SXD"])


def test_fit_refuses_units_with_too_few_examples() -> None:
    with pytest.raises(CorpusError, match="ít nhất"):
        fit(["a b", "c d", "e f", "g h"], ["X", "X", "X", "Y"])


def test_round_trip_train_save_load_predict(small_corpus: Path, tmp_path: Path) -> None:
    texts, labels = load_corpus(small_corpus)
    model = fit(texts, labels)
    save(model, tmp_path, training_data=(texts, labels))
    loaded = load(tmp_path)
    sample = ["cúp điện cả ngày", "nước máy đục có cặn", "trường thu tiền học thêm"]
    assert loaded.labels == model.labels
    assert loaded.predict(sample) == model.predict(sample)
    assert (model.predict_proba(sample) == loaded.predict_proba(sample)).all()
    card = json.loads((tmp_path / CARD_FILE).read_text(encoding="utf-8"))
    assert card["sha256"] == _sha256(tmp_path / MODEL_FILE)
    assert card["versions"]["scikit-learn"]
    assert card["config"]["features"] == ModelConfig().features


def test_default_model_card_records_data_date_metrics_version(default_model_dir: Path) -> None:
    card = json.loads((default_model_dir / CARD_FILE).read_text(encoding="utf-8"))
    assert card["data"]["n"] >= 18 * 60
    assert card["created_at"]
    assert 0.6 < card["metrics"]["accuracy"] <= 1.0
    assert card["versions"]["hailong"]


def test_modified_model_file_is_refused(default_model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "m"
    shutil.copytree(default_model_dir, target)
    data = bytearray((target / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (target / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load(target)


def test_model_file_with_untrusted_types_is_refused_even_with_matching_card(
    default_model_dir: Path, tmp_path: Path
) -> None:
    """An attacker who also rewrites the card still cannot make us load arbitrary types."""
    import os

    import skops.io as sio

    target = tmp_path / "m"
    shutil.copytree(default_model_dir, target)
    sio.dump({"payload": os.system}, target / MODEL_FILE)
    card = json.loads((target / CARD_FILE).read_text(encoding="utf-8"))
    card["sha256"] = _sha256(target / MODEL_FILE)
    (target / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match="không tin cậy"):
        load(target)


def test_garbage_model_file_is_refused(default_model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "m"
    shutil.copytree(default_model_dir, target)
    (target / MODEL_FILE).write_bytes(b"not a zip at all")
    card = json.loads((target / CARD_FILE).read_text(encoding="utf-8"))
    card["sha256"] = _sha256(target / MODEL_FILE)
    (target / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError):
        load(target)


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        load(tmp_path)


def test_evaluate_reports_the_expected_metrics(default_model: TrainedModel) -> None:
    result = evaluate(default_model, ["cúp điện cả ngày", "nước máy đục"], ["DIENLUC", "CAPNUOC"])
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "ece"):
        assert key in result
    assert result["accuracy"] == 1.0


def test_cross_validation_runs_on_a_small_corpus(small_corpus: Path) -> None:
    texts, labels = load_corpus(small_corpus)
    keep = [i for i, label in enumerate(labels) if labels[: i + 1].count(label) <= 8]
    scores = cross_validate([texts[i] for i in keep], [labels[i] for i in keep], folds=2,
                            config=ModelConfig())
    assert 0.3 < scores["accuracy"] <= 1.0
    assert 0.0 <= scores["ece"] <= 1.0
