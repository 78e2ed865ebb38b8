"""`hailong invite --qr` (issue 14: 25): a QR code that cannot be written is refused in one
line before anything is registered, so nothing is left half-done."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_cli import count, hailong, one_line_error
from tests.web.test_invite_cli import ARGS, ENV, catalogued


def test_a_qr_code_into_a_missing_folder_registers_nothing(sqlite_url: str, tmp_path: Path) -> None:
    db = catalogued(sqlite_url)
    missing = tmp_path / "no-such-folder" / "hs.png"
    one_line_error(hailong(*ARGS, "--qr", str(missing), db=db, env=ENV), "does not exist")
    assert count(db, "dossier") == 0
    assert not missing.parent.exists()  # nothing created either
    (tmp_path / "a-file").write_text("")
    under_a_file = tmp_path / "a-file" / "hs.png"
    one_line_error(hailong(*ARGS, "--qr", str(under_a_file), db=db, env=ENV), "does not exist")
    assert count(db, "dossier") == 0

    # --qr-link of a channel that is not configured: refused before registering too.
    zalo_qr = ("--qr", str(tmp_path / "z.png"), "--qr-link", "zalo")
    one_line_error(hailong(*ARGS, *zalo_qr, db=db, env=ENV), "not configured")
    assert count(db, "dossier") == 0

    fine = hailong(*ARGS, "--qr", str(tmp_path / "hs.png"), db=db, env=ENV)
    assert fine.returncode == 0, fine.stderr
    assert count(db, "dossier") == 1 and (tmp_path / "hs.png").stat().st_size > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_qr_code_into_a_read_only_folder_registers_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = catalogued(sqlite_url)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = hailong(*ARGS, "--qr", str(locked / "hs.png"), db=db, env=ENV)
    finally:
        locked.chmod(0o700)
    one_line_error(result, "cannot write")
    assert count(db, "dossier") == 0
