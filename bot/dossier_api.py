"""`POST /api/v1/dossiers`: a one-stop-shop system registers a completed dossier (hồ sơ)
and gets back the signed links to print on the citizen's receipt.

Also the `issue` function behind `hailong invite`, so the terminal and the API do exactly
the same thing.

With the citizen's mobile number and their consent (`phone`, `zns_consent`), and ZNS set up
(ZALO_ZNS_TEMPLATE_ID), the rating invitation is queued in the same transaction as the
dossier, to go out by Zalo's Notification Service (bot/zns.py). The number is kept nowhere
but in that outbox row, and deleted there once the invitation is sent or refused for good,
or when the link expires. Without number or consent nothing is queued and the number is not
kept: the counter's QR code opens the web link.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from base.settings import Settings
from bot import zns
from bot.http_json import body_schema, read_json
from bot.links import DossierLinks, LinkSecretMissing, links_for
from storage import dossiers, invitations
from storage.db import session_scope
from storage.dossiers import DossierConflict, DossierError, Registered
from storage.types import utcnow

# Dossier codes from one-stop-shop systems look like "000.00.20.H29-250101-0001".
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$"
ZnsStatus = Literal["queued", "not_requested", "not_configured"]


class DossierIn(BaseModel):
    """A completed dossier as the one-stop-shop system knows it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Dossier code from the receipt")
    unit: str = Field(pattern=r"^[A-Z0-9_]{2,32}$", description="Unit code (catalogue)")
    procedure: str = Field(pattern=r"^[A-Z0-9_]{2,64}$", description="Procedure code (TTHC)")
    received_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = Field(default=None, description="Default: now")
    phone: str | None = Field(
        default=None,
        max_length=32,
        description="The citizen's mobile number (0…, 84… or +84…), for the rating invitation "
        "by Zalo ZNS; used only with zns_consent, deleted once the invitation is sent",
    )
    zns_consent: bool = Field(
        default=False,
        description="The citizen agreed to receive the rating invitation by Zalo on this number",
    )

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        phone = zns.normalise_phone(value)
        if phone is None:
            raise ValueError("not a Vietnamese mobile number (e.g. 0901234567 or 84901234567)")
        return phone


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
    zns: ZnsStatus = Field(
        description="The rating invitation by Zalo ZNS: queued (at the dossier's first "
        "registration; registering it again changes nothing); not_requested (no phone or no "
        "consent); not_configured (ZNS off: the phone is not kept)"
    )


@dataclass(frozen=True)
class Issued:
    """What `issue` did: the dossier, its links, and whether an invitation was queued."""

    registered: Registered
    links: DossierLinks
    zns: ZnsStatus


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
    phone: str | None = None,
    zns_consent: bool = False,
) -> Issued:
    """Register the dossier (idempotent per code), sign its links, and queue its rating
    invitation by ZNS when `phone` (84… form, see `zns.normalise_phone`) comes with consent.

    The invitation is queued only by the call that creates the dossier, in the same
    transaction: one invitation per dossier, however often it is registered again.
    Raises LinkSecretMissing before storing anything when LINK_SECRET is empty, and
    storage.dossiers.DossierError for unknown codes or a conflicting earlier registration.
    """
    if not settings.link_secret:
        raise LinkSecretMissing("LINK_SECRET is not set: dossier links cannot be signed")
    status: ZnsStatus = "not_requested"
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
        links = links_for(settings, registered.dossier)
        if not registered.created:
            recipient = zns.recipient(registered.dossier.id)
            if invitations.queued(session, "zalo", recipient):
                status = "queued"
        elif phone and zns_consent:
            status = "not_configured"
            if zns.enabled(settings):
                d = registered.dossier
                unit_name, procedure_name = invitations.names(
                    session, d.unit_code, d.procedure_code
                )
                payload = zns.invitation(phone, d, unit_name, procedure_name, links)
                invitations.queue(session, "zalo", zns.recipient(d.id), payload)
                status = "queued"
    return Issued(registered, links, status)


def describe(issued: Issued) -> DossierOut:
    """The API's (and `hailong invite --json`'s) view of an issued dossier."""
    d, links = issued.registered.dossier, issued.links
    return DossierOut(
        code=d.code,
        unit=d.unit_code,
        procedure=d.procedure_code,
        created=issued.registered.created,
        token=links.token,
        expires_at=links.expires_at,
        links=LinksOut(web=links.web, telegram=links.telegram, zalo=links.zalo),
        zns=issued.zns,
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

        Idempotent: the same code again returns 200 and the same links. With `phone` and
        `zns_consent` the rating invitation goes to the citizen by Zalo ZNS (`zns` says).
        """
        if not x_api_key:
            raise HTTPException(401, "X-API-Key header missing", {"WWW-Authenticate": "ApiKey"})
        if not key_accepted(x_api_key, settings.api_keys):
            raise HTTPException(403, "X-API-Key not accepted")
        if not settings.link_secret:
            raise HTTPException(503, "LINK_SECRET is not set on the server: links cannot be signed")
        body = await read_json(request, DossierIn)
        try:
            issued = await run_in_threadpool(
                issue,
                engine,
                settings,
                code=body.code,
                unit=body.unit,
                procedure=body.procedure,
                received_at=body.received_at,
                due_at=body.due_at,
                completed_at=body.completed_at,
                phone=body.phone,
                zns_consent=body.zns_consent,
            )
        except DossierConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        except DossierError as exc:
            raise HTTPException(422, str(exc)) from exc
        out = describe(issued)
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if out.created else 200)

    return api
