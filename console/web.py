"""The console as a plugin of `hailong serve` (`hailong.server.CHANNEL_PLUGINS`): its routes
under /console, its static files (htmx vendored, no CDN), and the security headers of every
console response (CSP without inline scripts, no framing, no referrer)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from base.settings import Settings
from bot.channels.context import AppContext
from console import admin, pages
from console import labels as t
from console.auth import LoginRequired
from console.sessions import Sessions, session_key

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


class SecurityHeaders:
    """Plain ASGI: adds the headers to /console responses only (the webhooks keep their
    speed), and keeps console pages out of shared caches."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not scope["path"].startswith("/console/static"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_console(app: FastAPI, ctx: AppContext) -> None:
    """Add the console's routes, static files, error pages and headers to `app`."""
    settings = ctx.settings
    key = session_key(settings)
    if key is None:
        log.warning("console: no CONSOLE_SECRET or LINK_SECRET, nobody can sign in")
    state = pages.ConsoleState(
        settings=settings,
        engine=ctx.engine,
        desk=ctx.service.desk,
        sessions=Sessions(key, settings.console_session_hours) if key else None,
        secure=settings.public_base_url.startswith("https://"),
    )
    app.state.console = state
    app.include_router(pages.router)
    app.include_router(admin.router)  # admin pages: questionnaires, staff, units
    try:  # the analysts' dashboard, written beside the inbox
        from console import dashboard

        app.include_router(dashboard.router)
        state.dashboard = True
    except ModuleNotFoundError as exc:
        if exc.name != "console.dashboard":
            raise
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(SecurityHeaders)

    async def login_required(request: Request, _exc: Exception) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = "/console/login?next=" + quote(pages.local_path(target), safe="")
        if request.headers.get("HX-Request") == "true":  # htmx: move the whole page
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    async def not_visible(request: Request, _exc: Exception) -> Response:
        return pages.render(request, "error.html", {"message": t.NOT_FOUND}, 404)

    async def csrf_refused(request: Request, _exc: Exception) -> Response:
        return pages.render(request, "error.html", {"message": t.CSRF_REFUSED}, 403)

    async def http_error(request: Request, exc: Exception) -> Response:
        # Console pages answer a refused role in Vietnamese; everything else as before.
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if exc.status_code == 403 and path.startswith("/console") and not _wants_json(request):
            return pages.render(request, "error.html", {"message": t.FORBIDDEN}, 403)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(pages.NotVisible, not_visible)
    app.add_exception_handler(pages.CsrfRefused, csrf_refused)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.endswith(".json")
        or path.startswith("/console/api/")
        or "application/json" in request.headers.get("accept", "")
    )


class ConsolePlugin:
    """The web console for unit staff and analysts; always on (sign-in needs a key)."""

    name = "console"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @classmethod
    def enabled(cls, _settings: Settings) -> bool:
        return True

    def install(self, app: FastAPI) -> None:
        install_console(app, self.ctx)

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing to stop."""
