"""The shipped real corpus (issue 16) is what its README promises, and the build rules hold."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nlp.catalogue import load_catalogue
from nlp.data import build_real_corpus as builder
from nlp.pii import mask_pii
from nlp.text import normalize

CORPUS = Path(__file__).resolve().parents[2] / "nlp" / "data" / "real_corpus.csv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == builder.COLUMNS
        return list(reader)


def test_labels_are_catalogue_codes(rows: list[dict[str, str]]) -> None:
    known = set(load_catalogue())
    assert rows
    assert {r["label"] for r in rows} <= known


def test_no_exact_duplicates_and_no_short_text(rows: list[dict[str, str]]) -> None:
    keys = [normalize(r["text"]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert all(len(r["text"]) >= builder.MIN_CHARS for r in rows)


def test_every_row_cites_an_original_web_page(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert row["source_url"].startswith(("http://", "https://")), row["source_url"]
        assert not builder._on(builder.host(row["source_url"]), builder.MIRROR_HOSTS)
        assert "github" not in row["note"].lower()


def test_no_unmasked_phone_or_email(rows: list[dict[str, str]]) -> None:
    unmasked = [r["text"] for r in rows if mask_pii(r["text"]) != r["text"]]
    assert unmasked == []
    assert not any("@" in r["text"] for r in rows)


def _row(text: str, label: str = "CAPNUOC", url: str = "https://plo.vn/a.html",
         note: str = "verbatim") -> dict[str, str]:
    return {"text": text, "label": label, "agency": "", "source_url": url, "date": "",
            "note": note}


def test_build_rules_drop_and_count() -> None:
    water = "Nước máy nhà tôi yếu suốt một tuần nay, gọi tổng đài không ai nghe máy"
    rows = [
        _row(water),
        _row(water.upper() + "!!"),  # same text after normalisation
        _row(water.replace("một tuần", "hai tuần")),  # near-duplicate, same unit
        _row(water, url="https://baohiemxahoi.gov.vn/q", note="verbatim; via GitHub x/y"),
        _row("Mất điện cả khu phố từ sáng, chưa thấy ai sửa", url="https://xosogialai.org/a"),
        _row("Hàng quán lấn chiếm vỉa hè trước chợ", url="https://t.vn/p", note="page mirrors X"),
        _row("Chợ ồn ào cả đêm, ai xử lý?", url="https://t.vn/q"),  # host called a mirror
        _row("Rác ở hẻm không ai thu gom", label="SỞ_RÁC"),
        _row("ngập quá"),
        _row("Phản ánh cột điện nghiêng ở đường Lê Lợi, nguy hiểm", label="DIENLUC",
             note="reported; report title plus location from the answer"),
        _row("Phản ánh nước đục tại thôn Quảng Hợp kéo dài nhiều ngày", label="CAPNUOC",
             note="reported; complaint reconstructed from the answer's restatement"),
        _row("Cử tri hỏi về cột phát sóng đặt sát khu dân cư có ảnh hưởng sức khỏe không",
             label="SKHCN", note="reported; as restated in the answer headings"),  # kept
        _row("Gọi tôi 0901 234 567 về việc ông Nguyễn Văn Bình lấn chiếm lối đi chung",
             label="UBND_XA"),
    ]
    result = builder.build(rows, list(load_catalogue()))
    assert dict(result.dropped) == {
        "duplicate": 1, "near_duplicate": 1, "github": 1, "mirror": 3, "composed": 2,
        "unknown_label": 1, "short_text": 1,
    }
    assert [r["label"] for r in result.rows] == ["CAPNUOC", "SKHCN", "UBND_XA"]
    assert result.rows[2]["text"] == "Gọi tôi [SĐT] về việc ông [TÊN] lấn chiếm lối đi chung"


def test_building_the_corpus_again_changes_nothing(tmp_path: Path) -> None:
    """A new collection round is built with the corpus itself as the first part."""
    out = tmp_path / "again.csv"
    assert builder.main([str(CORPUS), "--out", str(out)]) == 0
    assert out.read_bytes() == CORPUS.read_bytes()


def test_command_line_errors_are_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as missing:
        builder.main([str(tmp_path / "none.csv"), "--out", str(tmp_path / "out.csv")])
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nx,SXD\n", encoding="utf-8")
    with pytest.raises(SystemExit) as columns:
        builder.main([str(bad), "--out", str(tmp_path / "out.csv")])
    assert missing.value.code == columns.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such file" in err[0] and "missing agency" in err[1]
