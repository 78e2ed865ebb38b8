"""Old (pre-July-2025) HCMC addresses -> current ward: the shipped table resolver against the
PyPI package ``vietnamadminunits``.

    pip install vietnamadminunits==1.0.4          # only for this script, not a runtime dependency
    python bench/old_address_eval.py               # accuracy and time per call, both approaches
    python bench/old_address_eval.py --write-table # regenerate nlp/data/old_wards.csv from the
                                                   # package's data (then review the diff)

The test set is ``tests/nlp/data/old_addresses.csv`` (text, expected_code, source; an empty
expected_code means "split across several wards, the text does not say which: None").
False positives are counted on the seed corpus (``nlp/data/seed_corpus.csv``), whose 1,471
messages name no old ward + district.

The package is run offline: for an old ward split across several new ones it geocodes the
street with ArcGIS (geopy) over the network; here that call is replaced by "no location", which
makes the package take its default ward, and the script counts how often it would have called.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.gazetteer import WardDetector, load_wards  # noqa: E402
from nlp.model import default_corpus_path, load_corpus  # noqa: E402
from nlp.oldaddress import OldAddressResolver, load_old_wards  # noqa: E402
from nlp.text import clean, strip_diacritics  # noqa: E402

TABLE = ROOT / "nlp" / "data" / "old_wards.csv"
TESTSET = ROOT / "tests" / "nlp" / "data" / "old_addresses.csv"
PROVINCES = ("thanhphohochiminh", "tinhbinhduong", "tinhbariavungtau")

# Old wards that the package lists only as unaccented alias keys (merged into another ward
# before July 2025): their accented names, for the table. Kind-only changes (xã -> phường of the
# same name) need no row: the resolver ignores the kind.
ALIAS_NAMES = {
    "phuongphuochiep": "Phường Phước Hiệp",
    "xaannhut": "Xã An Nhứt",
    "xaanngai": "Xã An Ngãi",
    "xatamphuoc": "Xã Tam Phước",
    "xalocan": "Xã Lộc An",
    "xalongmy": "Xã Long Mỹ",
    "phuongbinhan": "Phường Bình An",
    "phuongbinhkhanh": "Phường Bình Khánh",
}


def _package_dir() -> Path:
    import vietnamadminunits

    return Path(vietnamadminunits.__file__).parent


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", strip_diacritics(text).lower())


def package_key_to_code() -> dict[str, str]:
    """The package's new-ward keys ("phuongbanco", "xãthạnhan") -> codes of nlp/data/wards.csv."""
    prefix = {"phuong": "phuong", "xa": "xa", "dac_khu": "dackhu"}
    mapping = {prefix[w.kind] + _slug(w.name): w.code for w in load_wards()}
    # The package spells these two with their accents to tell them apart.
    mapping["xãthạnhan"] = "x-thanh-an"
    mapping["xãthanhan"] = "x-thanh-an-dau-tieng"
    return mapping


