"""XLSForm (.xlsx of KoboToolbox/ODK) and YAML uploads → a validated Questionnaire, or the
full list of problems; workbooks built with openpyxl here, as a form designer would."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
import pytest

from survey.model import QuestionType
from survey.xlsform import MAX_UPLOAD, UploadRefused, parse_upload

SURVEY = [
    ("type", "name", "label", "relevant", "required"),
    ("start", "start", None, None, None),
    ("select_one kenh", "HINHTHUC", "Ông/Bà nộp hồ sơ theo hình thức nào?", None, "yes"),
    ("select_one likert5", "TCDV1", "Thông tin thủ tục dễ tiếp cận.", None, None),
    ("select_one likert5", "TCDV2", "Cổng DVC dễ dùng.", "${HINHTHUC} = 'truc_tuyen'", None),
    ("text", "GOPY", "Ông/Bà có góp ý gì thêm?", None, "no"),
]  # fmt: skip
CHOICES = [
    ("list_name", "name", "label"),
    ("kenh", "truc_tiep", "Trực tiếp"),
    ("kenh", "truc_tuyen", "Trực tuyến"),
]
SETTINGS = [("form_id", "version", "form_title"), ("sipas-thu", "2026.1", "Khảo sát thử")]
ELEMENTS = [("code", "label"), ("TCDV", "Tiếp cận dịch vụ")]


def xlsform(
    survey: list[tuple[Any, ...]] = SURVEY,
    choices: list[tuple[Any, ...]] = CHOICES,
    settings: list[tuple[Any, ...]] = SETTINGS,
    elements: list[tuple[Any, ...]] | None = ELEMENTS,
) -> bytes:
    """An XLSForm workbook's bytes."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    for name, rows in (("choices", choices), ("settings", settings), ("elements", elements)):
        if rows is None:
            continue
        other = book.create_sheet(name)
        for row in rows:
            other.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsform_becomes_the_same_questionnaire_model() -> None:
    q = parse_upload("form.xlsx", xlsform())
    assert (q.code, q.version, q.title) == ("sipas-thu", "2026.1", "Khảo sát thử")
    assert [x.code for x in q.questions] == ["HINHTHUC", "TCDV1", "TCDV2", "GOPY"]  # no "start"
    kenh, tcdv1, tcdv2, gopy = q.questions
    assert kenh.type is QuestionType.SINGLE and kenh.required
    assert [(c.code, c.label) for c in kenh.choices] == [
        ("truc_tiep", "Trực tiếp"),
        ("truc_tuyen", "Trực tuyến"),
    ]
    assert tcdv1.type is QuestionType.LIKERT5 and tcdv1.element == "TCDV"  # by name prefix
    assert tcdv2.when is not None
    assert (tcdv2.when.question, tcdv2.when.in_) == ("HINHTHUC", ("truc_tuyen",))
    assert gopy.type is QuestionType.TEXT and not gopy.required and gopy.element is None
    assert q.element_name("TCDV") == "Tiếp cận dịch vụ"


def test_select_multiple_or_relevant_and_an_element_column() -> None:
    survey = [
        ("type", "name", "label::Tiếng Việt (vi)", "relevant", "element"),
        ("select_multiple kenh", "KENH", "Kênh nào?", None, None),
        ("select_one rating3", "DG", "Đánh giá", "selected(${KENH}, 'truc_tiep') or "
         "selected(${KENH}, 'truc_tuyen')", "KQ"),
    ]  # fmt: skip
    q = parse_upload("f.xlsx", xlsform(survey=survey, elements=None))
    kenh, dg = q.questions
    assert kenh.type is QuestionType.MULTI and kenh.text == "Kênh nào?"
    assert dg.type is QuestionType.RATING3 and dg.element == "KQ"
    assert dg.when is not None and dg.when.in_ == ("truc_tiep", "truc_tuyen")
    assert [e.code for e in q.elements] == ["KQ"]


def test_a_bad_xlsform_is_refused_with_every_problem_listed() -> None:
    survey = [
        ("type", "name", "label", "relevant"),
        ("integer", "TUOI", "Tuổi?", None),
        ("select_one khong_co", "X", "X?", None),
        ("text", "Y", "Y?", "${X} > 3"),
    ]
    with pytest.raises(UploadRefused) as refused:
        parse_upload("f.xlsx", xlsform(survey=survey))
    problems = refused.value.problems
    assert len(problems) == 3
    assert "survey row 2" in problems[0] and "'integer' is not supported" in problems[0]
    assert "survey row 3" in problems[1] and "'khong_co'" in problems[1]
    assert "survey row 4" in problems[2] and "relevant" in problems[2]


def test_the_model_rules_apply_to_an_xlsform_too() -> None:
    survey = [("type", "name", "label"), ("select_one likert5", "bad code!", "Câu?")]
    settings = [("form_id", "form_title"), ("sipas-thu", "Thử")]  # no version
    with pytest.raises(UploadRefused) as refused:
        parse_upload("f.xlsx", xlsform(survey=survey, settings=settings))
    joined = "\n".join(refused.value.problems)
    assert "version" in joined and "questions.0.code" in joined


def test_yaml_uploads_validated_the_same_way() -> None:
    good = b"code: q1\nversion: '1'\ntitle: T\nquestions:\n  - {code: A, type: text, text: 'A?'}\n"
    assert parse_upload("q.yaml", good).questions[0].code == "A"
    with pytest.raises(UploadRefused, match="invalid YAML at line"):
        parse_upload("q.yaml", b"code: [unclosed\n")
    with pytest.raises(UploadRefused, match="not UTF-8"):
        parse_upload("q.yaml", "code: bàng".encode("cp1258"))
    with pytest.raises(UploadRefused, match="questions"):
        parse_upload("q.yaml", b"code: q1\nversion: '1'\ntitle: T\nquestions: []\n")
    # A Python tag is never constructed (safe_load), only refused.
    with pytest.raises(UploadRefused, match="invalid YAML"):
        parse_upload("q.yaml", b"code: !!python/object/apply:os.system ['true']\n")


def test_content_is_told_by_its_bytes_and_size_limited() -> None:
    with pytest.raises(UploadRefused, match="not a zip"):
        parse_upload("form.xlsx", b"code: x\n")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(UploadRefused, match=r"\[Content_Types\].xml"):
        parse_upload("form.yaml", zipped.getvalue())
    with pytest.raises(UploadRefused, match="larger than 1024 kB"):
        parse_upload("q.yaml", b"#" * (MAX_UPLOAD + 1))
    with pytest.raises(UploadRefused, match="empty"):
        parse_upload("q.yaml", b"")
