"""The router measured on the real corpus, cross-validated by source (issue 16, item 2).

Models trained with the shipped recipe (``nlp.model.fit``, default ``ModelConfig``) on
(a) the seed corpus only, (b) the real corpus only and (c) both are scored on the real corpus
alone: top-1 accuracy and macro-F1 of the out-of-fold predictions, on the test text as written
and with its diacritics stripped, with the triage rate at ``nlp.router.DEFAULT_THRESHOLD`` and
the accuracy of the rows routed automatically; then per-unit recall of (c) and a threshold
sweep of (c) with the threshold it recommends.

Folds are grouped by source: every row of one page (``source_url``'s host + path) is in the
same fold, so near-duplicates of one page never sit on both sides of a split. Each test text
goes through ``Router.route_many`` as in production (PII masking, normalisation, threshold).

With ``--annotations`` (once per annotator), the labels a blind annotator gave some rows from
their text alone (``key,label,confidence``: ``key`` is :func:`row_key` of the text) are
compared with the corpus's labels and with (c)'s out-of-fold predictions on the same rows: how
often a reader who sees only the text names the unit that answered, the ceiling the text sets
on any model. With two or more, the annotators are compared with each other too (agreement,
Cohen's kappa) and the corpus with their consensus.

Usage::

    .venv/bin/python bench/nlp_real_eval.py --real nlp/data/real_corpus.csv \\
        [--seed nlp/data/seed_corpus.csv] [--folds 5] [--annotations bench/data/blind_labels.csv \\
        --annotations bench/data/blind_labels_2.csv] \\
        [--out results.md] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the library is the repository's
    sys.path.insert(0, str(REPO))

# One reader of the corpus's CSV files, and its one-line errors (exit code 2 here too).
from nlp.data.build_real_corpus import InputError, read_csv  # noqa: E402

COLUMNS = ("text", "label", "agency", "source_url", "date", "note")
ANNOTATION_COLUMNS = ("key", "label", "confidence")
CONFIDENCES = ("high", "medium", "low")
SETTINGS = {  # JSON key -> row name; the order of the table
    "seed_only": "(a) seed only",
    "real_only": "(b) real only",
    "seed_and_real": "(c) seed + real",
}
VIEWS = ("as_written", "unaccented")
SWEEP = [round(0.20 + 0.05 * i, 2) for i in range(13)]  # 0.20 .. 0.80
ROUTED_ACCURACY_TARGET = 0.90
BOOTSTRAP_ROUNDS = 1000
RANDOM_STATE = 0


# --- reading the corpus -------------------------------------------------------------------


def source_key(url: str) -> str:
    """The page a row came from: host (lower-case, no port, no ``www.``/``m.``) + path.

    Query and fragment are dropped, so ``?page=2`` of one listing and tracking parameters stay
    with their page; an empty address gives "" (the caller makes such a row its own group).
    """
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            host = host[len(prefix):]
    return f"{host}{parts.path.rstrip('/')}"


@dataclass
class RealCorpus:
    texts: list[str]
    labels: list[str]
    groups: list[str]  # source_key, or "row:<line>" for a row without an address
    skipped_unlabelled: int = 0  # rows whose answer names no unit (the note says why)
    skipped_empty: int = 0
    duplicates_across_sources: int = 0  # rows whose normalised text also appears on another page
    no_source: int = 0


def load_real(path: Path, known_labels: Sequence[str]) -> RealCorpus:
    """Read ``text,label,agency,source_url,date,note``; raise :class:`InputError` on a bad file.

    A row with an empty label is skipped and counted (the corpus keeps rows whose answer names
    no agency with the reason in ``note``); an unknown label is an error, never a new unit.
    """
    known = set(known_labels)
    corpus = RealCorpus([], [], [])
    for line, row in read_csv(path, COLUMNS):
        text = " ".join((row.get("text") or "").split())
        label = (row.get("label") or "").strip()
        if not text:
            corpus.skipped_empty += 1
            continue
        if not label:
            corpus.skipped_unlabelled += 1
            continue
        if label not in known:
            raise InputError(f"{path}:{line}: unknown unit code {label!r}")
        group = source_key(row.get("source_url") or "")
        if not group:
            corpus.no_source += 1
            group = f"row:{line}"
        corpus.texts.append(text)
        corpus.labels.append(label)
        corpus.groups.append(group)
    if not corpus.texts:
        raise InputError(f"{path}: no labelled rows")
    corpus.duplicates_across_sources = _duplicates_across_sources(corpus.texts, corpus.groups)
    return corpus


def _duplicates_across_sources(texts: Sequence[str], groups: Sequence[str]) -> int:
    """Rows whose normalised text is also on another page: these can leak across folds."""
    from nlp.text import normalize

    pages: defaultdict[str, set[str]] = defaultdict(set)
    keys = [normalize(t) for t in texts]
    for key, group in zip(keys, groups, strict=True):
        pages[key].add(group)
    return sum(len(pages[key]) > 1 for key in keys)


# --- folds --------------------------------------------------------------------------------


def assign_folds(labels: Sequence[str], groups: Sequence[str], k: int,
                 seed: int = RANDOM_STATE) -> list[int]:
    """Fold number (0..k-1) of every row; all rows of one group share a fold.

    ``StratifiedGroupKFold`` (shuffled, fixed seed): groups are kept whole and, within that,
    each fold's unit mix is as close to the whole corpus's as the groups allow.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if k < 2:
        raise InputError(f"--folds must be at least 2, not {k}")
    if n_groups < k:
        raise InputError(f"{k} folds need at least {k} sources; the corpus has {n_groups}")
    folds = [-1] * len(labels)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only n members": expected for rare units, reported.
        warnings.simplefilter("ignore", UserWarning)
        for fold, (_, test) in enumerate(splitter.split(list(labels), list(labels), list(groups))):
            for i in test:
                folds[i] = fold
    return folds