def build_table() -> list[dict[str, str]]:
    """One row per (old ward, new unit), from vietnamadminunits' converter_2025.json (old ward ->
    new ward, and the split wards) and dataset.db (old names, pre-2025 mergers)."""
    data_dir = _package_dir() / "data"
    converter = json.loads((data_dir / "converter_2025.json").read_text(encoding="utf-8"))
    whole = converter["DICT_PROVINCE_WARD_NO_DIVIDED"]["thanhphohochiminh"]
    split = converter["DICT_PROVINCE_WARD_DIVIDED"]["thanhphohochiminh"]
    to_code = package_key_to_code()
    whole_of: dict[str, str] = {}
    for new_key, old_keys in whole.items():
        for old_key in old_keys:
            whole_of[old_key] = to_code[new_key]
    db = sqlite3.connect(data_dir / "dataset.db")
    rows: list[dict[str, str]] = []
    query = (
        "SELECT provinceKey, districtKey, wardKey, province, district, ward, wardAlias "
        "FROM admin_units_legacy WHERE provinceKey IN (?, ?, ?) "
        "ORDER BY provinceCode, districtCode, wardCode"
    )
    for pkey, dkey, wkey, province, district, ward, alias in db.execute(query, PROVINCES):
        if wkey is None:  # Côn Đảo: a district without wards, now the special zone
            targets = [(to_code["dackhucondao"], "whole")]
            ward = ""
        else:
            old_key = f"{pkey}_{dkey}_{wkey}"
            if old_key in whole_of:
                targets = [(whole_of[old_key], "whole")]
            else:
                targets = [(to_code[w["newWardKey"]], "part") for w in split[old_key]]
        for code, share in targets:
            rows.append(
                {"old_province": province, "old_district": district, "old_ward": ward,
                 "new_code": code, "share": share, "note": ""}
            )
        for alias_key in json.loads(alias or "[]"):
            number = re.fullmatch(r"phuong0?(\d+)", alias_key)
            if number:
                alias_name = f"Phường {number.group(1)}"
            elif alias_key in ALIAS_NAMES:
                alias_name = ALIAS_NAMES[alias_key]
            else:
                continue  # kind change only, or a short keyword ("p13", "f13")
            if any(r["old_district"] == district and r["old_ward"] == alias_name for r in rows):
                continue
            for code, share in targets:
                rows.append(
                    {"old_province": province, "old_district": district,
                     "old_ward": alias_name, "new_code": code, "share": share,
                     "note": f"merged into {ward} before 2025-07-01"}
                )
    return rows


def write_table(path: Path = TABLE) -> None:
    rows = build_table()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {path.relative_to(ROOT)}")


# --- the package as a resolver ------------------------------------------------------------


GEOCODER_CALLS: list[str] = []


def _offline_geocode(address: str) -> None:
    """Stands in for the package's ArcGIS lookup: records the address, finds nothing."""
    GEOCODER_CALLS.append(address)
    return None


class PackageResolver:
    """``convert_address`` on the raw text (retried with ", Hồ Chí Minh" appended when no ward
    comes back), its answer mapped to our codes. ``split_none``: answer None for old wards the
    package knows were split (our policy) instead of its default ward."""

    def __init__(self, split_none: bool) -> None:
        from vietnamadminunits import convert_address
        from vietnamadminunits.converter import converter_2025

        converter_2025.get_geo_location = _offline_geocode
        self._convert = convert_address
        self._split = converter_2025.DICT_PROVINCE_WARD_DIVIDED
        self._to_code = package_key_to_code()
        self.split_none = split_none

    def _once(self, text: str) -> tuple[str | None, bool]:
        try:
            unit = self._convert(text)
        except Exception:
            return None, False
        old = unit.OldAdminUnit
        if not unit.ward:
            return None, False
        if old is not None and self.split_none and old.ward_key:
            key = f"{old.province_key}_{old.district_key}_{old.ward_key}"
            if any(key in d for d in self._split.values()):
                return None, True
        kind = {"Phường": "phuong", "Xã": "xa", "Đặc khu": "dackhu"}.get(unit.ward_type or "", "")
        return self._to_code.get(kind + _slug(unit.short_ward or "")), True

    def __call__(self, text: str) -> str | None:
        code, found = self._once(text)
        if code is None and not found:
            code, _ = self._once(f"{text}, Hồ Chí Minh")
        return code


def read_testset(path: Path = TESTSET) -> list[tuple[str, str | None]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["text"], r["expected_code"] or None) for r in csv.DictReader(handle)]


