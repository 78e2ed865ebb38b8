"""Fake Telegram Bot API and Zalo OpenAPI/OAuth servers, and uvicorn on 127.0.0.1 in a thread.

The fakes speak real HTTP, record every call and can be told to fail for a while, so the
channels are tested with their real clients (PTB, httpx) and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(
    app: Any, port: int | None = None, *, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL.
    `lifespan="off"`: the app's start-up (channels, scheduler) is not run."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll until `predicate()` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def _form(request: Request) -> list[tuple[str, str]]:
    """A url-encoded form body (parsed by hand: python-multipart is not a dependency)."""
    return urllib.parse.parse_qsl((await request.body()).decode(), keep_blank_values=True)


async def _params(request: Request) -> dict[str, Any]:
    """Bot API parameters from a form or JSON body (PTB sends forms with JSON values)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return dict(json.loads(body)) if body else {}
    out: dict[str, Any] = {}
    for key, text in await _form(request):
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


@dataclass
class FakeTelegram:
    """A Bot API server: getMe, sendMessage, answerCallbackQuery, editMessageText,
    deleteMessage, webhooks, getUpdates. `failures` is a list of HTTP codes that the next
    sendMessage calls get; `refusals` maps a message id to the 400 description its
    deleteMessage gets."""

    token: str = "123456:TEST-token"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int = 1
    refusals: dict[int, str] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/bot{token}/{method}")
        async def call(token: str, method: str, request: Request) -> JSONResponse:
            params = await _params(request)
            if token != self.token:
                return JSONResponse({"ok": False, "error_code": 401}, status_code=401)
            with self.lock:
                return self._answer(method, params)

        return app

    def _answer(self, method: str, params: dict[str, Any]) -> JSONResponse:
        if method == "sendMessage" and self.failures:
            code = self.failures.pop(0)
            self.calls.append((f"{method}!{code}", params))
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": "fake"}
            if code == 429:
                body["parameters"] = {"retry_after": self.retry_after}
                body["description"] = f"Too Many Requests: retry after {self.retry_after}"
            return JSONResponse(body, status_code=code)
        refused = self.refusals.get(int(params.get("message_id") or 0))
        if method == "deleteMessage" and refused:
            self.calls.append((f"{method}!400", params))
            body = {"ok": False, "error_code": 400, "description": refused}
            return JSONResponse(body, status_code=400)
        self.calls.append((method, params))
        result: Any = True
        if method == "getMe":
            result = {"id": 123456, "is_bot": True, "first_name": "hailong", "username": "hl_bot"}
        elif method in ("sendMessage", "editMessageText", "sendPhoto"):
            chat = int(params["chat_id"])
            new = method != "editMessageText"
            mid = next(self._ids) if new else int(params["message_id"])
            params["_message_id"] = mid
            result = {
                "message_id": mid,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "text": params.get("text", ""),
            }
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                # As Telegram does: a sent Message carries inline keyboards only.
                result["reply_markup"] = markup
        elif method == "getUpdates":
            offset = int(params.get("offset") or 0)
            result = [u for u in self.updates if u["update_id"] >= offset]
            if not result:
                time.sleep(0.05)
        return JSONResponse({"ok": True, "result": result})

    def sent(self, chat: int | None = None) -> list[dict[str, Any]]:
        """Messages delivered (sendMessage answered ok), optionally to one chat."""
        with self.lock:
            return [
                p
                for m, p in self.calls
                if m == "sendMessage" and (chat is None or int(p["chat_id"]) == chat)
            ]

    def methods(self) -> list[str]:
        with self.lock:
            return [m for m, _ in self.calls]


@dataclass
class FakeZalo:
    """Zalo OpenAPI (v3 cs messages) and OAuth (v4 token refresh). An access token is valid
    until refreshed; each refresh token works once. `errors` are Zalo error codes (returned
    with HTTP 200) that the next message calls get. ZNS (`POST /message/template`, same
    access token, -124 when it is not valid) takes its own `zns_errors`."""

    access_token: str = "access-0"
    refresh_token: str = "refresh-0"
    calls: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    refreshes: int = 0
    zns_errors: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/message/template")
        async def zns(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            headers = dict(request.headers)
            with self.lock:
                if headers.get("access_token") != self.access_token:
                    self.calls.append(("zns!token", body, headers))
                    return JSONResponse({"error": -124, "message": "Access token is invalid"})
                if self.zns_errors:
                    code = self.zns_errors.pop(0)
                    self.calls.append((f"zns!{code}", body, headers))
                    return JSONResponse({"error": code, "message": f"fake error {body['phone']}"})
                self.calls.append(("zns", body, headers))
                n = sum(1 for c in self.calls if c[0] == "zns")
                data = {"msg_id": f"zns{n}", "sent_time": str(int(time.time() * 1000))}
                return JSONResponse({"error": 0, "message": "Success", "data": data})

        @app.post("/v3.0/oa/message/cs")
        async def send(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            headers = dict(request.headers)
            with self.lock:
                if headers.get("access_token") != self.access_token:
                    self.calls.append(("cs!token", body, headers))
                    return JSONResponse({"error": -216, "message": "Access token is invalid"})
                if self.errors:
                    code = self.errors.pop(0)
                    self.calls.append((f"cs!{code}", body, headers))
                    return JSONResponse({"error": code, "message": "fake error"})
                self.calls.append(("cs", body, headers))
                n = sum(1 for c in self.calls if c[0] == "cs")
                data = {"message_id": f"z{n}"}
                return JSONResponse({"error": 0, "message": "Success", "data": data})

        @app.post("/v4/oa/access_token")
        async def refresh(request: Request) -> JSONResponse:
            form = dict(await _form(request))
            headers = dict(request.headers)
            with self.lock:
                self.calls.append(("oauth", {k: str(v) for k, v in form.items()}, headers))
                if form.get("refresh_token") != self.refresh_token:
                    return JSONResponse({"error": -14014, "error_name": "Invalid refresh token"})
                self.refreshes += 1
                self.access_token = f"access-{self.refreshes}"
                self.refresh_token = f"refresh-{self.refreshes}"
                return JSONResponse(
                    {
                        "access_token": self.access_token,
                        "refresh_token": self.refresh_token,
                        "expires_in": "90000",
                    }
                )

        return app

    def sent(self, user: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                b
                for m, b, _ in self.calls
                if m == "cs" and (user is None or b["recipient"]["user_id"] == user)
            ]

    def zns_sent(self) -> list[dict[str, Any]]:
        """ZNS template messages accepted."""
        with self.lock:
            return [b for m, b, _ in self.calls if m == "zns"]
