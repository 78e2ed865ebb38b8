"""`POST /api/v1/dossiers`: a one-stop-shop system registers a completed dossier (hồ sơ)
and gets back the signed links to print on the citizen's receipt.

Also the `issue` function behind `hailong invite`, so the terminal and the API do exactly
the same thing.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from base.settings import Settings
from bot.http_json import body_schema, read_json
from bot.links import DossierLinks, LinkSecretMissing, links_for
from storage import dossiers
from storage.db import session_scope
from storage.dossiers import DossierConflict, DossierError, Registered
from storage.types import utcnow

# Dossier codes from one-stop-shop systems look like "000.00.20.H29-250101-0001".
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"


class DossierIn(BaseModel):
    """A completed dossier as the one-stop-shop system knows it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Dossier code from the receipt")
    unit: str = Field(pattern=r"^[A-Z0-9_]{2,32}$", description="Unit code (catalogue)")
    procedure: str = Field(pattern=r"^[A-Z0-9_]{2,64}$", description="Procedure code (TTHC)")
    received_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = Field(default=None, description="Default: now")


class LinksOut(BaseModel):
    web: str
    telegram: str | None
    zalo: str | None


class DossierOut(BaseModel):
    """The registered dossier and the links to hand to the citizen."""

    code: str
    unit: str
    procedure: str
    created: bool = Field(description="False when the dossier was already registered")
    token: str
    expires_at: datetime
    links: LinksOut


def issue(
    engine: Engine,
    settings: Settings,
    *,
    code: str,
    unit: str,
    procedure: str,
    received_at: datetime | None = None,
    due_at: datetime | None = None,
    completed_at: datetime | None = None,
) -> tuple[Registered, DossierLinks]:
    """Register the dossier (idempotent per code) and sign its links.

    Raises LinkSecretMissing before storing anything when LINK_SECRET is empty, and
    storage.dossiers.DossierError for unknown codes or a conflicting earlier registration.
    """
    if not settings.link_secret:
        raise LinkSecretMissing("LINK_SECRET is not set: dossier links cannot be signed")
    with session_scope(engine) as session:
        registered = dossiers.register(
            session,
            code=code,
            unit_code=unit,
            procedure_code=procedure,
            now=utcnow(),
            received_at=received_at,
            due_at=due_at,
            completed_at=completed_at,
        )
    return registered, links_for(settings, registered.dossier)


def describe(registered: Registered, links: DossierLinks) -> DossierOut:
    """The API's (and `hailong invite --json`'s) view of an issued dossier."""
    d = registered.dossier
    return DossierOut(
        code=d.code,
        unit=d.unit_code,
        procedure=d.procedure_code,
        created=registered.created,
        token=links.token,
        expires_at=links.expires_at,
        links=LinksOut(web=links.web, telegram=links.telegram, zalo=links.zalo),
    )


def key_accepted(given: str, keys: list[str]) -> bool:
    """Whether `given` is one of `keys`, comparing every key in constant time."""
    found = False
    for key in keys:
        # No early exit: the time taken does not tell which key (or how much of it) matched.
        found |= bool(key) and hmac.compare_digest(given.encode(), key.encode())
    return found


def router(engine: Engine, settings: Settings) -> APIRouter:
    """The dossier registration API."""
    api = APIRouter(prefix="/api/v1", tags=["dossiers"])

    @api.post(
        "/dossiers",
        response_model=DossierOut,
        status_code=201,
        openapi_extra=body_schema(DossierIn),
        responses={
            200: {"model": DossierOut, "description": "Already registered: the same links"},
            400: {"description": "Malformed JSON"},
            401: {"description": "X-API-Key missing"},
            403: {"description": "X-API-Key wrong"},
            409: {"description": "Code registered with another unit or procedure"},
            422: {"description": "Invalid fields, unknown unit or procedure"},
            503: {"description": "LINK_SECRET not set on the server"},
        },
    )
    async def register_dossier(
        request: Request,
        x_api_key: Annotated[str | None, Header(description="One of API_KEYS")] = None,
    ) -> JSONResponse:
        """Register a completed dossier and return its signed web, Telegram and Zalo links.

        Idempotent: the same code again returns 200 and the same links.
        """
        if not x_api_key:
            raise HTTPException(401, "X-API-Key header missing", {"WWW-Authenticate": "ApiKey"})
        if not key_accepted(x_api_key, settings.api_keys):
            raise HTTPException(403, "X-API-Key not accepted")
        if not settings.link_secret:
            raise HTTPException(503, "LINK_SECRET is not set on the server: links cannot be signed")
        body = await read_json(request, DossierIn)
        try:
            registered, links = await run_in_threadpool(
                issue,
                engine,
                settings,
                code=body.code,
                unit=body.unit,
                procedure=body.procedure,
                received_at=body.received_at,
                due_at=body.due_at,
                completed_at=body.completed_at,
            )
        except DossierConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        except DossierError as exc:
            raise HTTPException(422, str(exc)) from exc
        out = describe(registered, links)
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if out.created else 200)

    return api
