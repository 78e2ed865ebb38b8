"""The routing classifier: corpus loading, the scikit-learn pipeline, training, evaluation and
safe persistence (skops + a JSON model card).

Heavy imports (scikit-learn, skops, underthesea) happen inside functions so that importing
``nlp`` stays cheap for the CLI start-up.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from nlp.text import features_input, normalize, segment_words, strip_diacritics

log = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
CARD_FILE = "model_card.json"
TRAINING_DATA_FILE = "training_data.csv"  # what the model was trained on; retrain compares to it
FORMAT_VERSION = 1
MIN_EXAMPLES_PER_LABEL = 3  # calibration needs a few examples of each unit in every fold


class CorpusError(ValueError):
    """A training/evaluation CSV is missing, malformed or has unusable labels."""


class ModelError(RuntimeError):
    """A model directory is missing, incomplete, or its file was refused as unsafe."""


@dataclass(frozen=True)
class ModelConfig:
    """Feature and classifier choices. The defaults are the measured winners (nlp/README.md).

    features: "syllable" (word 1-2-grams on both views), "syllable+char" (plus character
    2-5-grams on the unaccented view) or "char".
    classifier: "svm" (LinearSVC, sigmoid-calibrated), "logreg" or "nb" (ComplementNB), or
    the averaged calibrated probabilities of two: "svm+nb", "svm+logreg".
    sublinear_tf: ``1 + log(tf)`` term counts in every vectoriser (False: raw counts).
    word_segmenter: "" (none), "pyvi" or "underthesea": adds a third view, the normalised
    accented text segmented into words ("khu_phố"), as word 1-2-grams beside the syllables.
    The variants and their measurements: nlp/README.md, "Feature variants (issue 16, item 5)".
    """

    features: str = "syllable"
    classifier: str = "svm"
    c: float = 1.0
    use_segmentation: bool = False
    augment_unaccented: bool = True
    calibration_folds: int = 3
    # One SVM calibrated on out-of-fold scores, rather than one SVM per fold: measured
    # faster to fit and predict, a third of the file size, and no worse (nlp/README.md).
    calibration_ensemble: bool = False
    class_weight: str | None = "balanced"
    sublinear_tf: bool = True
    word_segmenter: str = ""


def model_rows(
    rows: Sequence[tuple[str, ...]], config: ModelConfig
) -> Sequence[tuple[str, ...]]:
    """The rows the pipeline reads: ``features_input``'s (normalised, unaccented) pair, plus
    the word-segmented normalised text when ``config.word_segmenter`` asks for that view.

    Callers (the router) make the pair; the model adds its own extra view, so a model of any
    config routes through the same call.
    """
    if not config.word_segmenter:
        return rows
    return [
        row if len(row) > 2 else (row[0], row[1], segment_words(row[0], config.word_segmenter))
        for row in rows
    ]


@dataclass
class TrainedModel:
    """A fitted pipeline plus the facts its model card records.

    Predictions go through :class:`FastPredictor` (the same arithmetic without scikit-learn's
    per-call validation) when the pipeline has the expected shape, else through the pipeline.
    The pipeline stays the model: it is what is trained, saved and loaded.
    """

    pipeline: Any
    config: ModelConfig
    labels: list[str]
    card: dict[str, Any] = field(default_factory=dict)
    # False: always predict through the pipeline (the reference the fast path is tested on).
    use_fast_path: bool = True
    # Derived from ``pipeline`` on first use (and again if ``pipeline`` is replaced).
    _fast: FastPredictor | None = field(default=None, init=False, repr=False, compare=False)
    _fast_source: Any = field(default=None, init=False, repr=False, compare=False)

    def fast_predictor(self) -> FastPredictor | None:
        """The fast path for this pipeline, or None when its structure is not the expected one."""
        if not self.use_fast_path:
            return None
        if self._fast_source is not self.pipeline:
            self._fast = FastPredictor.from_pipeline(self.pipeline)
            self._fast_source = self.pipeline
            if self._fast is None:
                log.info("routing model of unexpected structure: using scikit-learn's predict")
        return self._fast

    def predict_proba(self, texts: Sequence[str]) -> Any:
        """Calibrated probabilities, one row per text, columns in ``self.labels`` order."""
        return self.predict_proba_rows(
            [features_input(t, use_segmentation=self.config.use_segmentation) for t in texts]
        )

    def predict_proba_rows(self, rows: Sequence[tuple[str, ...]]) -> Any:
        """Probabilities for rows already made by :func:`nlp.text.features_input`."""
        rows = model_rows(rows, self.config)
        fast = self.fast_predictor()
        if fast is not None:
            return fast.predict_proba(rows)
        return self.pipeline.predict_proba(_rows_array(rows))

    def predict_proba_prepared(self, prepared: Any) -> Any:
        """Probabilities for an array already made by :func:`prepare` with this config."""
        fast = self.fast_predictor()
        if fast is not None:
            return fast.predict_proba(prepared)
        return self.pipeline.predict_proba(prepared)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable unit for each text."""
        probs = self.predict_proba(texts)
        return [self.labels[i] for i in probs.argmax(axis=1)]


