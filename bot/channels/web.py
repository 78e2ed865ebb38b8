"""The web chat channel: a page at `/` and a small JSON API over the same engine.

Anyone can try hailong in a browser, no account needed; it is also the channel of the
README's demo. The page keeps a random session id in localStorage: that id is the chat's
external id, so it is a bearer secret (128 random bits) and validated strictly.

Delivery. The service writes replies to the outbox like any channel. The web has nothing
to push to, so replies travel back in the HTTP response of the request that caused them
(no sender task, nothing in process memory, so any worker can answer). What comes later (a
unit's answer to a complaint) waits in the outbox: the page asks for it every 15 s.
The page sends the id of the last reply it shows (`after`) and gets every reply after it,
pending or already handed out; pending ones are then marked sent. A response lost on the
way is fetched again by the retried request, and the page drops ids it already has. Each
message carries a client-made `message_id`, so a retried POST is processed once.

Routes: GET / (the page), GET /static/web/* (script, style), POST /api/v1/chat (one
message in, replies out), POST /api/v1/chat/photo (a photo for a complaint, as a data URL:
JPEG, PNG or WebP by their first bytes, at most WEB_PHOTO_MAX_BYTES, kept in the database),
GET /api/v1/chat/messages (the chat so far, after a reload, and the page's polling).
The web channel also installs the dossier API (bot/dossier_api.py): it is the plugin that
is always on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from bot import dossier_api
from bot import messages as msg
from bot.engine import Inbound
from bot.http_json import body_schema, read_json
from bot.links import make_resolver
from storage import complaints as complaint_store
from storage import webchat
from storage.db import session_scope
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.channels.context import AppContext

CHANNEL = "web"
STATIC = Path(__file__).parent / "static" / "web"
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
MAX_HISTORY = 500
ID_MAX = 2**62  # outbox ids are 64-bit: a larger `after` is refused, not sent to the database
# Longer than the engine's answer limit, so the citizen is told "too long" in Vietnamese
# instead of getting a bare 422; a bound all the same.
MAX_TEXT = 8000

SECURITY_HEADERS = {
    # Everything comes from this server; the ?d= token must not leak through a Referer.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class ChatIn(BaseModel):
    """One message from the page: typed `text` or a tapped button's `choice`."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=16, max_length=64, pattern=ID_PATTERN)
    message_id: str = Field(min_length=8, max_length=64, pattern=ID_PATTERN)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    choice: str | None = Field(default=None, min_length=1, max_length=64)
    after: int = Field(
        default=0, ge=0, le=ID_MAX, description="Id of the last reply the page shows"
    )

    @model_validator(mode="after")
    def _one_of_text_or_choice(self) -> ChatIn:
        if (self.text is None) == (self.choice is None):
            raise ValueError("give exactly one of text or choice")
        return self


class PhotoIn(BaseModel):
    """A photo for a complaint, as a data URL (JPEG, PNG or WebP), with an optional caption."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=16, max_length=64, pattern=ID_PATTERN)
    message_id: str = Field(min_length=8, max_length=64, pattern=ID_PATTERN)
    image: str = Field(min_length=16, description="data:image/jpeg;base64,... (size-limited)")
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    after: int = Field(default=0, ge=0, le=ID_MAX)


# The first bytes of each image type accepted: what the file is, not what it claims to be.
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def image_type(data: bytes) -> str | None:
    """The content type of JPEG, PNG or WebP bytes; None for anything else."""
    for magic, kind in _IMAGE_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_photo(image: str, max_bytes: int) -> tuple[str, bytes]:
    """The type and bytes of a data-URL photo; HTTPException saying what is wrong."""
    head, sep, encoded = image.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise HTTPException(422, "image must be a base64 data URL (data:image/...;base64,...)")
    if len(encoded) > (max_bytes * 4) // 3 + 4:
        raise HTTPException(413, f"photo larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(422, "image is not valid base64") from exc
    kind = image_type(data)
    if kind is None:
        raise HTTPException(415, "only JPEG, PNG or WebP photos are accepted")
    return kind, data


class ButtonOut(BaseModel):
    label: str
    payload: str


class MessageOut(BaseModel):
    id: int
    text: str
    buttons: list[ButtonOut]


class ChatOut(BaseModel):
    duplicate: bool = Field(description="This message_id was already processed")
    messages: list[MessageOut]


def dedup_key(session_id: str, message_id: str) -> str:
    """The inbound id stored for de-duplication: scoped to the session, within 64 chars."""
    # Hashing keeps it short and stops one page from claiming another session's ids.
    return hashlib.sha256(f"{session_id}:{message_id}".encode()).hexdigest()[:48]


def render_page() -> str:
    """The chat page with the catalogue's wording filled in."""
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    words = {name: getattr(msg, name) for name in dir(msg) if name.startswith("WEB_")}
    page = template
    for name, value in words.items():
        page = page.replace("{{" + name + "}}", html.escape(value))
    # The script reads its wording from a JSON data block; "<" escaped so it cannot close it.
    ui = json.dumps(words, ensure_ascii=False).replace("<", "\\u003c")
    return page.replace("{{UI_JSON}}", ui)


