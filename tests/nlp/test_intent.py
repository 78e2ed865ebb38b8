"""Messages that are no complaint (nlp.intent): greetings, thanks, questions about the survey,
spam, other languages and empty text are recognised, with and without diacritics, and no
complaint is ever taken for one; several issues in one message are flagged by the router."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import app
from nlp.intent import COMPLAINT, KINDS, detect
from nlp.model import default_corpus_path, load_corpus
from nlp.router import Router
from nlp.text import strip_diacritics

DATA = Path(__file__).parent / "data"


def examples() -> list[tuple[str, str]]:
    with (DATA / "intent_examples.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["kind"]) for row in csv.DictReader(handle)]


def scores(pairs: list[tuple[str, str]]) -> tuple[float, float, float]:
    """Accuracy over all kinds, and precision and recall of `complaint`."""
    predicted = [detect(text) for text, _ in pairs]
    gold = [kind for _, kind in pairs]
    hits = sum(p == g == COMPLAINT for p, g in zip(predicted, gold, strict=True))
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(pairs)
    precision = hits / max(1, predicted.count(COMPLAINT))
    recall = hits / max(1, gold.count(COMPLAINT))
    return accuracy, precision, recall


def test_the_examples_cover_every_kind() -> None:
    pairs = examples()
    counts = Counter(kind for _, kind in pairs)
    assert len(pairs) >= 150 and len({text for text, _ in pairs}) == len(pairs)
    assert set(counts) == set(KINDS)
    assert min(counts.values()) >= 12


def test_labelled_examples_as_written() -> None:
    pairs = examples()
    accuracy, precision, recall = scores(pairs)
    wrong = [(text, kind, detect(text)) for text, kind in pairs if detect(text) != kind]
    assert accuracy >= 0.95, wrong
    assert precision >= 0.99, wrong  # what is called a complaint is one
    assert recall >= 0.99, wrong  # and a complaint is never dropped as small talk or spam


def test_labelled_examples_without_diacritics() -> None:
    pairs = [(strip_diacritics(text), kind) for text, kind in examples()]
    accuracy, precision, recall = scores(pairs)
    assert accuracy >= 0.95 and precision >= 0.99 and recall >= 0.99


def test_every_seed_complaint_is_a_complaint() -> None:
    texts, _ = load_corpus(default_corpus_path())
    assert len(texts) == 1471
    assert [t for t in texts if detect(t) != COMPLAINT] == []
    assert [t for t in texts if detect(strip_diacritics(t)) != COMPLAINT] == []


def test_every_real_complaint_is_a_complaint() -> None:
    """Real citizen text quoted from public pages (nlp/data/real_corpus.csv)."""
    path = default_corpus_path().with_name("real_corpus.csv")
    if not path.exists():
        pytest.skip("no real corpus")
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert [t for t in texts if detect(t) != COMPLAINT] == []
    assert [t for t in texts if detect(strip_diacritics(t)) != COMPLAINT] == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("chào ad, đường nhà em ngập quá", COMPLAINT),  # a greeting before the matter
        ("den duong hu ca tuan roi, cam on ad", COMPLAINT),  # thanks after it
        ("ad ơi", "greeting"),
        ("ok cảm ơn ad", "thanks"),
        ("khảo sát này để làm gì", "survey_question"),
        ("My street has been flooded for a week", "foreign"),  # an English complaint
        ("Nhà cái uy tín, nạp 100k tặng 100k, truy cập abc88.com", "spam"),
        ("Tôi nhận được tin nhắn: nhà cái uy tín, nạp 100k tặng 100k", COMPLAINT),
        ("🙏🙏", "empty"),
    ],
)
def test_the_rule_cases_of_the_issue(text: str, kind: str) -> None:
    assert detect(text) == kind
    assert detect(strip_diacritics(text)) == kind


@pytest.mark.parametrize("text", [None, "", "\x00\x07", "x" * 20_000, "a" * 300 + " 你好"])
def test_any_input_gets_a_kind(text: str | None) -> None:
    assert detect(text) in KINDS


def test_a_non_complaint_has_no_unit_in_json(default_model_dir: Path) -> None:
    out = CliRunner().invoke(app, ["route", "cảm ơn ad", "--json", "--model",
                                   str(default_model_dir)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["kind"] == "thanks" and data["unit"] == "" and data["needs_triage"] is False
    assert data["multi_issue"] is False and data["candidates"] == []


# Two matters in one message, as citizens join them: a connector ("ngoài ra", "lại còn",
# "thêm nữa", "bên cạnh đó"), a semicolon or a line break, with and without diacritics.
TWO_ISSUES = [
    ("Khu phố cúp điện cả ngày, lại còn mất nước máy từ tối qua, không có nước tắm",
     {"DIENLUC", "CAPNUOC"}),
    ("Nước máy nhà tôi có mùi clo rất nặng. Thêm nữa, hóa đơn tiền điện tháng này tăng gấp đôi",
     {"CAPNUOC", "DIENLUC"}),
    ("Trường tiểu học thu tiền học thêm bắt buộc; bên cạnh đó căng tin bán đồ ăn hết hạn cho "
     "học sinh", {"SGDDT", "SATTP"}),
    ("Đèn đường trên đường Nguyễn Trãi hư cả tháng nay.\nCó người tụ tập đánh bạc ở công viên "
     "mỗi tối", {"SXD", "CATP"}),
    ("duong nha toi o ga qua troi, xe te hoai. ngoai ra rac thai khong ai thu gom 1 tuan nay",
     {"SXD", "SNNMT"}),
    ("Xe buýt số 19 bỏ trạm không đón khách. Ngoài ra vỉa hè đường Cách Mạng Tháng 8 bị lấn "
     "chiếm bán hàng", {"SXD", "UBND_XA"}),
]
# One matter told in several sentences: a request or a detail after it is not a second issue.
ONE_ISSUE = [
    "Đường Nguyễn Văn Linh có ổ gà rất lớn, tối qua 2 người té ngã. Đề nghị sửa gấp.",
    "Nhà tôi mất nước 3 ngày nay. Gọi tổng đài cấp nước không ai nghe máy. Mong được xử lý sớm.",
    "Quán nhậu đầu hẻm hát karaoke tới 1 giờ sáng. Nhắc nhở thì họ chửi lại. Tôi đã báo nhiều "
    "lần rồi.",
    "Hồ sơ đăng ký đất đai nộp 6 tháng chưa có kết quả. Cán bộ hẹn hoài. Đề nghị thành phố "
    "kiểm tra.",
    "Tôi bị lừa chuyển khoản 20 triệu qua mạng xã hội. Đối tượng giả làm công an. Xin hướng "
    "dẫn trình báo.",
    "Chung cư không công khai quỹ bảo trì. Ban quản trị né tránh khi cư dân hỏi. Đề nghị Sở "
    "Xây dựng kiểm tra.",
]


def test_two_issues_are_flagged_with_both_units(router: Router) -> None:
    for result, (text, units) in zip(
        router.route_many([t for t, _ in TWO_ISSUES]), TWO_ISSUES, strict=True
    ):
        assert result.multi_issue, text
        assert {unit for unit, _ in result.issues} == units, text
        assert result.to_dict()["multi_issue"] is True
        assert result.to_dict()["issues"][0]["unit"] == result.issues[0][0]
    assert all(r.multi_issue for r in router.route_many([strip_diacritics(TWO_ISSUES[0][0])]))


def test_one_issue_in_several_sentences_is_not_flagged(router: Router) -> None:
    flagged = [r.masked_text for r in router.route_many(ONE_ISSUE) if r.multi_issue]
    assert flagged == []
    assert not router.route("Khu phố cúp điện cả ngày, không có điện dùng").multi_issue