def default_corpus_path() -> Path:
    """Path of the shipped seed corpus, ``nlp/data/seed_corpus.csv``."""
    return Path(str(resources.files("nlp") / "data" / "seed_corpus.csv"))


def load_corpus(
    path: Path, known_labels: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Read a ``text,label`` CSV. Raises :class:`CorpusError` with a one-line reason.

    Rows with empty text are skipped; an empty or unknown label is an error, because a typo
    in a label silently creates a new unit otherwise.
    """
    if not path.is_file():
        raise CorpusError(f"không tìm thấy tệp dữ liệu: {path}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if "text" not in columns or "label" not in columns:
                raise CorpusError(
                    f"{path}: cần hai cột 'text,label', tệp có: {','.join(columns) or '(trống)'}"
                )
            reader.fieldnames = columns
            texts: list[str] = []
            labels: list[str] = []
            for line, row in enumerate(reader, start=2):
                text = (row.get("text") or "").strip()
                label = (row.get("label") or "").strip()
                if not text:
                    continue
                if not label:
                    raise CorpusError(f"{path}:{line}: thiếu nhãn")
                if known_labels is not None and label not in known_labels:
                    raise CorpusError(f"{path}:{line}: nhãn không có trong danh mục: {label}")
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: không phải UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise CorpusError(f"{path}: CSV lỗi: {exc}") from exc
    if not texts:
        raise CorpusError(f"{path}: không có dòng dữ liệu nào")
    return texts, labels


def prepare(texts: Sequence[str], config: ModelConfig) -> Any:
    """Turn raw texts into the object array [normalised, unaccented(, words)] the pipeline
    reads (the third column only with ``config.word_segmenter``)."""
    return _rows_array(model_rows(
        [features_input(t, use_segmentation=config.use_segmentation) for t in texts], config
    ))


def _rows_array(rows: Sequence[tuple[str, ...]]) -> Any:
    import numpy as np

    width = len(rows[0]) if rows else 2
    array = np.empty((len(rows), width), dtype=object)
    for i, row in enumerate(rows):
        for j in range(width):
            array[i, j] = row[j]
    return array


# Batches up to this size are featurised in plain Python (see FastPredictor.predict_proba).
SMALL_BATCH = 32


class FastPredictor:
    """``pipeline.predict_proba`` for the shipped recipe, computed directly.

    The recipe is per-view TF-IDF (``ColumnTransformer`` of ``TfidfVectorizer``) followed by
    a ``CalibratedClassifierCV`` of ``LinearSVC`` with sigmoid (Platt) calibrators. For one
    message scikit-learn spends almost all of its ~2.5 ms on per-call checks and on copying
    the SVM's coefficients into C order for the sparse product; the arithmetic is a few dozen
    multiply-adds per class. This class does the same operations in the same order from the
    fitted objects: the vectoriser's own analyzer and vocabulary, ``log(tf) + 1``, the idf,
    the l2 norm summed term by term as scikit-learn does, the decision function as sparse row
    times coefficients plus intercept, ``expit(-(a * d + b))`` per class, then the same
    normalisation, uniform fallback and clipping as ``_CalibratedClassifier.predict_proba``.
    The results equal scikit-learn's (tested on the whole seed corpus).

    :meth:`from_pipeline` returns None for any other structure (another classifier, isotonic
    calibration, other vectoriser options...), and the caller then uses the pipeline itself.
    """

    def __init__(self, columns: Any, views: list[_View], n_features: int,
                 classifiers: list[_LinearSigmoid], n_classes: int) -> None:
        self._columns = columns
        self._views = views
        self._n_features = n_features
        self._classifiers = classifiers
        self._n_classes = n_classes
        from scipy.special import expit

        self._expit = expit  # what _SigmoidCalibration.predict uses

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> FastPredictor | None:
        """The fast path derived from a fitted pipeline, or None if its shape is unexpected."""
        try:
            return cls._build(pipeline)
        except (ImportError, AttributeError, TypeError, ValueError, IndexError, KeyError):
            return None

    @classmethod
    def _build(cls, pipeline: Any) -> FastPredictor | None:
        import numpy as np
        from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
        from sklearn.compose import ColumnTransformer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import LabelEncoder
        from sklearn.svm import LinearSVC

        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            return None
        columns, calibrated = pipeline.steps[0][1], pipeline.steps[1][1]
        if type(columns) is not ColumnTransformer or type(calibrated) is not CalibratedClassifierCV:
            return None
        if not columns.sparse_output_:
            return None
        views: list[_View] = []
        offset = 0
        for name, vectorizer, column in columns.transformers_:
            if name == "remainder" and vectorizer == "drop":
                continue
            if (
                type(vectorizer) is not TfidfVectorizer
                or type(column) is not int
                or vectorizer.input != "content"
                or np.dtype(vectorizer.dtype) != np.float64
                or vectorizer.norm not in ("l2", None)
            ):
                return None
            if columns.output_indices_[name] != slice(offset, offset + len(vectorizer.vocabulary_)):
                return None
            idf = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
            views.append(_View(
                column=column,
                analyze=vectorizer.build_analyzer(),
                vocabulary=vectorizer.vocabulary_,
                idf=idf,
                sublinear=bool(vectorizer.sublinear_tf),
                binary=bool(vectorizer.binary),
                l2=vectorizer.norm == "l2",
                offset=offset,
            ))
            offset += len(vectorizer.vocabulary_)
        if not views or calibrated.method != "sigmoid":
            return None
        classes = calibrated.classes_
        classifiers: list[_LinearSigmoid] = []
        for inner in calibrated.calibrated_classifiers_:
            estimator = inner.estimator
            coef = estimator.coef_
            if (
                type(estimator) is not LinearSVC
                or type(coef) is not np.ndarray
                or coef.ndim != 2
                or coef.shape[1] != offset
                or coef.dtype != np.float64
                or inner.method != "sigmoid"
                or not (inner.classes == classes).all()
                or any(type(c) is not _SigmoidCalibration for c in inner.calibrators)
            ):
                return None
            n_scores = coef.shape[0]
            if len(inner.calibrators) != n_scores:
                return None
            # As _CalibratedClassifier.predict_proba: the class each score column belongs to.
            positions = LabelEncoder().fit(inner.classes).transform(estimator.classes_)
            positions = np.asarray(positions[:n_scores], dtype=np.intp)
            if len(classes) == 2:
                positions = positions + 1  # the binary score is for classes_[1]
            intercept = np.broadcast_to(
                np.asarray(estimator.intercept_, dtype=np.float64), (n_scores,)
            ).copy()
            classifiers.append(_LinearSigmoid(
                coef_t=np.ascontiguousarray(coef.T),
                intercept=intercept,
                a=np.array([c.a_ for c in inner.calibrators], dtype=np.float64),
                b=np.array([c.b_ for c in inner.calibrators], dtype=np.float64),
                positions=positions,
            ))
        if not classifiers:
            return None
        return cls(columns, views, offset, classifiers, len(classes))

    def features(self, row: Sequence[str]) -> tuple[Any, Any]:
        """Column indices (ascending) and values of the TF-IDF row the pipeline would build.

        Per view as ``TfidfVectorizer.transform``: the vectoriser's analyzer, counts of the
        known terms, ``log(count) + 1`` (sublinear tf), times the idf, divided by the l2 norm
        (summed in column order, as sklearn's ``_inplace_csr_row_normalize_l2``).
        """
        import numpy as np

        index_parts: list[Any] = []
        value_parts: list[Any] = []
        for view in self._views:
            counts: dict[int, int] = {}
            lookup = view.vocabulary.get
            for feature in view.analyze(row[view.column]):
                j = lookup(feature)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            columns = sorted(counts)
            if view.binary:
                data = np.ones(len(columns))
            else:
                data = np.fromiter(map(counts.__getitem__, columns), dtype=np.float64,
                                   count=len(columns))
                if view.sublinear:
                    np.log(data, out=data)
                    data += 1.0
            index = np.array(columns, dtype=np.intp)
            if view.idf is not None:
                data *= view.idf[index]
            if view.l2:
                total = float(np.cumsum(data * data)[-1])  # cumsum: sequential, like sklearn
                if total != 0.0:
                    data /= math.sqrt(total)
            index_parts.append(index + view.offset if view.offset else index)
            value_parts.append(data)
        if not index_parts:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        if len(index_parts) == 1:
            return index_parts[0], value_parts[0]
        return np.concatenate(index_parts), np.concatenate(value_parts)

    def predict_proba(self, rows: Any) -> Any:
        """Probabilities, one row per input row (``row[c]`` is the text of column ``c``).

        Up to :data:`SMALL_BATCH` rows are featurised here in plain Python (scikit-learn's
        per-call overhead is what dominates them); larger batches go through the fitted
        ``ColumnTransformer.transform``, whose NumPy work is cheaper per row at that size.
        """
        import numpy as np

        n = len(rows)
        decisions: list[Any] = []
        if n <= SMALL_BATCH:
            featured = [self.features(row) for row in rows]
            for clf in self._classifiers:
                decision = np.empty((n, len(clf.intercept)))
                for i, (index, data) in enumerate(featured):
                    # Summed over the row's terms in column order, as scipy's CSR product.
                    decision[i] = (clf.coef_t[index] * data[:, None]).sum(axis=0)
                decisions.append(decision + clf.intercept)
        else:
            matrix = self._columns.transform(rows if isinstance(rows, np.ndarray)
                                             else _rows_array(rows))
            decisions = [matrix @ clf.coef_t + clf.intercept for clf in self._classifiers]

        mean = np.zeros((n, self._n_classes))
        for clf, decision in zip(self._classifiers, decisions, strict=True):
            # As sklearn's _CalibratedClassifier.predict_proba, from here on.
            proba = np.zeros((n, self._n_classes))
            proba[:, clf.positions] = self._expit(-(clf.a * decision + clf.b))
            if self._n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform = np.full_like(proba, 1 / self._n_classes)
                proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(self._classifiers)
        return mean


@dataclass(frozen=True)
class _View:
    column: int
    analyze: Any
    vocabulary: dict[str, int]
    idf: Any  # ndarray, or None without idf weighting
    sublinear: bool
    binary: bool
    l2: bool
    offset: int


@dataclass(frozen=True)
class _LinearSigmoid:
    coef_t: Any
    intercept: Any
    a: Any
    b: Any
    positions: Any


def build_pipeline(config: ModelConfig, n_per_class_min: int = 10) -> Any:
    """The scikit-learn pipeline for ``config``: per-view TF-IDF features, then a classifier."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    # Tokens are whitespace-separated after normalisation; keep one-letter syllables ("ở", "xe").
    token_pattern = r"(?u)\S+"

    def words(ngram: tuple[int, int]) -> Any:
        return TfidfVectorizer(
            token_pattern=token_pattern, ngram_range=ngram, sublinear_tf=config.sublinear_tf,
            min_df=1, lowercase=False,
        )

    parts: list[tuple[str, Any, int]] = []
    if config.features in ("syllable", "syllable+char"):
        parts.append(("accented_words", words((1, 2)), 0))
        parts.append(("bare_words", words((1, 2)), 1))
    if config.features in ("char", "syllable+char"):
        parts.append((
            "bare_chars",
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                            sublinear_tf=config.sublinear_tf, min_df=2, lowercase=False,
                            max_features=200_000),
            1,
        ))
    if not parts:
        raise ValueError(f"unknown features: {config.features}")
    if config.word_segmenter:
        # Segmented words ("khu_phố") as a third column; see model_rows.
        parts.append(("segmented_words", words((1, 2)), 2))
    features = ColumnTransformer(parts, sparse_threshold=1.0)

    folds = max(2, min(config.calibration_folds, n_per_class_min))

    def svm() -> Any:
        return CalibratedClassifierCV(
            LinearSVC(C=config.c, class_weight=config.class_weight),
            method="sigmoid", cv=folds, ensemble=config.calibration_ensemble,
        )

    def logreg() -> Any:
        return LogisticRegression(C=config.c * 20, max_iter=2000,
                                  class_weight=config.class_weight)

    def nb() -> Any:
        return CalibratedClassifierCV(
            ComplementNB(alpha=0.3), method="sigmoid", cv=folds,
            ensemble=config.calibration_ensemble,
        )

    makers = {"svm": svm, "logreg": logreg, "nb": nb}
    if config.classifier in makers:
        classifier: Any = makers[config.classifier]()
    elif config.classifier in ("svm+nb", "svm+logreg"):
        from sklearn.ensemble import VotingClassifier

        # Soft voting: the plain mean of the two members' probabilities.
        classifier = VotingClassifier(
            [(name, makers[name]()) for name in config.classifier.split("+")], voting="soft"
        )
    else:
        raise ValueError(f"unknown classifier: {config.classifier}")
    return Pipeline([("features", features), ("classifier", classifier)])


def augment(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Add an unaccented copy of every accented example: citizens often type without marks."""
    out_texts = list(texts)
    out_labels = list(labels)
    for text, label in zip(texts, labels, strict=True):
        bare = strip_diacritics(text)
        if bare != text:
            out_texts.append(bare)
            out_labels.append(label)
    return out_texts, out_labels


def fit(
    texts: Sequence[str], labels: Sequence[str], config: ModelConfig | None = None
) -> TrainedModel:
    """Fit a model on ``texts``/``labels`` (no card metrics; see :func:`train`)."""
    config = config or ModelConfig()
    counts = Counter(labels)
    rare = sorted(label for label, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    if rare:
        raise CorpusError(
            f"cần ít nhất {MIN_EXAMPLES_PER_LABEL} ví dụ cho mỗi nhãn; thiếu: {', '.join(rare)}"
        )
    if len(counts) < 2:
        raise CorpusError("cần ít nhất hai nhãn khác nhau để huấn luyện")
    train_texts, train_labels = (
        augment(texts, labels) if config.augment_unaccented else (list(texts), list(labels))
    )
    pipeline = build_pipeline(config, n_per_class_min=min(counts.values()))
    pipeline.fit(prepare(train_texts, config), train_labels)
    labels_out = [str(c) for c in pipeline.classes_]
    return TrainedModel(pipeline=pipeline, config=config, labels=labels_out)


def metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "labels": labels,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool],
                               bins: int = 10) -> float:
    """ECE: how far stated confidence is from observed accuracy, averaged over 10 bins."""
    total = len(confidences)
    if not total:
        return 0.0
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0)]
        if idx:
            accuracy = sum(correct[i] for i in idx) / len(idx)
            confidence = sum(confidences[i] for i in idx) / len(idx)
            error += len(idx) / total * abs(accuracy - confidence)
    return error


def evaluate(
    model: TrainedModel, texts: Sequence[str], labels: Sequence[str], threshold: float = 0.5
) -> dict[str, Any]:
    """Metrics of ``model`` on a labelled set, plus calibration error, the unaccented score and,
    at ``threshold``, the share routed automatically and its accuracy (the rest is triage)."""
    probs = model.predict_proba(texts)
    predicted = [model.labels[i] for i in probs.argmax(axis=1)]
    label_set = sorted(set(model.labels) | set(labels))
    result = metrics(labels, predicted, label_set)
    confidences = [float(p) for p in probs.max(axis=1)]
    result["ece"] = expected_calibration_error(
        confidences, [p == t for p, t in zip(predicted, labels, strict=True)]
    )
    routed = [i for i, c in enumerate(confidences) if c >= threshold]
    result["routed_share"] = len(routed) / max(1, len(labels))
    result["routed_accuracy"] = (
        sum(predicted[i] == labels[i] for i in routed) / len(routed) if routed else 0.0
    )
    bare_pred = model.predict([strip_diacritics(t) for t in texts])
    result["accuracy_unaccented"] = float(
        sum(p == t for p, t in zip(bare_pred, labels, strict=True)) / max(1, len(labels))
    )
    return result


def cross_validate(
    texts: Sequence[str], labels: Sequence[str], config: ModelConfig, folds: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Stratified k-fold estimate: accuracy, macro-F1, ECE, accuracy on unaccented test text.

    Augmentation happens inside each training fold only, so no unaccented copy of a test
    message is ever trained on.
    """
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    sums: Counter[str] = Counter()
    for train_idx, test_idx in splitter.split(texts, labels):
        model = fit([texts[i] for i in train_idx], [labels[i] for i in train_idx], config)
        scores = evaluate(model, [texts[i] for i in test_idx], [labels[i] for i in test_idx])
        for key in ("accuracy", "macro_f1", "weighted_f1", "ece", "accuracy_unaccented",
                    "routed_share", "routed_accuracy"):
            sums[key] += scores[key]
    return {key: value / folds for key, value in sums.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("hailong", "scikit-learn", "skops", "underthesea", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def write_corpus(path: Path, texts: Sequence[str], labels: Sequence[str]) -> None:
    """Write a ``text,label`` CSV (UTF-8), replacing ``path`` atomically."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    partial.replace(path)


def save(
    model: TrainedModel,
    model_dir: Path,
    training_data: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Path:
    """Write ``model.skops`` and ``model_card.json`` into ``model_dir``; returns the card path.

    ``training_data`` (texts, labels), when given, is kept beside the model so that a later
    retrain can rebuild the old recipe and compare like with like.

    The model file is written to a temporary name and renamed, so a reader never sees half
    a file; the card records the file's SHA-256 so later edits to it are detected.
    """
    import skops.io as sio

    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / MODEL_FILE
    # Per-process temporary names: two processes caching the default model at once must not
    # write into the same half-finished file.
    partial = model_dir / f"{MODEL_FILE}.{os.getpid()}.partial"
    sio.dump(model.pipeline, partial, compression=8)  # zipfile.ZIP_DEFLATED
    card = dict(model.card)
    card.update({
        "format_version": FORMAT_VERSION,
        "config": asdict(model.config),
        "labels": model.labels,
        "sha256": _sha256(partial),
        "versions": _versions(),
    })
    card.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
    if training_data is not None:
        write_corpus(model_dir / TRAINING_DATA_FILE, *training_data)
    card_partial = model_dir / f"{CARD_FILE}.{os.getpid()}.partial"
    card_partial.write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
    partial.replace(target)
    card_partial.replace(model_dir / CARD_FILE)
    model.card = card
    return model_dir / CARD_FILE


# Types a routing pipeline legitimately contains. Anything else in a model file (a function,
# os.system, a class from another package) means the file was not written by `save`.
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
_TRUSTED_EXACT = {"builtins.slice", "builtins.dict", "builtins.list", "builtins.tuple"}


def _is_trusted(type_name: str) -> bool:
    if type_name in _TRUSTED_EXACT:
        return True
    return type_name.startswith(_TRUSTED_PREFIXES) and "._testing" not in type_name


def load(model_dir: Path) -> TrainedModel:
    """Load a model saved by :func:`save`, refusing files that were altered or hold unsafe types.

    Raises :class:`ModelError` when the directory is incomplete, the file's hash differs from
    its card, or skops reports a type outside scikit-learn/NumPy/SciPy.
    """
    import skops.io as sio

    model_file = model_dir / MODEL_FILE
    card_file = model_dir / CARD_FILE
    if not model_file.is_file() or not card_file.is_file():
        raise ModelError(f"không có mô hình trong {model_dir}")
    for attempt in range(2):
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{card_file}: thẻ mô hình hỏng ({exc})") from exc
        if card.get("sha256") == _sha256(model_file):
            break
        if attempt == 0:
            time.sleep(0.2)  # `save` may be between renaming the model and renaming its card
    else:
        raise ModelError(f"{model_file}: tệp mô hình đã bị thay đổi (SHA-256 không khớp thẻ)")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{card_file}: phiên bản định dạng không hỗ trợ")
    try:
        untrusted = sio.get_untrusted_types(file=model_file)
    except Exception as exc:  # a corrupt zip or schema is as unusable as a tampered one
        raise ModelError(f"{model_file}: không đọc được tệp mô hình ({exc})") from exc
    refused = [t for t in untrusted if not _is_trusted(t)]
    if refused:
        raise ModelError(f"{model_file}: từ chối tải, có kiểu không tin cậy: {', '.join(refused)}")
    try:
        pipeline = sio.load(model_file, trusted=untrusted)
    except Exception as exc:
        raise ModelError(f"{model_file}: không tải được mô hình ({exc})") from exc
    known = {f.name for f in ModelConfig.__dataclass_fields__.values()}
    config = ModelConfig(**{k: v for k, v in card.get("config", {}).items() if k in known})
    return TrainedModel(
        pipeline=pipeline, config=config, labels=[str(c) for c in pipeline.classes_], card=card
    )


def holdout_card(
    texts: Sequence[str],
    labels: Sequence[str],
    config: ModelConfig | None = None,
    *,
    data_name: str = "",
    holdout: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """Model-card facts for a training run: the data, and metrics on a stratified hold-out
    split (skipped when ``holdout`` is 0 or a unit has too few examples to split)."""
    from sklearn.model_selection import train_test_split

    config = config or ModelConfig()
    card: dict[str, Any] = {
        "data": {"source": data_name, "n": len(texts), "per_label": dict(Counter(labels))},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    counts = Counter(labels)
    if holdout > 0 and min(counts.values()) >= 2 * MIN_EXAMPLES_PER_LABEL:
        tr_x, te_x, tr_y, te_y = train_test_split(
            list(texts), list(labels), test_size=holdout, stratify=list(labels), random_state=seed
        )
        held = evaluate(fit(tr_x, tr_y, config), te_x, te_y)
        card["metrics"] = {
            "split": f"stratified hold-out {holdout:.0%}, seed {seed}",
            **{k: held[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1", "ece",
                                    "accuracy_unaccented")},
        }
    return card


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    config: ModelConfig | None = None,
    *,
    data_name: str = "",
    holdout: float = 0.2,
    seed: int = 0,
) -> TrainedModel:
    """Measure on a stratified held-out split, then fit on all data; metrics go on the card."""
    card = holdout_card(texts, labels, config, data_name=data_name, holdout=holdout, seed=seed)
    model = fit(texts, labels, config)
    model.card = card
    return model


def normalized_preview(text: str) -> str:
    """The normalised text the classifier reads (useful when debugging a misroute)."""
    return normalize(text)