def measure(
    name: str,
    resolve: Callable[[str], str | None],
    cases: list[tuple[str, str | None]],
    negatives: list[str],
) -> tuple[dict[str, object], list[tuple[str, str | None, str | None]]]:
    """Scores and timings of ``resolve`` on the test set and the negatives, and its misses."""
    answers = [resolve(text) for text, _ in cases]  # warm-up and answers
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for text, _ in cases:
            resolve(text)
        times.append((time.perf_counter() - start) / len(cases) * 1e6)
    right = [a == e for a, (_, e) in zip(answers, cases, strict=True)]
    accented = [r for r, (t, _) in zip(right, cases, strict=True) if strip_diacritics(t) != t]
    bare = [r for r, (t, _) in zip(right, cases, strict=True) if strip_diacritics(t) == t]
    splits = [r for r, (_, e) in zip(right, cases, strict=True) if e is None]
    false_pos = sum(1 for text in negatives if resolve(text) is not None)
    neg_times = []
    for _ in range(3):
        start = time.perf_counter()
        for text in negatives:
            resolve(text)
        neg_times.append((time.perf_counter() - start) / len(negatives) * 1e6)
    neg_us = statistics.median(neg_times)
    wrong = [(t, e, a) for (t, e), a, r in zip(cases, answers, right, strict=True) if not r]
    return {
        "name": name, "n": len(cases), "right": sum(right),
        "accuracy": sum(right) / len(cases),
        "accented": f"{sum(accented)}/{len(accented)}",
        "unaccented": f"{sum(bare)}/{len(bare)}",
        "split_none": f"{sum(splits)}/{len(splits)}",
        "us_per_call": statistics.median(times),
        "false_positives": f"{false_pos}/{len(negatives)}",
        "us_per_negative": neg_us,
    }, wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-table", action="store_true", help="regenerate old_wards.csv")
    parser.add_argument("--show-wrong", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    if args.write_table:
        write_table()
        return 0
    cases = read_testset()
    texts, _ = load_corpus(default_corpus_path())
    # Seed messages naming a current ward are not negatives for the full detector.
    baseline = WardDetector(load_wards(), old_wards=[])
    negatives = [t for t in texts if baseline.detect(t) is None]
    detector = WardDetector(load_wards())
    resolver = OldAddressResolver(load_old_wards(), [w.name for w in load_wards()])

    def table_only(text: str) -> str | None:
        lowered = clean(text).lower()
        match = resolver.find(strip_diacritics(lowered), lowered)
        return match.codes[0] if match and len(match.codes) == 1 else None

    def shipped(text: str) -> str | None:
        ward = detector.detect(text)
        return ward.code if ward else None

    current_only = WardDetector(load_wards(), old_wards=[])

    def before(text: str) -> str | None:
        ward = current_only.detect(text)
        return ward.code if ward else None

    package = PackageResolver(split_none=False)
    package_split = PackageResolver(split_none=True)
    results = [
        measure("before: WardDetector.detect, current names only", before, cases, negatives),
        measure("shipped: WardDetector.detect (table + current names)", shipped, cases, negatives),
        measure("table resolver alone (nlp.oldaddress)", table_only, cases, negatives),
        measure("vietnamadminunits 1.0.4, as shipped", package, cases, negatives),
        measure("vietnamadminunits 1.0.4, split wards -> None", package_split, cases, negatives),
    ]
    print(f"old-address test set: {len(cases)} addresses; negatives: {len(negatives)} "
          "seed-corpus messages naming no ward\n")
    header = ("approach", "accuracy", "accented", "unaccented", "split->None", "us/call",
              "false pos", "us/negative")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r, _ in results:
        print(f"| {r['name']} | {r['accuracy']:.3f} ({r['right']}/{r['n']}) | {r['accented']} | "
              f"{r['unaccented']} | {r['split_none']} | {r['us_per_call']:.1f} | "
              f"{r['false_positives']} | {r['us_per_negative']:.1f} |")
    print(f"\npackage geocoder calls replaced by 'not found' (each an ArcGIS request over the "
          f"network with the address in it): {len(GEOCODER_CALLS)}")
    for address in GEOCODER_CALLS[:5]:
        print(f"  {address}")
    for r, wrong in results:
        if args.show_wrong and wrong:
            print(f"\n{r['name']}: misses")
            for text, expected, answer in wrong:
                print(f"  {expected!s:22} got {answer!s:22} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
