"""`hailong serve`'s app: health and readiness against a real database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from base.settings import Settings
from hailong.server import create_app
from storage import migrate
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import make_engine, session_scope


def test_health_and_readiness_follow_the_schema(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and "schema" in not_ready.json()["reason"]
        engine = make_engine(sqlite_url)
        migrate.upgrade(engine)
        no_units = client.get("/readyz")  # complaints could not be routed anywhere
        assert no_units.status_code == 503 and "catalogue load" in no_units.json()["reason"]
        with session_scope(engine) as session:
            upsert_catalogue(session, load_catalogue())
        assert client.get("/readyz").json() == {"status": "ready"}
        assert client.get("/openapi.json").json()["info"]["title"] == "hailong"


def test_readiness_reports_an_unreachable_database() -> None:
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"))
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_the_access_log_hides_web_link_tokens() -> None:
    import logging

    from hailong.server import HideLinkTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/?d=AbC123-secret_token&x=1", "1.1", 200),
        None,
    )
    assert HideLinkTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /?d=…&x=1 HTTP/1.1" 200'


def test_a_hanging_database_is_a_503_with_retry_after_not_a_hang() -> None:
    """A PostgreSQL that accepts connections and never answers: every face answers 503 within
    the connect timeout, and asks to retry."""
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])  # accepted, never answered
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{port}/hailong",
        db_connect_timeout_seconds=1,
        telegram_bot_token="123:abc",
        telegram_webhook_secret="s3cret",
        telegram_base_url="http://127.0.0.1:9/bot",
    )
    try:
        with TestClient(create_app(settings)) as client:
            started = time.monotonic()
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.headers["Retry-After"]
            chat = client.post(
                "/api/v1/chat",
                json={"session_id": "a" * 32, "message_id": "m" * 16, "text": "xin chào"},
            )
            assert chat.status_code == 503 and chat.headers["Retry-After"]
            update = {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "text": "hi",
                    "chat": {"id": 5, "type": "private"},
                },
            }
            hook = client.post(
                "/webhooks/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
            )
            assert hook.status_code == 503 and hook.headers["retry-after"]
            assert time.monotonic() - started < 30  # bounded by the timeouts, not hanging
    finally:
        stop.set()
        server.close()
        for s in held:
            s.close()


def migrated_settings(url: str) -> Settings:
    """Settings for an app on a migrated database, from nothing but `url` (no .env)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]


def test_docs_use_only_local_assets_that_answer(sqlite_url: str) -> None:
    """/docs was blank offline: Swagger UI came from a CDN (issue 14: 25). Every URL the page
    names is on this server and answers 200."""
    import re

    with TestClient(create_app(migrated_settings(sqlite_url))) as client:
        response = client.get("/docs")
        assert response.status_code == 200
        html = response.text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        urls += re.findall(r"""\burl: ?["']([^"']+)["']""", html)  # the spec Swagger UI reads
        assert "/openapi.json" in urls and len(urls) >= 4, urls  # script, style, icon, spec
        assert not re.search(r"https?://|//cdn", html)
        assert '"validatorUrl": null' in html  # no spec sent to swagger.io's validator
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            assert client.get(url).status_code == 200, url
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404  # ReDoc would fetch its CDN's logo
        bundle = client.get("/static/docs/swagger-ui-bundle.js")
        assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 100_000


def test_the_site_icon_is_served(sqlite_url: str) -> None:
    with TestClient(create_app(migrated_settings(sqlite_url))) as client:
        icon = client.get("/favicon.ico")
        page = client.get("/")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert '<link rel="icon" href="/favicon.ico">' in page.text
