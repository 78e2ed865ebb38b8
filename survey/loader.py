"""Load and validate questionnaire files; errors name the file and the field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from survey.model import Questionnaire

SHIPPED_DIR = Path(__file__).parent / "questionnaires"


class QuestionnaireError(ValueError):
    """A questionnaire file that cannot be used, with the file and field named."""


def load_questionnaire(path: Path) -> Questionnaire:
    """Read one YAML questionnaire file and validate it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QuestionnaireError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise QuestionnaireError(f"{path}: not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise QuestionnaireError(f"{path}:{where} invalid YAML") from exc
    if not isinstance(raw, dict):
        raise QuestionnaireError(f"{path}: expected a mapping at the top level")
    try:
        return Questionnaire.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise QuestionnaireError(f"{path}: field {field}: {first['msg']}{more}") from exc


def load_questionnaires(extra_dirs: Iterable[Path | None] = ()) -> dict[str, Questionnaire]:
    """The shipped questionnaires, overridden by code by files in `extra_dirs`."""
    found: dict[str, Questionnaire] = {}
    for folder in (SHIPPED_DIR, *extra_dirs):
        if folder is None:
            continue
        if not folder.is_dir():
            raise QuestionnaireError(f"{folder}: questionnaire folder does not exist")
        for path in sorted(folder.glob("*.yaml")):
            q = load_questionnaire(path)
            found[q.code] = q
    return found
