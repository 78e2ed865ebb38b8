"""A real `hailong serve` app under uvicorn on 127.0.0.1, on each database backend."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from base.settings import Settings
from hailong.server import create_app
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import session_scope

API_KEY = "test-key-6a1f0c"
LINK_SECRET = "test-link-secret-1b7e-0123456789abcdef"
BOT_USERNAME = "hailong_test_bot"
OA_ID = "4318005"


# For behaviour that does not depend on the database: run it on SQLite only, to keep the
# suite fast (the end-to-end tests cover PostgreSQL).
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Live:
    """A running server and what the test needs to talk to it."""

    url: str
    settings: Settings
    engine: Engine
    http: httpx.Client

    def register(self, body: dict[str, Any], key: str | None = API_KEY) -> httpx.Response:
        headers = {"X-API-Key": key} if key is not None else {}
        return self.http.post("/api/v1/dossiers", json=body, headers=headers)


@contextmanager
def serve(settings: Settings, sock: socket.socket) -> Iterator[str]:
    """Serve `create_app(settings)` on a bound socket until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield settings.public_base_url
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def bound_socket() -> socket.socket:
    """A socket on a free loopback port, bound now so no other process can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def seed_catalogue(engine: Engine) -> None:
    """The shipped units and procedures, as an operator would load them."""
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())


@pytest.fixture
def start_server(engine: Engine, db_url: str) -> Iterator[Callable[..., Live]]:
    """Start a server on the test's database; keyword arguments override settings."""
    seed_catalogue(engine)
    stack: list[Any] = []

    def start(**overrides: Any) -> Live:
        sock = bound_socket()
        port = sock.getsockname()[1]
        values: dict[str, Any] = {
            "database_url": db_url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "api_keys": [API_KEY, "second-key"],
            "link_secret": LINK_SECRET,
            "telegram_bot_username": BOT_USERNAME,
            "zalo_oa_id": OA_ID,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        cm = serve(settings, sock)
        url = cm.__enter__()
        stack.append(cm)
        http = httpx.Client(base_url=url, timeout=30)
        stack.append(http)
        return Live(url, settings, engine, http)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def live(start_server: Callable[..., Live]) -> Live:
    """A server with API keys, a link secret, Telegram and Zalo link settings."""
    return start_server()
