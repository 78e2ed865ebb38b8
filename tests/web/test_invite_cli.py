"""`hailong invite` in a real subprocess: links on the terminal, a QR code to print."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from storage.db import make_engine
from tests.test_cli import hailong, migrated, one_line_error
from tests.web.conftest import seed_catalogue

ENV = {
    "LINK_SECRET": "cli-secret-0123456789abcdef0123456789",
    "TELEGRAM_BOT_USERNAME": "hailong_bot",
    "ZALO_OA_ID": "",
}
ARGS = ("invite", "--dossier", "HS-CLI-1", "--unit", "STP", "--procedure", "CC_HOP_DONG")


def catalogued(url: str) -> str:
    migrated(url)
    engine = make_engine(url)
    seed_catalogue(engine)
    engine.dispose()
    return url


def test_invite_prints_links_and_writes_a_qr_code(sqlite_url: str, tmp_path: Path) -> None:
    db = catalogued(sqlite_url)
    qr = tmp_path / "hs.png"
    first = hailong(*ARGS, "--qr", str(qr), db=db, env=ENV)
    assert first.returncode == 0, first.stderr
    lines = dict(line.split(":", 1) for line in first.stdout.splitlines()[1:])
    assert "registered" in first.stdout.splitlines()[0]
    token = lines["web"].strip().split("?d=", 1)[1]
    assert lines["telegram"].strip() == f"https://t.me/hailong_bot?start={token}"
    assert "not configured" in lines["zalo"]
    with Image.open(qr) as image:
        assert image.format == "PNG" and image.width >= 200 and image.width == image.height

    again = hailong(*ARGS, db=db, env=ENV)
    assert "already registered" in again.stdout and token in again.stdout


def test_invite_refuses_with_one_line(sqlite_url: str) -> None:
    db = catalogued(sqlite_url)
    one_line_error(hailong(*ARGS, db=db, env={"LINK_SECRET": ""}), "LINK_SECRET")
    bad_unit = ("invite", "--dossier", "HS-2", "--unit", "NOPE", "--procedure", "CC_HOP_DONG")
    one_line_error(hailong(*bad_unit, db=db, env=ENV), "unknown unit 'NOPE'")