# --- blind annotation ---------------------------------------------------------------------


def row_key(text: str) -> str:
    """A row's key in an annotation file: the first 16 hex digits of the SHA-256 of its
    normalised text, so the file names rows without repeating them and survives a rebuild
    that re-sorts the corpus."""
    from nlp.text import normalize

    return hashlib.sha256(normalize(" ".join(text.split())).encode()).hexdigest()[:16]


def load_annotations(path: Path, known_labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``key -> (label, confidence)``; raise :class:`InputError` on a bad file."""
    known, out = set(known_labels), {}
    for line, row in read_csv(path, ANNOTATION_COLUMNS):
        key, label = (row.get("key") or "").strip(), (row.get("label") or "").strip()
        confidence = (row.get("confidence") or "").strip().lower()
        if label not in known:
            raise InputError(f"{path}:{line}: unknown unit code {label!r}")
        if confidence not in CONFIDENCES:
            raise InputError(f"{path}:{line}: confidence must be one of "
                             f"{', '.join(CONFIDENCES)}, not {confidence!r}")
        if not key or key in out:
            raise InputError(f"{path}:{line}: empty or repeated key {key!r}")
        out[key] = (label, confidence)
    if not out:
        raise InputError(f"{path}: no annotations")
    return out


def annotation_scores(real: RealCorpus, annotations: dict[str, tuple[str, str]],
                      pred: Predictions) -> dict[str, Any]:
    """The annotator against the corpus labels, and (c)'s predictions on the same rows."""
    rows = [(i, *annotations[k]) for i, k in enumerate(map(row_key, real.texts))
            if k in annotations]
    if not rows:
        raise InputError("no annotated row is in the corpus (keys are row_key of the text)")
    truth = [real.labels[i] for i, _, _ in rows]
    human = [label for _, label, _ in rows]
    model = [pred.unit["as_written"][i] for i, _, _ in rows]
    agree = [h == t for h, t in zip(human, truth, strict=True)]
    right = [m == t for m, t in zip(model, truth, strict=True)]
    groups = [real.groups[i] for i, _, _ in rows]

    def share(flags: Sequence[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None

    by_confidence = {}
    for level in CONFIDENCES:
        picked = [j for j, (_, _, c) in enumerate(rows) if c == level]
        by_confidence[level] = {
            "n": len(picked),
            "agreement": share([agree[j] for j in picked]),
            "model_accuracy": share([right[j] for j in picked]),
        }
    pairs = Counter((t, h) for t, h in zip(truth, human, strict=True) if t != h)
    return {
        "n": len(rows),
        "not_in_corpus": len(annotations) - len(rows),
        "agreement": share(agree),
        "agreement_ci95": list(_group_bootstrap(agree, groups)),
        "model_accuracy": share(right),
        "model_accuracy_ci95": list(_group_bootstrap(right, groups)),
        "both_right": sum(a and r for a, r in zip(agree, right, strict=True)),
        "only_annotator_right": sum(a and not r for a, r in zip(agree, right, strict=True)),
        "only_model_right": sum(r and not a for a, r in zip(agree, right, strict=True)),
        "both_wrong": sum(not a and not r for a, r in zip(agree, right, strict=True)),
        "model_equals_annotator": share([m == h for m, h in zip(model, human, strict=True)]),
        "by_confidence": by_confidence,
        "disagreements": [{"corpus": t, "annotator": h, "n": n}
                          for (t, h), n in pairs.most_common(8)],
    }


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa of two annotators' labels of the same rows (None when chance agreement
    is total)."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    one, two = Counter(first), Counter(second)
    expected = sum(one[label] * two[label] for label in one) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def annotator_agreement(real: RealCorpus, annotators: Sequence[dict[str, tuple[str, str]]],
                        pred: Predictions) -> dict[str, Any]:
    """On the corpus rows every annotator labelled: each pair's agreement and kappa; the rows
    where all agree (their consensus) against the corpus and against (c)."""
    rows = [(i, k) for i, k in enumerate(map(row_key, real.texts))
            if all(k in a for a in annotators)]
    pairs = []
    for x in range(len(annotators)):
        for y in range(x + 1, len(annotators)):
            first = [annotators[x][k][0] for _, k in rows]
            second = [annotators[y][k][0] for _, k in rows]
            pairs.append({
                "annotators": [x + 1, y + 1],
                "agreement": (sum(a == b for a, b in zip(first, second, strict=True)) / len(rows)
                              if rows else None),
                "kappa": cohen_kappa(first, second) if rows else None,
            })
    agreed = [(i, annotators[0][k][0]) for i, k in rows
              if len({a[k][0] for a in annotators}) == 1]
    return {
        "n": len(rows),
        "pairs": pairs,
        "consensus_rows": len(agreed),
        "corpus_equals_consensus": (sum(real.labels[i] == lab for i, lab in agreed) / len(agreed)
                                    if agreed else None),
        "model_equals_consensus": (sum(pred.unit["as_written"][i] == lab for i, lab in agreed)
                                   / len(agreed) if agreed else None),
    }


# --- one model's predictions --------------------------------------------------------------


@dataclass
class Predictions:
    """Out-of-fold predictions of one setting: per view, unit and confidence of every row."""

    unit: dict[str, list[str]]
    confidence: dict[str, list[float]]
    triaged: dict[str, list[bool]]
    ranked: dict[str, list[list[str]]] = field(default_factory=dict)  # top-3 units per row
    train_rows: list[int] = field(default_factory=list)  # per fold
    left_out: dict[int, list[str]] = field(default_factory=dict)  # fold -> units too rare


def _empty_predictions(n: int) -> Predictions:
    return Predictions(
        unit={v: [""] * n for v in VIEWS},
        confidence={v: [0.0] * n for v in VIEWS},
        triaged={v: [True] * n for v in VIEWS},
        ranked={v: [[] for _ in range(n)] for v in VIEWS},
    )


class Evaluator:
    """Trains with the library's recipe and routes test rows through the production router."""

    def __init__(self, threshold: float) -> None:
        from nlp.catalogue import load_catalogue
        from nlp.gazetteer import WardDetector, load_wards

        self.threshold = threshold
        self.units = load_catalogue()
        self.wards = WardDetector(load_wards())  # compiled once, shared by every router

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Any:
        from nlp.model import ModelConfig, fit

        return fit(texts, labels, ModelConfig())

    def route(self, model: Any, texts: Sequence[str], rows: Sequence[int],
              out: Predictions) -> None:
        """Route ``texts`` (as written, then stripped of diacritics) into ``out`` at ``rows``."""
        from nlp.router import Router
        from nlp.text import strip_diacritics

        router = Router(model, units=self.units, wards=self.wards, threshold=self.threshold)
        for view in VIEWS:
            batch = list(texts) if view == "as_written" else [strip_diacritics(t) for t in texts]
            for i, result in zip(rows, router.route_many(batch), strict=True):
                out.unit[view][i] = result.predicted_unit
                out.confidence[view][i] = result.confidence
                out.triaged[view][i] = result.needs_triage
                out.ranked[view][i] = [unit for unit, _ in result.candidates]


def trainable(texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Drop units with fewer rows than ``fit`` needs (its calibration folds)."""
    from nlp.model import MIN_EXAMPLES_PER_LABEL

    counts = Counter(labels)
    rare = sorted(u for u, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    keep = [i for i, label in enumerate(labels) if label not in rare]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def cross_predict(
    real: RealCorpus, seed_texts: Sequence[str], seed_labels: Sequence[str], folds: Sequence[int],
    evaluator: Evaluator, step: Callable[[str], None],
) -> dict[str, Predictions]:
    """Out-of-fold predictions of the three settings on every real row."""
    n, k = len(real.texts), max(folds) + 1
    out = {key: _empty_predictions(n) for key in SETTINGS}

    step("(a) training on the seed corpus")
    seed_model = evaluator.fit(seed_texts, seed_labels)  # fold-independent: trained once
    step("(a) routing the real corpus")
    evaluator.route(seed_model, real.texts, range(n), out["seed_only"])
    out["seed_only"].train_rows = [len(seed_texts)] * k

    for fold in range(k):
        train = [i for i in range(n) if folds[i] != fold]
        test = [i for i in range(n) if folds[i] == fold]
        test_texts = [real.texts[i] for i in test]
        tr_texts, tr_labels = trainable(
            [real.texts[i] for i in train], [real.labels[i] for i in train]
        )
        # Units with no trainable rows in this fold (too rare, or all on the test side).
        rare = sorted(set(real.labels) - set(tr_labels))
        step(f"(b) fold {fold + 1}/{k}: training on {len(tr_texts)} real rows")
        if len(set(tr_labels)) < 2:
            raise InputError(f"fold {fold + 1}: fewer than two units to train the real-only model")
        evaluator.route(evaluator.fit(tr_texts, tr_labels), test_texts, test, out["real_only"])
        out["real_only"].train_rows.append(len(tr_texts))
        if rare:
            out["real_only"].left_out[fold] = rare
        both_texts = [*seed_texts, *(real.texts[i] for i in train)]
        both_labels = [*seed_labels, *(real.labels[i] for i in train)]
        step(f"(c) fold {fold + 1}/{k}: training on {len(both_texts)} seed + real rows")
        evaluator.route(evaluator.fit(both_texts, both_labels), test_texts, test,
                        out["seed_and_real"])
        out["seed_and_real"].train_rows.append(len(both_texts))
    return out


# --- scores -------------------------------------------------------------------------------


def _group_bootstrap(correct: Sequence[bool], groups: Sequence[str],
                     rounds: int = BOOTSTRAP_ROUNDS) -> tuple[float, float]:
    """95 % interval of accuracy, resampling whole sources (rows of a page are not independent)."""
    import numpy as np

    index = {g: j for j, g in enumerate(dict.fromkeys(groups))}
    hits = np.zeros(len(index))
    sizes = np.zeros(len(index))
    for ok, group in zip(correct, groups, strict=True):
        hits[index[group]] += ok
        sizes[index[group]] += 1
    rng = np.random.default_rng(RANDOM_STATE)
    draws = rng.integers(0, len(index), size=(rounds, len(index)))
    accuracy = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.percentile(accuracy, [2.5, 97.5])
    return float(low), float(high)


def view_scores(truth: Sequence[str], pred: Predictions, view: str, groups: Sequence[str],
                folds: Sequence[int]) -> dict[str, Any]:
    """Accuracy (with its source-bootstrap interval and per-fold values), macro-F1 over the
    units present in the real corpus, triage rate and routed accuracy, for one view."""
    from nlp.model import metrics

    units, triaged = pred.unit[view], pred.triaged[view]
    result = metrics(truth, units, sorted(set(truth)))
    correct = [u == t for u, t in zip(units, truth, strict=True)]
    routed = [ok for ok, tri in zip(correct, triaged, strict=True) if not tri]
    by_fold: defaultdict[int, list[bool]] = defaultdict(list)
    for ok, fold in zip(correct, folds, strict=True):
        by_fold[fold].append(ok)
    return {
        "n": len(truth),
        "accuracy": result["accuracy"],
        "accuracy_ci95": list(_group_bootstrap(correct, groups)),
        "accuracy_by_fold": [sum(v) / len(v) for _, v in sorted(by_fold.items())],
        "macro_f1": result["macro_f1"],
        # The unit among the first k candidates (the triage desk sees the top 3).
        **{f"top{k}_accuracy": sum(t in r[:k] for t, r in zip(truth, pred.ranked[view],
                                                             strict=True)) / len(truth)
           for k in (2, 3)},
        "triage_rate": sum(triaged) / len(truth),
        "routed_accuracy": sum(routed) / len(routed) if routed else None,
        "per_class": result["per_class"],
        "confusion": _confusions(truth, units),
    }


def _confusions(truth: Sequence[str], units: Sequence[str]) -> dict[str, dict[str, int]]:
    table: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for t, u in zip(truth, units, strict=True):
        if t != u:
            table[t][u] += 1
    return {t: dict(c.most_common()) for t, c in sorted(table.items())}


def sweep(truth: Sequence[str], pred: Predictions) -> list[dict[str, Any]]:
    """Triage rate and routed accuracy at each threshold of :data:`SWEEP`, per view."""
    rows = []
    for threshold in SWEEP:
        row: dict[str, Any] = {"threshold": threshold}
        for view in VIEWS:
            routed = [u == t for u, t, c in zip(pred.unit[view], truth, pred.confidence[view],
                                                 strict=True) if c >= threshold]
            row[view] = {
                "triage_rate": 1 - len(routed) / len(truth),
                "routed": len(routed),
                "routed_accuracy": sum(routed) / len(routed) if routed else None,
            }
        rows.append(row)
    return rows


def recommend(rows: list[dict[str, Any]], views: Sequence[str],
              target: float = ROUTED_ACCURACY_TARGET) -> dict[str, Any]:
    """The threshold with the lowest triage rate (as written) among those whose routed accuracy
    reaches ``target`` in every one of ``views``; None when no threshold does."""

    def ok(row: dict[str, Any]) -> bool:
        return all((row[v]["routed_accuracy"] or 0.0) >= target for v in views)

    good = [r for r in rows if ok(r)]
    pick = min(good, key=lambda r: (r["as_written"]["triage_rate"], r["threshold"]),
               default=None)
    return {
        "rule": (f"lowest triage rate whose routed accuracy is >= {target:.0%} on the test text "
                 + " and ".join(v.replace("_", " ") for v in views)),
        "threshold": pick["threshold"] if pick else None,
        "row": pick,
    }


# --- the run ------------------------------------------------------------------------------


def evaluate_corpus(real_path: Path, seed_path: Path | None, k: int,
                    progress: Callable[[str], None] | None = None,
                    annotations_paths: Sequence[Path] = ()) -> dict[str, Any]:
    """Everything the report shows, as a JSON-ready dict."""
    from nlp.catalogue import load_catalogue
    from nlp.model import CorpusError, default_corpus_path, load_corpus
    from nlp.router import DEFAULT_THRESHOLD

    started = time.perf_counter()
    step = progress or (lambda _: None)
    known = list(load_catalogue())
    real = load_real(real_path, known)
    annotators = [(path, load_annotations(path, known)) for path in annotations_paths]
    keys = set(map(row_key, real.texts))
    for path, marks in annotators:
        if not keys & set(marks):
            raise InputError(f"{path}: no annotated row is in the corpus "
                             "(keys are row_key of the text)")
    seed_path = seed_path or default_corpus_path()
    try:
        seed_texts, seed_labels = load_corpus(seed_path, known_labels=known)
    except CorpusError as exc:
        raise InputError(f"seed corpus: {exc}") from exc
    folds = assign_folds(real.labels, real.groups, k)
    evaluator = Evaluator(DEFAULT_THRESHOLD)
    predictions = cross_predict(real, seed_texts, seed_labels, folds, evaluator, step)

    settings: dict[str, Any] = {}
    for key, pred in predictions.items():
        settings[key] = {
            "name": SETTINGS[key],
            "train_rows_per_fold": pred.train_rows,
            "units_left_out_of_training": {str(f + 1): u for f, u in pred.left_out.items()},
            **{view: view_scores(real.labels, pred, view, real.groups, folds) for view in VIEWS},
        }
    rows = sweep(real.labels, predictions["seed_and_real"])
    fold_sizes = Counter(folds)
    extra: dict[str, Any] = {}
    if annotators:
        extra["annotations"] = [
            {"path": str(path), **annotation_scores(real, marks, predictions["seed_and_real"])}
            for path, marks in annotators
        ]
    if len(annotators) >= 2:
        extra["annotator_agreement"] = annotator_agreement(
            real, [a for _, a in annotators], predictions["seed_and_real"])
    return {
        "corpus": {
            "path": str(real_path),
            "rows": len(real.texts),
            "sources": len(set(real.groups)),
            "units": len(set(real.labels)),
            "per_unit": dict(sorted(Counter(real.labels).items())),
            "sources_per_unit": {
                u: len({g for g, lab in zip(real.groups, real.labels, strict=True) if lab == u})
                for u in sorted(set(real.labels))
            },
            "skipped_unlabelled": real.skipped_unlabelled,
            "skipped_empty_text": real.skipped_empty,
            "rows_without_source": real.no_source,
            "duplicates_across_sources": real.duplicates_across_sources,
        },
        "seed": {"path": str(seed_path), "rows": len(seed_texts)},
        "folds": {
            "k": k,
            "method": f"StratifiedGroupKFold(shuffle=True, random_state={RANDOM_STATE}), "
                      "groups = source_url host + path",
            "rows_per_fold": [fold_sizes[f] for f in range(k)],
            "assignment": folds,
        },
        "threshold": DEFAULT_THRESHOLD,
        "settings": settings,
        "threshold_sweep": rows,
        "recommendation": recommend(rows, VIEWS),
        "recommendation_as_written_only": recommend(rows, ("as_written",)),
        **extra,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, "
                   f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
                   " usable cores",
    }


# --- the report ---------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _acc(view: dict[str, Any]) -> str:
    low, high = view["accuracy_ci95"]
    return f"{_pct(view['accuracy'])} ({_pct(low)}–{_pct(high)})"


def render(report: dict[str, Any]) -> str:
    """The markdown report: the (a)/(b)/(c) table, per-unit recall of (c), the sweep."""
    corpus, settings = report["corpus"], report["settings"]
    k, threshold = report["folds"]["k"], report["threshold"]
    lines = [
        f"Real corpus `{corpus['path']}`: {corpus['rows']} rows from {corpus['sources']} sources, "
        f"{corpus['units']} units (skipped: {corpus['skipped_unlabelled']} without a unit, "
        f"{corpus['skipped_empty_text']} empty; {corpus['rows_without_source']} without a source, "
        f"each its own group; {corpus['duplicates_across_sources']} rows whose normalised text "
        f"is also on another page). Seed corpus: {report['seed']['rows']} rows. "
        f"{k} folds grouped by source ({report['folds']['method']}), rows per fold "
        f"{'/'.join(map(str, report['folds']['rows_per_fold']))}.",
        "",
        "Scores in % on the real rows only, pooled over the out-of-fold predictions; accuracy "
        "with its 95 % interval (bootstrap over sources); macro-F1 over the units present; "
        f"unaccented = the test text with diacritics stripped; triage = confidence below "
        f"{threshold} (`nlp.router.DEFAULT_THRESHOLD`); routed = accuracy of the other rows.",
        "",
        "| trained on | training rows | accuracy | macro-F1 | accuracy, unaccented | "
        "macro-F1, unaccented | triage | routed accuracy | triage, unaccented | "
        "routed accuracy, unaccented |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting in settings.values():
        written, bare = setting["as_written"], setting["unaccented"]
        rows = setting["train_rows_per_fold"]
        size = str(rows[0]) if len(set(rows)) == 1 else f"{min(rows)}–{max(rows)}"
        lines.append(
            f"| {setting['name']} | {size} | {_acc(written)} | {_pct(written['macro_f1'])} | "
            f"{_acc(bare)} | {_pct(bare['macro_f1'])} | {_pct(written['triage_rate'])} | "
            f"{_pct(written['routed_accuracy'])} | {_pct(bare['triage_rate'])} | "
            f"{_pct(bare['routed_accuracy'])} |"
        )
    lines += [
        "", "The unit among the router's first k candidates (the triage desk and the card show "
        "the top 3), in %:", "",
        "| trained on | top-1 | top-2 | top-3 | top-1, unaccented | top-2, unaccented "
        "| top-3, unaccented |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting in settings.values():
        written, bare = setting["as_written"], setting["unaccented"]
        lines.append(
            f"| {setting['name']} | " + " | ".join(
                _pct(v[key]) for v in (written, bare)
                for key in ("accuracy", "top2_accuracy", "top3_accuracy")) + " |"
        )
    left_out = settings["real_only"]["units_left_out_of_training"]
    if left_out:
        lines += ["", "(b) could not learn units with fewer than 3 training rows: " + "; ".join(
            f"fold {f}: {', '.join(u)}" for f, u in left_out.items())]

    both = settings["seed_and_real"]
    lines += [
        "", "Per unit, (c) seed + real (recall and precision in %):", "",
        "| unit | rows | sources | recall | recall, unaccented | precision "
        "| most often taken for |",
        "|---|---|---|---|---|---|---|",
    ]
    for unit, count in corpus["per_unit"].items():
        written, bare = both["as_written"]["per_class"][unit], both["unaccented"]["per_class"][unit]
        confused = both["as_written"]["confusion"].get(unit, {})
        taken = ", ".join(f"{u} ({n})" for u, n in list(confused.items())[:2]) or "–"
        lines.append(
            f"| {unit} | {count} | {corpus['sources_per_unit'][unit]} | "
            f"{_pct(written['recall'])} | {_pct(bare['recall'])} | {_pct(written['precision'])} | "
            f"{taken} |"
        )

    lines += [
        "", "Threshold sweep, (c) seed + real, out-of-fold (triage and routed accuracy in %):", "",
        "| threshold | triage | routed accuracy | triage, unaccented "
        "| routed accuracy, unaccented |",
        "|---|---|---|---|---|",
    ]
    for row in report["threshold_sweep"]:
        written, bare = row["as_written"], row["unaccented"]
        lines.append(
            f"| {row['threshold']:.2f} | {_pct(written['triage_rate'])} | "
            f"{_pct(written['routed_accuracy'])} | {_pct(bare['triage_rate'])} | "
            f"{_pct(bare['routed_accuracy'])} |"
        )
    lines += ["", *(_pick_line(report[key]) for key in
                    ("recommendation", "recommendation_as_written_only"))]
    lines += [f"The shipped default stays {threshold} (this command only recommends).", ""]
    for number, annotation in enumerate(report.get("annotations", []), start=1):
        lines += [*_annotation_lines(annotation, number), ""]
    if "annotator_agreement" in report:
        lines += [_agreement_line(report["annotator_agreement"]), ""]
    lines.append(f"{report['seconds']:.0f} s; {report['machine']}.")
    return "\n".join(lines) + "\n"


def _agreement_line(a: dict[str, Any]) -> str:
    pairs = "; ".join(
        f"annotators {p['annotators'][0]} and {p['annotators'][1]} agree on "
        f"{_pct(p['agreement'])} % (Cohen's kappa "
        f"{'–' if p['kappa'] is None else format(p['kappa'], '.3f')})"
        for p in a["pairs"])
    return (f"Between annotators, on the {a['n']} rows all of them labelled: {pairs}. Where all "
            f"agree ({a['consensus_rows']} rows), the corpus's unit is their unit for "
            f"{_pct(a['corpus_equals_consensus'])} % and (c)'s for "
            f"{_pct(a['model_equals_consensus'])} %.")


def _annotation_lines(a: dict[str, Any], number: int = 1) -> list[str]:
    ci, mci = a["agreement_ci95"], a["model_accuracy_ci95"]
    lines = [
        f"Blind annotation {number} (`{a['path']}`): {a['n']} rows labelled from their text alone "
        f"({a['not_in_corpus']} annotated rows not in this corpus). The annotator names the "
        f"corpus's unit (the agency that answered) for {_pct(a['agreement'])} % of them "
        f"({_pct(ci[0])}–{_pct(ci[1])}); (c), out of fold, for {_pct(a['model_accuracy'])} % "
        f"({_pct(mci[0])}–{_pct(mci[1])}). Both right {a['both_right']}, only the annotator "
        f"{a['only_annotator_right']}, only (c) {a['only_model_right']}, both wrong "
        f"{a['both_wrong']}; (c) and the annotator name the same unit for "
        f"{_pct(a['model_equals_annotator'])} %.",
        "",
        "| annotator's confidence | rows | annotator agrees with the corpus | (c) accuracy |",
        "|---|---|---|---|",
    ]
    for level, row in a["by_confidence"].items():
        lines.append(f"| {level} | {row['n']} | {_pct(row['agreement'])} | "
                     f"{_pct(row['model_accuracy'])} |")
    pairs = ", ".join(f"{d['corpus']} → {d['annotator']} ({d['n']})" for d in a["disagreements"])
    lines += ["", f"Most frequent disagreements (corpus → annotator): {pairs or '–'}."]
    return lines


def _pick_line(rec: dict[str, Any]) -> str:
    if rec["threshold"] is None:
        return f"Rule: {rec['rule']}. Pick: none of {SWEEP[0]:.2f}–{SWEEP[-1]:.2f} qualifies.  "
    row = rec["row"]
    return (
        f"Rule: {rec['rule']}. Pick: **{rec['threshold']:.2f}** (triage "
        f"{_pct(row['as_written']['triage_rate'])} % / {_pct(row['unaccented']['triage_rate'])} "
        f"%, routed accuracy {_pct(row['as_written']['routed_accuracy'])} % / "
        f"{_pct(row['unaccented']['routed_accuracy'])} %, as written / unaccented).  "
    )


# --- command line -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nlp_real_eval.py",
                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--real", type=Path, required=True,
                        help="real corpus CSV: text,label,agency,source_url,date,note")
    parser.add_argument("--seed", type=Path, default=None,
                        help="seed corpus CSV text,label (default: nlp/data/seed_corpus.csv)")
    parser.add_argument("--folds", type=int, default=5, help="source-grouped folds (default 5)")
    parser.add_argument("--annotations", type=Path, action="append", default=[],
                        help="blind labels key,label,confidence to compare (key = row_key); "
                             "once per annotator")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    return parser


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.folds < 2:
            raise InputError(f"--folds must be at least 2, not {args.folds}")
        if args.out is not None and not args.out.parent.is_dir():
            raise InputError(f"--out: no such directory: {args.out.parent}")
        if not args.real.is_file():
            raise InputError(f"{args.real}: no such file")
        if args.seed is not None and not args.seed.is_file():
            raise InputError(f"{args.seed}: no such file")
        with _progress() as progress:
            task = progress.add_task("reading", total=None)
            report = evaluate_corpus(
                args.real, args.seed, args.folds,
                progress=lambda text: progress.update(task, description=text),
                annotations_paths=args.annotations,
            )
    except InputError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    markdown = render(report)
    if args.out is not None:
        args.out.write_text(markdown, encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
