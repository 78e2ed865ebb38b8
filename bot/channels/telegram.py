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
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning
from typing_extensions import TypeIs

from bot import http_json
from bot import messages as msg
from bot.asgi import header
from bot.batcher import TurnBatcher
from bot.engine import Inbound
from bot.engine.types import CHOSEN_MARK, EDIT_PREFIX, listed_once
from bot.links import make_resolver
from bot.sender import DeliveryError, Limiter, OutboxWorker, RateLimits
from bot.service import Outcome, PayloadResolver
from bot.staff import GroupUpdate, StaffOutcome, StaffService, is_staff_callback
from bot.text_split import split_text
from storage.complaints import load_upload
from storage.db import session_scope

if TYPE_CHECKING:
    from base.settings import Settings
    from bot.channels.context import AppContext

log = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_HEADER_KEY = SECRET_HEADER.lower().encode()
_OK = b'{"ok":true}'
_FORBIDDEN = b'{"ok":false,"error":"forbidden"}'
CALLBACK_DATA_MAX = 64  # bytes, Bot API limit
TEXT_MAX = 4096  # characters of one message, Bot API limit
ALLOWED_UPDATES = ("message", "callback_query")
COMMANDS = ("/start", "/help", "/stop", "/phananh", "/tracuu", "/xoa", "/huy", "/lienket")
GROUP_TYPES = ("group", "supergroup")


def telegram_limits() -> RateLimits:
    """The Bot API's limits (core.telegram.org/bots/faq): about 30 messages a second overall,
    one a second in a chat (short bursts pass), 20 a minute in a group."""
    return RateLimits(per_second=30, per_chat_interval=1.0, per_chat_burst=3, group_per_minute=20)


class BotApiLimiter(BaseRateLimiter[None]):
    """PTB's hook on every Bot API request of the bot (sendMessage, sendPhoto,
    editMessageText, answerCallbackQuery, ...; PTB never limits getUpdates): each takes its
    slot from one `Limiter`, its chat's and the bot's; a 429 pauses them all."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    async def initialize(self) -> None:
        """Nothing to set up: the limiter is plain state."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for the request's slot, then make it."""
        chat = data.get("chat_id")
        group = isinstance(chat, int) and chat < 0  # group and supergroup ids are negative
        await self.limiter.acquire(None if chat is None else str(chat), group=group)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            self.limiter.pause(_retry_seconds(exc))
            raise


