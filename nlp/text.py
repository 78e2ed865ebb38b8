"""Text pipeline: turn raw citizen text into the normalised form the classifier reads.

Steps, in order: control characters out, Unicode NFC, underthesea's token normalisation
(old-style tone marks such as "hoá" -> "hóa"), lower-casing, URLs / e-mails / emoji /
numbers replaced by placeholder words, teen-code and abbreviations expanded. Every step is
total: any ``str`` (empty, 20,000 characters, mixed scripts) gives a ``str`` back.

Word segmentation is optional (:func:`segment`); measurement on the seed corpus and UIT-VSFC
showed syllable n-grams do as well and are about ten times faster (see nlp/README.md).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Long texts are cut before the (per-token) normalisation: the first few thousand characters
# say what a complaint is about, and the cut bounds the cost of a pasted document.
MAX_CHARS = 5000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|vn|net|org|gov\.vn)(?:/\S*)?\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PLACEHOLDER = re.compile(r"\[(?:SĐT|CCCD|EMAIL|STK|SỐ NHÀ)\]")
# Emoji and pictographs: any code point in the symbol/pictograph planes or dingbats.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\u2b50\u2b55\u2190-\u21ff]"
)
_ANGRY_EMOJI = set("😡😠🤬👿💢😤🖕")
_SAD_EMOJI = set("😭😢😞😔😩😫🥺😿💔")
_NUMBER = re.compile(r"\d+(?:[.,/:-]\d+)*")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_REPEAT = re.compile(r"(\w)\1{2,}")  # "quáaaa" -> "quá": no Vietnamese word triples a letter
_SPACE = re.compile(r"\s+")

# Teen-code and hotline abbreviations, written as citizens type them. Ambiguous short forms
# ("v", "p", "q") are expanded only in the context-dependent rules below, not here.
ABBREVIATIONS: dict[str, str] = {
    "ko": "không", "k": "không", "kh": "không", "khg": "không", "kg": "không", "hok": "không",
    "hk": "không", "hông": "không", "khum": "không", "hem": "không",
    "dc": "được", "đc": "được", "dk": "được", "đươc": "được",
    "ntn": "như thế nào", "j": "gì", "gi": "gì", "bt": "bình thường", "bth": "bình thường",
    "vs": "với", "mn": "mọi người", "mng": "mọi người", "ng": "người", "ngta": "người ta",
    "r": "rồi", "rùi": "rồi", "oy": "rồi", "roài": "rồi", "wa": "quá", "qa": "quá",
    "z": "vậy", "zậy": "vậy", "dzậy": "vậy", "bn": "bao nhiêu", "trc": "trước",
    "ns": "nói", "mk": "mình", "bik": "biết", "bít": "biết", "cx": "cũng", "cg": "cũng",
    "tks": "cảm ơn", "thanks": "cảm ơn", "thank": "cảm ơn", "ok": "được", "oke": "được",
    "lm": "làm", "xl": "xử lý", "đt": "điện thoại", "dt": "điện thoại", "sdt": "số điện thoại",
    "sđt": "số điện thoại", "đth": "điện thoại", "nv": "nhân viên", "cty": "công ty",
    "tp": "thành phố", "tphcm": "thành phố hồ chí minh", "hcm": "hồ chí minh",
    "sg": "sài gòn", "ubnd": "ủy ban nhân dân", "ub": "ủy ban",
    "csgt": "cảnh sát giao thông", "cstt": "cảnh sát trật tự",
    "bv": "bệnh viện", "bhyt": "bảo hiểm y tế", "bhxh": "bảo hiểm xã hội",
    "bhtn": "bảo hiểm thất nghiệp", "cccd": "căn cước công dân", "cmnd": "chứng minh nhân dân",
    "gplx": "giấy phép lái xe", "gcn": "giấy chứng nhận",
    "pccc": "phòng cháy chữa cháy", "atgt": "an toàn giao thông", "attp": "an toàn thực phẩm",
    "hs": "hồ sơ", "hsơ": "hồ sơ", "tthc": "thủ tục hành chính", "dvc": "dịch vụ công",
    "đkkd": "đăng ký kinh doanh", "đkkh": "đăng ký kết hôn", "cb": "cán bộ", "cbcc": "cán bộ",
    "gv": "giáo viên", "ph": "phụ huynh", "phhs": "phụ huynh học sinh",
    "ks": "khai sinh", "kdc": "khu dân cư", "kp": "khu phố", "hxh": "hẻm xe hơi",
    "mt": "môi trường", "ct": "công trình",
    "đh": "đồng hồ", "evn": "điện lực", "sawaco": "cấp nước", "wifi": "internet",
    "ae": "anh em", "a": "anh", "e": "em", "c": "chị", "cj": "chị", "ah": "à",
    "vl": "quá", "vcl": "quá", "vkl": "quá", "dm": "chửi", "đm": "chửi", "dmm": "chửi",
    "clgt": "cái gì", "bx": "bến xe", "xb": "xe buýt", "bus": "buýt", "grab": "xe ôm công nghệ",
    "chs": "chung cư", "cc": "chung cư", "bql": "ban quản lý", "sn": "số nhà",
}

# Numbers are folded to one token so that the model learns "a number was here" rather than
# memorising particular values; "50k", "2tr" keep their unit as a word.
_AFTER_NUMBER = {"k": "nghìn", "tr": "triệu", "đ": "đồng", "d": "đồng", "m": "mét", "h": "giờ"}
NUMBER_TOKEN = "num"
URL_TOKEN = "url"
EMAIL_TOKEN = "email"


def clean(text: str | None) -> str:
    """Control characters out, Unicode NFC, whitespace collapsed, length bounded."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", str(text)[: MAX_CHARS * 2])
    text = _CONTROL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]


