"""Fixtures for the NLP router tests: the default model is trained once per session."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from nlp.model import TrainedModel, default_corpus_path, load_corpus, write_corpus
from nlp.router import Router, load_router

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def default_model_dir(nlp_model_dir: Path) -> Path:
    """A model directory holding the default model, trained from the seed and real corpora
    (the run's shared one: copy it before changing it)."""
    return nlp_model_dir


@pytest.fixture(scope="session")
def router(default_model_dir: Path) -> Router:
    """The router over the session's default model (threshold 0.5)."""
    return load_router(default_model_dir)


@pytest.fixture(scope="session")
def default_model(router: Router) -> TrainedModel:
    return router.model


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 seed messages per unit: enough to train in well under a second."""
    texts, labels = load_corpus(default_corpus_path())
    seen: Counter[str] = Counter()
    keep_t: list[str] = []
    keep_l: list[str] = []
    for text, label in zip(texts, labels, strict=True):
        if seen[label] < 20:
            seen[label] += 1
            keep_t.append(text)
            keep_l.append(label)
    path = tmp_path_factory.mktemp("corpus") / "small.csv"
    write_corpus(path, keep_t, keep_l)
    return path


@pytest.fixture(scope="session")
def clear_examples() -> list[tuple[str, str]]:
    """One unambiguous message per unit, written apart from the seed corpus."""
    with (DATA / "clear_examples.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]
