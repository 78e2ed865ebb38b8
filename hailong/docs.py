"""The API's documentation page and the site icon, served from this server alone.

FastAPI's default /docs loads Swagger UI from a CDN: on a city network without Internet the
page is blank. Its files come instead from the `fastapi-offline` package (MIT; it ships Swagger
UI 5 unmodified, Apache-2.0), mounted at /static/docs; only its files are used, not its app
factory. There is no /redoc: ReDoc fetches its logo from its own CDN whatever it is given.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from bot.channels.web import STATIC as WEB_STATIC

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static/docs"
FAVICON = WEB_STATIC / "favicon.ico"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Add /docs (and Swagger UI's OAuth2 redirect), its assets and /favicon.ico. The app must
    be made with `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            # Off: Swagger UI would send the spec to swagger.io's validator from any host but
            # localhost.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for it on every site; a week in their cache is plenty.
        return FileResponse(
            FAVICON, media_type="image/x-icon", headers={"Cache-Control": "max-age=604800"}
        )
