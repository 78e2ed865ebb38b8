"""The `hailong nlp` commands, through typer's test runner."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_dir(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli-model")
    result = runner.invoke(app, ["train", "--data", str(small_corpus), "--model", str(directory)])
    assert result.exit_code == 0, result.output
    assert "18" in result.output
    return directory


def test_train_writes_model_and_card(trained_dir: Path) -> None:
    assert (trained_dir / "model.skops").is_file()
    card = json.loads((trained_dir / "model_card.json").read_text(encoding="utf-8"))
    assert card["data"]["source"] == "small.csv"


def test_eval_json_has_the_contract_keys(trained_dir: Path, small_corpus: Path,
                                         tmp_path: Path) -> None:
    png = tmp_path / "cm.png"
    result = runner.invoke(app, ["eval", "--data", str(small_corpus), "--model", str(trained_dir),
                                 "--json", "--png", str(png)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class"} <= set(data)
    assert set(data["per_class"]["SXD"]) >= {"precision", "recall"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_table_output(trained_dir: Path, small_corpus: Path) -> None:
    result = runner.invoke(app, ["eval", "--data", str(small_corpus), "--model", str(trained_dir)])
    assert result.exit_code == 0, result.output
    assert "DIENLUC" in result.output and "macro-F1" in result.output
    assert (trained_dir / "confusion_matrix.png").is_file()


def test_route_json(trained_dir: Path) -> None:
    result = runner.invoke(app, ["route", "cúp điện cả ngày ở phường Bến Thành, sđt 0901234567",
                                 "--model", str(trained_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"unit", "confidence", "candidates", "ward", "masked_text"} <= set(data)
    assert len(data["candidates"]) == 3
    assert data["ward"]["code"] == "p-ben-thanh"
    assert "[SĐT]" in data["masked_text"]


def test_route_plain_text(trained_dir: Path) -> None:
    result = runner.invoke(app, ["route", "nước máy đục có cặn", "--model", str(trained_dir)])
    assert result.exit_code == 0, result.output
    assert "CAPNUOC" in result.output


def test_bench_reports_messages_per_second(trained_dir: Path) -> None:
    result = runner.invoke(app, ["bench", "--model", str(trained_dir), "--n", "300", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["router_msgs_per_s"] > 0 and data["cores"] == 1


def test_retrain_reports_its_decision(trained_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "m"
    shutil.copytree(trained_dir, work)
    corrections = tmp_path / "corrections.csv"
    corrections.write_text(
        "text,wrong_unit,right_unit\n"
        + "".join(f"bảo kê vé số {i} trước chợ,SCT,CATP\n" for i in range(6)),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["retrain", "--corrections", str(corrections),
                                 "--model", str(work), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"replaced", "old_macro_f1", "new_macro_f1"} <= set(data)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--data", "/nonexistent.csv"], "không tìm thấy"),
        (["eval", "--data", "/nonexistent.csv"], "không tìm thấy"),
        (["retrain", "--corrections", "/nonexistent.csv"], "không tìm thấy"),
    ],
)
def test_missing_files_are_one_line_errors(args: list[str], needle: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert needle in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("hailong: error: ")  # the form of every hailong command


def test_bad_columns_and_unknown_labels_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("message,unit\nđường ngập,SXD\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--data", str(bad), "--model", str(tmp_path / "m")])
    assert result.exit_code == 2 and "text,label" in result.stderr
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,label\nđường ngập,SXDD\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--data", str(unknown), "--model", str(tmp_path / "m")])
    assert result.exit_code == 2 and "SXDD" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_missing_model_directory_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["route", "abc", "--model", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "hailong nlp train" in result.stderr


def test_tampered_model_is_refused_by_the_cli(trained_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "m"
    shutil.copytree(trained_dir, work)
    (work / "model.skops").write_bytes((work / "model.skops").read_bytes() + b"x")
    result = runner.invoke(app, ["route", "abc", "--model", str(work)])
    assert result.exit_code == 2
    assert "SHA-256" in result.stderr


def test_importing_the_cli_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, nlp.cli; heavy = [m for m in ('sklearn', 'skops', 'underthesea', "
        "'matplotlib') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
