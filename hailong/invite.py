"""`hailong invite`: register a completed dossier and print its signed links (and a QR code).

The terminal twin of `POST /api/v1/dossiers`, for a counter with no one-stop-shop
integration: the officer runs it when handing back the result, and prints the QR code on
the receipt. With `--phone` and `--zns-consent` the citizen also gets the rating invitation
by Zalo ZNS (bot/zns.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from base.errors import UserError

QR_LINKS = ("web", "telegram", "zalo")


def invite(
    dossier: Annotated[str, typer.Option("--dossier", help="Dossier code, as on the receipt")],
    procedure: Annotated[
        str, typer.Option("--procedure", help="Procedure code (TTHC) from the catalogue")
    ],
    unit: Annotated[str, typer.Option("--unit", help="Unit code from the catalogue, e.g. STP")],
    qr: Annotated[
        Path | None,
        typer.Option(
            "--qr", help="Also write a QR code of the link to this PNG file", dir_okay=False
        ),
    ] = None,
    qr_link: Annotated[
        str, typer.Option("--qr-link", help="Link the QR code opens: web, telegram or zalo")
    ] = "web",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, as the API returns")] = False,
    phone: Annotated[
        str | None,
        typer.Option(
            "--phone",
            help="The citizen's mobile number, for the rating invitation by Zalo ZNS "
            "(only with --zns-consent; deleted once the invitation is sent)",
        ),
    ] = None,
    zns_consent: Annotated[
        bool,
        typer.Option(
            "--zns-consent", help="The citizen agreed to get the invitation by Zalo on --phone"
        ),
    ] = False,
) -> None:
    """Register a completed dossier and print the signed links a citizen uses to rate it."""
    from base.settings import get_settings
    from bot.dossier_api import DossierIn, describe, issue
    from hailong.app import open_database
    from storage.dossiers import DossierError

    settings = get_settings()
    if not settings.link_secret:
        raise UserError("LINK_SECRET is not set: dossier links cannot be signed (see .env.example)")
    if qr_link not in QR_LINKS:
        raise UserError(f"--qr-link must be one of {', '.join(QR_LINKS)}")
    if qr is not None and qr.suffix.lower() != ".png":
        raise UserError(f"--qr {qr}: the QR code is written as PNG; name the file *.png")
    try:
        wanted = DossierIn(
            code=dossier, unit=unit, procedure=procedure, phone=phone, zns_consent=zns_consent
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"code": "--dossier"}.get(str(first["loc"][0]), f"--{first['loc'][0]}")
        raise UserError(f"{option}: {first['msg']}") from exc
    if qr is not None:
        # Everything about the QR code is checked before registering: a failure must not
        # leave a dossier (and an invitation) behind.
        configured = {
            "web": True,
            "telegram": bool(settings.telegram_bot_username.strip()),
            "zalo": bool(settings.zalo_oa_id),
        }
        if not configured[qr_link]:
            raise UserError(f"--qr-link {qr_link}: that channel is not configured")
        check_writable(qr)
    engine = open_database(settings)
    try:
        issued = issue(
            engine,
            settings,
            code=wanted.code,
            unit=wanted.unit,
            procedure=wanted.procedure,
            phone=wanted.phone,
            zns_consent=wanted.zns_consent,
        )
    except DossierError as exc:
        raise UserError(str(exc)) from exc
    finally:
        engine.dispose()
    links = issued.links
    if qr is not None:
        target = {"web": links.web, "telegram": links.telegram, "zalo": links.zalo}[qr_link]
        write_qr(target or links.web, qr)
    if as_json:
        typer.echo(json.dumps(describe(issued).model_dump(mode="json"), indent=2))
        return
    d = issued.registered.dossier
    state = "registered" if issued.registered.created else "already registered"
    typer.echo(f"dossier {d.code} {state} (unit {d.unit_code}, procedure {d.procedure_code})")
    typer.echo(f"web:      {links.web}")
    typer.echo(f"telegram: {links.telegram or 'not configured (TELEGRAM_BOT_USERNAME)'}")
    typer.echo(f"zalo:     {links.zalo or 'not configured (ZALO_OA_ID)'}")
    typer.echo(f"expires:  {links.expires_at:%Y-%m-%d %H:%M} UTC")
    typer.echo(f"zns:      {ZNS_STATES[issued.zns]}")
    if qr is not None:
        typer.echo(f"qr:       {qr} ({qr_link} link)")


ZNS_STATES = {
    "queued": "rating invitation queued for the citizen's Zalo (one per dossier; the phone "
    "is deleted once it is sent)",
    "not_requested": "no invitation (needs --phone and --zns-consent)",
    "not_configured": "no invitation: ZNS is off (ZALO_APP_ID, ZALO_ZNS_TEMPLATE_ID); "
    "phone not kept",
}


def check_writable(path: Path) -> None:
    """Refuse, before anything is stored, a QR code path that cannot be written: a missing
    folder, a folder in its place, no permission. Nothing is created or truncated here."""
    folder = path.parent
    if path.is_dir():
        raise UserError(f"--qr {path}: is a folder; name a *.png file")
    if not folder.is_dir():
        raise UserError(f"--qr {path}: folder {folder} does not exist; create it first")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise UserError(f"--qr {path}: cannot write there (permission denied)")


def write_qr(url: str, path: Path) -> None:
    """Write a QR code of `url` as a PNG big enough to print on a receipt."""
    import segno

    # A full QR code (never a Micro QR, which phone cameras often do not read), medium
    # error correction so a slightly smudged printout still scans.
    code = segno.make_qr(url, error="m")
    try:
        code.save(str(path), kind="png", scale=8, border=4)
    except OSError as exc:
        raise UserError(f"--qr {path}: cannot write ({exc.strerror})") from exc
