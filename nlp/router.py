"""The router: text in, responsible unit out (with confidence, candidates, ward, masked text)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nlp.catalogue import Unit, load_catalogue, triage_code
from nlp.gazetteer import Ward, WardDetector, load_wards
from nlp.intent import COMPLAINT, detect
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

# Several issues in one message (nlp/README.md, "Not a complaint, and several issues";
# thresholds chosen on 5-fold CV of the seed corpus with synthetic two-issue messages and
# checked on the real corpus): clauses split at a connector that introduces another matter
# ("ngoài ra", "thêm nữa", "lại còn" ...), a semicolon or a line break route to two units
# with at least CONNECTOR_CONFIDENCE each; or, split at sentence ends only, two sentences
# route with SENTENCE_CONFIDENCE to the message's two best units, the second of which has at
# least SECOND_UNIT. A detail sentence ("Đề nghị sửa gấp.") is routed confidently to odd
# units on its own, hence the stricter second rule.
CONNECTOR_CONFIDENCE = 0.4
SENTENCE_CONFIDENCE = 0.8
SECOND_UNIT = 0.4
CLAUSE_WORDS = 4  # shorter pieces join their neighbour
SENTENCE_WORDS = 5
_CONNECTORS = (
    "ngoài ra", "thêm nữa", "thêm vào đó", "bên cạnh đó", "đồng thời", "hơn nữa", "còn nữa",
    "lại còn", "mặt khác", "một việc nữa", "một chuyện nữa", "với lại", "ngoai ra", "them nua",
    "them vao do", "ben canh do", "dong thoi", "hon nua", "con nua", "lai con", "mat khac",
    "mot viec nua", "mot chuyen nua", "voi lai",
)  # fmt: skip
_CONNECTOR_SPLIT = re.compile(
    r"[;\n]+|[,.]?\s*\b(?:" + "|".join(_CONNECTORS) + r")\b[,:]?\s*", re.I
)
_SENTENCE_END = re.compile(r"[^\W\d][.!?]\s")
_SENTENCE_SPLIT = re.compile(r"(?<=[^\W\d][.!?])\s+")


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
    # What the message is (`nlp.intent`): anything but "complaint" is answered by the chat and
    # has no unit (unit "", needs_triage False, no candidates).
    kind: str = COMPLAINT
    # Several issues: the units its parts route to, with each part's confidence, best first.
    multi_issue: bool = False
    issues: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``hailong nlp route --json`` prints)."""
        data = asdict(self)
        data["candidates"] = [{"unit": u, "score": round(s, 4)} for u, s in self.candidates]
        data["issues"] = [{"unit": u, "score": round(s, 4)} for u, s in self.issues]
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
        """Route one message. Never raises on odd input; a message that is no complaint
        (greeting, thanks, survey question, spam, other language, empty) gets no unit."""
        return self.route_many([text])[0]

    def route_many(self, texts: list[str]) -> list[RoutingResult]:
        """Route a batch (faster than one by one: the model sees one matrix)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        kinds = [detect(t) for t in texts]
        masked = [mask_pii(t) for t in texts]
        results: list[RoutingResult | None] = [
            None
            if kind == COMPLAINT
            else RoutingResult(
                unit="", confidence=0.0, candidates=[], ward=None, masked_text=m,
                needs_triage=False, kind=kind,
            )
            for kind, m in zip(kinds, masked, strict=True)
        ]
        todo = [i for i, r in enumerate(results) if r is None]
        # Classify the masked text: placeholders are features too, and the model then never
        # depends on anyone's phone number.
        segment = self.model.config.use_segmentation
        rows = [features_input(masked[i], use_segmentation=segment) for i in todo]
        probs = self.model.predict_proba_rows(rows) if todo else []
        issues = self._issues([masked[i] for i in todo], probs)
        for i, row, (norm, _), found in zip(todo, probs, rows, issues, strict=True):
            order = row.argsort()[::-1][:TOP_K]
            candidates = [(self.model.labels[j], float(row[j])) for j in order]
            best, confidence = candidates[0]
            if not norm:  # nothing left after normalisation: nothing to route
                confidence = 0.0
            needs_triage = confidence < self.threshold
            unit = self.triage_unit if needs_triage else best
            results[i] = RoutingResult(
                unit=unit,
                confidence=confidence,
                candidates=candidates,
                ward=self.wards.detect(texts[i]),
                masked_text=masked[i],
                needs_triage=needs_triage,
                predicted_unit=best,
                unit_name=self.units[unit].name if unit in self.units else unit,
                multi_issue=len(found) > 1,
                issues=found if len(found) > 1 else [],
            )
        return [r for r in results if r is not None]

    def _issues(self, masked: list[str], probs: Any) -> list[list[tuple[str, float]]]:
        """For each message, the units of its parts when they are several issues (see the
        thresholds above), best first; [] for one issue. Only messages of several clauses
        cost a second, batched, classification of those clauses."""
        splits: list[tuple[list[str], list[str]]] = []
        pieces: dict[str, int] = {}
        for text in masked:
            # Substring tests first: most messages have neither a connector nor two sentences,
            # and the splitting expressions cost ~15 µs a message.
            lower = text.lower()
            connected = "\n" in text or ";" in text or any(c in lower for c in _CONNECTORS)
            if not connected and _SENTENCE_END.search(text) is None:
                splits.append(([], []))
                continue
            parts = _CONNECTOR_SPLIT.split(text) if connected else [text]
            by_connector = _clauses(parts, CLAUSE_WORDS)
            by_sentence = _clauses(
                [s for part in parts if part for s in _SENTENCE_SPLIT.split(part)], CLAUSE_WORDS
            )
            splits.append((by_connector, by_sentence))
            for piece in (*by_connector, *by_sentence) if len(by_sentence) > 1 else ():
                pieces.setdefault(piece, len(pieces))
        if not pieces:
            return [[] for _ in masked]
        segment = self.model.config.use_segmentation
        piece_probs = self.model.predict_proba_rows(
            [features_input(p, use_segmentation=segment) for p in pieces]
        )
        labels = self.model.labels
        out: list[list[tuple[str, float]]] = []
        for (by_connector, by_sentence), whole in zip(splits, probs, strict=True):
            found: dict[int, float] = {}
            if len(by_connector) > 1:
                for piece in by_connector:
                    row = piece_probs[pieces[piece]]
                    j = int(row.argmax())
                    if row[j] >= CONNECTOR_CONFIDENCE:
                        found[j] = max(found.get(j, 0.0), float(row[j]))
            if len(found) < 2 and len(by_sentence) > 1:
                top_two = whole.argsort()[::-1][:2]
                found = {}
                if whole[top_two[1]] >= SECOND_UNIT:
                    for piece in by_sentence:
                        row = piece_probs[pieces[piece]]
                        j = int(row.argmax())
                        if (row[j] >= SENTENCE_CONFIDENCE and j in top_two
                                and len(piece.split()) >= SENTENCE_WORDS):
                            found[j] = max(found.get(j, 0.0), float(row[j]))
            ranked = sorted(found.items(), key=lambda item: -float(whole[item[0]]))
            out.append([(labels[j], p) for j, p in ranked] if len(found) > 1 else [])
        return out


def _clauses(parts: list[str], min_words: int) -> list[str]:
    """Non-empty pieces, each joined to its predecessor while either is under `min_words`."""
    out: list[str] = []
    for part in (p.strip() for p in parts if p):
        if not part:
            continue
        if out and (len(part.split()) < min_words or len(out[-1].split()) < min_words):
            out[-1] += " " + part
        else:
            out.append(part)
    return out


def real_corpus_path() -> Path:
    """Path of the shipped real corpus, ``nlp/data/real_corpus.csv`` (nlp/data/README.md)."""
    return Path(str(resources.files("nlp") / "data" / "real_corpus.csv"))


# What the default model is trained on (its card's data source), and what it used to be: a
# cached model of an older default recipe, or of the default recipe on corpora that have since
# changed (a release that adds real rows), is retrained; one an operator trained is kept.
DEFAULT_DATA = "seed corpus (seed_corpus.csv) + real corpus (real_corpus.csv)"
_OLDER_DEFAULTS = frozenset({"seed corpus (seed_corpus.csv)"})


def data_digest(texts: list[str], labels: list[str]) -> str:
    """SHA-256 of the (text, label) pairs in order: which data a default model was trained on."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def _stale_default(card: dict[str, Any]) -> bool:
    data = card.get("data", {})
    source = data.get("source")
    if source in _OLDER_DEFAULTS:
        return True
    if source != DEFAULT_DATA:
        return False  # an operator's model
    return data.get("sha256") != data_digest(*default_training_data())


