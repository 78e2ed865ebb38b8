"""`hailong serve`: its arguments, its listening socket, and several workers on PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import pytest

from hailong import server
from tests.test_cli import ROOT, hailong, migrated, one_line_error


def _accept_one(sock: socket.socket, report: Connection) -> None:
    """In a spawned process, as a uvicorn worker: accept with asyncio, report TCP_NODELAY."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                done.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = await loop.create_server(Probe, sock=sock)
        report.send("listening")
        report.send(await asyncio.wait_for(done, 30))
        listener.close()

    asyncio.run(main())


def test_worker_connections_keep_tcp_nodelay() -> None:
    """The socket handed to worker processes makes asyncio set TCP_NODELAY on connections.

    uvicorn's own bound socket does not (uvicorn issue #3149): each keep-alive response then
    waits ~40 ms for the client's delayed ACK.
    """
    config = server._Config("hailong.server:app_factory", factory=True, host="127.0.0.1", port=0)
    sock = config.bind_socket()
    assert sock.proto == socket.IPPROTO_TCP
    sock.listen()
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=_accept_one, args=(sock, theirs))
    child.start()
    try:
        assert ours.poll(60) and ours.recv() == "listening"
        with socket.create_connection(sock.getsockname(), timeout=10):
            assert ours.poll(30)
            assert ours.recv() == 1
    finally:
        child.join(30)
        sock.close()
    assert child.exitcode == 0


def test_several_workers_on_sqlite_are_refused(sqlite_url: str) -> None:
    one_line_error(
        hailong("serve", "--workers", "2", db=migrated(sqlite_url)),
        "several workers need PostgreSQL",
    )


def test_an_unknown_log_level_is_refused(sqlite_url: str) -> None:
    one_line_error(hailong("serve", "--log-level", "loud", db=sqlite_url), "unknown log level")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.postgres
def test_two_workers_serve_on_postgresql(postgres_url: str) -> None:
    """`hailong serve --workers 2`: two worker processes answer; SIGTERM stops them all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": migrated(postgres_url), "LINK_SECRET": "t" * 32}
    assert subprocess.run(
        [sys.executable, "-m", "hailong.cli", "catalogue", "load"], env=env, cwd=ROOT
    ).returncode == 0
    cmd = [sys.executable, "-m", "hailong.cli", "serve", "--workers", "2", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        with httpx.Client(base_url=base) as client:  # one keep-alive connection
            assert all(client.get("/healthz").status_code == 200 for _ in range(20))
        workers = [p for p in _children(proc.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert not any(Path(f"/proc/{p}").exists() for p in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
