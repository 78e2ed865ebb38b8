"""`hailong serve`: one FastAPI app for the web chat, Telegram and Zalo webhooks.

Nothing another worker needs lives in process memory: conversation state, de-duplication and
the outbox are in the database, so several uvicorn workers can share one PostgreSQL.
Channels are plugins (`bot/channels/*`): each adds its routes and, in the app's lifespan,
starts and stops what it runs (a sender loop, a PTB Application).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from types import MappingProxyType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from base.settings import Settings, get_settings
from bot.asgi import RETRY_AFTER, Handler, serve
from bot.channels.context import AppContext, ChannelPlugin
from bot.scheduler import Scheduler
from hailong import docs
from hailong.app import conversation_service
from reports import rollup
from reports.cli import rollup_spec
from storage import migrate
from storage.db import UNAVAILABLE, make_engine

log = logging.getLogger(__name__)

# "module:Class" of every channel plugin; a plugin's `enabled(settings)` says if it runs.
CHANNEL_PLUGINS = (
    "bot.channels.web:WebChannel",
    "bot.channels.telegram:TelegramChannel",
    "bot.channels.zalo:ZaloChannel",
    "bot.open311:Open311",  # Open311 GeoReport v2 for city systems (/open311/v2)
    "console.web:ConsolePlugin",  # the web console for unit staff and analysts
)


class HailongAPI(FastAPI):
    """FastAPI, with the channels' webhook POSTs served first, as plain ASGI (`bot.asgi`)."""

    fast_routes: Mapping[str, Handler] = MappingProxyType({})  # set by create_app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.fast_routes.get(scope["path"])
            if handler is not None:
                await serve(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def load_plugins(ctx: AppContext) -> list[ChannelPlugin]:
    plugins: list[ChannelPlugin] = []
    for spec in CHANNEL_PLUGINS:
        module_name, class_name = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a channel not built yet
        cls = getattr(module, class_name)
        if cls.enabled(ctx.settings):
            plugins.append(cls(ctx))
    return plugins


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database is reached only when it starts or serves."""
    settings = settings or get_settings()
    engine = make_engine(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout_seconds,
        statement_timeout=settings.db_statement_timeout_seconds,
    )
    ctx = AppContext(settings, engine, conversation_service(settings, engine))
    plugins = load_plugins(ctx)
    scheduler = Scheduler(engine, ctx.service.desk, settings.scheduler_interval_seconds)
    refresher = rollup.Refresher(
        engine,
        partial(rollup_spec, engine, settings),
        settings.report_rollup_seconds,
        settings.report_rollup_full_minutes,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for plugin in plugins:
            await plugin.start()
        await scheduler.start()
        refresher.start()
        if (settings.nlp_model_dir / "model.skops").exists():
            # Load the router now (about a second), not on the first complaint; a model still
            # to be trained is trained on first use instead.
            threading.Thread(target=lambda: ctx.service.desk.router, daemon=True).start()
        # What start-up built (modules, questionnaires, PTB, SQLAlchemy) lives as long as the
        # process: frozen out of the collector's sight, a full collection no longer walks it.
        # Under the webhook bench those took ~95 ms each, a few a minute: p99 76 -> 37 ms.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await scheduler.stop()
            await asyncio.to_thread(refresher.stop)
            for plugin in reversed(plugins):
                await plugin.stop()
            await ctx.turns.close()
            engine.dispose()
            gc.unfreeze()  # an app made again in this process (tests) must not pile them up

    app = HailongAPI(
        title="hailong",
        description="Citizens' satisfaction surveys and feedback over chat.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by hailong.docs from local files, not a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    docs.install(app)

    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        """A database that is down or hanging (past DB_*_TIMEOUT_SECONDS): 503, retry later."""
        log.warning("answered 503: %s", str(exc).splitlines()[0][:200])
        return JSONResponse(
            {"detail": "database unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER},
        )

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, database_unavailable)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(response: Response) -> dict[str, str]:
        """The database is reachable and its schema is current."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = migrate.is_current(engine)
        except Exception as exc:  # any failure means: not ready, and say why
            response.status_code = 503
            response.headers["Retry-After"] = RETRY_AFTER
            return {"status": "unavailable", "reason": type(exc).__name__}
        if not current:
            response.status_code = 503
            return {"status": "unavailable", "reason": "schema not migrated"}
        with engine.connect() as conn:
            units = conn.execute(text("SELECT COUNT(*) FROM unit")).scalar_one()
        if not units:  # complaints could not be routed anywhere
            response.status_code = 503
            return {"status": "unavailable", "reason": "no units: run `hailong catalogue load`"}
        return {"status": "ready"}

    app.fast_routes = ctx.fast_routes
    for plugin in plugins:
        plugin.install(app)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory`), one app per worker process."""
    hide_link_tokens()
    return create_app()


class _Config(uvicorn.Config):
    """uvicorn's config, with a listening socket that keeps TCP_NODELAY on its connections.

    With `--workers N` uvicorn binds the socket itself with `proto` left at 0; accepted
    sockets inherit it and asyncio only sets TCP_NODELAY when `proto` is IPPROTO_TCP
    (uvicorn issue #3149). Nagle's algorithm then holds every response's second write until
    the client's delayed ACK, ~40 ms per keep-alive request: measured here, the webhook with
    two workers fell from ~1,600 req/s (one worker) to ~600, both CPUs mostly idle.
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            family, kind = sock.family, sock.type
            sock = socket.socket(family, kind, socket.IPPROTO_TCP, fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


class HideLinkTokens(logging.Filter):
    """uvicorn's access log without the dossier token of a web link (`GET /?d=<token>`): a
    valid token rates someone's dossier."""

    _TOKEN = re.compile(r"([?&]d=)[^\s&\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def hide_link_tokens() -> None:
    """Install `HideLinkTokens` on uvicorn's access logger (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideLinkTokens) for f in access.filters):
        access.addFilter(HideLinkTokens())


def run(
    host: str, port: int, workers: int = 1, *, log_level: str = "info", access_log: bool = True
) -> None:
    """Serve `app_factory` under uvicorn: one process, or a supervisor and `workers` children."""
    from uvicorn.supervisors import Multiprocess

    config = _Config(
        "hailong.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
