"""CLI commands of the core: database, terminal chat, outbox."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from base.errors import UserError
from base.settings import get_settings
from bot.channels.console import ConsoleTransport, run_chat
from bot.sender import Sender
from hailong.app import check_wording, complaint_desk, conversation_service, open_database
from storage import migrate, outbox, surveys
from storage.db import session_scope

MIN_PASSWORD = 12  # console.sessions.MIN_PASSWORD, checked here before the hash

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing messages.", no_args_is_help=True)
catalogue_app = typer.Typer(help="Units and procedures (the catalogue).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "heads",
) -> None:
    """Create or migrate the schema to the newest (or given) revision."""
    engine = open_database(get_settings(), require_current=False)
    migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' drops everything")],
) -> None:
    """Take the schema back to an older revision."""
    engine = open_database(get_settings(), require_current=False)
    migrate.downgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    engine = open_database(get_settings(), require_current=False)
    current = migrate.current_revision(engine) or "base (empty)"
    state = "up to date" if migrate.is_current(engine) else "needs `hailong db upgrade`"
    typer.echo(f"{current} ({state})")


@catalogue_app.command("load")
def catalogue_load(
    file: Annotated[
        Path | None, typer.Option("--file", help="Catalogue YAML (default: the shipped one)")
    ] = None,
) -> None:
    """Insert or update units and procedures by code; rows not in the file are kept."""
    from storage.catalogue import load_catalogue, upsert_catalogue

    catalogue = load_catalogue(file)
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        units, procedures = upsert_catalogue(session, catalogue)
    typer.echo(f"catalogue: {len(units)} units, {len(procedures)} procedures")


def chat(
    user: Annotated[str, typer.Option("--user", help="Your user id in this terminal channel")],
    dossier: Annotated[
        str | None, typer.Option("--dossier", help="Dossier code to rate (from the receipt)")
    ] = None,
) -> None:
    """Take the survey in the terminal; reads one answer per line from standard input."""
    user = user.strip()
    if not user or len(user) > 64:
        raise UserError("--user must be 1 to 64 characters")
    settings = get_settings()
    engine = open_database(settings)
    check_wording(settings, engine)
    service = conversation_service(settings, engine)
    if dossier is not None:
        with session_scope(engine) as session:
            if surveys.dossier_info(session, dossier) is None:
                raise UserError(f"unknown dossier {dossier!r}")
    sender = Sender(engine, ConsoleTransport(sys.stdout))
    run_chat(
        service,
        sender,
        user,
        sys.stdin,
        dossier=dossier,
        prompt=sys.stdout if sys.stdin.isatty() else None,
    )


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level: critical, error, warning, info, debug")
    ] = "info",
    access_log: Annotated[bool, typer.Option(help="Log one line per HTTP request")] = True,
) -> None:
    """Serve the web chat and the Telegram/Zalo webhooks (FastAPI under uvicorn)."""
    from hailong import server

    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise UserError(f"unknown log level {log_level!r}")
    settings = get_settings()
    engine = open_database(settings)  # fail fast, with one line, before forking workers
    check_wording(settings, engine)
    if workers > 1 and engine.dialect.name == "sqlite":
        raise UserError("several workers need PostgreSQL: SQLite allows one writer at a time")
    engine.dispose()
    server.run(host, port, workers, log_level=log_level, access_log=access_log)


@outbox_app.command("status")
def outbox_status() -> None:
    """Messages waiting, sent and dead-lettered, by channel."""
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        counts = outbox.status_counts(session)
    table = Table("channel", "pending", "sent", "dead")
    for channel in sorted({c for c, _ in counts}):
        table.add_row(
            channel, *(str(counts.get((channel, s), 0)) for s in ("pending", "sent", "dead"))
        )
    Console().print(table)


OUTBOX_CHANNELS = ("telegram", "zalo", "web", "console")


@outbox_app.command("retry")
def outbox_retry(
    dead: Annotated[
        bool, typer.Option("--dead", help="Also re-queue dead-lettered messages")
    ] = False,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only this channel: telegram, zalo or web")
    ] = None,
) -> None:
    """After an outage: messages waiting for their next retry are due now; with --dead, dead
    letters go back to the queue too, with a fresh retry period. The running sender sends
    them."""
    from storage.types import utcnow

    if channel is not None and channel not in OUTBOX_CHANNELS:
        raise UserError(f"unknown channel {channel!r}: telegram, zalo or web")
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        requeued, waiting = outbox.requeue(session, utcnow(), dead=dead, channel=channel)
    where = f" ({channel})" if channel else ""
    if dead:
        typer.echo(f"{requeued} dead letters re-queued{where}")
    typer.echo(f"{waiting} waiting messages due now{where}")


staff_app = typer.Typer(
    help="Unit staff who handle complaints in Telegram groups.", no_args_is_help=True
)


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Option("--name", help="Full name shown on cards")],
    unit: Annotated[
        str | None, typer.Option("--unit", help="Unit code (required for staff and lead)")
    ] = None,
    telegram_id: Annotated[
        int | None, typer.Option("--telegram-id", help="The staff member's Telegram user id")
    ] = None,
    role: Annotated[str, typer.Option("--role", help="staff, lead, analyst or admin")] = "staff",
    email: Annotated[
        str | None, typer.Option("--email", help="Console sign-in e-mail (with --password-stdin)")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help=f"Read the console password (at least {MIN_PASSWORD} characters) from stdin",
        ),
    ] = False,
) -> None:
    """Register a staff member (again with the same Telegram id or e-mail: update them);
    with --email and --password-stdin they can sign in to the web console."""
    from storage.complaints import add_staff

    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        raise UserError("--name must be 1 to 200 characters")
    if role not in ("staff", "lead", "analyst", "admin"):
        raise UserError(f"unknown role {role!r}: staff, lead, analyst or admin")
    if role in ("staff", "lead") and unit is None:
        raise UserError(f"--unit is required for role {role}")
    if telegram_id is not None and telegram_id <= 0:
        raise UserError("--telegram-id must be a positive Telegram user id")
    password_hash = None
    if email is not None or password_stdin:
        email = (email or "").strip().lower()
        if not _EMAIL.fullmatch(email):
            raise UserError("--email must be an e-mail address (with --password-stdin)")
        if not password_stdin:
            raise UserError("--email needs --password-stdin (the password is read from stdin)")
        password_hash = hash_password_from_stdin()
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        try:
            staff = add_staff(
                session,
                name=name,
                unit_code=unit,
                role=role,
                telegram_id=telegram_id,
                email=email,
                password_hash=password_hash,
            )
        except LookupError as exc:
            raise UserError(f"{exc.args[0]} (see `hailong catalogue load`)") from exc
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        complaint_desk(get_settings()).redraw_released(session)  # cards the staff held
        login = f", console login {email}" if email else ""
        typer.echo(
            f"staff {staff.id}: {staff.name}, {role}" + (f" of {unit}" if unit else "") + login
        )


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[a-z0-9-]{2,63}")


def hash_password_from_stdin() -> str:
    """One line from stdin (a terminal: read without echo), checked and hashed (Argon2id)."""
    import getpass

    from console.sessions import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1000:
        raise UserError("the password is longer than 1000 characters")
    return hash_password(password)


@staff_app.command("remove")
def staff_remove(
    telegram_id: Annotated[
        int | None, typer.Option("--telegram-id", help="Telegram user id")
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Console sign-in e-mail (an e-mail-only account)")
    ] = None,
) -> None:
    """Deactivate a staff member: their buttons are refused and their console sessions end
    from now on. Name them by --telegram-id or by --email."""
    from storage.admin import remove_staff_by_email
    from storage.complaints import remove_staff

    if (telegram_id is None) == (email is None):
        raise UserError("give exactly one of --telegram-id or --email")
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        if email is not None:
            if not remove_staff_by_email(session, email):
                raise UserError(f"no staff member with e-mail {email.strip().lower()}")
        elif telegram_id is not None and not remove_staff(session, telegram_id):
            raise UserError(f"no staff member with Telegram id {telegram_id}")
        complaint_desk(get_settings()).redraw_released(session)  # cards the staff held
    if email is not None:
        typer.echo(f"staff with e-mail {email.strip().lower()} deactivated")
    else:
        typer.echo(f"staff with Telegram id {telegram_id} deactivated")


@staff_app.command("link-code")
def staff_link_code(
    unit: Annotated[str, typer.Option("--unit", help="Unit code whose group is to be linked")],
) -> None:
    """Print a one-time code; `/lienket CODE` in a Telegram group links it to the unit."""
    from datetime import timedelta

    from storage.complaints import new_link_code, unit_by_code
    from storage.types import utcnow

    settings = get_settings()
    engine = open_database(settings)
    with session_scope(engine) as session:
        row = unit_by_code(session, unit)
        if row is None or row.id is None:
            raise UserError(f"unknown unit {unit!r} (see `hailong catalogue load`)")
        ttl = timedelta(hours=settings.link_code_ttl_hours)
        code = new_link_code(session, row.id, utcnow(), ttl)
    typer.echo(f"/lienket {code}")
    typer.echo(f"(type it in the unit's Telegram group within {settings.link_code_ttl_hours:g} h)")


privacy_app = typer.Typer(help="Citizens' deletion requests.", no_args_is_help=True)


@privacy_app.command("forget")
def privacy_forget(
    email: Annotated[
        str | None, typer.Option("--email", help="E-mail the Open311 requests were filed with")
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help="Phone the Open311 requests were filed with")
    ] = None,
) -> None:
    """A deletion request received by post, e-mail or at a counter, for complaints filed
    through Open311: the submitter's contact, citizen record and every copy of their e-mail,
    phone and name erased; the complaints stay, anonymous (the same as
    POST /open311/v2/privacy/delete.json). A chat's citizen uses /xoa in the chat instead."""
    from bot.engine.complaint import valid_phone
    from storage.open311 import forget_submitter
    from storage.types import utcnow

    if email is None and phone is None:
        raise UserError("give --email, --phone or both")
    address = email.strip().lower() if email is not None else None
    if address is not None and not _EMAIL.fullmatch(address):
        raise UserError(f"not an e-mail address: {address!r}")
    number = valid_phone(phone) if phone is not None else None
    if phone is not None and number is None:
        raise UserError(f"not a Vietnamese phone number: {phone!r}")
    engine = open_database(get_settings())
    with session_scope(engine) as session:
        done = forget_submitter(session, email=address, phone=number, actor="cli", at=utcnow())
        complaint_desk(get_settings()).redraw_cards(session, done.complaint_ids)
    typer.echo(
        f"{done.requests} Open311 requests: the submitter's personal data erased"
        f" ({done.citizens} citizen records deleted); the complaints stay"
    )


def worker(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit")] = False,
) -> None:
    """The complaint scheduler alone: reminders, escalations, triage alarms (also runs inside
    `hailong serve`). Several may run: each complaint is acted on once."""
    from bot.scheduler import Scheduler

    settings = get_settings()
    engine = open_database(settings)
    scheduler = Scheduler(engine, complaint_desk(settings), settings.scheduler_interval_seconds)
    if once:
        typer.echo(f"{scheduler.run_once()} reminders, escalations and alarms")
        return
    scheduler.run_forever()
