"""Ward detection: find which of HCMC's wards, communes or special zone a text names.

A name counts only after an administrative prefix ("phường", "P.", "xã", "đặc khu", with or
without diacritics): bare names such as "Bến Thành" or "Sài Gòn" usually mean a market, a
river or the city, not the ward. Côn Đảo is the exception, being unambiguous on its own.

Pre-July-2025 addresses ("P.5 Q.3", "xã Tân Kiên, huyện Bình Chánh", "phường Bến Nghé") are
mapped to the unit that absorbed them through ``nlp.oldaddress``; an old ward split across
several new units gives None unless the text also names one of them.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from nlp.oldaddress import OldAddressResolver, OldWard, load_old_wards
from nlp.text import clean, strip_diacritics


@dataclass(frozen=True)
class Ward:
    """One commune-level unit of HCMC (after the 2025 merger)."""

    code: str
    kind: str  # "phuong" (ward), "xa" (commune) or "dac_khu" (special zone)
    name: str
    full_name: str
    former_area: str = ""


# Cheap pre-check: most messages name no ward, and then the big name patterns need not run.
_HINT = re.compile(
    r"(?<!\w)(?:phường|phuong|p|f|xã|xa|x|đặc|dac|đk|dk|huyện|huyen|côn|con)(?!\w)"
)
# Old addresses may also start with a town ("thị trấn", "TT."), "Ph." or an English "Ward",
# or glue prefix and number together ("p5q3", "F7").
_OLD_HINT = re.compile(r"(?<!\w)(?:(?:tt|ph|ward)(?!\w)|thị\s+trấn|thi\s+tran|[pf]\d)")

_PREFIX = {
    "phuong": r"phường|phuong|p\s*\.|p|f\s*\.|f",
    "xa": r"xã|xa|x\s*\.",
    "dac_khu": r"đặc khu|dac khu|đk|dk|huyện|huyen",
}


def default_gazetteer_path() -> Path:
    """Path of the shipped gazetteer, ``nlp/data/wards.csv``."""
    return Path(str(resources.files("nlp") / "data" / "wards.csv"))


def load_wards(path: Path | None = None) -> list[Ward]:
    """Read the ward gazetteer CSV (columns code, kind, name, full_name, former_area)."""
    path = path or default_gazetteer_path()
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Ward(
                code=row["code"],
                kind=row["kind"],
                name=row["name"],
                full_name=row["full_name"],
                former_area=row.get("former_area", "") or "",
            )
            for row in csv.DictReader(handle)
        ]


class WardDetector:
    """Finds ward names in text; accented matches win over unaccented ones. Old (pre-2025)
    ward + district mentions resolve through ``old_wards`` (default: the shipped table
    ``nlp/data/old_wards.csv``; pass ``[]`` to turn that off)."""

    def __init__(self, wards: list[Ward], old_wards: list[OldWard] | None = None) -> None:
        self.wards = wards
        if old_wards is None:
            old_wards = load_old_wards()
        codes = {w.code: w for w in wards}
        self._by_code = codes
        known = [row for row in old_wards if row.new_code in codes]
        self._old = OldAddressResolver(known, [w.name for w in wards]) if known else None
        self._accented = self._compile(wards, lambda s: s.lower())
        self._bare = self._compile(wards, lambda s: strip_diacritics(s).lower())
        bare_names: dict[str, list[Ward]] = {}
        for ward in wards:
            bare_names.setdefault(strip_diacritics(ward.name).lower(), []).append(ward)
        self._by_bare = bare_names
        self._by_name = {ward.name.lower(): ward for ward in wards}

    @staticmethod
    def _compile(wards: list[Ward], fold: object) -> dict[str, re.Pattern[str]]:
        assert callable(fold)
        patterns: dict[str, re.Pattern[str]] = {}
        for kind in {w.kind for w in wards}:
            # Longest names first, so "An Phú Đông" wins over "An Phú".
            names = sorted({fold(w.name) for w in wards if w.kind == kind}, key=len, reverse=True)
            alternatives = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names)
            prefix = _PREFIX.get(kind, _PREFIX["phuong"])
            if kind == "phuong":
                prefix += r"|" + _PREFIX["xa"]  # citizens mix "xã" and "phường" freely
            if kind == "dac_khu":
                patterns[kind] = re.compile(rf"(?<!\w)(?:(?:{prefix})\s*)?({alternatives})(?!\w)")
            else:
                patterns[kind] = re.compile(rf"(?<!\w)(?:{prefix})\s*({alternatives})(?!\w)")
        return patterns

    def detect(self, text: str) -> Ward | None:
        """The first ward the text names, or None (also None when an unaccented name is
        ambiguous, e.g. "xa thanh an" could be Thạnh An or Thanh An, and when an old ward
        that was split is named without saying which part)."""
        text = clean(text).lower()
        if not text or not (_HINT.search(text) or _OLD_HINT.search(text)):
            return None
        bare_text = strip_diacritics(text)
        hits = self._current_hits(text, bare_text)
        old = self._old.find(bare_text, text) if self._old is not None else None
        if old is None:
            return min(hits, key=lambda h: h[0])[1] if hits else None
        # A current name inside the old mention ("phường Tân Phú, quận 7") is the old ward.
        outside = [h for h in hits if not old.start <= h[0] < old.end]
        first = min(outside, key=lambda h: h[0]) if outside else None
        if first is not None and first[0] < old.start:
            return first[1]
        if len(old.codes) == 1:
            return self._by_code[old.codes[0]]
        # Split ward: only the text can say which part ("P.4 Q.3, nay là phường Xuân Hòa").
        named = {ward.code for _, ward in outside} & set(old.codes)
        return self._by_code[named.pop()] if len(named) == 1 else None

    def _current_hits(self, text: str, bare_text: str) -> list[tuple[int, Ward]]:
        """(position, ward) for every current name after a prefix; accented matches only, or,
        when there are none, unaccented matches that name one ward. Where two names start at
        the same place ("xã An Nhơn Tây": phường An Nhơn, written with "xã", or xã An Nhơn
        Tây), the longer one wins, whatever order the patterns ran in."""
        found: list[tuple[int, int, Ward]] = []
        # A text typed without any diacritics gives no evidence for "Thanh An" over "Thạnh An".
        accented_patterns = self._accented.values() if bare_text != text else ()
        for pattern in accented_patterns:
            for match in pattern.finditer(text):
                name = re.sub(r"\s+", " ", match.group(1))
                if name in self._by_name:
                    found.append((match.start(), match.end(), self._by_name[name]))
        if not found:
            for pattern in self._bare.values():
                for match in pattern.finditer(bare_text):
                    candidates = self._by_bare.get(re.sub(r"\s+", " ", match.group(1)), [])
                    if len(candidates) == 1:
                        found.append((match.start(), match.end(), candidates[0]))
        longest: dict[int, tuple[int, Ward]] = {}
        for start, end, ward in found:
            if start not in longest or end > longest[start][0]:
                longest[start] = (end, ward)
        return [(start, ward) for start, (_, ward) in sorted(longest.items())]


@lru_cache(maxsize=1)
def default_detector() -> WardDetector:
    """Detector over the shipped gazetteer, built once per process."""
    return WardDetector(load_wards())


def detect_ward(text: str) -> Ward | None:
    """The HCMC ward, commune or special zone that ``text`` names, if any."""
    return default_detector().detect(text)


# --- a shared location → the likely wards ---------------------------------------------------------

# HCMC since July 2025 (with the former Bình Dương and Bà Rịa–Vũng Tàu), generously bounded.
_CITY = ((8.4, 11.6), (106.2, 107.7))


@lru_cache(maxsize=1)
def _centroids() -> list[tuple[Ward, float, float]]:
    path = Path(str(resources.files("nlp") / "data" / "ward_centroids.csv"))
    wards = {ward.code: ward for ward in load_wards()}
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (wards[row["code"]], float(row["latitude"]), float(row["longitude"]))
            for row in csv.DictReader(handle)
            if row["code"] in wards
        ]


def nearest_wards(latitude: float, longitude: float, k: int = 3) -> list[Ward]:
    """The `k` wards whose centres are nearest to a point, nearest first; none outside the
    city. Ward shapes are irregular, so this proposes, it does not decide: the citizen picks."""
    (south, north), (west, east) = _CITY
    if not (south <= latitude <= north and west <= longitude <= east):
        return []
    scale = math.cos(math.radians(latitude))  # a degree of longitude is shorter here

    def distance(item: tuple[Ward, float, float]) -> float:
        return (item[1] - latitude) ** 2 + ((item[2] - longitude) * scale) ** 2

    return [ward for ward, _, _ in sorted(_centroids(), key=distance)[:k]]
