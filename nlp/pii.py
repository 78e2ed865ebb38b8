"""PII masking: phone numbers, ID numbers, e-mails, bank accounts and house numbers.

Masked text is what analysts, logs and exports see (Law 91/2025/QH15); the handling unit keeps
the original. The rules favour precision on ordinary numbers: dates ("12/5/2025"), times,
amounts ("1.500.000đ", "2 triệu"), ward and district numbers and hotlines ("1022") are left
alone, because masking them would make a complaint unreadable.
"""

from __future__ import annotations

import re

PHONE = "[SĐT]"
ID_NUMBER = "[CCCD]"
EMAIL = "[EMAIL]"
BANK_ACCOUNT = "[STK]"
HOUSE_NUMBER = "[SỐ NHÀ]"

_SEP = r"[ .\-]?"
_ANY_DIGIT = re.compile(r"\d")
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

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
    rf"(?<![\w+])(?:\(?\+?84\)?{_SEP}|\(?0)"
    rf"(?:[35789]\d{_SEP}\)?(?:\d{_SEP}){{6}}\d"
    rf"|2\d\d?\)?{_SEP}(?:\d{_SEP}){{6,7}}\d)"
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


def _house_sub(match: re.Match[str]) -> str:
    before = match.string[: match.start()]
    number = match.group(match.lastindex or 0)
    if "/" in number and _DATE_CUE_RE.search(before):
        return match.group(0)
    prefix = match.group(1) if (match.lastindex or 0) > 1 else ""
    return prefix + HOUSE_NUMBER


def mask_pii(text: str) -> str:
    """Replace personal data in ``text`` with placeholders (``[SĐT]``, ``[CCCD]`` ...).

    >>> mask_pii("Gọi em 0901 234 567, CCCD 079203001234")
    'Gọi em [SĐT], CCCD [CCCD]'
    """
    if not text:
        return ""
    if "@" not in text and not _ANY_DIGIT.search(text):
        return text  # every kind of PII masked here contains a digit or an "@"
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _BANK_RE.sub(lambda m: m.group(1) + BANK_ACCOUNT, text)
    text = _ID_CUE_RE.sub(lambda m: m.group(1) + ID_NUMBER, text)
    text = _ID_RE.sub(ID_NUMBER, text)
    text = _PHONE_RE.sub(PHONE, text)
    text = _LONG_DIGITS_RE.sub(BANK_ACCOUNT, text)
    text = _HOUSE_CUE_RE.sub(_house_sub, text)
    text = _HOUSE_BEFORE_STREET_RE.sub(_house_sub, text)
    text = _HOUSE_AT_STREET_RE.sub(_house_sub, text)
    return text
