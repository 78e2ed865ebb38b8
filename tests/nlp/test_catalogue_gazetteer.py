"""The shipped unit catalogue and ward gazetteer, and ward detection in free text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlp.catalogue import CatalogueError, load_catalogue, triage_code
from nlp.gazetteer import detect_ward, load_wards

DEFAULT_CODES = {
    "SXD", "SNNMT", "SYT", "SATTP", "SGDDT", "SNV", "STP", "STC", "SCT", "SKHCN", "SVHTT",
    "SDL", "CATP", "UBND_XA", "DIENLUC", "CAPNUOC", "THANHTRA", "VPUBND",
}


def test_default_catalogue_has_the_eighteen_codes() -> None:
    units = load_catalogue()
    assert set(units) == DEFAULT_CODES
    assert triage_code(units) == "VPUBND"
    assert all(unit.name and unit.description for unit in units.values())


def test_catalogue_rejects_duplicate_codes(tmp_path: Path) -> None:
    path = tmp_path / "units.yaml"
    path.write_text("units:\n  - {code: A, name: X}\n  - {code: A, name: Y}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="twice"):
        load_catalogue(path)


def test_gazetteer_has_168_units_of_the_three_kinds() -> None:
    wards = load_wards()
    assert len(wards) == 168
    assert Counter(w.kind for w in wards) == {"phuong": 113, "xa": 54, "dac_khu": 1}
    assert len({w.code for w in wards}) == 168


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Đường ngập ở P.Bến Thành", "p-ben-thanh"),
        ("đường ngập ở phường Bến Thành", "p-ben-thanh"),
        ("duong ngap o phuong ben thanh", "p-ben-thanh"),
        ("nha em o p. tan son nhi", "p-tan-son-nhi"),
        ("Phường An Phú Đông bị mất điện", "p-an-phu-dong"),
        ("Phường An Phú bị mất điện", "p-an-phu"),
        ("xã Bình Chánh có bãi rác", "x-binh-chanh"),
        ("xa hiep phuoc ngap", "x-hiep-phuoc"),
        ("khách du lịch ra Côn Đảo bị chặt chém", "dk-con-dao"),
        ("đặc khu côn đảo thiếu nước", "dk-con-dao"),
        ("xã Thạnh An, Cần Giờ", "x-thanh-an"),
    ],
)
def test_ward_named_in_text_is_detected(text: str, code: str) -> None:
    ward = detect_ward(text)
    assert ward is not None
    assert ward.code == code


@pytest.mark.parametrize(
    "text",
    [
        "chợ Bến Thành đông khách",  # the market, not the ward
        "đường bị ngập",
        "",
        "xa thanh an",  # unaccented and ambiguous: Thạnh An or Thanh An
    ],
)
def test_no_ward_when_none_is_named(text: str) -> None:
    assert detect_ward(text) is None
