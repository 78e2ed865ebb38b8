"""The analyst dashboard's JSON endpoints and downloads (console/dashboard.py) on SQLite and
PostgreSQL: the same documents and the same files as `hailong report` and `hailong export`
for the same database, and each role seeing what it may."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import reports.cli
from base.errors import UserError
from base.settings import Settings, get_settings
from console import dashboard
from console.auth import ConsoleUser, current_user
from reports import labels as L
from reports.build import build_report, parse_by

STATIC = Path(dashboard.__file__).parent / "static"
ANALYST = ConsoleUser(1, "Phân tích viên", "analyst")
ADMIN = ConsoleUser(2, "Quản trị", "admin")
LEAD = ConsoleUser(3, "Trưởng phòng", "lead", unit_id=None, unit_code="SXD")
STAFF = ConsoleUser(4, "Cán bộ", "staff", unit_id=None, unit_code="SXD")


def seed_demo(engine: Engine, responses: int = 400, complaints: int = 150) -> None:
    """Realistic data over the last 12 months: the demo's surveys and complaints."""
    from demo.complaints import seed_complaints
    from demo.surveys import seed_surveys

    seed_surveys(engine, responses=responses, seed=3, progress=False)
    seed_complaints(engine, complaints=complaints, seed=3)


@pytest.fixture
def settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The settings the CLI reads, pointed at the test's database (REPORT_MIN_N lowered so
    the small demo has both small and ranked samples)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REPORT_MIN_N", "20")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> Engine:
    seed_demo(engine)
    return engine