def build_application(
    settings: Settings, limiter: Limiter | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application for the bot, with no Updater (updates arrive by our webhook), whose
    every Bot API call goes through `limiter` (one per bot: pass the same one to the sender)."""
    base = settings.telegram_base_url
    file_base = base.replace("/bot", "/file/bot", 1) if base.endswith("/bot") else base
    return (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(base)
        .base_file_url(file_base)
        .rate_limiter(BotApiLimiter(limiter or Limiter(telegram_limits())))
        .updater(None)
        .build()
    )


def keyboard(
    buttons: list[dict[str, str]],
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline keyboard of a reply: short labels (numbers) share a row, others one per row. A
    request for the user's own contact is a reply keyboard (inline buttons cannot ask it)."""
    share = [b for b in buttons if b["payload"] == "@contact"]
    if share:
        button = KeyboardButton(share[0]["label"], request_contact=True)
        return ReplyKeyboardMarkup([[button]], one_time_keyboard=True, resize_keyboard=True)
    usable = []
    for b in buttons:
        if b["payload"].startswith("@"):
            continue
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

    def __init__(
        self, bot: Bot, load_upload: Callable[[str], tuple[str, bytes] | None] | None = None
    ) -> None:
        self.bot = bot
        self.load_upload = load_upload  # a web chat photo's bytes, by key

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        """Send one reply (a text, a photo, or an edit of a card or of a question tapped);
        the platform's id. The buttons carry the options' numbers, so the text's numbered
        list of them is not repeated above the keyboard."""
        markup = keyboard(payload.get("buttons", []))
        text = payload["text"]
        if isinstance(markup, InlineKeyboardMarkup):
            text = listed_once(text, [b.text for row in markup.inline_keyboard for b in row])
        edit = payload.get("edit_message_id") or _edited(payload.get("buttons", []))
        try:
            if payload.get("delete_message_id"):
                return await self._delete(recipient, int(payload["delete_message_id"]))
            if edit:
                inline = markup if isinstance(markup, InlineKeyboardMarkup) else None
                try:
                    await self.bot.edit_message_text(
                        text[:TEXT_MAX],
                        chat_id=int(recipient),
                        message_id=int(edit),
                        reply_markup=inline,
                    )
                except BadRequest as exc:
                    if "not modified" not in str(exc).lower():
                        raise
                return str(edit)
            photo: str | bytes | None = payload.get("photo")
            if payload.get("photo_upload") and self.load_upload is not None:
                found = await asyncio.to_thread(self.load_upload, str(payload["photo_upload"]))
                if found is None:
                    raise DeliveryError(
                        "photo erased (the citizen deleted their data)", permanent=True
                    )
                photo = found[1]
            if photo:
                message = await self.bot.send_photo(
                    chat_id=int(recipient), photo=photo, caption=payload.get("text")
                )
                return str(message.message_id)
            if markup is None and payload.get("close_keyboard"):
                markup = ReplyKeyboardRemove()  # type: ignore[assignment]
            reply_to = payload.get("reply_to")
            *first, last = split_text(text, TEXT_MAX)
            for piece in first:  # a long answer: the buttons go with its last piece
                await self.bot.send_message(chat_id=int(recipient), text=piece)
            message = await self.bot.send_message(
                chat_id=int(recipient),
                text=last,
                reply_markup=markup,
                reply_parameters=ReplyParameters(int(reply_to), allow_sending_without_reply=True)
                if reply_to
                else None,
            )
        except RetryAfter as exc:
            raise DeliveryError(f"429: {exc}", retry_after=_retry_seconds(exc)) from exc
        except Forbidden as exc:  # blocked by the user, or kicked: retrying cannot help
            raise DeliveryError(f"forbidden: {exc}", permanent=True) from exc
        except BadRequest as exc:  # chat not found, bad text: retrying cannot help
            raise DeliveryError(f"bad request: {exc}", permanent=True) from exc
        except ChatMigrated as exc:  # a group became a supergroup: its old id is gone
            raise DeliveryError(
                f"chat migrated to {exc.new_chat_id}: link the group again (/lienket)",
                permanent=True,
            ) from exc
        except TelegramError as exc:  # 5xx, timeouts, network: retry with backoff
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return str(message.message_id)


    async def _delete(self, recipient: str, message_id: int) -> str:
        """Delete a message the bot sent (a complaint's photo, after a deletion request).
        Already gone is done; one Telegram refuses to delete (older than 48 hours in a group)
        is a permanent failure, dead-lettered with its reason."""
        try:
            await self.bot.delete_message(chat_id=int(recipient), message_id=message_id)
        except BadRequest as exc:
            if "not found" not in str(exc).lower():
                raise
        return str(message_id)


def _edited(buttons: list[dict[str, str]]) -> str | None:
    """The id of the message a reply replaces (a multiple-choice question re-marked), if
    the engine named one (`EDIT_PREFIX`)."""
    for b in buttons:
        ref = b["payload"].removeprefix(EDIT_PREFIX)
        if ref != b["payload"] and ref.isdigit():
            return ref
    return None


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
        tapped = _field(query.get("message"), "message_id")  # a reply may replace it
        ref = str(tapped) if _id_ok(tapped) else None
        return (str(chat), Inbound(choice=data, ref=ref)) if _id_ok(chat) else None
    message = update.get("message")
    chat = _field(message, "chat", "id")
    if not isinstance(message, dict) or not _id_ok(chat):
        return None  # edits, channel posts, ids that are not integers
    if _field(message, "chat", "type") != "private":
        return None  # groups: the staff's side (`group_update`)
    text = message.get("text")
    if not isinstance(text, str):
        return _media(message, str(chat))
    text = text.strip()
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # "/start@hailong_bot" in some clients
        text = f"{command} {rest.strip()}".strip() if command in COMMANDS else text
    return str(chat), Inbound(text=text)


def _media(message: dict[str, Any], chat: str) -> tuple[str, Inbound] | None:
    """A photo (its largest size's file id, the caption as text), a location, or the user's
    own contact; None for stickers and the rest."""
    caption = message.get("caption")
    text = caption.strip() if isinstance(caption, str) else ""
    photos = message.get("photo")
    if isinstance(photos, list) and photos and isinstance(photos[-1], dict):
        file_id = photos[-1].get("file_id")
        if isinstance(file_id, str) and 0 < len(file_id) <= 512:
            return chat, Inbound(text=text, attachments=(("photo", file_id),))
    location = message.get("location")
    if isinstance(location, dict):
        lat, lon = location.get("latitude"), location.get("longitude")
        numbers = isinstance(lat, int | float) and isinstance(lon, int | float)
        if numbers and -90 <= lat <= 90 and -180 <= lon <= 180:  # type: ignore[operator]
            return chat, Inbound(location=(float(lat), float(lon)))  # type: ignore[arg-type]
    contact = message.get("contact")
    if isinstance(contact, dict):
        # Only the sender's own contact counts: anyone can forward someone else's card.
        if contact.get("user_id") != _field(message, "from", "id"):
            return None
        phone = contact.get("phone_number")
        name = " ".join(
            str(contact.get(k) or "") for k in ("first_name", "last_name") if contact.get(k)
        )
        if isinstance(phone, str):
            return chat, Inbound(contact=(name, phone))
    return None


def group_update(update: Mapping[str, Any]) -> GroupUpdate | None:
    """A staff group's message or a card's button press; None for what staff flow ignores."""
    update_id = update.get("update_id")
    query = update.get("callback_query")
    if isinstance(query, dict):
        data = query.get("data")
        user = _field(query, "from", "id")
        chat = _field(query, "message", "chat", "id")
        if not isinstance(data, str) or not is_staff_callback(data):
            return None
        if not (_id_ok(user) and _id_ok(chat) and _id_ok(update_id)):
            return None
        message_id = _field(query, "message", "message_id")
        return GroupUpdate(
            update_id=update_id,
            chat_id=chat,
            user_id=user,
            user_name=_name(query.get("from")),
            chat_title=str(_field(query, "message", "chat", "title") or ""),
            data=data[:64],
            message_id=message_id if _id_ok(message_id) else None,
        )
    message = update.get("message")
    if not isinstance(message, dict) or _field(message, "chat", "type") not in GROUP_TYPES:
        return None
    chat, user, text = (
        _field(message, "chat", "id"),
        _field(message, "from", "id"),
        message.get("text"),
    )
    if not (_id_ok(chat) and _id_ok(user) and _id_ok(update_id)):
        return None
    if not isinstance(text, str) or not text.strip():
        return None
    return GroupUpdate(
        update_id=update_id,
        chat_id=chat,
        user_id=user,
        user_name=_name(message.get("from")),
        chat_title=str(_field(message, "chat", "title") or ""),
        text=text[:4000],
    )


def _id_ok(value: object) -> TypeIs[int]:
    """A Telegram id: an integer (not a boolean) that fits 64 bits (ids use at most 52)."""
    return type(value) is int and -(2**62) < value < 2**62


def _name(user: object) -> str:
    if not isinstance(user, dict):
        return ""
    parts = [str(user.get(k) or "") for k in ("first_name", "last_name") if user.get(k)]
    return " ".join(parts)[:200]


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
        self.engine = ctx.engine
        self.staff = StaffService(
            ctx.engine,
            ctx.service.desk,
            link_ttl=timedelta(hours=ctx.settings.link_code_ttl_hours),
        )
        # One limiter for every call of the bot: the sender's messages, the answers to button
        # presses and the edits (the bot paces each request itself, so the worker does not).
        self.limiter = Limiter(telegram_limits())
        self.application = build_application(ctx.settings, self.limiter)
        self.worker = OutboxWorker(
            ctx.engine,
            TelegramTransport(self.application.bot, self._load_upload),
            max_attempts=ctx.settings.outbox_max_attempts,
            base_delay=ctx.settings.outbox_retry_base_seconds,
            max_delay=ctx.settings.outbox_retry_max_delay_seconds,
            retry_for=ctx.settings.outbox_retry_for_hours * 3600,
            lease_seconds=ctx.settings.outbox_lease_seconds,
            limiter=self.limiter,
            pace_sends=False,
        )
        self._secret = ctx.settings.telegram_webhook_secret.encode()
        self._tasks: set[asyncio.Task[None]] = set()
        self._init_task: asyncio.Task[None] | None = None

    def _load_upload(self, key: str) -> tuple[str, bytes] | None:
        with session_scope(self.engine) as session:
            return load_upload(session, key)

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
            if not isinstance(data, dict) or not _id_ok(data.get("update_id")):
                raise ValueError("not an update")
        except (ValueError, RecursionError) as exc:  # JSON, UTF-8, absurd nesting
            return 400, json.dumps({"ok": False, "error": f"bad update: {exc}"[:200]}).encode()
        await self.process(data)
        return 200, _OK

    def secret_ok(self, header: str | None) -> bool:
        """Constant-time check of the webhook secret; no secret configured refuses all."""
        if not self._secret or header is None:
            return False
        return hmac.compare_digest(header.encode(), self._secret)

    async def process(self, update: Mapping[str, Any]) -> Outcome | None:
        """Run one update (its JSON) through the service; webhook and polling share this."""
        staff = group_update(update)
        if staff is not None:
            await self._staff(staff, update)
            return None
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
            except (TypeError, KeyError, ValueError, OverflowError) as exc:  # stored: only log
                log.warning("callback query %s not answered: %r", update["update_id"], exc)
            else:
                # The tapped message is marked with the answer, unless a reply replaces it
                # (multiple choice, re-marked) or the button was an old one (nothing taken).
                replaced = any(
                    b.payload.startswith(EDIT_PREFIX) for r in outcome.replies for b in r.buttons
                )
                stale = any(r.text == msg.STALE_BUTTON for r in outcome.replies)
                edit = not (outcome.duplicate or replaced or stale)
                self._background(self._acknowledge(query, edit=edit))
        return outcome

    async def _staff(self, staff: GroupUpdate, update: Mapping[str, Any]) -> None:
        """A staff group's update: its action committed, then the presser answered."""
        outcome = await asyncio.to_thread(self.staff.handle, staff)
        if outcome.outbox_ids:
            self.worker.wake()
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            self._background(self._answer_staff(query["id"], outcome))

    async def _answer_staff(self, query_id: str, outcome: StaffOutcome) -> None:
        try:
            await self.bot.answer_callback_query(
                query_id, text=(outcome.answer or "")[:200] or None, show_alert=outcome.alert
            )
        except TelegramError as exc:
            log.info("answerCallbackQuery (staff) failed: %s", exc)

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
        if query.data and query.data.startswith("d:"):  # «Xong»: the options chosen
            chosen = _chosen_labels(message.reply_markup)
            label = ", ".join(chosen) if chosen else label
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


def _chosen_labels(markup: InlineKeyboardMarkup | None) -> list[str]:
    """The options marked chosen on a multiple-choice keyboard, without their mark."""
    if markup is None:
        return []
    return [
        b.text.removeprefix(CHOSEN_MARK)
        for row in markup.inline_keyboard
        for b in row
        if b.text.startswith(CHOSEN_MARK)
    ]


def _label_of(markup: InlineKeyboardMarkup | None, data: str | None) -> str | None:
    if markup is None or data is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
