"""Reading a JSON request body with errors a client developer can act on.

FastAPI parses bodies before any dependency runs, so a malformed body would be answered
before the API key is checked. The hailong APIs read the body themselves, after their
checks: malformed JSON → 400, a body of the wrong shape → 422, too large → 413.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from bot.engine.types import SURROGATES

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 64 * 1024


async def read_json(request: Request, model: type[M], max_bytes: int = MAX_BODY) -> M:
    """The request body validated as `model`, or an HTTPException saying what is wrong."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"request body larger than {max_bytes} bytes")
    try:
        data = loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # arrays nested tens of thousands deep: valid, and absurd
        raise HTTPException(400, "request body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise HTTPException(422, "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, _describe(exc)) from exc


def loads(body: bytes | bytearray | str) -> Any:
    """`json.loads`, with lone surrogates ("\\ud800" escaped alone: valid JSON but no
    character, which neither database can encode) replaced by U+FFFD in every string, so a
    forged or broken body cannot fail a write with UnicodeEncodeError."""
    data = json.loads(body)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if b"\\ud" in raw or b"\\uD" in raw:  # a surrogate can only arrive escaped
        return _without_surrogates(data)
    return data


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return SURROGATES.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid request body: " + "; ".join(parts)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` that documents a body read by `read_json`."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
