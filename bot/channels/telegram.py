"""The Telegram channel: a webhook (or long polling) in front of the conversation service.

    Telegram ──POST /webhooks/telegram──▶ secret check ─▶ Update.de_json ─▶ Inbound
        ▲                                                                    │
        │                                  ConversationService.handle (one transaction:
        │                                  de-dup on update_id, state, answers, outbox)
        └── sendMessage ◀── OutboxWorker (rate limits, retries) ◀── outbox ◀─┘

PTB is used for its Bot API objects and client only (`Application` built with
`updater(None)`, started in the app's lifespan): conversation state lives in the database,
not in `ConversationHandler` persistence, so several workers can serve one bot.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBDeprecationWarning

from bot import http_json
from bot.asgi import header
from bot.batcher import TurnBatcher
from bot.engine import Inbound
from bot.links import make_resolver
from bot.sender import DeliveryError, OutboxWorker, RateLimits
from bot.service import Outcome, PayloadResolver

if TYPE_CHECKING:
    from hailong.config import Settings
    from hailong.server import AppContext

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_HEADER_KEY = SECRET_HEADER.lower().encode()
_OK = b'{"ok":true}'
_FORBIDDEN = b'{"ok":false,"error":"forbidden"}'
CALLBACK_DATA_MAX = 64  # bytes, Bot API limit
ALLOWED_UPDATES = ("message", "callback_query")
COMMANDS = ("/start", "/help", "/stop")


def build_application(settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application for the bot, with no Updater (updates arrive by our webhook)."""
    base = settings.telegram_base_url
    file_base = base.replace("/bot", "/file/bot", 1) if base.endswith("/bot") else base
    return (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(base)
        .base_file_url(file_base)
        .updater(None)
        .build()
    )


def keyboard(buttons: list[dict[str, str]]) -> InlineKeyboardMarkup | None:
    """Inline keyboard of a reply: short labels (numbers) share a row, others one per row."""
    usable = []
    for b in buttons:
        if len(b["payload"].encode()) > CALLBACK_DATA_MAX:
            log.error("button payload over 64 bytes dropped: %r", b["payload"][:80])
            continue
        usable.append(InlineKeyboardButton(b["label"], callback_data=b["payload"]))
    if not usable:
        return None
    if all(len(b.text) <= 4 for b in usable):
        return InlineKeyboardMarkup([usable])
    return InlineKeyboardMarkup([[b] for b in usable])


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22.2+ warns that the type becomes timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramTransport:
    """Sends outbox payloads with sendMessage; maps Bot API errors to `DeliveryError`."""

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        """Send one reply; the platform's message id on success."""
        try:
            message = await self.bot.send_message(
                chat_id=int(recipient),
                text=payload["text"],
                reply_markup=keyboard(payload.get("buttons", [])),
            )
        except RetryAfter as exc:
            raise DeliveryError(f"429: {exc}", retry_after=_retry_seconds(exc)) from exc
        except Forbidden as exc:  # blocked by the user, or kicked: retrying cannot help
            raise DeliveryError(f"forbidden: {exc}", permanent=True) from exc
        except BadRequest as exc:  # chat not found, bad text: retrying cannot help
            raise DeliveryError(f"bad request: {exc}", permanent=True) from exc
        except TelegramError as exc:  # 5xx, timeouts, network: retry with backoff
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return str(message.message_id)


def translate(update: Mapping[str, Any]) -> tuple[str, Inbound] | None:
    """The chat id and engine input of an update (its JSON); None for what the bot ignores.

    Reads the few fields it needs from the JSON itself: `Update.de_json` builds every object
    of the update and cost 84 µs a message, a quarter of the webhook's whole budget.
    """
    query = update.get("callback_query")
    if isinstance(query, dict):
        data = query.get("data")
        if not isinstance(data, str) or not data:
            return None
        chat = _field(query.get("message"), "chat", "id")
        if chat is None:  # the message is too old to be sent along: answer the user instead
            chat = _field(query, "from", "id")
        return (str(chat), Inbound(choice=data)) if isinstance(chat, int) else None
    message = update.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    chat = _field(message, "chat", "id")
    if not isinstance(text, str) or not isinstance(chat, int):
        return None  # edits, stickers, photos, channel posts: not part of a survey
    if _field(message, "chat", "type") != "private":
        return None  # groups
    text = text.strip()
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # "/start@hailong_bot" in some clients
        text = f"{command} {rest.strip()}".strip() if command in COMMANDS else text
    return str(chat), Inbound(text=text)


