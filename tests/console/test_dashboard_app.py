"""The dashboard inside the real console (`hailong serve`'s app): real sign-in and sessions,
the console's security headers, each role's answer."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from reports.build import build_report, parse_by
from reports.cli import satisfaction_options
from tests.console.conftest import add_login, app_client, settings_for, signed_in
from tests.console.test_dashboard import seed_demo, unit_codes, without


def test_the_dashboard_in_the_console_app(sqlite_db: Engine) -> None:
    seed_demo(sqlite_db, responses=200, complaints=60)
    add_login(sqlite_db, "analyst@example.vn", unit=None, role="analyst")
    add_login(sqlite_db, "lead@example.vn", unit="SXD", role="lead")
    add_login(sqlite_db, "staff@example.vn", unit="SXD", role="staff")

    anonymous = app_client(sqlite_db)
    api = anonymous.get("/console/api/satisfaction", headers={"Accept": "application/json"})
    assert api.status_code == 401
    page = anonymous.get("/console/dashboard")
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    assert anonymous.get("/console/download/report.xlsx").status_code == 303

    analyst = signed_in(sqlite_db, "analyst@example.vn")
    page = analyst.get("/console/dashboard")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert analyst.get("/console/static/vendor/chart.umd.min.js").status_code == 200
    got = analyst.get("/console/api/satisfaction", params={"by": "unit"}).json()
    url = sqlite_db.url.render_as_string(hide_password=False)
    settings = settings_for(url)
    expected = build_report(
        sqlite_db, parse_by(["unit"]), **satisfaction_options(sqlite_db, settings, None)
    ).to_dict()
    assert without(got, "generated_at", "figures_as_of") == without(expected, "generated_at")
    download = analyst.get("/console/download/report.xlsx")
    assert download.status_code == 200 and download.content[:2] == b"PK"

    lead = signed_in(sqlite_db, "lead@example.vn")
    assert unit_codes(lead.get("/console/api/satisfaction").json()) == {"SXD"}
    assert lead.get("/console/download/export.csv").status_code == 403

    staff = signed_in(sqlite_db, "staff@example.vn")
    assert staff.get("/console/api/satisfaction").status_code == 403
    assert staff.get("/console/dashboard").status_code == 403
