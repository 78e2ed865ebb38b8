"""The ModelConfig variants of issue 16, item 5: each trains, saves, loads through the skops
safety checks, predicts the same after loading, and routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.model import (
    CARD_FILE,
    ModelConfig,
    _is_trusted,
    fit,
    load,
    load_corpus,
    model_rows,
    prepare,
    save,
)
from nlp.router import Router
from nlp.text import features_input

SAMPLE = ["cúp điện cả ngày", "nuoc may duc co can", "trường thu tiền học thêm",
          "Khu phố 3 ngập nặng, gọi tôi 0901 234 567"]

VARIANTS = {
    "raw-tf": ModelConfig(sublinear_tf=False),
    "pyvi": ModelConfig(word_segmenter="pyvi"),
    "underthesea": ModelConfig(word_segmenter="underthesea"),
    "svm+nb": ModelConfig(classifier="svm+nb"),
    "svm+logreg": ModelConfig(classifier="svm+logreg"),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains_saves_loads_and_routes(name: str, small_corpus: Path,
                                               tmp_path: Path) -> None:
    import skops.io as sio

    config = VARIANTS[name]
    if config.word_segmenter == "pyvi":
        pytest.importorskip("pyvi")
    texts, labels = load_corpus(small_corpus)
    model = fit(texts, labels, config)
    save(model, tmp_path)
    # Every type in the file is one the loader already trusts (scikit-learn, NumPy, SciPy):
    # no variant needs the policy widened, and the segmenter never enters the file.
    types = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert all(_is_trusted(t) for t in types), types
    assert not any("pyvi" in t or "underthesea" in t or "crfsuite" in t for t in types)
    loaded = load(tmp_path)
    assert loaded.config == config
    card = json.loads((tmp_path / CARD_FILE).read_text(encoding="utf-8"))["config"]
    assert (card["sublinear_tf"], card["word_segmenter"], card["classifier"]) == (
        config.sublinear_tf, config.word_segmenter, config.classifier
    )
    assert (loaded.predict_proba(SAMPLE) == model.predict_proba(SAMPLE)).all()
    results = Router(loaded).route_many(SAMPLE)
    assert [r.predicted_unit for r in results][:3] == ["DIENLUC", "CAPNUOC", "SGDDT"]
    assert all(0.0 < r.confidence <= 1.0 and len(r.candidates) == 3 for r in results)
    assert Router(loaded).route(SAMPLE[0]).predicted_unit == "DIENLUC"


def test_segmenter_view_is_a_third_column_and_the_fast_path_matches(small_corpus: Path) -> None:
    config = ModelConfig(word_segmenter="underthesea")
    texts, labels = load_corpus(small_corpus)
    model = fit(texts, labels, config)
    prepared = prepare(SAMPLE, config)
    assert prepared.shape == (len(SAMPLE), 3)
    assert "_" in prepared[3, 2] and "_" not in prepared[3, 0]  # "khu_phố" in the third view
    # The router passes (normalised, unaccented) pairs; the model adds its own third view.
    rows = [features_input(t) for t in SAMPLE]
    assert [tuple(r) for r in prepared] == list(model_rows(rows, config))
    assert model.fast_predictor() is not None
    reference = model.pipeline.predict_proba(prepared)
    assert abs(model.predict_proba_rows(rows) - reference).max() < 1e-9
    many = rows * 20  # above SMALL_BATCH: the ColumnTransformer branch of the fast path
    assert abs(model.predict_proba_rows(many) - model.pipeline.predict_proba(
        prepare(SAMPLE * 20, config))).max() < 1e-9


def test_default_config_is_unchanged_and_old_cards_load(small_corpus: Path,
                                                        tmp_path: Path) -> None:
    assert ModelConfig() == ModelConfig(features="syllable", classifier="svm", c=1.0,
                                        sublinear_tf=True, word_segmenter="")
    texts, labels = load_corpus(small_corpus)
    save(fit(texts, labels), tmp_path)
    # A card written before these options existed has no such keys: defaults apply.
    card_path = tmp_path / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    for key in ("sublinear_tf", "word_segmenter"):
        del card["config"][key]
    card_path.write_text(json.dumps(card), encoding="utf-8")
    assert load(tmp_path).config == ModelConfig()
    assert prepare(SAMPLE, ModelConfig()).shape == (len(SAMPLE), 2)


def test_unknown_segmenter_or_classifier_is_refused(small_corpus: Path) -> None:
    texts, labels = load_corpus(small_corpus)
    with pytest.raises(ValueError, match="segmenter"):
        fit(texts, labels, ModelConfig(word_segmenter="jieba"))
    with pytest.raises(ValueError, match="classifier"):
        fit(texts, labels, ModelConfig(classifier="svm+mlp"))


def test_variants_bench_errors_are_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "bench" / "nlp_variants.py"
    for args in (["--only", "nope"], ["--data", str(tmp_path), "--yardsticks", "uit"],
                 ["--merge", str(tmp_path / "missing.json")]):
        done = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
