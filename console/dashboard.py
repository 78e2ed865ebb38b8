"""The analyst dashboard (`/console/dashboard`), its JSON endpoints and its downloads.

The endpoints return exactly the documents `hailong report --format json` prints (built by the
same functions with the same options, `reports.cli`), so the page, any other client and the
CLI cannot disagree; the page draws its charts in the browser from them (Chart.js, vendored).
Downloads are the files `hailong report --out` and `hailong export --out` write, written by
the same functions to a private temp folder and streamed.

Who sees what: analysts and admins every unit; a unit lead only rows of their own unit (every
breakdown must then include the unit; the report's overall figures are the city's, the
benchmark a lead compares with); the answer-level export is for analysts and admins only,
never with free text. Unit staff get 403.

The app that includes `router` serves `console/static` at `/console/static` and keeps the
console's state (settings, engine) in `app.state.console`, as `console.web` does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from starlette.background import BackgroundTask

from base.errors import UserError
from base.settings import Settings
from console.auth import ConsoleUser, allow, current_user
from reports import cli as report_cli
from reports import render, rollup
from reports.build import Breakdown, Dim, Report, build_report
from reports.build import parse_by as parse_satisfaction_by
from reports.complaints import ComplaintReport, build_complaint_report
from reports.complaints import parse_by as parse_complaint_by
from reports.export import export_answers
from reports.labels import ELEMENT_NAMES
from storage.db import DatabaseError

REPORT_ROLES = ("analyst", "admin", "lead")
EXPORT_ROLES = ("analyst", "admin")  # answer-level data: never a unit role
DOWNLOAD_FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

router = APIRouter()


def app_settings(request: Request) -> Settings:
    """The console's settings (`app.state.console`, set by `console.web.install_console`)."""
    settings: Settings = request.app.state.console.settings
    return settings


def app_engine(request: Request) -> Engine:
    """The console's database engine."""
    engine: Engine = request.app.state.console.engine
    return engine


UserDep = Annotated[ConsoleUser, Depends(current_user)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
EngineDep = Annotated[Engine, Depends(app_engine)]
ByQuery = Annotated[
    list[str] | None,
    Query(description="Breakdowns as in `hailong report --by` (unit,month); repeat for more."),
]
FromQuery = Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD.")]
ToQuery = Annotated[str | None, Query(alias="to", description="Last day, YYYY-MM-DD.")]
QuestionnaireQuery = Annotated[
    str | None, Query(description="Questionnaire code (default GENERAL_QUESTIONNAIRE).")
]


def _bad_request(exc: Exception) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc).splitlines()[0])


def _unavailable(exc: DatabaseError) -> HTTPException:
    return HTTPException(status_code=503, detail=str(exc).splitlines()[0])


def _lead_unit(user: ConsoleUser, specs: Any) -> str | None:
    """The unit a lead is confined to (None: sees every unit). A lead's breakdowns must name
    the unit, or a breakdown by procedure or ward would show other units' work."""
    if user.role != "lead":
        return None
    if not user.unit_code:
        raise HTTPException(status_code=403, detail="this lead account has no unit")
    if any("unit" not in spec for spec in specs):
        raise HTTPException(
            status_code=400, detail="a unit lead's report is by unit: every --by must include unit"
        )
    return user.unit_code


def _of_unit(row: Any, code: str) -> bool:
    unit = row.keys.get("unit")
    return isinstance(unit, Dim) and unit.code == code


def _only_unit(breakdowns: list[Breakdown[Any]], code: str) -> None:
    for breakdown in breakdowns:
        breakdown.rows = [row for row in breakdown.rows if _of_unit(row, code)]


def satisfaction_report(
    user: ConsoleUser,
    engine: Engine,
    settings: Settings,
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    questionnaire: str | None,
) -> Report:
    """The satisfaction report `hailong report --by … --from … --to … -q …` builds, as this
    user may see it; HTTPException 400/403/503 otherwise."""
    build, _key = _satisfaction(user, engine, settings, by, date_from, date_to, questionnaire)
    return build()


