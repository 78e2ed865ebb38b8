"""`hailong invite`: register a completed dossier and print its signed links (and a QR code).

The terminal twin of `POST /api/v1/dossiers`, for a counter with no one-stop-shop
integration: the officer runs it when handing back the result, and prints the QR code on
the receipt.
"""

from __future__ import annotations

import json
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
        wanted = DossierIn(code=dossier, unit=unit, procedure=procedure)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = {"code": "--dossier"}.get(str(first["loc"][0]), f"--{first['loc'][0]}")
        raise UserError(f"{option}: {first['msg']}") from exc
    engine = open_database(settings)
    try:
        registered, links = issue(
            engine, settings, code=wanted.code, unit=wanted.unit, procedure=wanted.procedure
        )
    except DossierError as exc:
        raise UserError(str(exc)) from exc
    finally:
        engine.dispose()
    target = {"web": links.web, "telegram": links.telegram, "zalo": links.zalo}[qr_link]
    if qr is not None:
        if target is None:
            raise UserError(f"--qr-link {qr_link}: that channel is not configured")
        write_qr(target, qr)
    if as_json:
        typer.echo(json.dumps(describe(registered, links).model_dump(mode="json"), indent=2))
        return
    d = registered.dossier
    state = "registered" if registered.created else "already registered"
    typer.echo(f"dossier {d.code} {state} (unit {d.unit_code}, procedure {d.procedure_code})")
    typer.echo(f"web:      {links.web}")
    typer.echo(f"telegram: {links.telegram or 'not configured (TELEGRAM_BOT_USERNAME)'}")
    typer.echo(f"zalo:     {links.zalo or 'not configured (ZALO_OA_ID)'}")
    typer.echo(f"expires:  {links.expires_at:%Y-%m-%d %H:%M} UTC")
    if qr is not None:
        typer.echo(f"qr:       {qr} ({qr_link} link)")


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
