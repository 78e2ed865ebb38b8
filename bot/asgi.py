"""Webhook routes served ahead of FastAPI, as plain ASGI.

A platform's webhook is the hottest path of `hailong serve`: every citizen message is one
POST. FastAPI's per-request machinery (telemetry, body-limit and exception middleware,
routing, dependency solving, Request and Response objects) is most of a webhook's budget: the
bench's bare endpoint (check a header, parse the JSON) served 6,056 req/s as a FastAPI route
and 9,452 as plain ASGI (wrk, one run). Moving hailong's Telegram webhook here took it from
1,682 to 2,785 req/s on SQLite (bench/webhook_bench.py). So the app (`hailong.server.HailongAPI`)
hands POSTs to the registered paths to `serve` before anything else; `serve` limits the body
size itself, and a handler that crashes is answered 500 by uvicorn (logged) like any ASGI app.
The FastAPI routes of the same paths stay, for the OpenAPI description and for any request
the fast path does not take (another method).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

# (headers as sent, lower-case names; body) → (status, JSON body)
Handler = Callable[[list[tuple[bytes, bytes]], bytes], Awaitable[tuple[int, bytes]]]

MAX_BODY = 1024 * 1024  # a Telegram update or Zalo event is a few kB
_TOO_LARGE = b'{"ok":false,"error":"request body too large"}'


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
    status, payload = await handler(scope["headers"], bytes(body))
    await _respond(send, status, payload)


async def _respond(send: Any, status: int, payload: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