def _field(obj: object, *path: str) -> object:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class TelegramChannel:
    """The Telegram plugin of `hailong serve` (on when TELEGRAM_BOT_TOKEN is set)."""

    name = CHANNEL

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Telegram runs when a bot token is configured."""
        return bool(settings.telegram_bot_token)

    def __init__(self, ctx: AppContext) -> None:
        self.settings = ctx.settings
        self.turns: TurnBatcher = ctx.turns
        self.fast_routes = ctx.fast_routes
        self.resolve: PayloadResolver = make_resolver(ctx.settings)
        self.application = build_application(ctx.settings)
        self.worker = OutboxWorker(
            ctx.engine,
            TelegramTransport(self.application.bot),
            max_attempts=ctx.settings.outbox_max_attempts,
            base_delay=ctx.settings.outbox_retry_base_seconds,
            lease_seconds=ctx.settings.outbox_lease_seconds,
            limits=RateLimits(per_second=30, per_chat_interval=1.0, per_chat_burst=3),
        )
        self._secret = ctx.settings.telegram_webhook_secret.encode()
        self._tasks: set[asyncio.Task[None]] = set()
        self._init_task: asyncio.Task[None] | None = None

    @property
    def bot(self) -> Bot:
        return self.application.bot

    def install(self, app: FastAPI) -> None:
        """Add POST /webhooks/telegram (served by the fast path, see `bot.asgi`)."""
        self.fast_routes["/webhooks/telegram"] = self.receive

        @app.post("/webhooks/telegram", tags=["channels"], summary="Telegram webhook")
        async def telegram_webhook(request: Request) -> Response:
            """Updates from Telegram; needs the secret header set by `set-webhook`."""
            status, payload = await self.receive(request.scope["headers"], await request.body())
            return Response(payload, status_code=status, media_type="application/json")

    async def receive(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, bytes]:
        """One webhook request: the secret checked, the update's turn committed."""
        if not self.secret_ok(header(headers, SECRET_HEADER_KEY)):
            return 403, _FORBIDDEN
        try:
            data = http_json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return 400, json.dumps({"ok": False, "error": f"bad update: {exc}"}).encode()
        await self.process(data)
        return 200, _OK

    def secret_ok(self, header: str | None) -> bool:
        """Constant-time check of the webhook secret; no secret configured refuses all."""
        if not self._secret or header is None:
            return False
        return hmac.compare_digest(header.encode(), self._secret)

    async def process(self, update: Mapping[str, Any]) -> Outcome | None:
        """Run one update (its JSON) through the service; webhook and polling share this."""
        translated = translate(update)
        if translated is None:
            return None
        chat_id, inbound = translated
        outcome = await self.turns.handle(
            CHANNEL, chat_id, inbound, message_id=str(update["update_id"]), resolve=self.resolve
        )
        if outcome.outbox_ids:
            self.worker.wake()
        if inbound.choice is not None:
            # Answered even for a redelivery: the first answer may never have gone out.
            try:
                query = CallbackQuery.de_json(update["callback_query"], self.bot)
            except (TypeError, KeyError, ValueError) as exc:  # the turn is stored: only log
                log.warning("callback query %s not answered: %r", update["update_id"], exc)
            else:
                self._background(self._acknowledge(query, edit=not outcome.duplicate))
        return outcome

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acknowledge(self, query: CallbackQuery, *, edit: bool) -> None:
        """Stop the button's spinner and show the chosen answer under the question."""
        try:
            await self.bot.answer_callback_query(query.id)
        except TelegramError as exc:  # too old, or Telegram down: cosmetic, so only log
            log.info("answerCallbackQuery failed: %s", exc)
        message = query.message
        if not edit or not isinstance(message, Message) or not message.text:
            return
        label = _label_of(message.reply_markup, query.data)
        if label is None:
            return
        try:
            await self.bot.edit_message_text(
                f"{message.text}\n\n✅ {label}",
                chat_id=message.chat.id,
                message_id=message.message_id,
                reply_markup=None,
            )
        except TelegramError as exc:
            log.info("editMessageText failed: %s", exc)

    async def start(self) -> None:
        """Initialise the bot (retried in the background if Telegram is unreachable) and
        start the sender loop."""
        self._init_task = asyncio.create_task(self._initialise())
        await self.worker.start()

    async def _initialise(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.application.initialize()
                return
            except TelegramError as exc:
                log.warning("Telegram getMe failed (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)

    async def stop(self) -> None:
        """Stop the sender (unsent messages stay in the outbox) and close the client."""
        await self.worker.stop()
        if self._init_task is not None:
            self._init_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()


def _label_of(markup: InlineKeyboardMarkup | None, data: str | None) -> str | None:
    if markup is None or data is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