def _satisfaction(
    user: ConsoleUser,
    engine: Engine,
    settings: Settings,
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    questionnaire: str | None,
) -> tuple[Callable[[], Report], tuple[Any, ...] | None]:
    """The report's arguments checked, and the report still to build with its cache key: an
    equal key means an equal report (the same rollup build read with the same rules); None
    when it is read live."""
    allow(user, *REPORT_ROLES)
    try:
        specs, start, end = report_cli.check_report_args(
            parse_satisfaction_by, by, date_from, date_to
        )
        unit = _lead_unit(user, specs)
        options = report_cli.satisfaction_options(engine, settings, questionnaire)
        # The rollup when it covers the request (reports/rollup.py): the same counts, summed
        # from a few thousand stored rows instead of every answer of the period.
        counts = rollup.reader(engine, rollup.RollupSpec.of(options))
    except UserError as exc:
        raise _bad_request(exc) from exc
    except DatabaseError as exc:
        raise _unavailable(exc) from exc

    def build() -> Report:
        try:
            report = build_report(engine, specs, start, end, **options, rollup=counts)
        except DatabaseError as exc:
            raise _unavailable(exc) from exc
        if unit is not None:
            _only_unit(report.breakdowns, unit)
            report.units = [row for row in report.units if _of_unit(row, unit)]
            report.ratio_766 = [row for row in report.ratio_766 if _of_unit(row, unit)]
            report.rating3 = [row for row in report.rating3 if _of_unit(row, unit)]
        return report

    key = None
    if counts is not None:
        rules = sorted((k, repr(v)) for k, v in options.items() if k != "extra_766_exclusions")
        key = (specs, start, end, unit, repr(rules), counts.spec.signature, counts.built_at)
    return build, key


