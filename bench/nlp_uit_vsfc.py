"""Benchmarks for the NLP router.

1. UIT-VSFC (external, human-labelled student feedback; read from ``../shared/datasets``, never
   copied): train on train, report dev accuracy / weighted-F1 / macro-F1 for topic and
   sentiment, the same on dev with diacritics stripped, and messages per second on one core
   (normalisation included).
2. ``--seed-corpus``: 5-fold cross-validation of the feature/model choices on the seed corpus
   (accuracy, macro-F1, accuracy on unaccented test text, calibration error).

Usage::

    .venv/bin/python bench/nlp_uit_vsfc.py [--data DIR] [--out bench/nlp_results.md]
    .venv/bin/python bench/nlp_uit_vsfc.py --seed-corpus
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from nlp.model import ModelConfig, cross_validate, default_corpus_path, fit, load_corpus
from nlp.text import normalize, segment, strip_diacritics

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "uit-vsfc"
TOPICS = ["lecturer", "training_program", "facility", "others"]
SENTIMENTS = ["negative", "neutral", "positive"]


@dataclass
class Split:
    texts: list[str]
    topic: list[str]
    sentiment: list[str]


def read_split(folder: Path) -> Split:
    """One UIT-VSFC split: sents.txt, topics.txt and sentiments.txt, line-aligned."""
    texts = (folder / "sents.txt").read_text(encoding="utf-8").splitlines()
    topic = [TOPICS[int(x)] for x in (folder / "topics.txt").read_text().split()]
    sentiment = [SENTIMENTS[int(x)] for x in (folder / "sentiments.txt").read_text().split()]
    if not len(texts) == len(topic) == len(sentiment):
        raise SystemExit(f"{folder}: files are not line-aligned")
    return Split(texts, topic, sentiment)


Predict = Callable[[Sequence[str]], list[str]]
FitFn = Callable[[Sequence[str], Sequence[str]], Predict]


@dataclass
class Candidate:
    """A text classifier recipe: fit on texts and labels, return a predict function."""

    name: str
    note: str
    fit: FitFn


def _words(ngram: tuple[int, int]) -> TfidfVectorizer:
    return TfidfVectorizer(token_pattern=r"(?u)\S+", ngram_range=ngram, sublinear_tf=True)


def _sklearn(make: Callable[[], Any], prepare: Callable[[str], str]) -> FitFn:
    def fit_fn(texts: Sequence[str], labels: Sequence[str]) -> Predict:
        estimator = make()
        estimator.fit([prepare(t) for t in texts], list(labels))
        return lambda batch: list(estimator.predict([prepare(t) for t in batch]))

    return fit_fn


def _router_fit(texts: Sequence[str], labels: Sequence[str]) -> Predict:
    model = fit(texts, labels, ModelConfig())
    return model.predict


def candidates() -> list[Candidate]:
    """The recipes compared; the first is the README's published baseline."""

    def identity(text: str) -> str:
        return text

    return [
        Candidate(
            "baseline",
            "raw text, TF-IDF syllable 1-2-grams, LinearSVC C=0.3, balanced",
            _sklearn(
                lambda: make_pipeline(_words((1, 2)), LinearSVC(C=0.3, class_weight="balanced")),
                identity,
            ),
        ),
        Candidate(
            "router",
            "the shipped router pipeline (nlp.model defaults: normalised + unaccented "
            "views, syllable 1-2-grams, unaccented augmentation, calibrated LinearSVC)",
            _router_fit,
        ),
        Candidate(
            "syl+char",
            "normalised, syllable 1-3-grams + char_wb 1-5-grams, LinearSVC C=0.3",
            _sklearn(
                lambda: make_pipeline(
                    make_union(
                        _words((1, 3)),
                        TfidfVectorizer(
                            analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True, min_df=2
                        ),
                    ),
                    CalibratedClassifierCV(LinearSVC(C=0.3), cv=5, ensemble=False),
                ),
                normalize,
            ),
        ),
        Candidate(
            "syl+words",
            "normalised, syllables and underthesea word segments, 1-2-grams, LinearSVC C=1",
            _sklearn(
                lambda: make_pipeline(_words((1, 2)), LinearSVC(C=1.0)),
                lambda t: (lambda n: n + " || " + segment(n))(normalize(t)),
            ),
        ),
    ]


def scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    return {
        "acc": 100 * accuracy_score(truth, predicted),
        "wf1": 100 * f1_score(truth, predicted, average="weighted"),
        "mf1": 100 * f1_score(truth, predicted, average="macro"),
    }


