"""Pre-2025 addresses: map an old ward + district ("P.5 Q.3", "xã Tân Kiên, H. Bình Chánh") to
the commune-level unit that absorbed it on 1 July 2025 (Resolution 1685/NQ-UBTVQH15).

The conversion table is ``nlp/data/old_wards.csv`` (one row per old ward and new unit it went
to; ``share`` is ``whole`` or ``part``). An old ward that went in part to several new units
resolves to all of them, and the caller decides (``nlp.gazetteer`` returns None unless the text
also names one of them). Matching runs on lower-cased, unaccented text, so "phuong 12 quan go
vap" and "P.12, Q.Gò Vấp" are the same address. A number is a ward only together with its
district ("phường 5" alone could be in twelve districts); an old ward name that is unique across
the three former provinces resolves on its own ("phường Bến Nghé").
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nlp.text import strip_diacritics


@dataclass(frozen=True)
class OldWard:
    """One row of the conversion table: an old ward (or part of it) and the new unit it joined."""

    province: str
    district: str
    ward: str
    new_code: str
    share: str  # "whole": the old ward went entirely to new_code; "part": only part of it
    note: str = ""


@dataclass(frozen=True)
class OldMatch:
    """An old-style ward (+ district) found in a text, and the new unit(s) it became."""

    start: int
    end: int
    codes: tuple[str, ...]  # one code, or several when the old ward was split


def default_old_wards_path() -> Path:
    """Path of the shipped conversion table, ``nlp/data/old_wards.csv``."""
    return Path(str(resources.files("nlp") / "data" / "old_wards.csv"))


def load_old_wards(path: Path | None = None) -> list[OldWard]:
    """Read the conversion table (columns province, district, ward, new_code, share, note)."""
    path = path or default_old_wards_path()
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            OldWard(
                province=row["old_province"],
                district=row["old_district"],
                ward=row["old_ward"],
                new_code=row["new_code"],
                share=row["share"],
                note=row.get("note", "") or "",
            )
            for row in csv.DictReader(handle)
        ]


_DISTRICT_TYPE = re.compile(r"^(?:quan|huyen|thanh pho|thi xa)\s+")
_WARD_TYPE = re.compile(r"^(?:phuong|xa|thi tran)\s+")
_WARD_NAME_TYPE = re.compile(r"^(?:phường|xã|thị trấn)\s+")
# Old-style tone placement ("hoà", "thuỷ") written the new way, so both spellings compare equal.
_OLD_TONES = str.maketrans(
    {"à": "a", "á": "a", "ả": "a", "ã": "a", "ạ": "a", "è": "e", "é": "e", "ẻ": "e", "ẽ": "e",
     "ẹ": "e", "ỳ": "y", "ý": "y", "ỷ": "y", "ỹ": "y", "ỵ": "y"}
)
_TONE_OF = {"à": "\u0300", "á": "\u0301", "ả": "\u0309", "ã": "\u0303", "ạ": "\u0323",
            "è": "\u0300", "é": "\u0301", "ẻ": "\u0309", "ẽ": "\u0303", "ẹ": "\u0323",
            "ỳ": "\u0300", "ý": "\u0301", "ỷ": "\u0309", "ỹ": "\u0303", "ỵ": "\u0323"}

# Old ward names that are also everyday phrases after "phường"/"xã" ("phường cũ bị ...", "xã
# đã bác ...", "tạm an", "minh họa"): written without diacritics, they count only with their
# district.
PHRASE_NAMES = frozenset({"cu bi", "da bac", "tam an", "minh hoa"})


def _tone_style(word: str) -> str:
    """For comparing spellings only: NFC, and a tone mark written on the last vowel of a
    syllable ending in "oa", "oe", "uy" moved to the one before ("hoà" and "hòa" compare equal).
    """
    word = unicodedata.normalize("NFC", word)
    out = list(word)
    for i, char in enumerate(word):
        end = i + 1 == len(word) or not word[i + 1].isalpha()
        if char in _TONE_OF and i and word[i - 1] in "ou" and end:
            out[i - 1] = unicodedata.normalize("NFC", word[i - 1] + _TONE_OF[char])
            out[i] = char.translate(_OLD_TONES)
    return "".join(out)


# Districts people still write that had already been renamed or merged before 2025: quận 2,
# quận 9 and quận Thủ Đức became TP Thủ Đức (2021); huyện Long Điền and Đất Đỏ became Long Đất
# (2025); huyện Tân Thành became Phú Mỹ (2018). Thị xã / thành phố differ only in type.
DISTRICT_ALIASES = {"2": "thu duc", "9": "thu duc", "long dien": "long dat",
                    "dat do": "long dat", "tan thanh": "phu my"}


def _key(name: str, type_prefix: re.Pattern[str]) -> str:
    """Key of a name: "Quận 03" -> "3", "Phường Bến Nghé" -> "ben nghe"."""
    bare = re.sub(r"\s+", " ", strip_diacritics(name).lower().strip())
    bare = type_prefix.sub("", bare)
    return str(int(bare)) if bare.isdigit() else bare


def _alternation(names: Iterable[str]) -> str:
    # Longest first, so "binh tri dong b" wins over "binh tri dong".
    ordered = sorted(set(names), key=len, reverse=True)
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in ordered)


_SPACE = r"\s*\.?\s*"
_SEP = r"[\s,;:/()\-\u2013\u2014.]{0,6}"
_WARD_NUM_PREFIX = r"phuong|ph|p|f|ward"
_WARD_NAME_PREFIX = r"phuong|ph|p|f|xa|x|thi\s+tran|tt|ward"
_DISTRICT_NUM_PREFIX = r"quan|q|district|dist"
_DISTRICT_NAME_PREFIX = r"quan|q|huyen|h|thanh\s+pho|tp|thi\s+xa|tx|district|dist"


class OldAddressResolver:
    """Finds old ward (+ district) mentions in unaccented text and maps them to new codes."""

    def __init__(self, rows: Iterable[OldWard], current_names: Iterable[str] = ()) -> None:
        by_pair: dict[tuple[str, str], set[str]] = {}
        by_name: dict[str, set[str]] = {}
        by_town: dict[str, set[str]] = {}
        districts_of_name: dict[str, set[str]] = {}
        districts_of_town: dict[str, set[str]] = {}
        spellings: dict[str, set[str]] = {}
        for row in rows:
            district = _key(row.district, _DISTRICT_TYPE)
            ward = _key(row.ward, _WARD_TYPE)
            if not ward or not district:
                continue  # Côn Đảo had no wards; the gazetteer knows it by name
            written = _WARD_NAME_TYPE.sub("", row.ward.lower())
            spellings.setdefault(ward, set()).add(_tone_style(written))
            by_pair.setdefault((district, ward), set()).add(row.new_code)
            if not ward.isdigit():
                by_name.setdefault(ward, set()).add(row.new_code)
                districts_of_name.setdefault(ward, set()).add(district)
            if strip_diacritics(row.ward).lower().startswith("thi tran"):
                by_town.setdefault(ward, set()).add(row.new_code)
                districts_of_town.setdefault(ward, set()).add(district)
        self._by_pair = {pair: tuple(sorted(codes)) for pair, codes in by_pair.items()}
        self._spellings = spellings
        # A name alone is enough only when one old district had it and no current unit has it
        # ("phường Bến Nghé"); "phường Tân Phú" stays the current ward Tân Phú. Towns (thị
        # trấn) no longer exist, so "thị trấn Củ Chi" is the old town even though a commune
        # is called Củ Chi today.
        current = {_key(name, _WARD_TYPE) for name in current_names}
        self._by_name = {
            name: tuple(sorted(codes))
            for name, codes in by_name.items()
            if len(districts_of_name[name]) == 1 and name not in current
        }
        self._by_town = {
            name: tuple(sorted(codes))
            for name, codes in by_town.items()
            if len(districts_of_town[name]) == 1
        }
        ward_names = _alternation(w for _, w in self._by_pair if not w.isdigit())
        district_names = _alternation(
            [d for d, _ in self._by_pair if not d.isdigit()]
            + [a for a in DISTRICT_ALIASES if not a.isdigit()]
        )

        def ward_re(tag: str) -> str:
            return (
                rf"(?:(?:{_WARD_NUM_PREFIX}){_SPACE}0?(?P<wn{tag}>\d{{1,2}})(?!\d)"
                rf"|(?P<wp{tag}>{_WARD_NAME_PREFIX}){_SPACE}(?P<wname{tag}>{ward_names})(?![a-z0-9]))"
            )

        def district_re(tag: str, optional_prefix: bool) -> str:
            name_prefix = rf"(?:{_DISTRICT_NAME_PREFIX}){_SPACE}"
            if optional_prefix:
                name_prefix = rf"(?:{name_prefix})?"
            return (
                rf"(?:(?:{_DISTRICT_NUM_PREFIX}){_SPACE}0?(?P<dn{tag}>\d{{1,2}})(?!\d)"
                rf"|{name_prefix}(?P<dname{tag}>{district_names})(?![a-z0-9]))"
            )

        # "P.5, Q.3", "xã Tân Kiên huyện Bình Chánh", "phường 12 Gò Vấp" (a named district may
        # follow the ward without its prefix), and the reverse order "quận 3 phường 5".
        self._pattern = re.compile(
            rf"(?<![a-z0-9])(?:{ward_re('')}(?:{_SEP}{district_re('', True)})?"
            rf"|{district_re('2', False)}{_SEP}{ward_re('2')})"
        )

    def find(self, bare: str, text: str | None = None) -> OldMatch | None:
        """The first old ward ``bare`` (lower-case, unaccented) names that the table knows.

        ``text``, the same lower-case text with its diacritics, guards the riskiest case, a
        ward name with no district: a name written with diacritics must have the right ones
        ("phường cũ bị mất" is not "phường Cù Bị"), and a few names that are everyday phrases
        (``PHRASE_NAMES``) need their district when written without."""
        aligned = text is not None and len(text) == len(bare)
        for match in self._pattern.finditer(bare):
            groups = match.groupdict()
            ward_num = groups["wn"] or groups["wn2"]
            ward_name = groups["wname"] or groups["wname2"]
            dist_num = groups["dn"] or groups["dn2"]
            dist_name = groups["dname"] or groups["dname2"]
            ward = str(int(ward_num)) if ward_num else re.sub(r"\s+", " ", ward_name or "")
            district = ""
            if dist_num or dist_name:
                district = str(int(dist_num)) if dist_num else re.sub(r"\s+", " ", dist_name)
                district = DISTRICT_ALIASES.get(district, district)
            codes = self._by_pair.get((district, ward)) if district else None
            if codes is None and not ward.isdigit():
                town = (groups["wp"] or groups["wp2"] or "").startswith(("tt", "thi"))
                codes = (self._by_town if town else self._by_name).get(ward)
                if codes and text is not None:
                    span = match.span("wname" if groups["wname"] else "wname2")
                    written = re.sub(r"\s+", " ", text[span[0] : span[1]]) if aligned else ""
                    if written and strip_diacritics(written) != written:
                        if _tone_style(written) not in self._spellings.get(ward, ()):
                            codes = None  # "phường cũ bị mất" is not "phường Cù Bị"
                    elif ward in PHRASE_NAMES:
                        codes = None
            if codes:
                return OldMatch(match.start(), match.end(), codes)
        return None
