"""The fast single-message path (nlp.model.FastPredictor) gives scikit-learn's answers: the same
TF-IDF rows, the same probabilities, the same routing, on the whole seed corpus with and
without diacritics; models of another structure fall back to the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nlp import model as nlp_model
from nlp.model import (
    FastPredictor,
    ModelConfig,
    TrainedModel,
    default_corpus_path,
    fit,
    load_corpus,
    prepare,
)
from nlp.router import Router
from nlp.text import strip_diacritics


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    """Every seed message, and every one that has diacritics once more without them, and a few
    that are not complaints or too vague to route."""
    texts, _ = load_corpus(default_corpus_path())
    bare = [strip_diacritics(t) for t in texts]
    return texts + [b for t, b in zip(texts, bare, strict=True) if b != t] + [
        "", "   ", "!!!", "😡", "xyzzy qwerty plugh", "a", "0901 234 567",
        # Vague enough for the triage desk (the seed messages are all in the training data)
        "Tôi muốn phản ánh một việc", "Đề nghị cơ quan chức năng kiểm tra",
    ]


@pytest.fixture(scope="module")
def prepared(default_model: TrainedModel, corpus_texts: list[str]) -> Any:
    return prepare(corpus_texts, default_model.config)


def _slow(model: TrainedModel) -> TrainedModel:
    """The same fitted pipeline, always predicting through scikit-learn."""
    return TrainedModel(model.pipeline, model.config, model.labels, use_fast_path=False)


def _top3(probs: Any) -> list[list[int]]:
    return [list(row.argsort()[::-1][:3]) for row in probs]


def test_default_model_gets_the_fast_path(default_model: TrainedModel) -> None:
    assert isinstance(default_model.fast_predictor(), FastPredictor)
    assert _slow(default_model).fast_predictor() is None


def test_tfidf_rows_equal_sklearn(default_model: TrainedModel, prepared: Any) -> None:
    fast = default_model.fast_predictor()
    assert fast is not None
    reference = default_model.pipeline.steps[0][1].transform(prepared).tocsr()
    for i in range(len(prepared)):
        indices, values = fast.features(prepared[i])
        expected = reference[[i]]
        assert list(indices) == list(expected.indices), i  # same sparsity, same order
        assert np.allclose(values, expected.data, rtol=0, atol=1e-12), i


def test_probabilities_equal_sklearn_single_small_and_large_batches(
    default_model: TrainedModel, prepared: Any
) -> None:
    fast = default_model.fast_predictor()
    assert fast is not None
    reference = default_model.pipeline.predict_proba(prepared)
    single = np.vstack([fast.predict_proba(prepared[i : i + 1]) for i in range(len(prepared))])
    step = nlp_model.SMALL_BATCH
    small = np.vstack([
        fast.predict_proba(prepared[i : i + step]) for i in range(0, len(prepared), step)
    ])
    large = fast.predict_proba(prepared)
    for probs in (single, small, large):
        assert probs.shape == reference.shape
        assert np.allclose(probs, reference, rtol=0, atol=1e-9)
        assert _top3(probs) == _top3(reference)
    # scikit-learn one message at a time, as the router called it before (a sample: ~2 ms each)
    for i in range(0, len(prepared), 25):
        one = default_model.pipeline.predict_proba(prepared[i : i + 1])
        assert np.allclose(single[i], one[0], rtol=0, atol=1e-9)


def _same_routing(a: Sequence[Any], b: Sequence[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.unit, x.predicted_unit, x.needs_triage, x.unit_name, x.ward, x.masked_text) == (
            y.unit, y.predicted_unit, y.needs_triage, y.unit_name, y.ward, y.masked_text
        )
        assert [u for u, _ in x.candidates] == [u for u, _ in y.candidates]
        assert np.allclose([s for _, s in x.candidates], [s for _, s in y.candidates],
                           rtol=0, atol=1e-9)
        assert abs(x.confidence - y.confidence) <= 1e-9


def test_routing_is_unchanged(router: Router, corpus_texts: list[str]) -> None:
    slow = Router(_slow(router.model), units=router.units, wards=router.wards,
                  threshold=router.threshold)
    reference = slow.route_many(corpus_texts)
    assert any(r.needs_triage for r in reference) and not all(r.needs_triage for r in reference)
    _same_routing([router.route(t) for t in corpus_texts], reference)
    _same_routing(router.route_many(corpus_texts), reference)
    for threshold in (0.3, 0.8):
        at = Router(router.model, units=router.units, wards=router.wards, threshold=threshold)
        slow_at = Router(slow.model, units=router.units, wards=router.wards, threshold=threshold)
        sample = corpus_texts[::7]
        _same_routing([at.route(t) for t in sample], slow_at.route_many(sample))


def test_empty_batch_routes_to_nothing(router: Router) -> None:
    assert router.route_many([]) == []


@pytest.fixture(scope="module")
def small_data(small_corpus: Path) -> tuple[list[str], list[str]]:
    return load_corpus(small_corpus)


def _check_fast_equals_sklearn(model: TrainedModel, texts: list[str]) -> None:
    assert model.fast_predictor() is not None
    texts = texts + [strip_diacritics(t) for t in texts] + ["", "xyzzy"]
    reference = _slow(model).predict_proba(texts)
    assert np.allclose(model.predict_proba(texts), reference, rtol=0, atol=1e-9)
    singles = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(singles, reference, rtol=0, atol=1e-9)
    assert _top3(singles) == _top3(reference)


def test_other_supported_recipes_match_sklearn(small_data: tuple[list[str], list[str]]) -> None:
    texts, labels = small_data
    sample = texts[::9]
    # one SVM per calibration fold (several calibrated classifiers, averaged)
    _check_fast_equals_sklearn(fit(texts, labels, ModelConfig(calibration_ensemble=True)), sample)
    # character n-grams on the unaccented view as a third block of columns
    _check_fast_equals_sklearn(fit(texts, labels, ModelConfig(features="syllable+char")), sample)
    # two units: one score column, the probability of the first unit is 1 - the second's
    two = [(t, y) for t, y in zip(texts, labels, strict=True) if y in ("SXD", "SYT")]
    binary = fit([t for t, _ in two], [y for _, y in two])
    assert len(binary.labels) == 2
    _check_fast_equals_sklearn(binary, [t for t, _ in two][::3])


@pytest.mark.parametrize("classifier", ["nb", "logreg"])
def test_unexpected_classifier_falls_back_to_sklearn(
    small_data: tuple[list[str], list[str]], classifier: str
) -> None:
    texts, labels = small_data
    model = fit(texts, labels, ModelConfig(classifier=classifier))
    assert model.fast_predictor() is None
    sample = texts[::20]
    expected = model.pipeline.predict_proba(prepare(sample, model.config))
    assert (model.predict_proba(sample) == expected).all()
    assert (model.predict_proba(sample[:1]) == expected[:1]).all()


def test_unexpected_pipeline_shape_falls_back(default_model: TrainedModel) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MaxAbsScaler

    steps = default_model.pipeline.steps
    columns = steps[0][1].transform(prepare(["đường ngập"], default_model.config))
    scaler = MaxAbsScaler().fit(columns)
    odd = Pipeline([steps[0], ("scale", scaler), steps[1]])
    assert FastPredictor.from_pipeline(odd) is None
    assert FastPredictor.from_pipeline(steps[1][1]) is None
    assert FastPredictor.from_pipeline(object()) is None
    model = TrainedModel(odd, default_model.config, default_model.labels)
    assert model.fast_predictor() is None
    expected = odd.predict_proba(prepare(["cúp điện cả ngày"], default_model.config))
    assert (model.predict_proba(["cúp điện cả ngày"]) == expected).all()


def test_fast_path_follows_a_replaced_pipeline(
    default_model: TrainedModel, small_data: tuple[list[str], list[str]]
) -> None:
    texts, labels = small_data
    model = TrainedModel(default_model.pipeline, default_model.config, default_model.labels)
    first = model.fast_predictor()
    assert first is not None and model.fast_predictor() is first
    model.pipeline = fit(texts, labels, ModelConfig(classifier="nb")).pipeline
    assert model.fast_predictor() is None
    model.pipeline = default_model.pipeline
    assert model.fast_predictor() is not None
