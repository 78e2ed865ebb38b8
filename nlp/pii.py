"""PII masking: phone numbers, ID numbers, e-mails, bank accounts, house numbers and, on
request, person names.

Masked text is what analysts, logs and exports see (Law 91/2025/QH15); the handling unit keeps
the original. The rules favour precision on ordinary numbers: dates ("12/5/2025"), times,
amounts ("1.500.000đ", "2 triệu"), ward and district numbers and hotlines ("1022") are left
alone, because masking them would make a complaint unreadable.

Contacts are also caught as people type them to dodge filters: "0 9 0 1 2 3 4 5 6 7",
"090.123.4567", "an (at) gmail (dot) com", "an[at]gmail.com", "an @ gmail . com".

Names (``names=True``) are found by rules, in microseconds: after a person cue ("ông", "chị",
"tên là", "tôi là", "họ tên" ...) and as 2-4 capitalised syllables starting with a common
surname, except where the context says place ("đường Lê Lợi", "số 12 Nguyễn Huệ", "phường
Cô Giang", "chợ Bà Chiểu"). Routing does not use them (the model reads street names); the
export and other texts for people outside the handling unit do. Measured on
``tests/nlp/data/pii_sample.txt``: see nlp/README.md, "Masking".
"""

from __future__ import annotations

import re

from nlp.text import strip_diacritics

PHONE = "[SĐT]"
ID_NUMBER = "[CCCD]"
EMAIL = "[EMAIL]"
BANK_ACCOUNT = "[STK]"
HOUSE_NUMBER = "[SỐ NHÀ]"
NAME = "[TÊN]"

_SEP = r"(?:\s?[.\-]\s?|\s)?"  # "0901 234 567", "090.123.4567", "090 - 123", "0 9 0 1"
_ANY_DIGIT = re.compile(r"\d")
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# E-mails written to dodge filters: "an (at) gmail (dot) com", "an[at]gmail.com", "an @ gmail
# . com", "an a còng gmail chấm com". Spelt-out forms must end in a known top-level domain.
_AT = (
    r"(?:\s*@\s*|\s*[(\[{<]\s*(?:at|a\s?c[òo]ng)\s*[)\]}>]\s*"
    r"|\s+(?:at|a\s?c[òo]ng)\s+)"
)
_DOT = r"(?:\s*\.\s*|\s*[(\[{<]\s*(?:dot|ch[ấa]m)\s*[)\]}>]\s*|\s+(?:dot|ch[ấa]m)\s+)"
_SPELT_AT_RE = re.compile(r"(?<!\w)(?:at|a\s?c[òo]ng)(?!\w)", re.I)
_TLD = r"(?:com|net|org|edu|gov|info|biz|io|me|co|vn|us|uk)"
_EMAIL_SPELT_RE = re.compile(
    rf"(?<![\w.+-])[\w.+-]*\w{_AT}[\w-]+(?:{_DOT}[\w-]+)*?(?:{_DOT}{_TLD})+(?!\w)", re.I
)

# Bank account: a digit run after an account cue ("stk", "số tài khoản", a bank's name).
_BANKS = (
    r"vietcombank|vcb|techcombank|tcb|acb|bidv|agribank|vietinbank|sacombank|vpbank|tpbank"
    r"|mbbank|mb bank|mb|hdbank|shb|ocb|vib|momo|zalopay"
)
_BANK_RE = re.compile(
    rf"((?:\bstk\b|\bs[ốo] t[àa]i kho[ảa]n\b|\bt[àa]i kho[ảa]n\b|\btk\b|\b(?:{_BANKS})\b)"
    r"[^\d\n]{0,25}?)(\d(?:[ .\-]?\d){5,18})(?!\d)",
    re.I,
)
# Citizen ID: 12 digits (CCCD), contiguous or in space-separated groups; 9 digits (old CMND)
# and dotted groups only after an ID cue, since "100.000.000.000" is an amount.
_ID_CUE_RE = re.compile(
    r"((?:\bcccd\b|\bcmnd\b|\bcmt\b|c[ăa]n c[ưu][ớo]c|ch[ứu]ng minh|đ[ịi]nh danh|dinh danh)"
    r"[^\d\n]{0,20}?)(\d(?:[ .]?\d){11}|\d{9})(?!\d)",
    re.I,
)
_ID_RE = re.compile(r"(?<![\d.,])(?:\d{12}|\d{3} \d{3} \d{3} \d{3}|\d{4} \d{4} \d{4})(?![\d])")
# Phones: mobile 0[35789]x + 7 digits, landline 02x(x) + 7-8 digits, either with +84 / 84;
# separators may be spaces, dots or dashes between any digits.
_PHONE_RE = re.compile(
    rf"(?<![\w+])(?:\(?\+?84\)?{_SEP}(?:\(0\){_SEP})?|\(?0{_SEP})"
    rf"(?:[35789]{_SEP}\d{_SEP}\)?(?:\d{_SEP}){{6}}\d"
    rf"|2{_SEP}\d(?:{_SEP}\d)?\)?{_SEP}(?:\d{_SEP}){{6,7}}\d)"
    r"(?![\d])"
)
_LONG_DIGITS_RE = re.compile(r"(?<![\d.,])\d{13,19}(?![\d])")

