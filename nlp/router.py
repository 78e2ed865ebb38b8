"""The router: text in, responsible unit out (with confidence, candidates, ward, masked text)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlp.catalogue import Unit, load_catalogue, triage_code
from nlp.gazetteer import Ward, WardDetector, load_wards
from nlp.model import (
    CARD_FILE,
    MODEL_FILE,
    ModelConfig,
    TrainedModel,
    default_corpus_path,
    load,
    load_corpus,
    save,
    train,
)
from nlp.pii import mask_pii
from nlp.text import features_input

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path.home() / ".cache" / "hailong" / "nlp"
DEFAULT_THRESHOLD = 0.5
TOP_K = 3


@dataclass(frozen=True)
class RoutingResult:
    """Where one piece of feedback goes.

    ``unit`` is the triage desk when ``needs_triage``; ``predicted_unit`` is then the model's
    best guess, and ``candidates`` (best first) lists the top three units with their
    probabilities, which is also the ranked list for a message raising several issues.
    """

    unit: str
    confidence: float
    candidates: list[tuple[str, float]]
    ward: Ward | None
    masked_text: str
    needs_triage: bool
    predicted_unit: str = ""
    unit_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``hailong nlp route --json`` prints)."""
        data = asdict(self)
        data["candidates"] = [{"unit": u, "score": round(s, 4)} for u, s in self.candidates]
        data["confidence"] = round(self.confidence, 4)
        data["ward"] = (
            {"code": self.ward.code, "name": self.ward.full_name} if self.ward else None
        )
        data.pop("extra")
        return data


class Router:
    """Routes citizen text to a unit of the catalogue; below ``threshold`` to triage."""

    def __init__(
        self,
        model: TrainedModel,
        units: dict[str, Unit] | None = None,
        wards: WardDetector | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.model = model
        self.units = units if units is not None else load_catalogue()
        self.wards = wards if wards is not None else WardDetector(load_wards())
        self.threshold = threshold
        self.triage_unit = triage_code(self.units)

    def route(self, text: str) -> RoutingResult:
        """Route one message. Never raises on odd input; empty text goes to triage."""
        return self.route_many([text])[0]

    def route_many(self, texts: list[str]) -> list[RoutingResult]:
        """Route a batch (faster than one by one: the model sees one matrix)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        masked = [mask_pii(t) for t in texts]
        # Classify the masked text: placeholders are features too, and the model then never
        # depends on anyone's phone number.
        segment = self.model.config.use_segmentation
        rows = [features_input(t, use_segmentation=segment) for t in masked]
        probs = self.model.predict_proba_rows(rows)
        results: list[RoutingResult] = []
        for (text, masked_text, row, (norm, _)) in zip(texts, masked, probs, rows, strict=True):
            order = row.argsort()[::-1][:TOP_K]
            candidates = [(self.model.labels[i], float(row[i])) for i in order]
            best, confidence = candidates[0]
            if not norm:  # nothing left after normalisation: nothing to route
                confidence = 0.0
            needs_triage = confidence < self.threshold
            unit = self.triage_unit if needs_triage else best
            results.append(
                RoutingResult(
                    unit=unit,
                    confidence=confidence,
                    candidates=candidates,
                    ward=self.wards.detect(text),
                    masked_text=masked_text,
                    needs_triage=needs_triage,
                    predicted_unit=best,
                    unit_name=self.units[unit].name if unit in self.units else unit,
                )
            )
        return results


def train_default(model_dir: Path, config: ModelConfig | None = None) -> TrainedModel:
    """Train on the shipped seed corpus and save into ``model_dir`` (a few seconds)."""
    corpus = default_corpus_path()
    texts, labels = load_corpus(corpus)
    model = train(texts, labels, config, data_name=f"seed corpus ({corpus.name})")
    save(model, model_dir, training_data=(texts, labels))
    return model


def load_router(
    model_dir: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    catalogue: Path | None = None,
) -> Router:
    """The router for ``model_dir`` (default ``~/.cache/hailong/nlp``).

    When the directory holds no model yet, the default model is trained from the seed corpus
    and cached there. A model file that fails the safety checks raises
    :class:`nlp.model.ModelError` rather than being silently replaced.
    """
    model_dir = model_dir or DEFAULT_MODEL_DIR
    if (model_dir / MODEL_FILE).exists() or (model_dir / CARD_FILE).exists():
        model = load(model_dir)
    else:
        log.info("no routing model in %s: training the default one", model_dir)
        model = train_default(model_dir)
    return Router(model, units=load_catalogue(catalogue), threshold=threshold)
