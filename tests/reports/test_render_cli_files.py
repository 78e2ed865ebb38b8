"""`hailong report`, `report complaints` and `export` write no file into the current folder
unless --out names one: XLSX without --out goes to standard output when that is a pipe or a
file, and is refused (one line, exit 2) when it is a terminal. Run through the real entry
point from an empty temporary folder."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

HAILONG = Path(sys.executable).parent / "hailong"


def run(
    args: list[str], url: str, cwd: Path, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(HAILONG), *args],
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        timeout=120,
        **kwargs,
    )


@pytest.fixture
def empty_cwd(tmp_path: Path) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("args", "sheet"),
    [
        (["report", "-f", "xlsx"], "Giới thiệu"),
        (["report", "complaints", "-f", "xlsx"], "Tổng hợp PAKN"),
        (["export", "-f", "xlsx"], "Trả lời"),
    ],
)
def test_xlsx_without_out_goes_to_a_piped_stdout_and_no_file_is_left(
    scenario_url: str, empty_cwd: Path, args: list[str], sheet: str
) -> None:
    proc = run(args, scenario_url, empty_cwd, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"PK")  # a ZIP: the workbook itself
    assert sheet in load_workbook(io.BytesIO(proc.stdout)).sheetnames
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.parametrize("args", [["report"], ["report", "-f", "csv"], ["report", "-f", "json"]])
def test_text_formats_without_out_write_no_file(
    scenario_url: str, empty_cwd: Path, args: list[str]
) -> None:
    proc = run(args, scenario_url, empty_cwd, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout
    assert list(empty_cwd.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [["report", "-f", "xlsx"], ["report", "complaints", "-f", "xlsx"], ["export", "-f", "xlsx"]],
)
def test_xlsx_to_a_terminal_is_refused_in_one_line(
    scenario_url: str, empty_cwd: Path, args: list[str]
) -> None:
    leader, follower = pty.openpty()  # standard output is a terminal
    try:
        proc = run(args, scenario_url, empty_cwd, stdout=follower, stderr=subprocess.PIPE)
    finally:
        os.close(follower)
    try:
        os.set_blocking(leader, False)
        try:
            on_terminal = os.read(leader, 65536)
        except OSError:  # nothing was written to the terminal
            on_terminal = b""
    finally:
        os.close(leader)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "hailong: error: --format xlsx needs --out FILE\n"
    assert on_terminal == b""
    assert list(empty_cwd.iterdir()) == []


def test_out_still_writes_the_named_file(scenario_url: str, empty_cwd: Path) -> None:
    proc = run(["report", "-f", "xlsx", "--out", "r.xlsx"], scenario_url, empty_cwd)
    assert proc.returncode == 0
    assert [p.name for p in empty_cwd.iterdir()] == ["r.xlsx"]