def default_training_data() -> tuple[list[str], list[str]]:
    """The hand-written seed corpus and the real citizen complaints, together: trained on both,
    the router routes real text 15 points better (nlp/README.md, "Real citizen text")."""
    texts, labels = load_corpus(default_corpus_path())
    real_texts, real_labels = load_corpus(real_corpus_path())
    return texts + real_texts, labels + real_labels


def train_default(model_dir: Path, config: ModelConfig | None = None) -> TrainedModel:
    """Train the default model (seed + real corpus) and save it into ``model_dir`` (a few
    seconds)."""
    texts, labels = default_training_data()
    model = train(texts, labels, config, data_name=DEFAULT_DATA)
    model.card["data"]["sha256"] = data_digest(texts, labels)
    save(model, model_dir, training_data=(texts, labels))
    return model


def load_router(
    model_dir: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    catalogue: Path | None = None,
) -> Router:
    """The router for ``model_dir`` (default ``~/.cache/hailong/nlp``).

    When the directory holds no model yet (or the default model of an older recipe or of
    corpora that have changed since), the default model is trained from the seed and real
    corpora and cached there. A model file that fails the safety checks raises
    :class:`nlp.model.ModelError` rather than being silently replaced.
    """
    model_dir = model_dir or DEFAULT_MODEL_DIR
    if (model_dir / MODEL_FILE).exists() or (model_dir / CARD_FILE).exists():
        model = load(model_dir)
        if _stale_default(model.card):
            log.info("%s holds an older default model: training the current one", model_dir)
            model = train_default(model_dir)
    else:
        log.info("no routing model in %s: training the default one", model_dir)
        model = train_default(model_dir)
    return Router(model, units=load_catalogue(catalogue), threshold=threshold)