class WebChannel:
    """The web chat plugin of `hailong serve`; always enabled."""

    name = CHANNEL

    @classmethod
    def enabled(cls, _settings: object) -> bool:
        """The web chat needs no credentials: it always runs."""
        return True

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.resolve = make_resolver(ctx.settings)
        self.page = render_page()

    def install(self, app: FastAPI) -> None:
        """Add the page, its static files, the chat API and the dossier API."""
        app.include_router(self._router())
        app.include_router(dossier_api.router(self.ctx.engine, self.ctx.settings))
        app.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")

    async def start(self) -> None:
        """Nothing runs in the background: replies go out in HTTP responses."""

    async def stop(self) -> None:
        """Nothing to stop."""

    # --- the work: turns on the writer thread, reads in the threadpool ---

    async def take_turn(self, body: ChatIn) -> ChatOut:
        inbound = (
            Inbound(choice=body.choice) if body.choice is not None else Inbound(body.text or "")
        )
        return await self._turn(body.session_id, body.message_id, inbound, body.after)

    async def _turn(
        self, session_id: str, message_id: str, inbound: Inbound, after: int
    ) -> ChatOut:
        """One message's turn, then every reply the page has not shown yet."""
        outcome = await self.ctx.turns.handle(
            CHANNEL,
            session_id,
            inbound,
            message_id=dedup_key(session_id, message_id),
            resolve=self.resolve,
        )
        messages = await run_in_threadpool(self.hand_out, session_id, after)
        return ChatOut(duplicate=outcome.duplicate, messages=messages)

    async def take_photo(self, body: PhotoIn) -> ChatOut:
        """A photo: kept in the database under a key of its message, then a turn with it."""
        kind, data = decode_photo(body.image, self.ctx.settings.web_photo_max_bytes)
        key = dedup_key(body.session_id, "photo:" + body.message_id)[:32]
        await run_in_threadpool(self._keep_photo, key, body.session_id, kind, data)
        inbound = Inbound(text=body.text or "", attachments=(("upload", key),))
        return await self._turn(body.session_id, body.message_id, inbound, body.after)

    def _keep_photo(self, key: str, session_id: str, kind: str, data: bytes) -> None:
        with session_scope(self.ctx.engine) as session:
            complaint_store.save_upload(session, key, CHANNEL, session_id, kind, data)

    def hand_out(self, session_id: str, after: int) -> list[MessageOut]:
        with session_scope(self.ctx.engine) as session:
            found = webchat.messages_after(session, CHANNEL, session_id, after, MAX_HISTORY)
            pending = [m.id for m in found if m.pending]
            erase = [m.id for m in found if m.pending and m.payload.get("erase")]
            webchat.mark_handed_out(session, pending, utcnow(), erase)
        return [_message_out(m.id, m.payload) for m in found]

    def _router(self) -> APIRouter:
        api = APIRouter()

        @api.get("/", response_class=HTMLResponse, include_in_schema=False)
        def page() -> HTMLResponse:
            return HTMLResponse(self.page, headers=SECURITY_HEADERS)

        @api.post(
            "/api/v1/chat",
            response_model=ChatOut,
            tags=["web chat"],
            openapi_extra=body_schema(ChatIn),
            responses={400: {"description": "Malformed JSON"}, 422: {"description": "Invalid"}},
        )
        async def chat(request: Request) -> ChatOut:
            """Send one message (typed text or a button's payload); get the replies back.

            `/start` begins (or resumes); `/start <token>` rates the dossier of a signed link.
            """
            body = await read_json(request, ChatIn)
            try:
                return await self.take_turn(body)
            except RuntimeError as exc:  # the service gave up after repeated conflicts
                raise HTTPException(503, "busy, please retry", {"Retry-After": "5"}) from exc

        @api.post("/api/v1/chat/photo", response_model=ChatOut, tags=["web chat"])
        async def photo(request: Request) -> ChatOut:
            """Send a photo for a complaint (JPEG, PNG or WebP as a data URL, at most
            WEB_PHOTO_MAX_BYTES), optionally with a caption; get the replies back."""
            limit = (self.ctx.settings.web_photo_max_bytes * 4) // 3 + 16_384
            body = await read_json(request, PhotoIn, max_bytes=limit)
            try:
                return await self.take_photo(body)
            except RuntimeError as exc:
                raise HTTPException(503, "busy, please retry", {"Retry-After": "5"}) from exc

        @api.get("/api/v1/chat/messages", response_model=ChatOut, tags=["web chat"])
        def messages(
            session_id: Annotated[str, Query(min_length=16, max_length=64, pattern=ID_PATTERN)],
            after: Annotated[int, Query(ge=0, le=ID_MAX)] = 0,
        ) -> ChatOut:
            """The chat's replies after `after` (the whole chat for 0), e.g. after a reload."""
            return ChatOut(duplicate=False, messages=self.hand_out(session_id, after))

        return api


def _message_out(message_id: int, payload: dict[str, Any]) -> MessageOut:
    buttons = [
        ButtonOut(label=str(b["label"]), payload=str(b["payload"]))
        for b in payload.get("buttons", [])
        if not str(b["payload"]).startswith("@")  # a Telegram-only button (share contact)
    ]
    return MessageOut(id=message_id, text=str(payload.get("text", "")), buttons=buttons)
