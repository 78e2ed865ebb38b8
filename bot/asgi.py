"""Webhook routes served ahead of FastAPI, as plain ASGI.

A platform's webhook is the hottest path of `hailong serve`: every citizen message is one
POST. FastAPI's per-request machinery (telemetry, body-limit and exception middleware,
routing, dependency solving, Request and Response objects) is most of a webhook's budget: the
bench's bare endpoint (check a header, parse the JSON) served 6,056 req/s as a FastAPI route
and 9,452 as plain ASGI (wrk, one run). Moving hailong's Telegram webhook here took it from
1,682 to 2,785 req/s on SQLite (bench/webhook_bench.py). So the app (`hailong.server.HailongAPI`)
hands POSTs to the registered paths to `serve` before anything else; `serve` limits the body
size itself; a database that is down or hanging is a 503 with Retry-After (the platform
retries), and any other crash a 500 from uvicorn (logged) like any ASGI app.
The FastAPI routes of the same paths stay, for the OpenAPI description and for any request
the fast path does not take (another method).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from storage.db import UNAVAILABLE

log = logging.getLogger(__name__)

# (headers as sent, lower-case names; body) → (status, JSON body)
Handler = Callable[[list[tuple[bytes, bytes]], bytes], Awaitable[tuple[int, bytes]]]

MAX_BODY = 1024 * 1024  # a Telegram update or Zalo event is a few kB
_TOO_LARGE = b'{"ok":false,"error":"request body too large"}'
_UNAVAILABLE = b'{"ok":false,"error":"database unavailable, retry later"}'
_RETRY_LATER: tuple[type[Exception], ...] = (*UNAVAILABLE, RuntimeError)
RETRY_AFTER = "5"  # seconds: what a 503 asks a client (or a platform) to wait


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of a header (`name` in lower case), decoded as latin-1 like Starlette."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def serve(handler: Handler, scope: Any, receive: Any, send: Any) -> None:
    """Read the body (at most MAX_BODY), run the handler, send its JSON answer."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the client left before sending its body: nothing to do
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            await _respond(send, 413, _TOO_LARGE)
            return
        if not message.get("more_body", False):
            break
    try:
        status, payload = await handler(scope["headers"], bytes(body))
    except _RETRY_LATER as exc:  # the database is down or hanging: the platform retries
        log.warning("webhook answered 503: %s", str(exc).splitlines()[0][:200])
        await _respond(send, 503, _UNAVAILABLE, retry_after=True)
        return
    await _respond(send, status, payload)


async def _respond(send: Any, status: int, payload: bytes, *, retry_after: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    if retry_after:
        headers.append((b"retry-after", RETRY_AFTER.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
