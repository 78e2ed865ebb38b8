"""The Zalo Official Account channel (OA API v3).

    Zalo ──POST /webhooks/zalo──▶ X-ZEvent-Signature check ─▶ event ─▶ Inbound
                                  ConversationService.handle (de-dup on msg_id) ─▶ outbox
    OutboxWorker ─▶ ZaloTransport: reply rule (free/paid quota/refused) ─▶ POST /v3.0/oa/message/cs
                    │              (token refreshed once on a token error, new pair stored first)
                    └ "zns:<dossier>" rows: rating invitation ─▶ POST ZNS message/template

Zalo wants an answer within 2 seconds: the turn is one short transaction (milliseconds), so
the webhook commits it before acknowledging (nothing is lost if the process dies), and the
slow part, sending, happens later in the outbox worker.

Platform details come from secondary sources (see the domain notes); what is uncertain is
kept in one place each: the signature in `signature_ok`, the button template in
`message_body`, error codes in `TOKEN_ERRORS` / `RETRYABLE_ERRORS`, the reply window and quota
in `reply_rule`, the ZNS request in `zns_body`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from bot import http_json, zns
from bot.batcher import TurnBatcher
from bot.engine import Inbound
from bot.engine.types import listed_once
from bot.links import make_resolver
from bot.sender import DeliveryError, OutboxWorker, RateLimits
from bot.service import Outcome, PayloadResolver
from bot.text_split import split_text
from storage import chats, invitations
from storage.db import session_scope
from storage.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from base.settings import Settings
    from bot.channels.context import AppContext

log = logging.getLogger(__name__)

CHANNEL = "zalo"
SIGNATURE_HEADER = "X-ZEvent-Signature"
MAX_BUTTONS = 5  # Zalo's button template
TEXT_MAX = 2000  # characters of one message
DONE_PREFIX = "d:"  # the engine's «Xong» button of a multiple-choice question
BUTTON_PREFIX = "#hl:"  # a tapped button comes back as a text message carrying this prefix
# Invalid, expired or removed access token: refresh, then retry (-220: shared/domain/channels.md;
# -124 is how the ZNS API says it).
TOKEN_ERRORS = frozenset({-216, -220, -124, -14014})
# Rate limited, server busy: retry later. (-14003 is an OAuth parameter error: permanent.)
RETRYABLE_ERRORS = frozenset({-32, -500})
_OTHER_INTERACTIONS = frozenset(
    {"user_send_sticker", "user_send_link", "user_send_file", "user_send_gif", "user_send_audio"}
)
MAX_EVENT_BYTES = 256 * 1024  # Zalo events are a few kB; capped before parsing or hashing
REFRESH_MARGIN = timedelta(minutes=5)
PURGE_EVERY = 3600.0  # seconds between sweeps of invitations' phone numbers


def signature_ok(
    header: str | None, app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str
) -> bool:
    """Zalo's webhook MAC: `mac=` + hex SHA-256 of app_id + raw body + timestamp + OA secret.

    Sources disagree on details (OA id instead of app id, the timestamp of the header or the
    body); this is the common form, in this one function so it can be changed alone.
    """
    if not header or not oa_secret_key or not app_id:
        return False
    digest = hashlib.sha256(
        app_id.encode() + raw_body + timestamp.encode() + oa_secret_key.encode()
    ).hexdigest()
    return hmac.compare_digest(header.strip().encode(), f"mac={digest}".encode())


def message_body(recipient: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The v3 consultation message for an outbox payload. At most 5 buttons fit the
    template; the text lists every option by number, and typed numbers work. When every
    option has its (numbered) button, the list is not repeated above them."""
    message: dict[str, Any] = {"text": payload["text"]}
    offered = [b for b in payload.get("buttons", []) if not b["payload"].startswith("@")]
    buttons = _fit_buttons(payload.get("buttons", []))
    if buttons and len(buttons) == len(offered):
        message["text"] = listed_once(payload["text"], [b["label"] for b in buttons])
    if buttons:
        # The consultation message's buttons: an attachment payload with `buttons` and no
        # `template_type` (Zalo's official SDKs; `template_type` is Messenger's shape).
        message["attachment"] = {
            "type": "template",
            "payload": {
                "buttons": [
                    {
                        "title": b["label"][:100],
                        "type": "oa.query.hide",  # sent back as text, not shown in the chat
                        "payload": BUTTON_PREFIX + b["payload"],
                    }
                    for b in buttons
                ],
            },
        }
    return {"recipient": {"user_id": recipient}, "message": message}


