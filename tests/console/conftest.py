"""Console tests: the real app (`hailong.server.create_app`) over FastAPI's TestClient,
against a migrated database with the shipped catalogue, staff with console logins, and
complaints stored the way the desk stores them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from base.settings import Settings
from complaints import lifecycle as lc
from console.sessions import hash_password
from hailong.server import create_app
from nlp.pii import mask_pii
from storage import complaints as store
from storage import migrate
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import make_engine, session_scope
from storage.types import utcnow

PASSWORD = "mật-khẩu-đủ-dài-42"
SECRET = "s" * 40
POLICY = lc.Policy()


def settings_for(url: str, **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url=url, console_secret=SECRET, **extra)  # type: ignore[call-arg]


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    """A migrated, catalogued database (SQLite and PostgreSQL)."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Engine]:
    """The same on SQLite only, for tests of pages rather than of the database."""
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    yield engine
    engine.dispose()


def app_client(engine: Engine, base_url: str = "http://testserver", **extra: Any) -> TestClient:
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(settings_for(url, **extra))
    return TestClient(app, base_url=base_url, follow_redirects=False)


def add_login(
    engine: Engine,
    email: str,
    *,
    unit: str | None = "SXD",
    role: str = "staff",
    telegram_id: int | None = None,
    name: str | None = None,
) -> int:
    with session_scope(engine) as session:
        staff = store.add_staff(
            session,
            name=name or email.split("@")[0],
            unit_code=unit,
            role=role,
            telegram_id=telegram_id,
            email=email,
            password_hash=hash_password(PASSWORD),
        )
        assert staff.id is not None
        return staff.id


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf_of(form.text)},
    )


def signed_in(engine: Engine, email: str, **extra: Any) -> TestClient:
    client = app_client(engine, **extra)
    response = login(client, email)
    assert response.status_code == 303, response.text
    return client


def csrf_for(client: TestClient, path: str = "/console") -> str:
    return csrf_of(client.get(path).text)


@dataclass(frozen=True)
class Seeded:
    id: int
    code: str


def seed(
    engine: Engine,
    unit: str = "SXD",
    *,
    text: str = "Ổ gà lớn trên đường Lê Lợi, gọi 0901234567",
    received_at: datetime | None = None,
    ward: tuple[str, str] | None = None,
    chat: str = "8001",
    photos: list[list[str]] | None = None,
    location: tuple[float, float] | None = None,
) -> Seeded:
    """A citizen's complaint routed to `unit`, stored as `ComplaintDesk.submit` stores it."""
    at = received_at or utcnow()
    routing = lc.Routing(unit, 0.82, unit, False)
    new, entry, _ = lc.submit(routing, at, POLICY)
    with session_scope(engine) as session:
        target = store.unit_by_code(session, unit)
        assert target is not None
        year = at.astimezone(POLICY.tz).year
        number = store.next_number(session, year)
        latitude, longitude = location or (None, None)
        values: dict[str, Any] = {
            "key": f"seed-{year}-{number}",
            "status": new.status.value,
            "track": new.track.value,
            "anonymous": False,
            "origin": "chat",
            "unit_id": target.id,
            "units_involved": list(new.units_involved),
            "predicted_unit": unit,
            "confidence": 0.82,
            "candidates": [[unit, 0.82], ["SNNMT", 0.1]],
            "routed_automatically": True,
            "ward_code": ward[0] if ward else None,
            "ward_name": ward[1] if ward else None,
            "text": text,
            "masked_text": mask_pii(text),
            "photos": photos or [],
            "received_at": at,
            "due_at": new.due_at,
            "next_check_at": lc.next_check(new, POLICY),
            "updated_at": at,
            "year": year,
            "seq": number,
            "code": store.tracking_code(year, number),
            "channel": "telegram",
            "external_id": chat,
            "contact_name": "Nguyễn Văn An",
            "contact_phone": "0901234567",
            "latitude": latitude,
            "longitude": longitude,
        }
        row = store.save_new(session, values, None)
        store.add_history(session, row, entry)
        assert row.id is not None and row.code is not None
        return Seeded(row.id, row.code)


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)
