"""Open311 tests: a real `hailong serve` under uvicorn on 127.0.0.1 (tests/web's server), the
catalogue loaded, the router trained once per session, one Open311 API key."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import Citizen, Complaint, OutboxMessage
from tests.web.conftest import Live, start_server  # noqa: F401  (a fixture, used below)

KEY = "open311-test-key-9c2e"
BASE = "/open311/v2"


@pytest.fixture
def api(start_server: Callable[..., Live], nlp_model_dir: Path) -> Live:  # noqa: F811
    return start_server(open311_api_keys=[KEY, "other-key"], nlp_model_dir=nlp_model_dir)


def post(live: Live, fields: dict[str, Any], *, key: str | None = KEY, **kw: Any) -> httpx.Response:
    """POST requests.json form-encoded, as GeoReport v2 says, the key as the `api_key` field."""
    data = {**fields, **({"api_key": key} if key is not None else {})}
    return live.http.post(f"{BASE}/requests.json", data=data, **kw)


def count(engine: Engine, model: Any = Complaint) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())


def stored_nothing(engine: Engine) -> bool:
    return count(engine) == 0 and count(engine, OutboxMessage) == 0 and count(engine, Citizen) == 0


def complaint(engine: Engine, code: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(Complaint).where(Complaint.code == code)).first()  # type: ignore[arg-type]


def _readable(value: Any) -> str:
    """A cell as text, JSON decoded (SQLite keeps JSON with \\u escapes, so a Vietnamese name
    in a payload would not be seen as written)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def traces(engine: Engine, needles: list[str]) -> list[str]:
    """Every table, every column (as the chat deletion's test scans them): 'table: needle'
    for each needle still found."""
    found: list[str] = []
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                blob = " ".join(_readable(v) for v in row).lower()
                found += [f"{name}: {n}" for n in needles if n.lower() in blob]
    return sorted(set(found))