def throughput(predict: Predict, texts: Sequence[str]) -> float:
    """Messages per second on one core, preprocessing included, in batches of 256."""
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if previous:
        os.sched_setaffinity(0, {min(previous)})
    try:
        with threadpool_limits(limits=1):
            # Fresh strings so the normaliser's cache cannot help.
            batch = [t + f" {i}" for i, t in enumerate(texts)]
            start = time.perf_counter()
            for i in range(0, len(batch), 256):
                predict(batch[i : i + 256])
            return len(batch) / (time.perf_counter() - start)
    finally:
        if previous:
            os.sched_setaffinity(0, previous)


def run_uit(data: Path, out: Path | None, only: list[str] | None) -> str:
    train, dev = read_split(data / "train"), read_split(data / "dev")
    dev_bare = [strip_diacritics(t) for t in dev.texts]
    rows = []
    for candidate in candidates():
        if only and candidate.name not in only:
            continue
        row: dict[str, Any] = {"name": candidate.name, "note": candidate.note}
        for task in ("topic", "sentiment"):
            start = time.perf_counter()
            predict = candidate.fit(train.texts, getattr(train, task))
            row[f"{task}_fit_s"] = time.perf_counter() - start
            truth = getattr(dev, task)
            row[task] = scores(truth, predict(dev.texts))
            row[f"{task}_bare"] = scores(truth, predict(dev_bare))
            if task == "topic":
                row["msgs_per_s"] = throughput(predict, dev.texts)
        rows.append(row)
        print(_row_line(row), flush=True)
    report = render(rows, len(train.texts), len(dev.texts))
    if out:
        out.write_text(report, encoding="utf-8")
    return report


def _row_line(row: dict[str, Any]) -> str:
    t, s, tb, sb = row["topic"], row["sentiment"], row["topic_bare"], row["sentiment_bare"]
    return (
        f"| {row['name']} | {t['acc']:.2f} | {t['wf1']:.2f} | {t['mf1']:.2f} | "
        f"{s['acc']:.2f} | {s['wf1']:.2f} | {s['mf1']:.2f} | {tb['wf1']:.2f} / {tb['mf1']:.2f} | "
        f"{sb['wf1']:.2f} / {sb['mf1']:.2f} | {row['msgs_per_s']:,.0f} |"
    )


def render(rows: list[dict[str, Any]], n_train: int, n_dev: int) -> str:
    lines = [
        "| recipe | topic acc | topic wF1 | topic mF1 | sent. acc | sent. wF1 | sent. mF1 | "
        "topic unaccented wF1 / mF1 | sent. unaccented wF1 / mF1 | msg/s (1 core) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[_row_line(r) for r in rows],
        "",
        *[f"- **{r['name']}**: {r['note']}; fit {r['topic_fit_s']:.0f} s (topic)." for r in rows],
        "",
        f"UIT-VSFC train {n_train} lines, dev {n_dev} lines; {platform.machine()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores.",
    ]
    return "\n".join(lines) + "\n"


def run_seed_corpus(folds: int) -> str:
    texts, labels = load_corpus(default_corpus_path())
    configs = {
        "syllable 1-2, both views, augmented, calibrated SVM (default)": ModelConfig(),
        "same, no unaccented augmentation": ModelConfig(augment_unaccented=False),
        "same + char_wb 2-5 on unaccented view": ModelConfig(features="syllable+char"),
        "char_wb 2-5 only": ModelConfig(features="char"),
        "syllables -> underthesea word segments": ModelConfig(use_segmentation=True),
        "logistic regression instead of SVM": ModelConfig(classifier="logreg"),
        "complement naive Bayes, calibrated": ModelConfig(classifier="nb"),
        "SVM C=0.3": ModelConfig(c=0.3),
        "per-fold SVM ensemble (calibration_ensemble=True)": ModelConfig(calibration_ensemble=True),
    }
    lines = [
        f"| recipe ({folds}-fold CV, {len(texts)} messages) | accuracy | macro-F1 | "
        "accuracy, unaccented | ECE | time |",
        "|---|---|---|---|---|---|",
    ]
    for name, config in configs.items():
        start = time.perf_counter()
        result = cross_validate(texts, labels, config, folds=folds)
        line = (
            f"| {name} | {result['accuracy']:.3f} | {result['macro_f1']:.3f} | "
            f"{result['accuracy_unaccented']:.3f} | {result['ece']:.3f} | "
            f"{time.perf_counter() - start:.0f} s |"
        )
        print(line, flush=True)
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("HAILONG_UIT_VSFC", DEFAULT_DATA))
    )
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    parser.add_argument("--only", nargs="*", help="recipe names to run")
    parser.add_argument("--seed-corpus", action="store_true", help="cross-validate on the seed")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    if args.seed_corpus:
        print(run_seed_corpus(args.folds))
        return
    if not (args.data / "train" / "sents.txt").is_file():
        raise SystemExit(f"UIT-VSFC not found at {args.data} (set --data or HAILONG_UIT_VSFC)")
    print(run_uit(args.data, args.out, args.only))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