def _fit_buttons(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """At most 5 buttons: a multiple-choice question's «Xong» (payload "d:…") always stays,
    the first options fill the rest (the others are typed by number)."""
    # A button only Telegram can show (sharing one's own contact) is no button here: the
    # citizen types the details, or Zalo's info form answers with `user_submit_info`.
    buttons = [b for b in buttons if not b["payload"].startswith("@")]
    if len(buttons) <= MAX_BUTTONS:
        return buttons
    done = [b for b in buttons if b["payload"].startswith(DONE_PREFIX)][:1]
    options = [b for b in buttons if b not in done]
    return options[: MAX_BUTTONS - len(done)] + done


def _event_time(event: dict[str, Any], now: datetime) -> datetime:
    """The event's own time (ms), so a redelivery records the same moment; never future."""
    try:
        at = datetime.fromtimestamp(int(str(event.get("timestamp"))) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return now
    return min(at, now)


class ZaloTokens:
    """The OA access token, refreshed with the single-use refresh token.

    A refresh locks the stored pair, checks nobody refreshed meanwhile, calls Zalo, and
    commits the new pair before anyone uses the new access token: if the process died after
    using it but before storing it, the refresh token would be spent and lost.
    """

    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.name = f"zalo:{settings.zalo_app_id}"
        self.settings = settings
        self.engine = engine
        self.clock = clock

    def current(self) -> str:
        """A usable access token (refreshed first when about to expire)."""
        with session_scope(self.engine) as session:
            pair = chats.load_token(session, self.name)
        if pair is None:
            raise DeliveryError("no Zalo token stored: run `hailong zalo set-tokens`")
        if pair.expires_at is not None and pair.expires_at - REFRESH_MARGIN <= self.clock():
            return self.refresh(pair.access_token)
        return pair.access_token

    def refresh(self, stale: str) -> str:
        """Replace `stale` by a new access token (or the one another worker just got)."""
        with session_scope(self.engine) as session:
            pair = chats.load_token(session, self.name, lock=True)
            if pair is None:
                raise DeliveryError("no Zalo token stored: run `hailong zalo set-tokens`")
            if pair.access_token != stale:
                return pair.access_token  # refreshed by another worker while we waited
            try:
                response = httpx.post(
                    f"{self.settings.zalo_oauth_base_url.rstrip('/')}/v4/oa/access_token",
                    data={
                        "app_id": self.settings.zalo_app_id,
                        "grant_type": "refresh_token",
                        "refresh_token": pair.refresh_token,
                    },
                    headers={"secret_key": self.settings.zalo_app_secret},
                    timeout=10,
                )
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise DeliveryError(f"Zalo token refresh failed: {exc}") from exc
            if not isinstance(data, dict) or not data.get("access_token"):
                raise DeliveryError(f"Zalo token refresh refused: {str(data)[:200]}")
            expires_in = int(data.get("expires_in") or 90000)
            chats.store_token(
                session,
                self.name,
                str(data["access_token"]),
                str(data.get("refresh_token") or pair.refresh_token),
                self.clock() + timedelta(seconds=expires_in),
            )
        log.info("Zalo access token refreshed")
        return str(data["access_token"])


@dataclass(frozen=True)
class ReplyRule:
    """Which of Zalo's rules lets a reply go, or why none does."""

    allowed: bool
    rule: str  # FREE, PAID, WINDOW_CLOSED or QUOTA_OFF
    detail: str

    FREE = "free reply"
    PAID = "paid quota"
    WINDOW_CLOSED = "refused: reply window closed"
    QUOTA_OFF = "refused: paid quota off"

    def note(self) -> str:
        """The line kept in the outbox row and the log."""
        return f"zalo rule: {self.rule} ({self.detail})"


def reply_rule(
    settings: Settings, now: datetime, last_interaction: datetime, used: int, pieces: int = 1
) -> ReplyRule:
    """The rule a reply of `pieces` messages falls under, `used` messages having gone to the
    chat since the user's last interaction.

    Zalo's rules, with their sources (Zalo's developer pages could not be read offline):
    - an OA may send consultation ("tư vấn") messages for 7 days after the user's last
      message, and not at all after that: Viindoo's Zalo OA guide ("per Zalo policy, Advisory
      Messages can only be sent within 7 days of the customer's last message",
      viindoo.com/documentation/17.0/applications/productivity/zalo/reply-to-zalo-oa-messages);
    - the first 8 replies within 48 h of the user's message are free, the allowance starts
      again at each new message, and the 9th, or any sent after 48 h, counts as a proactive
      message of the OA's paid quota: Zalo OA's help centre ("Các loại tin của Zalo Official
      Account", zalooa.freshdesk.com, article 64000261136), and eTelecom's Zalo API notes
      (`quota_type` "reply": "within 8 messages 48h frame", else the package's quota).
    The numbers are settings (ZALO_REPLY_WINDOW_DAYS, ZALO_FREE_REPLIES, ZALO_FREE_WINDOW_HOURS);
    ZALO_USE_PAID_QUOTA=false refuses what the free allowance does not cover. Both ends of
    each span are inside it.
    """
    age = now - last_interaction
    since = f"last interaction {last_interaction:%Y-%m-%d %H:%M} UTC, {_span(age)} ago"
    if age > timedelta(days=settings.zalo_reply_window_days):
        window = f"{settings.zalo_reply_window_days:g} days"
        return ReplyRule(False, ReplyRule.WINDOW_CLOSED, f"{since}; window {window}")
    free_hours = settings.zalo_free_window_hours
    if age <= timedelta(hours=free_hours) and used + pieces <= settings.zalo_free_replies:
        detail = f"{used + pieces} of {settings.zalo_free_replies} within {free_hours:g} h; {since}"
        return ReplyRule(True, ReplyRule.FREE, detail)
    used_up = f"{used} sent since; {since}"
    if settings.zalo_use_paid_quota:
        return ReplyRule(True, ReplyRule.PAID, used_up)
    return ReplyRule(False, ReplyRule.QUOTA_OFF, f"ZALO_USE_PAID_QUOTA=false; {used_up}")


def _span(age: timedelta) -> str:
    hours = int(age.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"


def zns_body(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """The ZNS request of an invitation: `phone` (84… form), `template_id`, `template_data`,
    `tracking_id` (shared/domain/channels.md; the same four fields in the open-source ZNS
    integrations we read, which send them with the OA's `access_token` header)."""
    return {
        "phone": payload[invitations.PHONE],
        "template_id": settings.zalo_zns_template_id,
        "template_data": payload["template_data"],
        "tracking_id": payload["tracking_id"],
    }


class ZaloTransport:
    """Sends outbox payloads through the v3 consultation API under Zalo's reply rules, and
    dossier rating invitations through ZNS."""

    channel = CHANNEL

    def __init__(
        self, settings: Settings, engine: Engine, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.tokens = ZaloTokens(settings, engine, clock)
        self.url = f"{settings.zalo_api_base_url.rstrip('/')}/v3.0/oa/message/cs"
        self.client: httpx.AsyncClient | None = None

    async def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        """Send one reply, or one invitation. A reply no rule allows is not sent: it is
        dead-lettered with the rule (`reply_rule`), which is also logged."""
        if recipient.startswith(zns.RECIPIENT_PREFIX):
            return await self._invite(recipient, payload)
        *first, last = split_text(str(payload["text"]), TEXT_MAX)
        await asyncio.to_thread(self._check_rule, recipient, payload, len(first) + 1)
        message_id = None
        for piece in first:  # a long answer: the buttons go with its last piece
            message_id = await self._send_one(recipient, {"text": piece, "buttons": []})
        return await self._send_one(recipient, {**payload, "text": last}) or message_id

    async def _send_one(self, recipient: str, payload: dict[str, Any]) -> str | None:
        data = await self._call(self.url, message_body(recipient, payload))
        code = data.get("error")
        if code == 0:
            message_id = (data.get("data") or {}).get("message_id")
            return str(message_id) if message_id is not None else None
        reason = f"zalo error {code}: {str(data.get('message', ''))[:200]}"
        raise DeliveryError(reason, permanent=code not in RETRYABLE_ERRORS | TOKEN_ERRORS)

    async def _call(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; a token error refreshes it once and posts again."""
        token = await asyncio.to_thread(self.tokens.current)
        data = await self._post(url, body, token)
        if data.get("error") in TOKEN_ERRORS:
            token = await asyncio.to_thread(self.tokens.refresh, token)
            data = await self._post(url, body, token)
        return data

    async def _post(self, url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=10)
        try:
            response = await self.client.post(url, json=body, headers={"access_token": token})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(f"zalo http: {type(exc).__name__}: {exc}") from exc
        if not isinstance(data, dict):
            raise DeliveryError(f"zalo: unexpected answer {str(data)[:200]}")
        return data

    def _check_rule(self, recipient: str, payload: dict[str, Any], pieces: int) -> None:
        """Record the rule that lets this reply go in its outbox row, or raise a permanent
        DeliveryError naming the rule that refuses it."""
        now = self.clock()
        with session_scope(self.engine) as session:
            contact = chats.contact(session, CHANNEL, recipient)
            if contact is None:
                raise DeliveryError(
                    "zalo rule: refused: the user never wrote to the OA", permanent=True
                )
            if not contact.following:
                raise DeliveryError(
                    "zalo rule: refused: the user unfollowed the OA", permanent=True
                )
            texts = invitations.sent_texts_since(
                session, CHANNEL, recipient, contact.last_inbound_at
            )
            used = sum(len(split_text(t, TEXT_MAX)) for t in texts)
            rule = reply_rule(self.settings, now, contact.last_inbound_at, used, pieces)
            if rule.allowed:
                invitations.note_rule(session, CHANNEL, recipient, payload, rule.note())
        if not rule.allowed:
            log.info("zalo: reply to %s not sent: %s", recipient, rule.note())
            raise DeliveryError(rule.note(), permanent=True)
        log.info("zalo: reply to %s: %s", recipient, rule.note())

    async def _invite(self, recipient: str, payload: dict[str, Any]) -> str | None:
        """Send a dossier's rating invitation by ZNS; the phone number is deleted from the
        outbox row as soon as it is sent or refused for good (`invitations.settle`)."""
        dossier = str(payload.get("dossier", recipient))
        if invitations.PHONE not in payload:
            if payload.get("outcome") == "sent":
                # Sent and settled, but the process died before the row was marked sent.
                return str(payload.get("msg_id") or "") or None
            outcome = str(payload.get("outcome") or "no phone number")
            raise DeliveryError(f"zns invitation: {outcome}", permanent=True)
        if not zns.enabled(self.settings):
            await self._settle(recipient, "refused: ZNS is off (ZALO_ZNS_TEMPLATE_ID empty)")
            raise DeliveryError("zns invitation: ZALO_ZNS_TEMPLATE_ID is empty", permanent=True)
        expires = zns.expires_at(payload)
        if expires is None or expires <= self.clock():
            await self._settle(recipient, "refused: the link expired")
            raise DeliveryError("zns invitation: the dossier's link expired", permanent=True)
        phone = str(payload[invitations.PHONE])
        masked = zns.mask_phone(phone)
        data = await self._call(self.settings.zalo_zns_url, zns_body(self.settings, payload))
        code = data.get("error")
        said = str(data.get("message", ""))[:200].replace(phone, masked)
        if code == 0:
            msg_id = (data.get("data") or {}).get("msg_id")
            message_id = str(msg_id) if msg_id is not None else None
            await self._settle(recipient, "sent", msg_id=message_id)
            log.info("zns invitation for dossier %s sent to %s", dossier, masked)
            return message_id
        reason = f"zns error {code}: {said}"
        if code in RETRYABLE_ERRORS | TOKEN_ERRORS:
            raise DeliveryError(reason)
        # Anything else (an invalid phone, a template Zalo refuses) cannot succeed later.
        await self._settle(recipient, f"refused: {reason}")
        log.warning("zns invitation for dossier %s to %s refused: %s", dossier, masked, reason)
        raise DeliveryError(reason, permanent=True)

    async def _settle(self, recipient: str, outcome: str, msg_id: str | None = None) -> None:
        def settle() -> None:
            with session_scope(self.engine) as session:
                invitations.settle(session, CHANNEL, recipient, outcome, msg_id=msg_id)

        try:
            await asyncio.to_thread(settle)
        except Exception:  # the sweep (`purge_invitations`) removes the number later
            log.exception("zns invitation %s: phone number not yet deleted", recipient)

    def purge_invitations(self) -> int:
        """Delete phone numbers that invitations no longer need (see storage.invitations)."""
        with session_scope(self.engine) as session:
            return invitations.purge(session, CHANNEL, zns.RECIPIENT_PREFIX, self.clock())

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None


class ZaloChannel:
    """The Zalo OA plugin of `hailong serve` (on when ZALO_APP_ID is set)."""

    name = CHANNEL

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Zalo runs when an app id is configured."""
        return bool(settings.zalo_app_id)

    def __init__(self, ctx: AppContext, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = ctx.settings
        self.engine = ctx.engine
        self.turns: TurnBatcher = ctx.turns
        self.resolve: PayloadResolver = make_resolver(ctx.settings)
        self.clock = clock
        self.transport = ZaloTransport(ctx.settings, ctx.engine, clock)
        self.worker = OutboxWorker(
            ctx.engine,
            self.transport,
            max_attempts=ctx.settings.outbox_max_attempts,
            base_delay=ctx.settings.outbox_retry_base_seconds,
            max_delay=ctx.settings.outbox_retry_max_delay_seconds,
            retry_for=ctx.settings.outbox_retry_for_hours * 3600,
            lease_seconds=ctx.settings.outbox_lease_seconds,
            limits=RateLimits(per_second=20, per_chat_interval=0.5, per_chat_burst=3),
        )
        self._sweeper: asyncio.Task[None] | None = None

    def install(self, app: FastAPI) -> None:
        """Add POST /webhooks/zalo."""

        @app.post("/webhooks/zalo", tags=["channels"], summary="Zalo OA webhook")
        async def zalo_webhook(request: Request) -> JSONResponse:
            """Events from the Zalo OA; needs a valid X-ZEvent-Signature."""
            header = request.headers.get(SIGNATURE_HEADER)
            raw = bytearray()
            async for chunk in request.stream():  # capped before anything is parsed
                raw += chunk
                if len(raw) > MAX_EVENT_BYTES:
                    return JSONResponse({"error": "event too large"}, status_code=413)
            try:
                event = http_json.loads(raw) if raw.strip() else {}
                if not isinstance(event, dict):
                    raise ValueError("not an event")
            except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
                return JSONResponse({"error": f"bad event: {str(exc)[:100]}"}, status_code=400)
            if not header and "event_name" not in event:
                # Zalo checks a webhook URL, when it is saved, with a request that carries no
                # signed event and expects 200 (shared/domain/channels.md): nothing stored.
                return JSONResponse({"error": 0})
            if not header:
                return JSONResponse({"error": "forbidden"}, status_code=403)
            s = self.settings
            timestamp = str(event.get("timestamp", ""))
            if not signature_ok(header, s.zalo_app_id, bytes(raw), timestamp, s.zalo_oa_secret_key):
                return JSONResponse({"error": "forbidden"}, status_code=403)
            await self.process(event)
            return JSONResponse({"error": 0})

    async def process(self, event: dict[str, Any]) -> Outcome | None:
        """Handle one verified event (text, follow/unfollow, submitted info, image, location)."""
        name = str(event.get("event_name", ""))
        now = self.clock()
        at = _event_time(event, now)
        if now - at > timedelta(hours=self.settings.zalo_event_max_age_hours):
            # A signed event from long ago (a replay, or Zalo's retries of a dead webhook):
            # acknowledged, and nothing changes.
            log.info("zalo: %s event from %s ignored as stale", name[:40], at.isoformat())
            return None
        if name in ("follow", "unfollow"):
            user = _user_id(event.get("follower"))
            if user is None:
                return None
            following = name == "follow"
            await asyncio.to_thread(self._touch, user, at, following)
            if not following:
                return None
            # Following is an invitation to talk: open with the consent request.
            return await self._turn(user, Inbound(text="/start"), _event_id("follow", user, at))
        sender = _user_id(event.get("sender"))
        message = event.get("message") or {}
        if sender is None or not isinstance(message, dict):
            return None  # not an event of a user we could answer: acknowledged, nothing kept
        msg_id = str(message.get("msg_id") or _event_id(name, sender, event.get("timestamp")))
        if name == "user_send_text":
            await asyncio.to_thread(self._touch, sender, at, True)
            text = str(message.get("text", ""))
            if text.startswith(BUTTON_PREFIX):
                inbound = Inbound(choice=text.removeprefix(BUTTON_PREFIX))
            else:
                inbound = Inbound(text=text)
            return await self._turn(sender, inbound, msg_id)
        if name == "user_submit_info":
            # Name and phone go to the conversation: kept only inside a complaint, after the
            # citizen agreed that the handling unit sees them (consent for that purpose).
            await asyncio.to_thread(self._touch, sender, at, True)
            info = event.get("info") or {}
            if not isinstance(info, dict):
                return None
            contact = (str(info.get("name") or ""), str(info.get("phone") or ""))
            return await self._turn(sender, Inbound(contact=contact), msg_id)
        if name in _OTHER_INTERACTIONS:
            # A sticker, a link, a file: nothing for the conversation, but the user wrote to
            # the OA, so the free-reply window opens again.
            await asyncio.to_thread(self._touch, sender, at, True)
            return None
        if name == "user_send_location":
            await asyncio.to_thread(self._touch, sender, at, True)
            where = _location(message.get("attachments"))
            if where is None:
                return None
            return await self._turn(sender, Inbound(location=where), msg_id)
        if name == "user_send_image":
            await asyncio.to_thread(self._touch, sender, at, True)
            urls = _image_urls(message.get("attachments"))
            if not urls:
                return None
            caption = message.get("text")
            inbound = Inbound(
                text=caption if isinstance(caption, str) else "",
                attachments=tuple(("image", url) for url in urls),
            )
            return await self._turn(sender, inbound, msg_id)
        return None

    async def _turn(self, user: str, inbound: Inbound, message_id: str) -> Outcome:
        # Kept for de-duplication as a digest: an id is opaque, and must not be personal data
        # left behind after /xoa whatever a sender puts in it.
        digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:48]
        outcome = await self.turns.handle(
            CHANNEL, user, inbound, message_id=digest, resolve=self.resolve
        )
        if outcome.outbox_ids:
            self.worker.wake()
        return outcome

    def _touch(self, user: str, at: datetime, following: bool) -> None:
        with session_scope(self.engine) as session:
            chats.touch_contact(session, CHANNEL, user, at, following=following)

    async def start(self) -> None:
        """Start the sender loop, and the hourly sweep of invitations' phone numbers."""
        await self.worker.start()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="zalo-invitation-sweep")

    async def stop(self) -> None:
        """Stop the sender loop (unsent messages stay in the outbox)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.worker.stop()
        await self.transport.close()

    async def _sweep(self) -> None:
        while True:
            try:
                cleaned = await asyncio.to_thread(self.transport.purge_invitations)
                if cleaned:
                    log.info("zns: phone numbers deleted from %s settled invitations", cleaned)
            except Exception:  # a database hiccup: the next sweep tries again
                log.exception("zns: sweeping invitations' phone numbers failed")
            await asyncio.sleep(PURGE_EVERY)


def _event_id(name: str, user: str, stamp: object) -> str:
    """The de-duplication id of an event that has no msg_id (follow, submitted info)."""
    return f"{name[:20]}:{user}:{stamp}"


def _user_id(party: object) -> str | None:
    """A Zalo user id (`sender.id`, `follower.id`) we can store and answer: digits or letters,
    at most 64 characters; None for anything else (a string where an object was expected, a
    NUL, an absurd length)."""
    user = party.get("id") if isinstance(party, dict) else None
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if not isinstance(user, str) or not 0 < len(user) <= 64 or "\x00" in user:
        return None
    return user


def _location(attachments: object) -> tuple[float, float] | None:
    """The coordinates of a `user_send_location` event (numbers or numeric strings)."""
    if not isinstance(attachments, list):
        return None
    for item in attachments:
        payload = item.get("payload") if isinstance(item, dict) else None
        where = payload.get("coordinates") if isinstance(payload, dict) else None
        if not isinstance(where, dict):
            continue
        try:
            lat, lon = float(where["latitude"]), float(where["longitude"])
        except (KeyError, TypeError, ValueError):
            continue
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return lat, lon
    return None


def _image_urls(attachments: object) -> list[str]:
    """The image URLs of a `user_send_image` event (https only, at most 2,000 characters)."""
    if not isinstance(attachments, list):
        return []
    urls = []
    for item in attachments:
        payload = item.get("payload") if isinstance(item, dict) else None
        url = payload.get("url") if isinstance(payload, dict) else None
        if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2000:
            urls.append(url)
    return urls[:10]


def store_tokens(
    engine: Engine, settings: Settings, access_token: str, refresh_token: str, expires_in: int
) -> None:
    """Store the OA's first token pair (from the Zalo developer console)."""
    with session_scope(engine) as session:
        chats.store_token(
            session,
            f"zalo:{settings.zalo_app_id}",
            access_token,
            refresh_token,
            utcnow() + timedelta(seconds=expires_in),
        )
