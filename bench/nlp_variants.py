"""Feature/model variants of the router's classifier on three yardsticks (issue 16, item 5).

Every variant is a :class:`nlp.model.ModelConfig` and is measured on:

1. **UIT-VSFC topic** (external): hyper-parameter C chosen by stratified k-fold CV on the
   training part (weighted-F1), then one fit and ONE measurement on the held-out split:
   weighted-F1 and macro-F1, as written and with diacritics stripped. When the data folder
   has the official ``test/`` split the training part is train + dev and the test split is
   measured; the shared copy holds it back, and then train is trained on and dev measured.
2. **Seed corpus**: ``nlp.model.cross_validate`` (5-fold stratified, seed 0), accuracy as
   written and unaccented, as ``bench/nlp_uit_vsfc.py --seed-corpus``.
3. **Real corpus**: ``bench/nlp_real_eval.py``'s source-grouped folds and routing (its
   functions, imported), with the variant's config: (a) seed only and (c) seed + real, as
   written and unaccented.
4. **Speed**: the model trained on the seed corpus, routed through ``nlp.router.Router``
   (masking, intent, normalisation, ward) in batches of 256, on one core, as
   ``hailong nlp bench``: messages/s (median of ``--repeat`` rounds), and CPU µs per single
   ``route()``.

Usage::

    .venv/bin/python bench/nlp_variants.py [--only default pyvi ...] \\
        [--yardsticks uit seed real speed] [--out bench/results/nlp_variants.md] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the library is the repository's
    sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "uit-vsfc"
DEFAULT_REAL = REPO / "nlp" / "data" / "real_corpus.csv"
TOPICS = ["lecturer", "training_program", "facility", "others"]
YARDSTICKS = ("uit", "seed", "real", "speed")


@dataclass(frozen=True)
class Variant:
    name: str
    note: str
    config: Any  # nlp.model.ModelConfig


def variants() -> list[Variant]:
    """The variants compared; the first is the shipped default."""
    from nlp.model import ModelConfig

    return [
        Variant("default", "syllable 1-2-grams on both views, calibrated LinearSVC (shipped)",
                ModelConfig()),
        Variant("char", "+ char_wb 2-5-grams on the unaccented view",
                ModelConfig(features="syllable+char")),
        Variant("pyvi", "+ pyvi word segments (1-2-grams) as a third view",
                ModelConfig(word_segmenter="pyvi")),
        Variant("underthesea", "+ underthesea word segments (1-2-grams) as a third view",
                ModelConfig(word_segmenter="underthesea")),
        Variant("raw-tf", "raw term counts instead of sublinear 1 + log(tf)",
                ModelConfig(sublinear_tf=False)),
        Variant("svm+nb", "mean of calibrated LinearSVC and calibrated ComplementNB",
                ModelConfig(classifier="svm+nb")),
        Variant("svm+logreg", "mean of calibrated LinearSVC and logistic regression",
                ModelConfig(classifier="svm+logreg")),
    ]


class InputError(Exception):
    """A bad argument or input: printed as one line, exit code 2."""


# --- yardstick 1: UIT-VSFC topic ----------------------------------------------------------


def read_split(folder: Path) -> tuple[list[str], list[str]]:
    """Texts and topic labels of one UIT-VSFC split (line-aligned files)."""
    try:
        texts = (folder / "sents.txt").read_text(encoding="utf-8").splitlines()
        topics = [TOPICS[int(x)] for x in (folder / "topics.txt").read_text().split()]
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(f"{folder}: unreadable UIT-VSFC split ({exc})") from exc
    if len(texts) != len(topics):
        raise InputError(f"{folder}: sents.txt and topics.txt are not line-aligned")
    return texts, topics


def uit_splits(data: Path) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(protocol, train texts, train labels, test texts, test labels)."""
    if not (data / "train" / "sents.txt").is_file():
        raise InputError(f"UIT-VSFC not found at {data} (--data or HAILONG_UIT_VSFC)")
    train_x, train_y = read_split(data / "train")
    dev_x, dev_y = read_split(data / "dev")
    if (data / "test" / "sents.txt").is_file():
        test_x, test_y = read_split(data / "test")
        return "train+dev -> official test", train_x + dev_x, train_y + dev_y, test_x, test_y
    return "train -> dev (official test held back)", train_x, train_y, dev_x, dev_y


