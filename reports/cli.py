"""`hailong report` and `hailong export`: argument checking, settings, files.

This is the only reports module that reads settings; the build and export functions take
explicit parameters. Everything that can be checked (arguments, database, schema) is checked
before `--out` is touched, and files are written to a temp name in the same folder and renamed
on success, so a failed run never leaves a half-written file.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from base.errors import UserError
from base.settings import Settings
from storage.db import DatabaseError

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
REPORT_FORMATS = ("table", "csv", "xlsx", "json")
REPORTS = ("satisfaction", "complaints", "close", "reopen", "rollup")
# The table's width when standard output is not a terminal: the survey report is laid out
# for 100 columns; the complaints report's wide tables keep their former width.
TABLE_WIDTH = 100
COMPLAINTS_TABLE_WIDTH = 160


def parse_date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value as a date; UserError naming the option otherwise."""
    if value is None or value == "":
        return None
    if not _DATE_RE.fullmatch(value.strip()):
        raise UserError(f"{option} {value!r} is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise UserError(f"{option} {value!r} is not a valid date: {exc}") from exc


def _check_dates(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise UserError(f"--from {date_from} is after --to {date_to}")


def open_database(url: str) -> Engine:
    """An engine on `url` whose schema is known to be current; UserError otherwise.

    A missing SQLite file is an error here: connecting would silently create an empty one.
    """
    from storage.db import make_engine
    from storage.migrate import is_current

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise UserError(f"invalid DATABASE_URL {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
            raise UserError(f"database file {path} does not exist (check DATABASE_URL)")
    try:
        engine = make_engine(url)
        if not is_current(engine):
            raise UserError("the database schema is not up to date; run `hailong db upgrade` first")
    except DatabaseError as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    except UserError:
        raise
    except Exception as exc:  # driver errors that are not OperationalError (bad host, auth)
        raise UserError(f"cannot use the database: {str(exc).splitlines()[0]}") from exc
    return engine


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temp path beside `target`, renamed onto it only if the block succeeds."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file owner-only; give the result the usual permissions (umask).
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_out(out: Path | None) -> None:
    """Refuse an --out in a missing folder before any work is done."""
    if out is not None and str(out.parent) and not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist")
    if out is not None and out.is_dir():
        raise UserError(f"--out {out} is a folder, not a file")


def _settings_engine() -> tuple[Engine, Settings]:
    from base.settings import get_settings

    settings = get_settings()
    return open_database(settings.database_url), settings


def report(
    what: Annotated[
        str,
        typer.Argument(
            help="Which report: satisfaction (the survey report) or complaints (phản ánh, "
            "kiến nghị).",
            show_default=True,
        ),
    ] = "satisfaction",
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="Breakdown: unit|procedure|field|element|channel|day|month|quarter|year "
            "(complaints: unit|ward|channel|day|month|quarter|year); commas combine "
            "(unit,month); repeat for several breakdowns. Default: unit,month.",
        ),
    ] = None,
    date_from: Annotated[
        str | None,
        typer.Option(
            "--from", help="First day included, YYYY-MM-DD (local: REPORT_TIMEZONE)."
        ),
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", help="Last day included, YYYY-MM-DD (local: REPORT_TIMEZONE)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | xlsx | json")] = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write to this file (default: standard output; xlsx only when it is not a "
            "terminal). Nothing is written into the current folder without --out.",
        ),
    ] = None,
    machine: Annotated[
        bool,
        typer.Option(
            "--machine",
            help="With --format csv: the stable machine form (English snake_case columns "
            "and codes, reports/README.md) instead of the analyst's Vietnamese headers.",
        ),
    ] = False,
    questionnaire: Annotated[
        str | None,
        typer.Option(
            "--questionnaire",
            "-q",
            help="Questionnaire code the figures are for (default: GENERAL_QUESTIONNAIRE).",
        ),
    ] = None,
    month: Annotated[
        str | None,
        typer.Option(
            "--month",
            help="One month, YYYY-MM (instead of --from/--to). A closed month shows its "
            "stored figures and what changed since; `report close|reopen` need it.",
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option("--live", help="A closed month: recompute instead of the stored figures."),
    ] = False,
    closed_by: Annotated[
        str | None,
        typer.Option("--closed-by", help="report close/reopen: who (default: the login name)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="report reopen: why (kept in the audit log).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="report rollup: every month, not only the last two."),
    ] = False,
) -> None:
    """Satisfaction report (default): criterion rates, element and overall indices, the
    Decision 766 ratio and the three-level distribution, with n, Wilson 95% intervals and
    targets. `hailong report complaints`: how complaints are handled (received, routed,
    answered on time, open, overdue, times, transfers, reopened, satisfaction, the Decision
    766 complaint ratios). `hailong report rollup [--full]`: rebuild now the dashboard's
    rollup (`hailong serve` does it every REPORT_ROLLUP_SECONDS)."""
    from reports.build import Report, build_report, parse_by
    from reports.closing import CLOSED_BREAKDOWNS, parse_month, stored_month, with_close
    from reports.render import write_csv, write_json, write_table, write_xlsx

    kind = what.strip().lower()
    if kind not in REPORTS:
        raise UserError(f"unknown report {what!r}; choose from {', '.join(REPORTS)}")
    fmt = fmt.strip().lower()
    if fmt not in REPORT_FORMATS:
        raise UserError(f"unknown --format {fmt!r}; choose from {', '.join(REPORT_FORMATS)}")
    if machine and fmt != "csv":
        raise UserError("--machine applies to --format csv only")
    if month is not None:
        if date_from is not None or date_to is not None:
            raise UserError("--month replaces --from/--to; give one or the other")
        try:
            first, last = parse_month(month)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        date_from, date_to = first.isoformat(), last.isoformat()
    if kind in ("close", "reopen"):
        if month is None:
            raise UserError(f"report {kind} needs --month YYYY-MM")
        _close_or_reopen(kind, month, questionnaire, closed_by, reason)
        return
    if kind == "complaints":
        _complaints_report(by, date_from, date_to, fmt, out, machine)
        return
    if kind == "rollup":
        _rebuild_rollup(full)
        return
    specs, start, end, out = _checked(parse_by, by, date_from, date_to, fmt, out)
    engine, settings = _settings_engine()
    try:
        options = satisfaction_options(engine, settings, questionnaire)
        code = options["questionnaire"]

        def build(breakdowns: Any) -> Report:
            return build_report(engine, breakdowns, start, end, **options)

        stored = stored_month(engine, code, month) if month and not live else None
        if stored is None or month is None:
            result = build(specs)
        else:
            missing = [",".join(s) for s in specs if tuple(s) not in CLOSED_BREAKDOWNS]
            if missing:
                raise UserError(
                    f"{month} is closed: its stored breakdowns are "
                    f"{' '.join(','.join(s) for s in CLOSED_BREAKDOWNS)}; not {' '.join(missing)}"
                    " (add --live to recompute)"
                )
            result = with_close(stored, month, build(CLOSED_BREAKDOWNS))
            wanted = {tuple(s) for s in specs}
            result.breakdowns = [b for b in result.breakdowns if b.by in wanted]
    except DatabaseError as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    finally:
        engine.dispose()
    _write(
        result, fmt, out, write_table, write_json, partial(write_csv, machine=machine), write_xlsx
    )


def satisfaction_options(
    engine: Engine, settings: Settings, questionnaire: str | None
) -> dict[str, Any]:
    """build_report's keyword arguments for `questionnaire` (default GENERAL_QUESTIONNAIRE),
    from the settings and checked against the data; UserError otherwise. The CLI and the web
    console both take them from here, so their reports are the same report."""
    files = _questionnaires(settings, engine)  # read once for both checks
    code = _report_questionnaire(engine, settings, questionnaire, files)
    return _build_options(settings, code, files)


def rollup_spec(engine: Engine, settings: Settings) -> Any:
    """What the dashboard's rollup is built with: the rules of the default report."""
    from reports.rollup import RollupSpec

    return RollupSpec.of(satisfaction_options(engine, settings, None))


def _rebuild_rollup(full: bool) -> None:
    from reports import rollup

    engine, settings = _settings_engine()
    try:
        done = rollup.rebuild(engine, rollup_spec(engine, settings), full=full)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot rebuild the rollup: {exc}") from exc
    finally:
        engine.dispose()
    if done is None:
        raise UserError("another process is rebuilding the rollup; try again later")
    what = "every month" if done.full else f"from {done.since}"
    typer.echo(f"rollup rebuilt ({what}): {done.rows} rows in {done.seconds:.1f} s")


def complaint_options(settings: Settings) -> dict[str, Any]:
    """build_complaint_report's keyword arguments from the settings (CLI and console)."""
    return {
        "min_n": settings.report_min_n,
        "satisfaction_target": settings.satisfaction_target,
        "timezone": settings.report_timezone,
    }


def _report_questionnaire(
    engine: Engine, settings: Settings, code: str | None, files: dict[str, Any]
) -> str:
    """The questionnaire a report is for: --questionnaire, else GENERAL_QUESTIONNAIRE; it must
    be one of the questionnaire `files` or have stored answers."""
    from reports.queries import questionnaire_versions

    code = (code or settings.general_questionnaire).strip()
    if code in files:
        return code
    with engine.connect() as conn:
        if questionnaire_versions(conn, code):
            return code
    known = ", ".join(sorted(files))
    raise UserError(f"unknown questionnaire {code!r}; known: {known}")


def _questionnaires(settings: Settings, engine: Engine) -> dict[str, Any]:
    """The questionnaires conversations ask now, by the bot's own rule (the newest stored
    version of each code, else the file's): the settings are checked against those."""
    from storage.catalogue import asked_questionnaires
    from survey.loader import QuestionnaireError, load_questionnaires

    try:
        files = load_questionnaires([settings.questionnaire_dir])
    except QuestionnaireError as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    try:
        return asked_questionnaires(engine, files)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot read the questionnaires: {exc}") from exc


def _build_options(settings: Settings, code: str, files: dict[str, Any]) -> dict[str, Any]:
    """build_report's keyword arguments from the settings, each checked against the data:
    ELEMENT_WEIGHTS must name elements of the questionnaire; the dossier questionnaire must
    name its rating question."""
    from reports.complaints import dossier_complaint_exclusion

    weights = dict(settings.element_weights)
    if weights and code in files:
        known = [e.code for e in files[code].elements]
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise UserError(
                f"ELEMENT_WEIGHTS: {', '.join(unknown)} is not an element of {code} "
                f"(elements: {', '.join(known)})"
            )
    dossier = files.get(settings.dossier_questionnaire)
    if dossier is None or dossier.rating_question is None:
        raise UserError(
            f"DOSSIER_QUESTIONNAIRE: {settings.dossier_questionnaire!r} is not a questionnaire "
            "with a rating_question"
        )
    return {
        "min_n": settings.report_min_n,
        "target": settings.satisfaction_target,
        "on_time_target": settings.dossiers_on_time_target,
        "element_weights": weights,
        "questionnaire": code,
        "dossier_questionnaire": dossier.code,
        "rating_question": dossier.rating_question,
        "timezone": settings.report_timezone,
        # Decision 766: a dossier with a complaint about its handling is not satisfied.
        "extra_766_exclusions": [dossier_complaint_exclusion],
    }


def _close_or_reopen(
    kind: str, month: str, questionnaire: str | None, who: str | None, reason: str | None
) -> None:
    """`hailong report close|reopen --month M`: store or release a month's signed figures."""
    import getpass
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reports.build import build_report
    from reports.closing import (
        CLOSED_BREAKDOWNS,
        CloseError,
        close_month,
        parse_month,
        reopen_month,
    )

    who = (who or getpass.getuser()).strip()
    if not who:
        raise UserError("--closed-by is empty")
    if kind == "reopen" and not (reason and reason.strip()):
        raise UserError("report reopen needs --reason (it is kept in the audit log)")
    first, last = parse_month(month)
    engine, settings = _settings_engine()
    try:
        if kind == "close":
            options = satisfaction_options(engine, settings, questionnaire)
            code = options["questionnaire"]
            result = build_report(engine, CLOSED_BREAKDOWNS, first, last, **options)
            today = datetime.now(ZoneInfo(settings.report_timezone)).date()
            close_month(engine, result, month, closed_by=who, today=today)
            typer.echo(f"{month} closed for {code} by {who}: its figures are stored")
        else:
            code = _report_questionnaire(
                engine, settings, questionnaire, _questionnaires(settings, engine)
            )
            reopen_month(engine, code, month, by=who, reason=(reason or "").strip())
            typer.echo(f"{month} reopened for {code} by {who}: reports recompute it")
    except (CloseError, DatabaseError) as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    finally:
        engine.dispose()


def _checked(
    parse: Callable[[list[str] | None], Any],
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    fmt: str,
    out: Path | None,
) -> tuple[Any, date | None, date | None, Path | None]:
    """A report's arguments checked before anything is opened or written: the breakdowns,
    the dates, and the output file (see `_check_binary_out`)."""
    specs, start, end = check_report_args(parse, by, date_from, date_to)
    _check_binary_out(fmt, out)
    _check_out(out)
    return specs, start, end, out


def check_report_args(
    parse: Callable[[list[str] | None], Any],
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
) -> tuple[Any, date | None, date | None]:
    """The breakdowns (`parse`: a report's parse_by) and the period, checked; UserError with
    the CLI's one-line message otherwise (the console answers 400 with the same words)."""
    try:
        specs = parse(by)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    start, end = check_period(date_from, date_to)
    return specs, start, end


def check_period(date_from: str | None, date_to: str | None) -> tuple[date | None, date | None]:
    """--from and --to as dates, the first not after the second; UserError otherwise."""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    _check_dates(start, end)
    return start, end


def _check_binary_out(fmt: str, out: Path | None) -> None:
    """XLSX goes to --out, or to standard output when that is not a terminal (a pipe or a
    redirection); never to a default file in the current folder, never onto a terminal."""
    if fmt == "xlsx" and out is None and sys.stdout.isatty():
        raise UserError("--format xlsx needs --out FILE")


def _xlsx_to_stdout(write: Callable[[Path], object]) -> None:
    """An XLSX written to a private temp folder (not the current one), then copied out."""
    with tempfile.TemporaryDirectory(prefix="hailong-") as folder:
        path = Path(folder) / "out.xlsx"
        write(path)
        sys.stdout.flush()
        with path.open("rb") as fh:
            shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def _write(
    result: Any,
    fmt: str,
    out: Path | None,
    write_table: Callable[..., None],
    write_json: Callable[[Any, TextIO], None],
    write_csv: Callable[[Any, TextIO], None],
    write_xlsx: Callable[[Any, Path], None],
    table_width: int = TABLE_WIDTH,
) -> None:
    """A built report to standard output or, atomically, to `out` in `fmt`."""
    if out is None:
        if fmt == "table":
            width = None if sys.stdout.isatty() else table_width
            write_table(result, sys.stdout, width=width)
        elif fmt == "xlsx":
            _xlsx_to_stdout(partial(write_xlsx, result))
        elif fmt == "json":
            write_json(result, sys.stdout)
        else:
            sys.stdout.write("\ufeff")  # BOM even when piped: the usual target is a .csv file
            write_csv(result, sys.stdout)
        return
    with atomic_path(out) as tmp:
        write_report_file(result, fmt, tmp, write_table, write_json, write_csv, write_xlsx)
    typer.echo(f"{out}", err=True)


def write_report_file(
    result: Any,
    fmt: str,
    path: Path,
    write_table: Callable[..., None],
    write_json: Callable[[Any, TextIO], None],
    write_csv: Callable[[Any, TextIO], None],
    write_xlsx: Callable[[Any, Path], None],
) -> None:
    """A built report written to `path` in `fmt`, byte for byte what `--out` gets (CSV with
    the BOM Excel needs); the console's downloads are written by it too."""
    if fmt == "xlsx":
        write_xlsx(result, path)
    else:
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        with path.open("w", encoding=encoding, newline="" if fmt == "csv" else None) as fh:
            {"table": write_table, "json": write_json, "csv": write_csv}[fmt](result, fh)


def _complaints_report(
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    fmt: str,
    out: Path | None,
    machine: bool = False,
) -> None:
    """`hailong report complaints`: checked like the satisfaction report, same outputs."""
    from reports import render
    from reports.complaints import build_complaint_report, parse_by

    specs, start, end, out = _checked(parse_by, by, date_from, date_to, fmt, out)
    engine, settings = _settings_engine()
    try:
        result = build_complaint_report(engine, specs, start, end, **complaint_options(settings))
    except DatabaseError as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    finally:
        engine.dispose()
    _write(
        result,
        fmt,
        out,
        render.write_complaints_table,
        render.write_complaints_json,
        partial(render.write_complaints_csv, machine=machine),
        render.write_complaints_xlsx,
        COMPLAINTS_TABLE_WIDTH,
    )


def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv | xlsx")] = "csv",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write to this file (default: standard output; xlsx only when it is not a "
            "terminal). Nothing is written into the current folder without --out.",
        ),
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day included, YYYY-MM-DD (UTC).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day included, YYYY-MM-DD (UTC).")
    ] = None,
    include_text: Annotated[
        bool,
        typer.Option("--include-text", help="Add free-text answers, with personal data masked."),
    ] = False,
) -> None:
    """Anonymised answer-level export, one row per answer, streamed (no names, phones or chat
    ids; free text only with --include-text, masked)."""
    from reports.export import EXPORT_FORMATS, export_answers

    fmt = fmt.strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"unknown --format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    start, end = check_period(date_from, date_to)
    _check_binary_out(fmt, out)
    _check_out(out)
    engine, _ = _settings_engine()
    count = 0
    try:
        if out is None and fmt == "xlsx":

            def write(path: Path) -> None:
                nonlocal count
                count = export_answers(engine, fmt, path, start, end, include_text=include_text)

            _xlsx_to_stdout(write)
        elif out is None:
            sys.stdout.write("\ufeff")
            count = export_answers(engine, fmt, sys.stdout, start, end, include_text=include_text)
        else:
            with atomic_path(out) as tmp:
                count = export_answers(engine, fmt, tmp, start, end, include_text=include_text)
    except DatabaseError as exc:
        raise UserError(str(exc).splitlines()[0]) from exc
    finally:
        engine.dispose()
    typer.echo(f"{count} answers exported" + (f" to {out}" if out else ""), err=True)