def make_app(engine: Engine, settings: Settings, user: ConsoleUser) -> FastAPI:
    """A bare app with the dashboard's router, the console's static folder, and `user`
    signed in (console.auth's contract for tests)."""
    app = FastAPI()
    app.include_router(dashboard.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.state.console = SimpleNamespace(settings=settings, engine=engine)
    app.dependency_overrides[current_user] = lambda: user
    return app


@pytest.fixture
def client_as(seeded: Engine, settings: Settings) -> Callable[[ConsoleUser], TestClient]:
    def client(user: ConsoleUser) -> TestClient:
        return TestClient(make_app(seeded, settings, user))

    return client


def cli(*args: str) -> Any:
    """`hailong report|export …` through typer, as hailong/cli.py registers them."""
    app = typer.Typer()
    app.command("report")(reports.cli.report)
    app.command("export")(reports.cli.export)
    return CliRunner().invoke(app, list(args))


def cli_file(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    result = cli(*args, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def without(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in keys}


def unit_codes(node: Any) -> set[str]:
    """Every unit code anywhere in a JSON document."""
    found: set[str] = set()
    if isinstance(node, dict):
        unit = node.get("unit")
        if isinstance(unit, dict) and unit.get("code"):
            found.add(unit["code"])
        for value in node.values():
            found |= unit_codes(value)
    elif isinstance(node, list):
        for value in node:
            found |= unit_codes(value)
    return found


# --------------------------------------------------------------------------- JSON


def test_satisfaction_json_is_the_report_build_report_and_the_cli_make(
    client_as: Callable[[ConsoleUser], TestClient], seeded: Engine, settings: Settings
) -> None:
    params = {"by": ["unit,month", "channel"], "from": "2026-01-01", "to": "2026-12-31"}
    response = client_as(ANALYST).get("/console/api/satisfaction", params=params)
    assert response.status_code == 200, response.text
    got = response.json()

    options = reports.cli.satisfaction_options(seeded, settings, None)
    built = build_report(
        seeded,
        parse_by(["unit,month", "channel"]),
        date(2026, 1, 1),
        date(2026, 12, 31),
        **options,
    ).to_dict()
    assert without(got, "generated_at", "figures_as_of") == without(built, "generated_at")

    printed = cli(
        "report", "-f", "json", "--by", "unit,month", "--by", "channel",
        "--from", "2026-01-01", "--to", "2026-12-31",
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert without(got, "generated_at", "figures_as_of") == without(
        json.loads(printed.stdout), "generated_at"
    )
    # Not an empty document that would trivially match: the demo's units and months are in.
    assert len(got["units"]) >= 10 and got["overall"]["respondents"] > 0
    assert any(r["overall_index"]["small_n"] for r in got["units"])
    assert any(not r["overall_index"]["small_n"] for r in got["units"])


def test_the_dashboard_reads_the_rollup_once_built_with_the_same_figures(
    client_as: Callable[[ConsoleUser], TestClient], seeded: Engine
) -> None:
    params = {"by": ["unit", "unit,procedure"], "from": "2026-02-10", "to": "2026-11-20"}
    live = client_as(ANALYST).get("/console/api/satisfaction", params=params).json()
    built = cli("report", "rollup", "--full")
    assert built.exit_code == 0, built.output
    assert "rollup rebuilt (every month)" in built.stdout
    with seeded.connect() as conn:
        built_at = conn.execute(sa.text("SELECT built_at FROM rollup_state")).scalar_one()
    client = client_as(ANALYST)
    first = client.get("/console/api/satisfaction", params=params)
    again = client.get("/console/api/satisfaction", params=params)  # the cached bytes
    assert first.content == again.content
    stored = first.json()
    assert stored["figures_as_of"][:19] == str(built_at)[:19].replace(" ", "T")
    assert without(stored, "generated_at", "figures_as_of") == without(
        live, "generated_at", "figures_as_of"
    )
    printed = json.loads(
        cli(
            "report", "-f", "json", "--by", "unit", "--by", "unit,procedure",
            "--from", "2026-02-10", "--to", "2026-11-20",
        ).stdout
    )  # fmt: skip
    assert without(stored, "generated_at", "figures_as_of") == without(printed, "generated_at")


def test_satisfaction_json_defaults_to_the_cli_default(
    client_as: Callable[[ConsoleUser], TestClient],
) -> None:
    got = client_as(ADMIN).get("/console/api/satisfaction").json()
    printed = json.loads(cli("report", "-f", "json").stdout)
    assert [b["by"] for b in got["breakdowns"]] == [["unit", "month"]]
    assert without(got, "generated_at", "figures_as_of") == without(printed, "generated_at")


def test_complaints_json_is_the_cli_complaints_report(
    client_as: Callable[[ConsoleUser], TestClient],
) -> None:
    response = client_as(ANALYST).get("/console/api/complaints", params={"by": "unit,month"})
    assert response.status_code == 200, response.text
    got = response.json()
    printed = cli("report", "complaints", "-f", "json", "--by", "unit,month")
    assert printed.exit_code == 0, printed.output
    expected = json.loads(printed.stdout)
    assert without(got, "generated_at", "now") == without(expected, "generated_at", "now")
    assert got["report"] == "complaints" and got["overall"]["received"] > 0


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    "path",
    [
        "/console/api/satisfaction",
        "/console/api/complaints",
        "/console/dashboard",
        "/console/download/report.xlsx",
        "/console/download/complaints.csv",
        "/console/download/export.csv",
    ],
)
def test_unit_staff_get_403_everywhere(
    client_as: Callable[[ConsoleUser], TestClient], path: str
) -> None:
    response = client_as(STAFF).get(path)
    assert response.status_code == 403
    assert "content-disposition" not in response.headers


def test_a_lead_sees_only_their_unit(client_as: Callable[[ConsoleUser], TestClient]) -> None:
    client = client_as(LEAD)
    whole = (
        client_as(ANALYST)
        .get("/console/api/satisfaction", params={"by": ["unit", "unit,procedure"]})
        .json()
    )
    assert len(unit_codes(whole)) > 5  # the analyst sees every unit

    mine = client.get("/console/api/satisfaction", params={"by": ["unit", "unit,procedure"]})
    assert mine.status_code == 200, mine.text
    data = mine.json()
    assert unit_codes(data) == {"SXD"}
    assert [r["unit"]["code"] for r in data["units"]] == ["SXD"]
    sxd = next(r for r in whole["units"] if r["unit"]["code"] == "SXD")
    assert data["units"][0] == sxd  # the row itself is the one the analyst sees
    assert data["breakdowns"][1]["rows"] and all(
        r["unit"]["code"] == "SXD" for r in data["breakdowns"][1]["rows"]
    )

    complaints = client.get("/console/api/complaints", params={"by": "unit,month"}).json()
    assert unit_codes(complaints) == {"SXD"}

    # A breakdown without the unit would show other units' work (procedures, wards): refused.
    refused = client.get("/console/api/satisfaction", params={"by": "procedure"})
    assert refused.status_code == 400
    assert "every --by must include unit" in refused.json()["detail"]
    assert client.get("/console/api/complaints", params={"by": "ward"}).status_code == 400
    # Answer-level data is for analysts and admins only.
    assert client.get("/console/download/export.csv").status_code == 403


def test_a_lead_without_a_unit_is_refused(seeded: Engine, settings: Settings) -> None:
    client = TestClient(make_app(seeded, settings, ConsoleUser(9, "X", "lead")))
    assert client.get("/console/api/satisfaction").status_code == 403


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "cli_args"),
    [
        ({"by": "unit,bogus"}, ["--by", "unit,bogus"]),
        ({"by": "month,year"}, ["--by", "month,year"]),
        ({"from": "2026-13-01"}, ["--from", "2026-13-01"]),
        ({"from": "01/03/2026"}, ["--from", "01/03/2026"]),
        (
            {"from": "2026-05-01", "to": "2026-04-01"},
            ["--from", "2026-05-01", "--to", "2026-04-01"],
        ),
        ({"questionnaire": "khong-co"}, ["--questionnaire", "khong-co"]),
    ],
)
def test_bad_parameters_are_400_with_the_cli_message(
    client_as: Callable[[ConsoleUser], TestClient],
    params: dict[str, str],
    cli_args: list[str],
) -> None:
    response = client_as(ANALYST).get("/console/api/satisfaction", params=params)
    assert response.status_code == 400
    printed = cli("report", "-f", "json", *cli_args)
    assert printed.exit_code != 0
    assert isinstance(printed.exception, UserError)
    assert response.json()["detail"] == str(printed.exception)


def test_bad_download_parameters_are_400(client_as: Callable[[ConsoleUser], TestClient]) -> None:
    client = client_as(ANALYST)
    pdf = client.get("/console/download/report.pdf")
    assert pdf.status_code == 400 and "choose from xlsx, csv" in pdf.json()["detail"]
    assert (
        client.get("/console/download/export.csv", params={"to": "2026-02-30"}).status_code == 400
    )
    bad_by = client.get("/console/api/complaints", params={"by": "procedure"})
    assert bad_by.status_code == 400
    assert "for the complaints report" in bad_by.json()["detail"]


# --------------------------------------------------------------------------- downloads


def sheet_values(path: Path | bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values; the cover's generation time (to the minute) left out."""
    book = load_workbook(io.BytesIO(path) if isinstance(path, bytes) else path, read_only=True)
    return {
        ws.title: [
            row for row in ws.iter_rows(values_only=True) if not row or row[0] != L.COVER_GENERATED
        ]
        for ws in book.worksheets
    }


def test_report_downloads_are_the_cli_files(
    client_as: Callable[[ConsoleUser], TestClient], tmp_path: Path
) -> None:
    client = client_as(ANALYST)
    period = {"from": "2026-01-01", "to": "2026-12-31"}
    args = ("--from", "2026-01-01", "--to", "2026-12-31")

    csv_response = client.get("/console/download/report.csv", params=period)
    assert csv_response.status_code == 200, csv_response.text
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert (
        csv_response.headers["content-disposition"]
        == 'attachment; filename="hailong-report-2026-01-01_2026-12-31.csv"'
    )
    cli_csv = cli_file(tmp_path, "r.csv", "report", "-f", "csv", *args)
    assert csv_response.content == cli_csv.read_bytes()
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    assert len(list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))) > 50

    xlsx_response = client.get("/console/download/report.xlsx", params=period)
    assert xlsx_response.status_code == 200, xlsx_response.text
    assert (
        'filename="hailong-report-2026-01-01_2026-12-31.xlsx"'
        in (xlsx_response.headers["content-disposition"])
    )
    cli_xlsx = cli_file(tmp_path, "r.xlsx", "report", "-f", "xlsx", *args)
    got, expected = sheet_values(xlsx_response.content), sheet_values(cli_xlsx)
    assert got == expected and len(got) >= 3

    complaints_csv = client.get("/console/download/complaints.csv", params={"by": "unit"})
    cli_complaints = cli_file(
        tmp_path, "c.csv", "report", "complaints", "-f", "csv", "--by", "unit"
    )
    assert complaints_csv.content == cli_complaints.read_bytes()
    assert 'filename="hailong-complaints-all.csv"' in complaints_csv.headers["content-disposition"]
    complaints_xlsx = client.get("/console/download/complaints.xlsx")
    cli_cx = cli_file(tmp_path, "c.xlsx", "report", "complaints", "-f", "xlsx")
    assert sheet_values(complaints_xlsx.content) == sheet_values(cli_cx)