# House numbers: "số 12/3A", "sn 45", "nhà 7", "12/5 đường ...", "45/2 hẻm ..." and
# "ở 123 Nguyễn Trãi". A slash number after a date cue ("ngày 12/3") is a date, not an address.
_HOUSE_NO = r"\d{1,4}[a-zA-Z]?(?:/\d{1,4}[a-zA-Z]?){0,3}(?![\w/.-])"
_HOUSE_CUE_RE = re.compile(
    rf"(\b(?:s[ốo] nh[àa]|nh[àa] s[ốo]|sn|nh[àa]|đ[ịi]a ch[ỉi]|dia chi|đ/c|đc|s[ốo]|h[ẻe]m"
    r"|ng[õo]|ki[ệe]t)\b\s*:?\s*)"
    rf"({_HOUSE_NO})(?=\s*,?\s*(?:đường|duong|đ\.|hẻm|hem|hxh|ngõ|ngo|ngách|kiệt|kiet|"
    r"[A-ZĐÀ-Ỹ]))",
)
_HOUSE_BEFORE_STREET_RE = re.compile(
    rf"(?<![\w/.,])({_HOUSE_NO})(?=\s+(?:đường|duong|hẻm|hem|ngõ|ngo|ngách|kiệt|kiet)\b)", re.I
)
_ADDRESS_CUE = (
    r"ở|o|tại|tai|nhà|nha|trước|truoc|gần|gan|đối diện|doi dien|ngay|kế|ke|cạnh|canh|địa chỉ"
)
_HOUSE_AT_STREET_RE = re.compile(
    rf"(\b(?:{_ADDRESS_CUE})\s+)({_HOUSE_NO})(?=\s+[A-ZĐ][\wÀ-ỹ]*\s+[A-ZĐ])", re.I
)
_DATE_CUE_RE = re.compile(r"(?:ngày|ngay|hôm|hom|từ|tu|đến|den|tháng|thang)\s*$", re.I)


def _spelt_at(text: str) -> bool:
    """The text may spell out an "@" ("at", "a còng"): substring tests first, they are cheap."""
    low = text.lower()
    return ("at" in low or "cong" in low or "còng" in low) and _SPELT_AT_RE.search(text) is not None


def _house_sub(match: re.Match[str]) -> str:
    before = match.string[: match.start()]
    number = match.group(match.lastindex or 0)
    if "/" in number and _DATE_CUE_RE.search(before):
        return match.group(0)
    prefix = match.group(1) if (match.lastindex or 0) > 1 else ""
    return prefix + HOUSE_NUMBER


def mask_pii(text: str, *, names: bool = False) -> str:
    """Replace personal data in ``text`` with placeholders (``[SĐT]``, ``[CCCD]`` ...);
    with ``names=True`` person names too (``[TÊN]``).

    >>> mask_pii("Gọi em 0901 234 567, CCCD 079203001234")
    'Gọi em [SĐT], CCCD [CCCD]'
    >>> mask_pii("Chị Trần Thị Bích ở đường Lê Lợi", names=True)
    'Chị [TÊN] ở đường Lê Lợi'
    """
    if not text:
        return ""
    if names:
        text = mask_names(text)
    at = "@" in text
    spelt = _spelt_at(text)
    if not at and not spelt and not _ANY_DIGIT.search(text):
        return text  # every other kind of PII contains a digit
    if at:
        text = _EMAIL_RE.sub(EMAIL, text)
    if at or spelt:
        text = _EMAIL_SPELT_RE.sub(EMAIL, text)
    text = _BANK_RE.sub(lambda m: m.group(1) + BANK_ACCOUNT, text)
    text = _ID_CUE_RE.sub(lambda m: m.group(1) + ID_NUMBER, text)
    text = _ID_RE.sub(ID_NUMBER, text)
    text = _PHONE_RE.sub(PHONE, text)
    text = _LONG_DIGITS_RE.sub(BANK_ACCOUNT, text)
    text = _HOUSE_CUE_RE.sub(_house_sub, text)
    text = _HOUSE_BEFORE_STREET_RE.sub(_house_sub, text)
    text = _HOUSE_AT_STREET_RE.sub(_house_sub, text)
    return text