def uit_yardstick(variant: Variant, split: tuple[str, list[str], list[str], list[str],
                                                  list[str]],
                  grid: Sequence[float], cv_folds: int,
                  step: Callable[[str], None]) -> dict[str, Any]:
    """C by CV on the training part, then one fit and one measurement on the test split."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from nlp.model import fit
    from nlp.text import strip_diacritics

    _, train_x, train_y, test_x, test_y = split
    started = time.perf_counter()
    cv_scores: dict[str, float] = {}
    if len(grid) > 1:
        splitter = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=0)
        for c in grid:
            scores = []
            for k, (tr, te) in enumerate(splitter.split(train_x, train_y)):
                step(f"{variant.name}: UIT C={c} fold {k + 1}/{cv_folds}")
                model = fit([train_x[i] for i in tr], [train_y[i] for i in tr],
                            replace(variant.config, c=c))
                scores.append(f1_score([train_y[i] for i in te],
                                       model.predict([train_x[i] for i in te]),
                                       average="weighted"))
            cv_scores[str(c)] = 100 * statistics.fmean(scores)
        best = max(grid, key=lambda c: (cv_scores[str(c)], -c))
    else:
        best = grid[0]
    step(f"{variant.name}: UIT fit C={best}, one measurement")
    model = fit(train_x, train_y, replace(variant.config, c=best))
    written = model.predict(test_x)
    bare = model.predict([strip_diacritics(t) for t in test_x])
    return {
        "c": best,
        "cv_weighted_f1": cv_scores,
        "weighted_f1": 100 * f1_score(test_y, written, average="weighted"),
        "macro_f1": 100 * f1_score(test_y, written, average="macro"),
        "weighted_f1_unaccented": 100 * f1_score(test_y, bare, average="weighted"),
        "macro_f1_unaccented": 100 * f1_score(test_y, bare, average="macro"),
        "seconds": round(time.perf_counter() - started, 1),
        "predicted": list(written),  # for the paired comparison with the default
    }


# --- yardstick 2: seed corpus -------------------------------------------------------------


def seed_yardstick(variant: Variant, folds: int, step: Callable[[str], None]) -> dict[str, Any]:
    from nlp.model import cross_validate, default_corpus_path, load_corpus

    step(f"{variant.name}: seed corpus {folds}-fold CV")
    started = time.perf_counter()
    texts, labels = load_corpus(default_corpus_path())
    result = cross_validate(texts, labels, variant.config, folds=folds, seed=0)
    return {
        "accuracy": 100 * result["accuracy"],
        "accuracy_unaccented": 100 * result["accuracy_unaccented"],
        "macro_f1": 100 * result["macro_f1"],
        "ece": result["ece"],
        "seconds": round(time.perf_counter() - started, 1),
    }


# --- yardstick 3: real corpus (bench/nlp_real_eval.py's functions) ------------------------


def real_eval_module() -> ModuleType:
    """``bench/nlp_real_eval.py``, imported (not copied), whatever the working directory."""
    if "nlp_real_eval" in sys.modules:
        return sys.modules["nlp_real_eval"]
    spec = importlib.util.spec_from_file_location(
        "nlp_real_eval", Path(__file__).with_name("nlp_real_eval.py")
    )
    if spec is None or spec.loader is None:
        raise InputError("bench/nlp_real_eval.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def real_yardstick(variant: Variant, real_path: Path, folds: int,
                   step: Callable[[str], None]) -> dict[str, Any]:
    """Out-of-fold routing of the real corpus: (a) seed only and (c) seed + real."""
    from nlp.catalogue import load_catalogue
    from nlp.model import default_corpus_path, fit, load_corpus
    from nlp.router import DEFAULT_THRESHOLD

    real_eval = real_eval_module()
    config = variant.config

    class VariantEvaluator(real_eval.Evaluator):  # type: ignore[name-defined]
        def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Any:
            return fit(texts, labels, config)

    started = time.perf_counter()
    known = list(load_catalogue())
    try:
        real = real_eval.load_real(real_path, known)
        fold_of = real_eval.assign_folds(real.labels, real.groups, folds)
        seed_texts, seed_labels = load_corpus(default_corpus_path(), known_labels=known)
        predictions = real_eval.cross_predict(
            real, seed_texts, seed_labels, fold_of, VariantEvaluator(DEFAULT_THRESHOLD),
            lambda text: step(f"{variant.name}: real {text}"),
        )
    except real_eval.InputError as exc:
        raise InputError(str(exc)) from exc
    out: dict[str, Any] = {
        "rows": len(real.texts), "sources": len(set(real.groups)),
        "labels": real.labels, "groups": real.groups,  # for the paired comparison
        "predicted": {view: predictions["seed_and_real"].unit[view] for view in real_eval.VIEWS},
    }
    for key in ("seed_only", "seed_and_real"):
        for view in real_eval.VIEWS:
            scores = real_eval.view_scores(real.labels, predictions[key], view, real.groups,
                                           fold_of)
            out[f"{key}_{view}"] = {
                "accuracy": 100 * scores["accuracy"],
                "ci95": [100 * x for x in scores["accuracy_ci95"]],
                "macro_f1": 100 * scores["macro_f1"],
                "triage_rate": 100 * scores["triage_rate"],
            }
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


# --- yardstick 4: speed -------------------------------------------------------------------


def speed_yardstick(chosen: Sequence[Variant], real_path: Path, n: int, repeat: int,
                    step: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Router messages/s in batches of 256 and CPU µs per single ``route()``, per variant.

    Each model is trained on the seed + real corpora (what the default model is trained on).
    Rounds are interleaved (every variant once per round, the shipped default included as
    the reference) so that the load of a shared machine drifts over all variants alike.
    """
    from nlp.model import default_corpus_path, fit, load_corpus
    from nlp.router import Router

    texts, labels = load_corpus(default_corpus_path())
    if real_path.is_file():
        real_texts, real_labels = load_corpus(real_path)
        texts, labels = texts + real_texts, labels + real_labels
    measured = list(chosen)
    if not any(v.name == "default" for v in measured):
        measured.insert(0, variants()[0])
    routers = {}
    for variant in measured:
        step(f"speed: training {variant.name} on {len(texts)} seed + real rows")
        routers[variant.name] = Router(fit(texts, labels, variant.config))
    sample_texts = texts[: 1471] if len(texts) > 1471 else texts  # the seed corpus, as nlp bench
    rates: dict[str, list[float]] = {v.name: [] for v in measured}
    from nlp.cli import one_core

    with one_core():
        for r in range(repeat):
            for variant in measured:
                step(f"speed round {r + 1}/{repeat}: {variant.name}")
                router = routers[variant.name]
                # Fresh strings every round: no cache (normaliser, segmenter) may help.
                sample = [sample_texts[i % len(sample_texts)] + f" {r} {i}" for i in range(n)]
                router.route_many(sample[:50])
                start = time.perf_counter()
                for i in range(0, n, 256):
                    router.route_many(sample[i : i + 256])
                rates[variant.name].append(n / (time.perf_counter() - start))
        singles = [f"{t} single" for t in sample_texts[:: max(1, len(sample_texts) // 300)]]
        single_us: dict[str, float] = {}
        for variant in measured:
            step(f"speed: single route() calls, {variant.name}")
            router = routers[variant.name]
            start = time.process_time()
            for text in singles:
                router.route(text)
            single_us[variant.name] = 1e6 * (time.process_time() - start) / len(singles)
    reference = statistics.median(rates["default"])
    return {
        v.name: {
            "router_msgs_per_s": statistics.median(rates[v.name]),
            "relative_to_default": statistics.median(rates[v.name]) / reference,
            "rounds": rates[v.name],
            "single_route_cpu_us": single_us[v.name],
            "fast_path": routers[v.name].model.fast_predictor() is not None,
        }
        for v in measured
    }


# --- the run ------------------------------------------------------------------------------


def _cache_segmenter(on: bool) -> None:
    """Accuracy yardsticks only: cache segmentations, so CV folds segment each training text
    once. Off for the speed yardstick, which must pay for every message as production does
    (its texts differ only by a number, which normalisation folds to one token)."""
    import nlp.model
    import nlp.text

    inner = nlp.text.segment_words
    nlp.model.segment_words = lru_cache(maxsize=None)(inner) if on else inner


def run(args: argparse.Namespace, step: Callable[[str], None],
        done: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    chosen = variants()
    names = [v.name for v in chosen]
    unknown = [n for n in args.only or [] if n not in names]
    if unknown:
        raise InputError(f"unknown variant {', '.join(unknown)}; known: {', '.join(names)}")
    if args.only:
        chosen = [v for v in chosen if v.name in args.only]
    for variant in chosen:
        if variant.config.word_segmenter == "pyvi":
            try:
                import pyvi  # noqa: F401
            except ImportError as exc:
                raise InputError("variant pyvi needs the pyvi package (pip install pyvi)") from exc
    yardsticks = args.yardsticks
    split = uit_splits(args.data) if "uit" in yardsticks else None
    if "real" in yardsticks and not args.real.is_file():
        raise InputError(f"{args.real}: no such file")
    _cache_segmenter(True)
    report: dict[str, Any] = {
        "uit_protocol": split[0] if split else None,
        "uit_train": len(split[1]) if split else None,
        "uit_test": len(split[3]) if split else None,
        "uit_truth": split[4] if split else None,
        "grid": list(args.grid),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, "
                   f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start",
        "variants": [],
    }
    for variant in chosen:
        row: dict[str, Any] = {"name": variant.name, "note": variant.note,
                               "config": asdict(variant.config)}
        if split is not None:
            row["uit"] = uit_yardstick(variant, split, args.grid, args.cv_folds, step)
        if "seed" in yardsticks:
            row["seed"] = seed_yardstick(variant, args.folds, step)
        if "real" in yardsticks:
            row["real"] = real_yardstick(variant, args.real, args.folds, step)
        report["variants"].append(row)
        if "speed" not in yardsticks:
            done(row)
    if "speed" in yardsticks:
        _cache_segmenter(False)
        speeds = speed_yardstick(chosen, args.real, args.n, args.repeat, step)
        report["default_speed"] = speeds["default"]
        for row in report["variants"]:
            row["speed"] = speeds[row["name"]]
            done(row)
    return report


# --- the report ---------------------------------------------------------------------------


def _f(row: dict[str, Any], *path: str, digits: int = 1) -> str:
    value: Any = row
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return "–"
        value = value[key]
    return f"{value:,.{digits}f}"


HEADER = (
    "| variant | UIT topic wF1 | UIT mF1 | UIT wF1, unaccented | C (CV) | seed CV acc "
    "| seed CV acc, unaccented | real (c) acc | real (c) acc, unaccented | real (a) acc "
    "| real (a) acc, unaccented | router msg/s, 1 core (× default) | CPU µs per route() |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_line(row: dict[str, Any]) -> str:
    c = row.get("uit", {}).get("c")
    return (
        f"| {row['name']} | {_f(row, 'uit', 'weighted_f1', digits=2)} "
        f"| {_f(row, 'uit', 'macro_f1', digits=2)} "
        f"| {_f(row, 'uit', 'weighted_f1_unaccented', digits=2)} | {c if c else '–'} "
        f"| {_f(row, 'seed', 'accuracy')} | {_f(row, 'seed', 'accuracy_unaccented')} "
        f"| {_f(row, 'real', 'seed_and_real_as_written', 'accuracy')} "
        f"| {_f(row, 'real', 'seed_and_real_unaccented', 'accuracy')} "
        f"| {_f(row, 'real', 'seed_only_as_written', 'accuracy')} "
        f"| {_f(row, 'real', 'seed_only_unaccented', 'accuracy')} "
        f"| {_f(row, 'speed', 'router_msgs_per_s', digits=0)} "
        f"({_f(row, 'speed', 'relative_to_default', digits=2)}×) "
        f"| {_f(row, 'speed', 'single_route_cpu_us', digits=0)} |"
    )


def render(report: dict[str, Any]) -> str:
    rows = report["variants"]
    lines = [HEADER, *(table_line(r) for r in rows), ""]
    lines += [f"- **{r['name']}**: {r['note']}." for r in rows]
    lines += ["", *comparison_lines(report)]
    if report["uit_protocol"]:
        lines.append(
            f"UIT-VSFC topic, {report['uit_protocol']}: {report['uit_train']} training lines, "
            f"{report['uit_test']} measured once; C from {report['grid']} by weighted-F1 of "
            "stratified CV on the training lines (CV scores below)."
        )
    real = next((r["real"] for r in rows if "real" in r), None)
    if real is not None:
        lines.append(f"Real corpus: {real['rows']} labelled rows from {real['sources']} sources, "
                     "5 source-grouped folds (bench/nlp_real_eval.py's); (a) = trained on the "
                     "seed corpus only, (c) = seed + the other folds' real rows.")
    lines.append(f"Machine: {report['machine']}.")
    lines += ["", "Details (seconds per yardstick; UIT CV weighted-F1 per C; real corpus 95 % "
              "intervals, bootstrap over sources; speed rounds):", ""]
    for r in rows:
        parts = [f"**{r['name']}**"]
        if "uit" in r:
            cv = ", ".join(f"C={c}: {s:.2f}" for c, s in r["uit"]["cv_weighted_f1"].items())
            parts.append(f"UIT {r['uit']['seconds']:.0f} s (CV {cv or 'none'}, "
                         f"unaccented mF1 {r['uit']['macro_f1_unaccented']:.2f})")
        if "seed" in r:
            s = r["seed"]
            parts.append(f"seed {s['seconds']:.0f} s (macro-F1 {s['macro_f1']:.1f}, "
                         f"ECE {s['ece']:.3f})")
        if "real" in r:
            q = r["real"]
            w, b = q["seed_and_real_as_written"], q["seed_and_real_unaccented"]
            parts.append(
                f"real {q['seconds']:.0f} s ((c) {w['accuracy']:.1f} "
                f"[{w['ci95'][0]:.1f}–{w['ci95'][1]:.1f}], macro-F1 {w['macro_f1']:.1f}, "
                f"triage {w['triage_rate']:.1f}; unaccented {b['accuracy']:.1f} "
                f"[{b['ci95'][0]:.1f}–{b['ci95'][1]:.1f}], macro-F1 {b['macro_f1']:.1f})"
            )
        if "speed" in r:
            sp = r["speed"]
            parts.append("speed rounds " + " / ".join(f"{x:,.0f}" for x in sp["rounds"])
                         + f" msg/s, fast path {'yes' if sp['fast_path'] else 'no'}")
        lines.append("- " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def merge(paths: Sequence[Path]) -> dict[str, Any]:
    """One report from several ``--json`` files (runs split across processes or yardsticks):
    a variant's yardsticks are gathered from every file (a later file's win), in first-seen
    order; the report's facts come from the first file that has them."""
    reports = []
    for path in paths:
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a report ({exc})") from exc
    merged: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for report in reports:
        for key, value in report.items():
            if key != "variants" and merged.get(key) is None:
                merged[key] = value
        for row in report.get("variants", []):
            rows.setdefault(row["name"], {}).update(row)
    merged["variants"] = list(rows.values())
    merged["machine"] = "; ".join(dict.fromkeys(r.get("machine", "") for r in reports))
    return merged


# --- paired comparison with the default ------------------------------------------------


BOOTSTRAP_ROUNDS = 1000


def paired_uit(truth: Sequence[str], base: Sequence[str], other: Sequence[str],
               rounds: int = BOOTSTRAP_ROUNDS) -> tuple[float, float, float]:
    """Weighted-F1 difference (other - base, points) and its 95 % interval, resampling test
    lines (the same resample for both models)."""
    import numpy as np
    from sklearn.metrics import f1_score

    t, b, o = np.asarray(truth), np.asarray(base), np.asarray(other)
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(rounds):
        i = rng.integers(0, len(t), len(t))
        diffs.append(f1_score(t[i], o[i], average="weighted")
                     - f1_score(t[i], b[i], average="weighted"))
    low, high = np.percentile(diffs, [2.5, 97.5])
    delta = f1_score(t, o, average="weighted") - f1_score(t, b, average="weighted")
    return 100 * float(delta), 100 * float(low), 100 * float(high)


def paired_real(truth: Sequence[str], groups: Sequence[str], base: Sequence[str],
                other: Sequence[str], rounds: int = BOOTSTRAP_ROUNDS
                ) -> tuple[float, float, float]:
    """Accuracy difference (other - base, points) and its 95 % interval, resampling whole
    sources as ``nlp_real_eval`` does (rows of one page are not independent)."""
    import numpy as np

    index = {g: j for j, g in enumerate(dict.fromkeys(groups))}
    gain = np.zeros(len(index))
    sizes = np.zeros(len(index))
    for t, b, o, g in zip(truth, base, other, groups, strict=True):
        gain[index[g]] += (o == t) - (b == t)
        sizes[index[g]] += 1
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(index), size=(rounds, len(index)))
    diffs = gain[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return 100 * float(gain.sum() / sizes.sum()), 100 * float(low), 100 * float(high)


def comparison_lines(report: dict[str, Any]) -> list[str]:
    """Each variant minus the default, with paired 95 % bootstrap intervals."""
    rows = {r["name"]: r for r in report["variants"]}
    base = rows.get("default")
    if base is None:
        return []
    lines = [
        "Difference from the default, paired (same test lines / same out-of-fold rows; 95 % "
        "bootstrap interval, over lines for UIT-VSFC, over sources for the real corpus):", "",
        "| variant | Δ UIT topic wF1 | Δ real (c) acc | Δ real (c) acc, unaccented |",
        "|---|---|---|---|",
    ]

    def cell(value: tuple[float, float, float] | None) -> str:
        return "–" if value is None else f"{value[0]:+.2f} ({value[1]:+.2f} to {value[2]:+.2f})"

    for name, row in rows.items():
        if name == "default":
            continue
        uit = None
        if report.get("uit_truth") and "predicted" in row.get("uit", {}) and "uit" in base:
            uit = paired_uit(report["uit_truth"], base["uit"]["predicted"],
                             row["uit"]["predicted"])
        real: dict[str, tuple[float, float, float] | None] = {}
        for view in ("as_written", "unaccented"):
            real[view] = None
            if "predicted" in row.get("real", {}) and "real" in base:
                real[view] = paired_real(row["real"]["labels"], row["real"]["groups"],
                                         base["real"]["predicted"][view],
                                         row["real"]["predicted"][view])
        lines.append(f"| {name} | {cell(uit)} | {cell(real['as_written'])} "
                     f"| {cell(real['unaccented'])} |")
    return [*lines, ""]


# --- command line -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nlp_variants.py", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("HAILONG_UIT_VSFC", DEFAULT_DATA)),
                        help="UIT-VSFC folder (train/, dev/, optionally test/)")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="real corpus CSV")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--yardsticks", nargs="*", choices=YARDSTICKS, default=list(YARDSTICKS))
    parser.add_argument("--grid", type=float, nargs="+", default=[0.3, 1.0],
                        help="SVM C values tried by CV on UIT-VSFC's training part")
    parser.add_argument("--cv-folds", type=int, default=3, help="UIT-VSFC CV folds (default 3)")
    parser.add_argument("--folds", type=int, default=5, help="seed and real CV folds")
    parser.add_argument("--n", type=int, default=3000, help="messages per speed round")
    parser.add_argument("--repeat", type=int, default=3, help="speed rounds (median)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="render the variants of earlier --json files as one table "
                             "(runs nothing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from nlp.model import CorpusError, ModelError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.folds < 2 or args.cv_folds < 2:
            raise InputError("--folds and --cv-folds must be at least 2")
        if any(c <= 0 for c in args.grid):
            raise InputError("--grid values must be positive")
        if args.n < 256 or args.repeat < 1:
            raise InputError("--n must be at least 256 and --repeat at least 1")
        for path in (args.out, args.json):
            if path is not None and not path.parent.is_dir():
                raise InputError(f"no such directory: {path.parent}")
        if args.merge:
            report = merge(args.merge)
            markdown = render(report)
            if args.out is not None:
                args.out.write_text(markdown, encoding="utf-8")
            print(markdown)
            return 0
        with real_eval_module()._progress() as progress, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rare units in grouped folds
            task = progress.add_task("starting", total=None)
            report = run(
                args,
                step=lambda text: progress.update(task, description=text),
                done=lambda row: progress.console.print(table_line(row)),
            )
    except (InputError, CorpusError, ModelError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    markdown = render(report)
    if args.out is not None:
        args.out.write_text(markdown, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(markdown)
    return 0


if __name__ == "__main__":
    import numpy as np

    np.seterr(all="ignore")
    sys.exit(main())