def test_export_downloads_are_the_cli_files_without_text(
    client_as: Callable[[ConsoleUser], TestClient], tmp_path: Path
) -> None:
    client = client_as(ANALYST)
    exported = client.get("/console/download/export.csv", params={"from": "2026-01-01"})
    assert exported.status_code == 200, exported.text
    assert (
        'filename="hailong-export-from-2026-01-01.csv"' in (exported.headers["content-disposition"])
    )
    cli_csv = cli_file(tmp_path, "e.csv", "export", "-f", "csv", "--from", "2026-01-01")
    assert exported.content == cli_csv.read_bytes()
    header = exported.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert "text" not in header  # never the free text from the console
    assert exported.content.count(b"\r\n") > 100

    with_text = cli_file(tmp_path, "t.csv", "export", "-f", "csv", "--include-text")
    assert with_text.read_bytes() != client.get("/console/download/export.csv").content

    xlsx = client_as(ADMIN).get("/console/download/export.xlsx")
    assert xlsx.status_code == 200
    cli_xlsx = cli_file(tmp_path, "e.xlsx", "export", "-f", "xlsx")
    assert sheet_values(xlsx.content) == sheet_values(cli_xlsx)


def test_a_leads_download_holds_only_their_unit(
    client_as: Callable[[ConsoleUser], TestClient],
) -> None:
    response = client_as(LEAD).get("/console/download/report.csv", params={"by": "unit,month"})
    assert response.status_code == 200
    assert 'filename="hailong-report-SXD-all.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = {r[k] for r in rows for k in r if k and "đơn vị" in k.lower() and r[k]}
    assert names and names <= {"SXD", "Sở Xây dựng"}


