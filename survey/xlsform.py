"""An uploaded questionnaire (YAML, or an XLSForm `.xlsx` of KoboToolbox/ODK) → `Questionnaire`.

Bytes in, a validated questionnaire or the full list of problems out; nothing is stored or
executed (openpyxl reads cell values only, formulas are never evaluated). The XLSForm mapping
is documented in survey/README.md.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import yaml
from pydantic import ValidationError

from survey.model import Questionnaire

MAX_UPLOAD = 1024 * 1024  # 1 MB: a questionnaire is a few kB
_MAX_UNZIPPED = 20 * MAX_UPLOAD  # refuses a zip bomb before openpyxl opens it
LIKERT5_LISTS = frozenset({"likert5", "likert", "likert_5", "sipas5"})
RATING3_LISTS = frozenset({"rating3", "rating", "rating_3", "danh_gia"})
# XLSForm's metadata and layout rows: nothing a citizen is asked.
_SKIPPED_TYPES = frozenset(
    {
        "start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber",
        "username", "email", "audit", "note", "calculate", "begin_group", "end_group",
        "begin group", "end group", "begin_repeat", "end_repeat", "begin repeat", "end repeat",
    }
)  # fmt: skip
_TRUE = frozenset({"yes", "true", "true()", "1", "có"})
_EQUALS = re.compile(r"^\$\{(?P<q>[A-Za-z0-9_\-]+)\}\s*=\s*['\"](?P<v>[^'\"]+)['\"]$")
_SELECTED = re.compile(
    r"^selected\(\s*\$\{(?P<q>[A-Za-z0-9_\-]+)\}\s*,\s*['\"](?P<v>[^'\"]+)['\"]\s*\)$"
)
_ELEMENT_PREFIX = re.compile(r"^(?P<e>[A-Za-z]+)[_\-]?\d+$")


class UploadRefused(ValueError):
    """An upload that is not a usable questionnaire; `problems` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_upload(filename: str, data: bytes) -> Questionnaire:
    """The questionnaire of an uploaded file, told apart by its bytes (not its name):
    an .xlsx is a zip holding `[Content_Types].xml`; YAML is UTF-8 text."""
    if not data:
        raise UploadRefused(["empty file"])
    if len(data) > MAX_UPLOAD:
        raise UploadRefused([f"file larger than {MAX_UPLOAD // 1024} kB"])
    if data.startswith(b"PK\x03\x04"):
        return questionnaire_from_xlsx(data)
    if filename.lower().endswith(".xlsx"):
        raise UploadRefused(["not an .xlsx file (the content is not a zip archive)"])
    return questionnaire_from_yaml(data)


