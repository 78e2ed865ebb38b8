"""Learning from staff: corrections become labelled examples; retrain keeps the better model.

A correction is (text, wrong unit, right unit). ``retrain`` merges corrections with the data
the current model was trained on, then compares the old recipe (old data, old config) and the
new recipe (merged data) on the same held-out split. The deployed model is replaced only when
the new recipe's macro-F1 is not lower, so a bad batch of corrections cannot make routing worse.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nlp.model import (
    MODEL_FILE,
    TRAINING_DATA_FILE,
    CorpusError,
    ModelConfig,
    default_corpus_path,
    evaluate,
    fit,
    load,
    load_corpus,
    save,
)
from nlp.pii import mask_pii

CORRECTION_COLUMNS = ("text", "wrong_unit", "right_unit", "corrected_at")


@dataclass(frozen=True)
class Correction:
    """A staff decision: ``text`` was routed to ``wrong_unit`` but belongs to ``right_unit``."""

    text: str
    wrong_unit: str
    right_unit: str


@dataclass(frozen=True)
class RetrainReport:
    """What a retrain measured and decided."""

    replaced: bool
    old_macro_f1: float
    new_macro_f1: float
    old_accuracy: float
    new_accuracy: float
    n_corrections: int
    n_training: int
    n_holdout: int


def record_correction(path: Path, correction: Correction) -> None:
    """Append a correction to a CSV file (created with a header when new).

    The text is stored PII-masked: the model is trained and applied on masked text anyway,
    and a corrections file should not become a second store of phone and ID numbers.
    """
    new_file = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if new_file:
            writer.writerow(CORRECTION_COLUMNS)
        writer.writerow([
            mask_pii(correction.text), correction.wrong_unit, correction.right_unit,
            datetime.now(UTC).isoformat(timespec="seconds"),
        ])


def load_corrections(path: Path, known_labels: Sequence[str] | None = None) -> list[Correction]:
    """Read a corrections CSV (``text,wrong_unit,right_unit``; ``label`` accepted for the
    right unit). Raises :class:`CorpusError` with a one-line reason."""
    if not path.is_file():
        raise CorpusError(f"không tìm thấy tệp hiệu chỉnh: {path}")
    out: list[Correction] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        right_column = "right_unit" if "right_unit" in columns else "label"
        if "text" not in columns or right_column not in columns:
            raise CorpusError(f"{path}: cần các cột 'text,wrong_unit,right_unit'")
        reader.fieldnames = columns
        for line, row in enumerate(reader, start=2):
            text = (row.get("text") or "").strip()
            right = (row.get(right_column) or "").strip()
            if not text:
                continue
            if not right:
                raise CorpusError(f"{path}:{line}: thiếu đơn vị đúng")
            if known_labels is not None and right not in known_labels:
                raise CorpusError(f"{path}:{line}: đơn vị không có trong danh mục: {right}")
            out.append(Correction(mask_pii(text), (row.get("wrong_unit") or "").strip(), right))
    return out


def merge(
    texts: Sequence[str], labels: Sequence[str], corrections: Sequence[Correction]
) -> tuple[list[str], list[str]]:
    """Corpus plus corrections; a correction of a text already in the corpus replaces its label
    (staff have the last word), and a later correction wins over an earlier one."""
    merged: dict[str, str] = dict(zip(texts, labels, strict=True))
    for correction in corrections:
        merged[correction.text] = correction.right_unit
    return list(merged), list(merged.values())


def retrain(
    model_dir: Path,
    corrections: Sequence[Correction],
    *,
    base_data: Path | None = None,
    config: ModelConfig | None = None,
    holdout: float = 0.2,
    seed: int = 0,
) -> RetrainReport:
    """Merge ``corrections`` into the training data and replace the model if not worse.

    ``base_data`` defaults to the data saved beside the current model, else the seed corpus.
    ``config`` is the new recipe's configuration (default: the current model's).
    """
    from sklearn.model_selection import train_test_split

    old_model = load(model_dir) if (model_dir / MODEL_FILE).exists() else None
    if base_data is None:
        saved = model_dir / TRAINING_DATA_FILE
        base_data = saved if saved.is_file() else default_corpus_path()
    old_texts, old_labels = load_corpus(base_data)
    old_config = old_model.config if old_model else ModelConfig()
    new_config = config or old_config
    new_texts, new_labels = merge(old_texts, old_labels, corrections)

    # One split of the merged data serves both recipes; each trains only on its own rows
    # that fall in the training part, so neither has seen the held-out messages.
    stratify = new_labels if min(Counter(new_labels).values()) >= 2 else None
    train_x, test_x, _, test_y = train_test_split(
        new_texts, new_labels, test_size=holdout, stratify=stratify, random_state=seed
    )
    train_set = set(train_x)
    old_train = [(t, y) for t, y in zip(old_texts, old_labels, strict=True) if t in train_set]
    new_train = [(t, y) for t, y in zip(new_texts, new_labels, strict=True) if t in train_set]
    old_scores = evaluate(
        fit([t for t, _ in old_train], [y for _, y in old_train], old_config), test_x, test_y
    )
    new_scores = evaluate(
        fit([t for t, _ in new_train], [y for _, y in new_train], new_config), test_x, test_y
    )
    replaced = old_model is None or new_scores["macro_f1"] >= old_scores["macro_f1"]
    if replaced:
        model = fit(new_texts, new_labels, new_config)
        model.card = {
            "data": {"source": f"{base_data.name} + {len(corrections)} corrections",
                     "n": len(new_texts)},
            "metrics": {
                "split": f"retrain hold-out {holdout:.0%}, seed {seed}",
                **{k: new_scores[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1",
                                              "ece", "accuracy_unaccented")},
            },
            "previous_model": {"macro_f1_same_split": old_scores["macro_f1"]},
        }
        save(model, model_dir, training_data=(new_texts, new_labels))
    return RetrainReport(
        replaced=replaced,
        old_macro_f1=float(old_scores["macro_f1"]),
        new_macro_f1=float(new_scores["macro_f1"]),
        old_accuracy=float(old_scores["accuracy"]),
        new_accuracy=float(new_scores["accuracy"]),
        n_corrections=len(corrections),
        n_training=len(new_texts),
        n_holdout=len(test_x),
    )
