"""The `hailong` command line. Each sub-command lives beside the layer it drives."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from base.errors import UserError
from storage.db import DatabaseError
from survey.loader import QuestionnaireError

app = typer.Typer(
    name="hailong",
    help="hailong: citizens' satisfaction surveys and feedback over chat.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    import demo.command
    import nlp.cli
    import reports.cli
    from hailong import channels_cli, commands, invite

    app.add_typer(commands.db_app, name="db")
    app.add_typer(commands.outbox_app, name="outbox")
    app.add_typer(commands.catalogue_app, name="catalogue")
    app.add_typer(commands.staff_app, name="staff")
    app.command("worker")(commands.worker)
    app.command("chat")(commands.chat)
    app.command("serve")(commands.serve)
    app.command("report")(reports.cli.report)
    app.command("export")(reports.cli.export)
    app.command("demo")(demo.command.demo_command)
    app.command("invite")(invite.invite)
    app.add_typer(nlp.cli.app, name="nlp", help="Vietnamese feedback router.")
    channels_cli.register(app)  # telegram, zalo


def main() -> None:
    """Entry point of the `hailong` console script."""
    _register()
    try:
        app()
    except (UserError, DatabaseError, QuestionnaireError) as exc:
        print(f"hailong: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as exc:  # a bad setting in the environment or .env
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        print(f"hailong: error: setting {name}: {first['msg']}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