def test_download_of_an_unreadable_database_is_an_error_not_a_file(
    seeded: Engine, settings: Settings, tmp_path: Path
) -> None:
    from storage.db import make_engine

    broken = make_engine(f"sqlite:///{tmp_path}/empty.db")  # no tables
    client = TestClient(make_app(broken, settings, ANALYST))
    response = client.get("/console/download/export.csv")
    assert response.status_code == 503
    assert "cannot read the answers" in response.json()["detail"]
    assert "content-disposition" not in response.headers
    assert list(Path(dashboard.tempfile.gettempdir()).glob("hailong-console-*/out.csv")) == []
    broken.dispose()


# --------------------------------------------------------------------------- page


def test_the_page_is_vietnamese_and_its_scripts_are_local_and_served(
    client_as: Callable[[ConsoleUser], TestClient],
) -> None:
    client = client_as(ANALYST)
    page = client.get("/console/dashboard", params={"from": "2026-01-01"})
    assert page.status_code == 200
    html = page.text
    assert '<html lang="vi">' in html and "Chỉ số hài lòng chung theo đơn vị" in html
    assert 'name="viewport"' in html
    assert 'value="2026-01-01"' in html  # the period chosen stays in the form
    import re

    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assert "/console/static/vendor/chart.umd.min.js" in sources
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script
    for url in sources + styles:
        assert url.startswith("/console/static/"), url
        assert client.get(url).status_code == 200, url
    assert "/console/download/export.csv" in html
    # A lead's page offers no answer-level export.
    assert "/console/download/export.csv" not in client_as(LEAD).get("/console/dashboard").text


def test_the_vendored_chart_library_carries_its_licence_and_version() -> None:
    vendor = STATIC / "vendor"
    head = (vendor / "chart.umd.min.js").read_text(encoding="utf-8")[:200]
    assert "Chart.js v4.6.1" in head and "MIT License" in head
    assert "MIT License" in (vendor / "chart.js.LICENSE.md").read_text(encoding="utf-8")
    assert "chart.js 4.6.1" in (vendor / "README.md").read_text(encoding="utf-8")