# --- person names --------------------------------------------------------------------------
# Rules over word tokens, compared in lower case with and without diacritics. A name is 1-4
# capitalised syllables after a person cue, or 2-4 starting with a common surname; after a
# place cue, a house number or a place preposition the same words are a street or a unit.

_WORD_RE = re.compile(r"\w+")
# Fast exit: names are capitalised, or typed in lower case only after "tên"/"là".
_NAME_HINT_RE = re.compile(r"[A-ZÀ-ÝĂĐĨŨƠƯẠ-Ỹ]|\b(?:t[êe]n|l[àa]|th[ịi]|v[ăa]n)\b")


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


def _phrases(barred: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in barred.split("|"))


_SURNAMES = _words(
    "nguyễn trần lê phạm hoàng huỳnh phan vũ võ đặng bùi đỗ hồ ngô dương lý đinh đào đoàn lâm"
    " mai trịnh trương cao lưu lương tạ châu quách tăng thái tôn kiều khúc hà văn giang tống"
    " thạch lại lạc âu mạc triệu quan la từ vương diệp hứa nghiêm phùng chu chung lò kim"
    " doãn đàm đồng thân thi tiêu trà viên hầu lục ninh phí khổng phó"
)
# Whole names of places that start like a person's name.
_PLACE_NAMES = frozenset(
    _phrases(
        "hồ chí minh | hà nội | lâm đồng | cao bằng | hà giang | hà tĩnh | hà nam | hồ con rùa"
        " | hồ tây | hồ gươm | hà tiên | bùi viện | lý sơn | mai chí thọ | trường sa | hoàng sa"
        " | văn lang | văn miếu | giang điền"
    )
)
# A person cue: the words before a name. Cues that only ever introduce a name ("tên là") let
# a lower-case name through ("tôi tên là nguyễn văn an"); the others need capitals.
_STRONG_CUES = _phrases(
    "họ và tên | họ tên | tên tôi là | tôi tên là | tôi tên | tôi là | tên là | em tên là"
    " | em tên | mình tên là | mình tên | mình là | cháu tên | người tên | ký tên | tên"
    " | ho va ten | ho ten | ten toi la | toi ten la | toi ten | toi la | ten la | em ten la"
    " | em ten | minh ten | minh la | nguoi ten | ky ten | ten"
)
_CUES = _phrases(
    "ông bà | ông | bà | anh | chị | em | cô | chú | bác | cháu | dì | cậu | mợ | thím | dượng"
    " | cụ | bé | thầy | bạn | cán bộ | đồng chí | đ/c | chủ tịch | phó chủ tịch | tổ trưởng"
    " | trưởng khu phố | trưởng ấp | công an | cảnh sát | bác sĩ | bs | luật sư | kỹ sư"
    " | giáo viên | nhân viên | chủ nhà | chủ hộ | hộ | gia đình | nhà ông | mr | mrs | ms"
    " | ong | chi | chu | bac | co | di | thay | can bo | dong chi | chu tich"
)
# Words before a capitalised sequence that make it a place, a street or a unit.
_PLACE_CUES = _words(
    "đường đ phố hẻm ngõ ngách kiệt hxh quận q phường p xã huyện tp thành thị trấn tỉnh"
    " chợ cầu kênh rạch sông bến ga trường thpt thcs viện bv trạm khu kp ấp tổ chung cư"
    " tòa lộ ql tl ngã tư ba năm vòng xoay binh cống hồ đình chùa thờ lăng đền miếu thị"
    " ubnd học đh mầm non lớp xưởng ty hàng quán cafe café phở bún cơm siêu mart tuyến bãi"
    " công viên vườn hoa nhà văn hóa hóa trung tâm cảng bay dự án kdc kcn ktx cv hem duong"
    " bộ pho quan phuong xa cho cau truong chua nga cong ben"
)
# Words after which a bare capitalised sequence is a place: "ở Nguyễn Huệ", "góc Lê Lợi".
_PLACE_PREPS = _words(
    "ở tại trên góc dọc đoạn gần hướng qua khúc giao o tai tren goc doc doan gan huong"
)
# Capitalised words that are no part of a name: offices, units, places ...
_NOT_IN_NAME = _words(
    "ủy ubnd sở phòng phường quận xã huyện tỉnh tổ khu trưởng phó chủ giám cán bí hội"
    " đường hẻm chợ cầu bệnh viện tp hcm sài gòn đội ban"
)
# ... and those that start none: pronouns, greetings, time words.
_NOT_A_NAME_START = _NOT_IN_NAME | _words(
    "người dân tôi em anh chị ông bà cô chú bác mình chúng các những nhà việt xin kính cảm"
    " công trường"
    " dạ vâng ạ nhờ mong đề hôm sáng chiều tối nay ngày tháng số mr mrs ms ơi"
)