def questionnaire_from_yaml(data: bytes) -> Questionnaire:
    """A YAML questionnaire file's bytes, validated (`yaml.safe_load`: no tags, no code)."""
    if b"\x00" in data:
        raise UploadRefused(["not a text file (YAML) nor an .xlsx file"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadRefused(["not UTF-8 text (YAML) nor an .xlsx file"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UploadRefused([f"invalid YAML{where}"]) from None
    if not isinstance(raw, dict):
        raise UploadRefused(["expected a mapping (code, version, title, questions) at the top"])
    return validated(raw)


def validated(raw: dict[str, Any]) -> Questionnaire:
    """`raw` checked by the one Questionnaire model; every error listed with its field."""
    try:
        return Questionnaire.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{field}: {err['msg']}")
        raise UploadRefused(problems) from None


def questionnaire_from_xlsx(data: bytes) -> Questionnaire:
    """An XLSForm workbook (`survey`, `choices`, `settings` sheets) as a questionnaire."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unzipped = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile:
        raise UploadRefused(["not an .xlsx file (damaged zip archive)"]) from None
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise UploadRefused(["not an .xlsx workbook (a zip without [Content_Types].xml)"])
    if unzipped > _MAX_UNZIPPED:
        raise UploadRefused(["the workbook unpacks to more than 20 MB"])
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a malformed workbook
        raise UploadRefused([f"unreadable .xlsx workbook ({type(exc).__name__})"]) from None
    try:
        sheets = {name.strip().lower(): _rows(book[name]) for name in book.sheetnames}
    finally:
        book.close()
    return _convert(sheets)


def _rows(sheet: Any) -> list[dict[str, str]]:
    """A sheet's rows as {lower-case header: text}, blank rows dropped; the row number (as
    Excel shows it) under "#"."""
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        return []
    keys = [str(h).strip().lower() if h is not None else "" for h in header]
    out = []
    for n, values in enumerate(rows, start=2):
        row = {k: str(v).strip() for k, v in zip(keys, values, strict=False) if k and v is not None}
        if any(row.values()):
            row["#"] = str(n)
            out.append(row)
    return out


def _label(row: dict[str, str]) -> str:
    """`label`, else the first translated label column (`label::Tiếng Việt (vi)`)."""
    if row.get("label"):
        return row["label"]
    return next((v for k, v in row.items() if k.startswith("label::") and v), "")


def _convert(sheets: dict[str, list[dict[str, str]]]) -> Questionnaire:
    problems: list[str] = []
    if "survey" not in sheets:
        raise UploadRefused(["no 'survey' sheet (an XLSForm has survey, choices and settings)"])
    settings = (sheets.get("settings") or [{}])[0]
    lists: dict[str, list[dict[str, Any]]] = {}
    for row in sheets.get("choices", []):
        list_name = row.get("list_name") or row.get("list name") or ""
        if not list_name or not row.get("name"):
            problems.append(f"choices row {row['#']}: list_name and name are required")
            continue
        lists.setdefault(list_name, []).append({"code": row["name"], "label": _label(row)})
    elements = [
        {"code": r.get("code") or r.get("name", ""), "name": _label(r) or r.get("name", "")}
        for r in sheets.get("elements", [])
    ]
    element_codes = {e["code"] for e in elements}
    questions: list[dict[str, Any]] = []
    for row in sheets["survey"]:
        where = f"survey row {row['#']}"
        kind, _, list_name = (row.get("type") or "").partition(" ")
        kind, list_name = kind.strip().lower(), list_name.strip()
        if not kind or kind in _SKIPPED_TYPES or row.get("type", "").lower() in _SKIPPED_TYPES:
            continue
        question: dict[str, Any] = {"code": row.get("name", ""), "text": _label(row)}
        if kind == "text":
            question["type"] = "text"
        elif kind in ("select_one", "select_multiple"):
            if list_name.lower() in LIKERT5_LISTS and kind == "select_one":
                question["type"] = "likert5"
            elif list_name.lower() in RATING3_LISTS and kind == "select_one":
                question["type"] = "rating3"
            elif list_name not in lists:
                problems.append(f"{where}: choice list {list_name!r} is not in the choices sheet")
                continue
            else:
                question["type"] = "single" if kind == "select_one" else "multi"
                question["choices"] = lists[list_name]
        else:
            problems.append(
                f"{where}: type {row.get('type')!r} is not supported "
                "(text, select_one, select_multiple)"
            )
            continue
        if (row.get("required") or "").lower() in _TRUE:
            question["required"] = True
        element = row.get("element") or _element_of(question["code"], element_codes)
        if element:
            question["element"] = element
            if element not in element_codes:  # named in a column, no elements sheet: its code
                element_codes.add(element)
                elements.append({"code": element, "name": element})
        relevant = row.get("relevant")
        if relevant:
            when = _when(relevant)
            if when is None:
                problems.append(
                    f"{where}: relevant {relevant!r} is not supported "
                    "(${q} = 'x' or selected(${q}, 'x'), joined with 'or')"
                )
            else:
                question["when"] = when
        questions.append(question)
    if problems:
        raise UploadRefused(problems)
    raw: dict[str, Any] = {
        "code": settings.get("form_id", ""),
        "version": settings.get("version", ""),
        "title": settings.get("form_title") or settings.get("form_id", ""),
        "questions": questions,
    }
    for extra in ("kind", "intro", "rating_question"):
        if settings.get(extra):
            raw[extra] = settings[extra]
    if elements:
        raw["elements"] = elements
    return validated(raw)


def _element_of(code: str, element_codes: set[str]) -> str | None:
    """The SIPAS element a question's name starts with (TCDV3 → TCDV), if it is a known one."""
    found = _ELEMENT_PREFIX.match(code)
    if found and found.group("e") in element_codes:
        return found.group("e")
    return None


def _when(relevant: str) -> dict[str, Any] | None:
    """`${q} = 'a' or ${q} = 'b'` (or `selected(...)`) on one earlier question → `when`."""
    question: str | None = None
    values: list[str] = []
    for part in re.split(r"\s+or\s+", relevant.strip()):
        found = _EQUALS.match(part.strip()) or _SELECTED.match(part.strip())
        if found is None or (question is not None and found.group("q") != question):
            return None
        question = found.group("q")
        values.append(found.group("v"))
    return {"question": question, "in": values}
