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
