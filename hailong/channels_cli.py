"""`hailong telegram …` and `hailong zalo …`: set up the chat channels from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from base.errors import UserError

telegram_app = typer.Typer(
    help="Telegram bot: webhook registration, long polling.", no_args_is_help=True
)
zalo_app = typer.Typer(help="Zalo Official Account: access tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the channel command groups to the `hailong` app."""
    app.add_typer(telegram_app, name="telegram")
    app.add_typer(zalo_app, name="zalo")


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[str, typer.Argument(help="Public HTTPS URL of /webhooks/telegram")],
) -> None:
    """Tell Telegram to post updates to URL, with TELEGRAM_WEBHOOK_SECRET as secret header."""
    from base.settings import get_settings

    settings = get_settings()
    if not settings.telegram_bot_token:
        raise UserError("TELEGRAM_BOT_TOKEN is not set")
    if not settings.telegram_webhook_secret:
        raise UserError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would refuse every update")
    asyncio.run(_set_webhook(url))
    typer.echo(f"webhook set to {url}")


async def _set_webhook(url: str) -> None:
    from telegram.error import TelegramError

    from base.settings import get_settings
    from bot.channels.telegram import ALLOWED_UPDATES, build_application

    settings = get_settings()
    application = build_application(settings)
    async with application.bot as bot:
        try:
            await bot.set_webhook(
                url,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        except TelegramError as exc:
            raise UserError(f"Telegram refused the webhook: {exc}") from exc


@telegram_app.command("poll")
def poll(
    timeout: Annotated[int, typer.Option(min=0, max=50, help="Long-poll seconds")] = 25,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this long (default: run until Ctrl-C)")
    ] = None,
) -> None:
    """Fetch updates with getUpdates (no public HTTPS needed) and answer them: the same
    service path, de-duplication and outbox as the webhook. Removes any webhook first."""
    from base.settings import get_settings

    if not get_settings().telegram_bot_token:
        raise UserError("TELEGRAM_BOT_TOKEN is not set")
    try:
        asyncio.run(_poll(timeout, max_seconds))
    except KeyboardInterrupt:
        typer.echo("stopped")


async def _poll(timeout: int, max_seconds: float | None) -> None:
    import logging

    from telegram.error import TelegramError

    from base.settings import get_settings
    from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel
    from hailong.app import check_wording, conversation_service, open_database
    from hailong.server import AppContext

    log = logging.getLogger("hailong.telegram.poll")
    settings = get_settings()
    engine = open_database(settings)
    check_wording(settings, engine)
    ctx = AppContext(settings, engine, conversation_service(settings, engine))
    channel = TelegramChannel(ctx)
    loop = asyncio.get_running_loop()
    deadline = None if max_seconds is None else loop.time() + max_seconds
    await channel.application.initialize()
    await channel.bot.delete_webhook()
    await channel.worker.start()
    offset: int | None = None
    try:
        while deadline is None or loop.time() < deadline:
            try:
                updates = await channel.bot.get_updates(
                    offset=offset, timeout=timeout, allowed_updates=list(ALLOWED_UPDATES)
                )
            except TelegramError as exc:  # Telegram unreachable for a moment: wait, go on
                log.warning("getUpdates failed: %s", exc)
                await asyncio.sleep(2)
                continue
            for update in updates:
                await channel.process(update.to_dict())
                offset = update.update_id + 1  # confirmed on the next call, after the commit
        await channel.worker.deliver_once()  # what the last updates queued, if it can
    finally:
        await channel.stop()
        await ctx.turns.close()
        engine.dispose()


@zalo_app.command("set-tokens")
def set_tokens(
    access_token: Annotated[str, typer.Option(help="OA access token")],
    refresh_token: Annotated[str, typer.Option(help="Its refresh token")],
    expires_in: Annotated[int, typer.Option(help="Seconds the access token is valid")] = 90000,
) -> None:
    """Store the OA's token pair from the Zalo developer console; hailong refreshes it."""
    from base.settings import get_settings
    from bot.channels.zalo import store_tokens
    from hailong.app import open_database

    settings = get_settings()
    if not settings.zalo_app_id:
        raise UserError("ZALO_APP_ID is not set")
    store_tokens(open_database(settings), settings, access_token, refresh_token, expires_in)
    typer.echo("Zalo tokens stored")
