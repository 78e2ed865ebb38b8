"""The `hailong` command line. Each sub-command lives beside the layer it drives."""

from __future__ import annotations

import sys
from typing import Any

import typer
from pydantic import ValidationError

from base.errors import UserError
from base.settings import describe, get_settings
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
    app.add_typer(commands.privacy_app, name="privacy")
    app.command("worker")(commands.worker)
    app.command("chat")(commands.chat)
    app.command("serve")(commands.serve)
    app.command("report")(reports.cli.report)
    app.command("export")(reports.cli.export)
    app.command("demo")(demo.command.demo_command)
    app.command("invite")(invite.invite)
    app.add_typer(nlp.cli.app, name="nlp", help="Vietnamese feedback router.")
    channels_cli.register(app)  # telegram, zalo


def main(args: list[str] | None = None) -> None:
    """Entry point of the `hailong` console script.

    Every failure is one line on stderr, `hailong: error: ...` (a usage error may add one hint
    line), and a non-zero exit: 2 for a usage error, a wrong setting or bad input. Click's own
    reporting (a usage block and an error box) is bypassed for that: standalone mode off.
    """
    argv = sys.argv[1:] if args is None else args
    _register()
    command = typer.main.get_command(app)
    try:
        if argv and "--help" not in argv:
            get_settings()  # any invalid setting stops every command, before it starts
        code = command.main(argv, prog_name="hailong", standalone_mode=False)
    except typer.TyperException as exc:  # Typer's (vendored) Click: usage errors among them
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())  # `hailong` or a group alone: its help
            sys.exit(2)
        where = _command_path(command, argv)
        _fail(f"{where}: {exc.format_message()}" if where else exc.format_message())
        if exc.exit_code == 2:  # a usage error: say where the usage is
            print(f"hailong: see `{f'hailong {where}'.strip()} --help`", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted")
        sys.exit(1)
    except (UserError, DatabaseError, QuestionnaireError) as exc:
        _fail(str(exc))
        sys.exit(2)
    except ValidationError as exc:  # a Settings object built with a bad value
        _fail(describe(exc))
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _command_path(command: Any, argv: list[str]) -> str:
    """The sub-command that `argv` names, as typed ("staff add"); "" for hailong itself."""
    path = []
    for word in argv:
        commands = getattr(command, "commands", {})
        if word not in commands:
            break
        command = commands[word]
        path.append(word)
    return " ".join(path)


def _fail(message: str) -> None:
    # A message of several lines (an error from a library) stays one line.
    print(f"hailong: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    main()
