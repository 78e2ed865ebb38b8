"""The README's first command, `make start`, run as a new user would: it seeds the demo
database, prints both reports and a rating link, and serves the web chat (here on a free port,
in a scratch folder, with the project's own virtualenv)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_start_seeds_reports_and_serves(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LINK_SECRET")}
    log = (tmp_path / "start.log").open("w")
    proc = subprocess.Popen(
        # -o: the virtualenv is already installed; do not reinstall into the scratch folder.
        ["make", "start", f"VENV={VENV}", f"SERVE_ARGS=--port {port}", "-o", f"{VENV}/bin/hailong"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                break
            time.sleep(0.5)
        out = (tmp_path / "start.log").read_text(encoding="utf-8")
        assert ready, out[-3000:]
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
        console = httpx.get(f"http://127.0.0.1:{port}/console", timeout=5)
        assert console.status_code in (200, 303)  # the sign-in form, after a redirect
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
    out = (tmp_path / "start.log").read_text(encoding="utf-8")
    assert "A new LINK_SECRET was written to .env" in out
    assert "Báo cáo chỉ số hài lòng" in out  # the satisfaction report
    assert "/?d=" in out  # the demo dossier's web rating link
    assert "hailong staff add" in out  # how to get a console login
    assert (tmp_path / "hailong.db").exists() and (tmp_path / ".demo-seeded").exists()
    assert "LINK_SECRET=" in (tmp_path / ".env").read_text(encoding="utf-8")