def _fold(word: str) -> str:
    return strip_diacritics(word).replace("đ", "d").replace("Đ", "d").lower()


def _is_surname(word: str) -> bool:
    """A common surname; without diacritics ("nguyen") any surname that folds to it, but with
    them exactly ("Đường" is a street, not "Dương"; "Trường" a school, not "Trương")."""
    lowered = word.lower()
    if lowered in _SURNAMES:
        return True
    return lowered.isascii() and lowered in _FOLDED_SURNAMES


def _is_capitalised(word: str) -> bool:
    return word[0].isupper() and (len(word) == 1 or word[1:].islower()) and word.isalpha()


def _cue_table(cues: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    return {tuple(c.split()): len(c.split()) for c in cues}


_STRONG = _cue_table(_STRONG_CUES)
_WEAK = _cue_table(_CUES)
_MAX_CUE = max(len(c) for c in (*_STRONG, *_WEAK))
_CUE_FIRST = frozenset(c[0] for c in (*_STRONG, *_WEAK))
_FOLDED_SURNAMES = frozenset(_fold(s) for s in _SURNAMES)
_ANY_SURNAME = _SURNAMES | _FOLDED_SURNAMES
_LOWER_STOP = _words(
    "ở o nhà nha số so sinh năm tuổi tuoi sđt sdt đt dt điện dien địa dia email mail cccd"
    " cmnd tại tai phường phuong quận quan xin muốn muon và va có co là la đang dang bị bi"
    " thì thi hiện hien ạ a nhé nhe tổ to khu hẻm hem ấp ap bị"
)


def _gap_is_space(text: str, end: int, start: int) -> bool:
    return (start - end == 1 and text[end] == " ") or (start > end and text[end:start].isspace())


def _name_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the person names in ``text``."""
    words = [(*m.span(), m.group(0)) for m in _WORD_RE.finditer(text)]
    lower = [w.lower() for _, _, w in words]
    spans: list[tuple[int, int]] = []
    i, n = 0, len(words)
    while i < n:
        word = lower[i]
        if word not in _CUE_FIRST and word not in _ANY_SURNAME:
            i += 1  # most words: neither a cue nor a surname
            continue
        cue_len, strong = _cue_at(text, words, lower, i)
        if cue_len:
            j = i + cue_len
            taken = _name_after_cue(text, words, lower, i, j, strong)
            if taken:
                spans.append((words[j][0], words[j + taken - 1][1]))
                i = j + taken
                continue
        taken, is_name = _surname_sequence(text, words, lower, i)
        if is_name:
            spans.append((words[i][0], words[i + taken - 1][1]))
        i += taken or 1  # a street's name is skipped whole: "Văn Linh" of "Nguyễn Văn Linh"
    return spans


def _cue_at(
    text: str, words: list[tuple[int, int, str]], lower: list[str], i: int
) -> tuple[int, bool]:
    """Length of the person cue starting at word ``i`` (0: none), and whether it is strong."""
    if lower[i] not in _CUE_FIRST:
        return 0, False
    for size in range(min(_MAX_CUE, len(words) - i), 0, -1):
        if size > 1 and not all(
            _gap_is_space(text, words[k][1], words[k + 1][0]) or text[words[k][1]] == "/"
            for k in range(i, i + size - 1)
        ):
            continue
        key = tuple(lower[i : i + size])
        if key in _STRONG:
            return size, True
        if key in _WEAK:
            word = words[i][2]
            # "chợ Bà Chiểu", "cầu Ông Lãnh", "Hai Bà Trưng": a capitalised cue inside a
            # sentence, or one after a place word, is part of a place's name.
            if word[0].isupper() and not _sentence_start(text, words[i][0]):
                return 0, False
            if i and lower[i - 1] in _PLACE_CUES and words[i - 1][1] + 1 == words[i][0]:
                return 0, False
            return size, False
    return 0, False


def _sentence_start(text: str, start: int) -> bool:
    k = start - 1
    while k >= 0 and text[k] in " \t":  # not rstrip() of the whole prefix: linear, not square
        k -= 1
    return k < 0 or text[k] in ".!?:;\n\r-–(\"'“,"


def _name_after_cue(
    text: str,
    words: list[tuple[int, int, str]],
    lower: list[str],
    cue_start: int,
    j: int,
    strong: bool,
) -> int:
    """How many words from ``j`` form the name a cue announces (0: none)."""
    if j >= len(words):
        return 0
    gap = text[words[j - 1][1] : words[j][0]]
    if gap.strip(" :-–") or len(gap) > 4:
        return 0
    first = words[j][2]
    if _is_capitalised(first):
        if first.lower() in _NOT_A_NAME_START and not (
            _is_surname(first) and j + 1 < len(words) and _is_capitalised(words[j + 1][2])
        ):
            return 0
        return _capitalised_run(text, words, lower, j, 4)
    if not strong or not _is_surname(first):
        return 0
    k = j
    while k < len(words) and k - j < 4 and words[k][2].isalpha():
        if lower[k] in _LOWER_STOP or (
            k > j and not _gap_is_space(text, words[k - 1][1], words[k][0])
        ):
            break
        k += 1
    return k - j if k - j >= 2 else 0


def _capitalised_run(
    text: str, words: list[tuple[int, int, str]], lower: list[str], j: int, most: int
) -> int:
    k = j + 1
    while (
        k < len(words)
        and k - j < most
        and _is_capitalised(words[k][2])
        and _gap_is_space(text, words[k - 1][1], words[k][0])
        and lower[k] not in _NOT_IN_NAME
    ):
        k += 1
    return k - j


def _surname_sequence(
    text: str, words: list[tuple[int, int, str]], lower: list[str], i: int
) -> tuple[int, bool]:
    """The capitalised words from ``i`` when they start with a surname (0 otherwise), and
    whether they are a person's name (2-4 words, not a place)."""
    word = words[i][2]
    if (
        i
        and words[i - 1][2][0].isupper()
        and _gap_is_space(text, words[i - 1][1], words[i][0])
        and not _sentence_start(text, words[i - 1][0])
    ):
        return 0, False  # inside a proper name: "Văn Khiêm" of "Đường Ung Văn Khiêm"
    if word.islower() and _is_surname(word):
        taken = _lower_name(text, words, lower, i)
    elif _is_capitalised(word) and _is_surname(word):
        taken = _capitalised_run(text, words, lower, i, 4)
    else:
        return 0, False
    if taken < 2:
        return 0, False
    if " ".join(lower[i : i + taken]) in _PLACE_NAMES or _place_context(text, words, lower, i):
        return taken, False
    return taken, True


def _lower_name(text: str, words: list[tuple[int, int, str]], lower: list[str], i: int) -> int:
    """A name typed in lower case needs its middle name: "nguyễn thị hoa", "tran van binh"."""
    if i + 2 >= len(words) or lower[i + 1] not in ("thị", "văn", "thi", "van"):
        return 0
    k = i + 1
    while (
        k < len(words)
        and k - i < 4
        and words[k][2].isalpha()
        and words[k][2].islower()
        and lower[k] not in _LOWER_STOP
        and _gap_is_space(text, words[k - 1][1], words[k][0])
    ):
        k += 1
    return k - i if k - i >= 3 else 0


def _place_context(text: str, words: list[tuple[int, int, str]], lower: list[str], i: int) -> bool:
    """The words before ``i`` make it a place: "đường", "số 12", "ở", "góc X -"."""
    k = i - 1
    number = False
    while k >= 0 and i - k <= 3 and any(ch.isdigit() for ch in words[k][2]):
        number = True  # "12/3A Nguyễn Huệ", "số 12 Nguyễn Huệ", "hẻm 45 Lê Văn Sỹ"
        k -= 1
    if number:
        return True
    if k < 0:
        return False
    gap = text[words[k][1] : words[i][0] if k == i - 1 else words[k + 1][0]]
    if k == i - 1 and gap.strip() in ("-", "–", "/", "&") and k >= 0:
        return True  # "Nguyễn Huệ - Lê Lợi": the second street of a corner
    if gap.strip() and gap.strip() not in (".",):
        return False
    prev = lower[k]
    return prev in _PLACE_CUES or prev in _PLACE_PREPS


def name_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of person names in ``text`` (what ``mask_names`` replaces)."""
    if not text or not _NAME_HINT_RE.search(text):
        return []
    return _name_spans(text)


def mask_names(text: str) -> str:
    """Replace person names with ``[TÊN]``; street, ward and unit names stay.

    >>> mask_names("Tôi là Nguyễn Văn An, nhà trên đường Nguyễn Huệ")
    'Tôi là [TÊN], nhà trên đường Nguyễn Huệ'
    """
    spans = name_spans(text)
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append(NAME)
        last = end
    out.append(text[last:])
    return "".join(out)
