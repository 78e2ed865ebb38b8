"""Vietnamese NLP router: send each piece of citizen feedback to the unit responsible for it.

Public API (see nlp/README.md)::

    from nlp import load_router
    router = load_router()              # trains the default model on first use, then caches it
    result = router.route("đường bị ngập nước quá, P.Bến Thành")
    result.unit, result.confidence, result.candidates, result.ward, result.masked_text
    result.kind, result.multi_issue     # "greeting", "thanks", ... get no unit; several issues
"""

from nlp.catalogue import Unit, load_catalogue
from nlp.gazetteer import Ward, detect_ward
from nlp.intent import KINDS
from nlp.intent import detect as detect_intent
from nlp.model import (
    CorpusError,
    ModelConfig,
    ModelError,
    TrainedModel,
    evaluate,
    load_corpus,
    train,
)
from nlp.pii import mask_pii
from nlp.router import Router, RoutingResult, load_router
from nlp.text import normalize, strip_diacritics

__all__ = [
    "KINDS",
    "CorpusError",
    "ModelConfig",
    "ModelError",
    "Router",
    "RoutingResult",
    "TrainedModel",
    "Unit",
    "Ward",
    "detect_intent",
    "detect_ward",
    "evaluate",
    "load_catalogue",
    "load_corpus",
    "load_router",
    "mask_pii",
    "normalize",
    "strip_diacritics",
    "train",
]