@lru_cache(maxsize=4096)
def _token_normalize(token: str) -> str:
    # underthesea's rule table fixes tone-mark placement ("hoà" -> "hòa", "quỳên" ...);
    # cached because citizen vocabulary is small and the lookup dominates the cost.
    from underthesea.pipeline.text_normalize import token_normalize

    try:
        return str(token_normalize(token))
    except Exception:  # the rule table must never take the pipeline down
        return token


def _emoji_word(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _ANGRY_EMOJI:
        return " emobuc "
    if char in _SAD_EMOJI:
        return " emobuon "
    return " "


def normalize(text: str | None) -> str:
    """Return the normalised, lower-cased, abbreviation-expanded form of ``text``.

    PII placeholders written by :func:`nlp.pii.mask_pii` ("[SĐT]") survive as plain words
    so a masked text classifies like the original.
    """
    text = clean(text)
    if not text:
        return ""
    text = _PLACEHOLDER.sub(lambda m: " " + m.group(0)[1:-1].replace(" ", "") + " ", text)
    text = _EMAIL.sub(f" {EMAIL_TOKEN} ", text)
    text = _URL.sub(f" {URL_TOKEN} ", text)
    text = _EMOJI.sub(_emoji_word, text)
    text = text.lower()
    text = _collapse_repeats(text)
    text = _NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    tokens = [_token_normalize(t) for t in _TOKEN.findall(text)]
    out: list[str] = []
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        prev = tokens[i - 1] if i else ""
        if prev == NUMBER_TOKEN and token in _AFTER_NUMBER:
            out.append(_AFTER_NUMBER[token])
        elif token in ABBREVIATIONS:
            out.append(ABBREVIATIONS[token])
        elif (token in ("p", "f") and nxt in (".", NUMBER_TOKEN)) or (
            token == "p" and nxt.isalpha()
        ):
            # "P.Bến Thành", "p 5": a ward, not a letter
            out.append("phường")
        elif token == "q" and (nxt in (".", NUMBER_TOKEN) or nxt.isalpha()):
            out.append("quận")
        elif token == "x" and nxt == ".":
            out.append("xã")
        elif token == "v" and (not nxt or not nxt.isalpha()):
            out.append("vậy")  # sentence-final "v" is "vậy"
        elif token.isalnum() or token == NUMBER_TOKEN:
            out.append(token)
        # punctuation carries little topic signal: dropped
    return " ".join(out)


def _collapse_repeats(text: str) -> str:
    """Shorten runs of three or more of the same letter, ignoring tone marks, to one letter:
    "quáaaa", "trờiiii" -> "quá", "trời" (no Vietnamese word triples a letter)."""
    bare = strip_diacritics(text).lower()
    if len(bare) != len(text) or not _REPEAT.search(bare):
        return _REPEAT.sub(r"\1", text)
    keep: list[str] = []
    run = 0
    for i, char in enumerate(text):
        run = run + 1 if i and bare[i] == bare[i - 1] and bare[i].isalpha() else 1
        if run == 1 or run == 2:
            keep.append(char)
        elif run == 3:
            keep.pop()  # a third repeat shows the whole run is emphasis: keep one letter
    return "".join(keep)


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks: "đường ngập" -> "duong ngap"."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", bare).replace("đ", "d").replace("Đ", "D")


def segment(text: str) -> str:
    """Join multi-syllable words with "_" using underthesea's word segmenter.

    Used only when a model was trained with ``segment=True``; ~2,000 msg/s on one core.
    """
    if not text:
        return ""
    from underthesea import word_tokenize

    try:
        return str(word_tokenize(text, format="text"))
    except Exception:  # a segmenter failure falls back to syllables, never to an error
        return text


WORD_SEGMENTERS = ("pyvi", "underthesea")


def segment_words(text: str, segmenter: str) -> str:
    """Normalised text with multi-syllable words joined by "_" ("khu_phố"), by ``segmenter``:
    "pyvi" (``pyvi.ViTokenizer``, CRF, an optional dependency) or "underthesea".

    For the optional extra word-level view of :class:`nlp.model.ModelConfig`. Not cached:
    live messages are nearly all distinct. A segmenter failure gives the syllables back,
    never an error.
    """
    if not text:
        return ""
    if segmenter == "underthesea":
        return segment(text)
    if segmenter != "pyvi":
        raise ValueError(f"unknown word segmenter: {segmenter}")
    from pyvi import ViTokenizer

    try:
        return str(ViTokenizer.tokenize(text))
    except Exception:
        return text


def features_input(text: str | None, *, use_segmentation: bool = False) -> tuple[str, str]:
    """The two views the classifier reads: normalised accented text and its unaccented form.

    Text typed without diacritics only matches the unaccented view, so a model that sees both
    routes "duong bi ngap nuoc" like "đường bị ngập nước".
    """
    norm = normalize(text)
    bare = strip_diacritics(norm)
    if use_segmentation:
        norm = segment(norm)
    return norm, bare
