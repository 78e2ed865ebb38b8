"""Questionnaire files: the shipped ones load; broken ones are refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.loader import QuestionnaireError, load_questionnaire, load_questionnaires
from survey.model import QuestionType

VALID = """
code: mini
version: "1"
title: Mini
questions:
  - {code: A, type: single, text: "Chọn", choices: [{code: x, label: X}, {code: y, label: Y}]}
  - {code: B, type: text, text: "Vì sao?", when: {question: A, in: [y]}}
"""


def test_shipped_questionnaires_load_with_their_shape() -> None:
    found = load_questionnaires()
    assert set(found) == {"danh-gia-ho-so", "sipas"}
    sipas = found["sipas"]
    assert [e.code for e in sipas.elements] == ["TCDV", "TTHC", "CC", "KQ", "PAKN"]
    likert = [q for q in sipas.questions if q.type is QuestionType.LIKERT5]
    assert len(likert) == 20 and all(q.element for q in likert)
    assert {q.type for q in sipas.questions} >= {
        QuestionType.LIKERT5,
        QuestionType.SINGLE,
        QuestionType.MULTI,
        QuestionType.TEXT,
    }
    rating = found["danh-gia-ho-so"]
    assert rating.questions[0].type is QuestionType.RATING3
    assert rating.questions[1].required and rating.questions[1].when


def test_an_operator_file_overrides_a_shipped_one_by_code(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(VALID.replace("code: mini", "code: sipas"), "utf-8")
    assert load_questionnaires([tmp_path])["sipas"].title == "Mini"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("code: [unclosed", "invalid YAML"),
        ("- just\n- a list", "expected a mapping"),
        (VALID.replace('version: "1"\n', ""), "field version: Field required"),
        (VALID.replace("type: single", "type: stars"), "field questions.0.type"),
        (VALID.replace("in: [y]", "in: [z]"), "not choices of A"),
        (VALID.replace("question: A", "question: Q9"), "is not an earlier question"),
        (
            VALID.replace("{code: y, label: Y}", "{code: x, label: Y}"),
            "choice codes must be unique",
        ),
        (VALID.replace("code: B", "code: A"), "duplicate question code"),
        (VALID + "extra: 1\n", "field extra"),
        (
            VALID.replace("type: text,", "type: likert5, choices: [{code: a, label: a}],"),
            "built-in scale",
        ),
    ],
)
def test_a_broken_file_names_the_file_and_the_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content, "utf-8")
    with pytest.raises(QuestionnaireError) as err:
        load_questionnaire(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_non_utf8_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"title: H\xe0i l\xf2ng")  # Latin-1, not UTF-8
    with pytest.raises(QuestionnaireError, match="not UTF-8"):
        load_questionnaire(path)
    with pytest.raises(QuestionnaireError, match="cannot read"):
        load_questionnaire(tmp_path / "nope.yaml")
    with pytest.raises(QuestionnaireError, match="does not exist"):
        load_questionnaires([tmp_path / "missing-dir"])