class _JSONCache:
    """The rollup's reports as JSON bytes, newest used kept: a dashboard's three requests
    repeat across analysts until the next rebuild changes `built_at` in every key. Building
    the 12-month unit × month report takes ~150 ms of Python and its JSON (~1 MB) ~120 ms
    through FastAPI's encoder; a hit takes neither."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


JSON_CACHE = _JSONCache()


def complaint_report(
    user: ConsoleUser,
    engine: Engine,
    settings: Settings,
    by: list[str] | None,
    date_from: str | None,
    date_to: str | None,
) -> ComplaintReport:
    """The complaints report `hailong report complaints --by … --from … --to …` builds, as
    this user may see it."""
    allow(user, *REPORT_ROLES)
    try:
        specs, start, end = report_cli.check_report_args(parse_complaint_by, by, date_from, date_to)
        unit = _lead_unit(user, specs)
        options = report_cli.complaint_options(settings)
        report = build_complaint_report(engine, specs, start, end, **options)
    except UserError as exc:
        raise _bad_request(exc) from exc
    except DatabaseError as exc:
        raise _unavailable(exc) from exc
    if unit is not None:
        _only_unit(report.breakdowns, unit)
    return report


# --------------------------------------------------------------------------- JSON


@router.get("/console/api/satisfaction", response_class=JSONResponse)
def satisfaction_json(
    user: UserDep,
    engine: EngineDep,
    settings: SettingsDep,
    by: ByQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    questionnaire: QuestionnaireQuery = None,
) -> Response:
    """The satisfaction report as `hailong report --format json` prints it, with
    `figures_as_of`: when its figures were computed."""
    build, key = _satisfaction(user, engine, settings, by, date_from, date_to, questionnaire)
    body = JSON_CACHE.get(key) if key is not None else None
    if body is None:
        report = build()
        data = report.to_dict()
        # When the figures were computed: the rollup's last rebuild, else now (read live).
        data["figures_as_of"] = (report.rollup_built_at or report.generated_at).isoformat()
        body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
        if key is not None:
            JSON_CACHE.put(key, body)
    return Response(body, media_type="application/json")


@router.get("/console/api/complaints")
def complaints_json(
    user: UserDep,
    engine: EngineDep,
    settings: SettingsDep,
    by: ByQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
) -> dict[str, Any]:
    """The complaints report as `hailong report complaints --format json` prints it."""
    return complaint_report(user, engine, settings, by, date_from, date_to).to_dict()


# --------------------------------------------------------------------------- page


@router.get("/console/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, user: UserDep, settings: SettingsDep) -> Response:
    """The dashboard: a shell whose charts `dashboard.js` draws from the JSON endpoints."""
    allow(user, *REPORT_ROLES)
    from console.pages import render  # the console's layout: header, links, sign-out form

    return render(
        request,
        "dashboard.html",
        {
            "user": user,
            "min_n": settings.report_min_n,
            "target": settings.satisfaction_target,
            "on_time_target": settings.dossiers_on_time_target,
            "can_export": user.role in EXPORT_ROLES,
            "element_names": ELEMENT_NAMES,
            "date_from": request.query_params.get("from", ""),
            "date_to": request.query_params.get("to", ""),
        },
    )


# --------------------------------------------------------------------------- downloads


def _period_name(start: date | None, end: date | None) -> str:
    if start and end:
        return f"{start.isoformat()}_{end.isoformat()}"
    if start:
        return f"from-{start.isoformat()}"
    if end:
        return f"to-{end.isoformat()}"
    return "all"


def _check_format(fmt: str) -> str:
    fmt = fmt.strip().lower()
    if fmt not in DOWNLOAD_FORMATS:
        raise HTTPException(
            status_code=400,
            detail=f"unknown --format {fmt!r}; choose from {', '.join(DOWNLOAD_FORMATS)}",
        )
    return fmt


def _stream_file(write: Any, fmt: str, name: str) -> FileResponse:
    """Write a file with `write(path)` in a private temp folder, then stream it; the folder
    goes once the response is sent (or when writing fails)."""
    folder = Path(tempfile.mkdtemp(prefix="hailong-console-"))
    path = folder / f"out.{fmt}"
    try:
        write(path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[fmt],
        filename=name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _unit_part(user: ConsoleUser) -> str:
    return f"-{user.unit_code}" if user.role == "lead" and user.unit_code else ""


@router.get("/console/download/report.{fmt}")
def download_report(
    fmt: str,
    user: UserDep,
    engine: EngineDep,
    settings: SettingsDep,
    by: ByQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    questionnaire: QuestionnaireQuery = None,
) -> FileResponse:
    """The file `hailong report --format xlsx|csv --out F` writes (analyst CSV headers)."""
    fmt = _check_format(fmt)
    report = satisfaction_report(user, engine, settings, by, date_from, date_to, questionnaire)
    writers = (render.write_table, render.write_json, render.write_csv, render.write_xlsx)
    name = f"hailong-report{_unit_part(user)}-{_period_name(report.date_from, report.date_to)}"
    return _stream_file(
        partial(report_cli.write_report_file, report, fmt, write_table=writers[0],
                write_json=writers[1], write_csv=writers[2], write_xlsx=writers[3]),
        fmt,
        f"{name}.{fmt}",
    )  # fmt: skip


@router.get("/console/download/complaints.{fmt}")
def download_complaints(
    fmt: str,
    user: UserDep,
    engine: EngineDep,
    settings: SettingsDep,
    by: ByQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
) -> FileResponse:
    """The file `hailong report complaints --format xlsx|csv --out F` writes."""
    fmt = _check_format(fmt)
    report = complaint_report(user, engine, settings, by, date_from, date_to)
    name = f"hailong-complaints{_unit_part(user)}-{_period_name(report.date_from, report.date_to)}"
    return _stream_file(
        partial(report_cli.write_report_file, report, fmt,
                write_table=render.write_complaints_table,
                write_json=render.write_complaints_json,
                write_csv=render.write_complaints_csv,
                write_xlsx=render.write_complaints_xlsx),
        fmt,
        f"{name}.{fmt}",
    )  # fmt: skip


@router.get("/console/download/export.{fmt}")
def download_export(
    fmt: str,
    user: UserDep,
    engine: EngineDep,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
) -> FileResponse:
    """The file `hailong export --format csv|xlsx --out F` writes: anonymised answers, never
    free text (no --include-text from the console)."""
    allow(user, *EXPORT_ROLES)
    fmt = _check_format(fmt)
    try:
        start, end = report_cli.check_period(date_from, date_to)
    except UserError as exc:
        raise _bad_request(exc) from exc

    def write(path: Path) -> None:
        export_answers(engine, fmt, path, start, end, include_text=False)

    try:
        return _stream_file(write, fmt, f"hailong-export-{_period_name(start, end)}.{fmt}")
    except DatabaseError as exc:
        raise _unavailable(exc) from exc
