"""The dashboard in headless Chromium (Debian's package, driven by Playwright, as the web chat
test does): its charts are drawn from the JSON endpoints under the console's strict CSP, with
the same numbers as the report, and no request leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from base.settings import Settings, get_settings
from console import dashboard
from console.auth import ConsoleUser, current_user
from console.web import SecurityHeaders
from reports.build import build_report, parse_by
from reports.cli import satisfaction_options
from tests.channels.fakes import serve as serve_app
from tests.console.test_dashboard import ANALYST, LEAD, STATIC, seed_demo
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)

SCREENSHOTS = Path("/tmp/hailong-dashboard")
CANVASES = (
    "chart-units",
    "chart-trend",
    "chart-elements",
    "chart-procedures",
    "chart-criteria",
    "chart-766",
    "chart-complaint-rates",
    "chart-complaint-counts",
    "chart-complaint-hours",
)
# Pixels drawn on a canvas (alpha > 0): a chart with axes, bars and a target line, not blank.
PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""
CHART = """(id) => {
  const chart = Chart.getChart(document.getElementById(id));
  return {labels: chart.data.labels, data: chart.data.datasets.map(d => d.data),
          targets: (chart.options.plugins.targets || {lines: []}).lines.map(l => l.value)};
}"""


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """SQLite only: the endpoint tests cover PostgreSQL; this one is about the page."""
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REPORT_MIN_N", "20")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def serve(engine: Engine, settings: Settings, user: ConsoleUser) -> Iterator[str]:
    """The dashboard's router with the console's static files and security headers under
    uvicorn on a free loopback port; yields its base URL."""
    app = FastAPI()
    app.include_router(dashboard.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(SecurityHeaders)
    app.state.console = SimpleNamespace(settings=settings, engine=engine)
    app.dependency_overrides[current_user] = lambda: user
    with serve_app(app, lifespan="off") as url:
        yield url


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> Engine:
    seed_demo(engine)
    return engine


def pct(figure: dict[str, Any]) -> float | None:
    return None if figure["value"] is None else round(figure["value"] * 10000) / 100


def open_dashboard(browser: Any, base: str, width: int, height: int) -> tuple[Any, list[str]]:
    """The page loaded and drawn; every request it made is listed (none may leave loopback:
    others are aborted and recorded)."""
    requests: list[str] = []
    problems: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": height}, locale="vi-VN")
    page.set_default_timeout(20_000)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        requests.append(url)
        if url.startswith(base + "/"):
            request_route.continue_()
        else:
            request_route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.goto(f"{base}/console/dashboard")
    page.wait_for_selector("#dashboard[data-ready='1']")
    assert problems == []
    return page, requests


def test_the_dashboard_draws_every_chart_from_the_report(
    seeded: Engine, settings: Settings
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    expected = build_report(
        seeded, parse_by(["unit", "unit,procedure"]), **satisfaction_options(seeded, settings, None)
    ).to_dict()
    server = serve(seeded, settings, ANALYST)
    base = next(server)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
                    page, requests = open_dashboard(browser, base, width, height)
                    for canvas in CANVASES:
                        assert page.evaluate(PAINTED, canvas) > 2000, canvas
                    assert requests and all(u.startswith(base + "/") for u in requests), requests
                    # Phone-friendly: nothing wider than the screen.
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"), full_page=True)
                    page.close()

                page, _ = open_dashboard(browser, base, 1280, 900)
                units = page.evaluate(CHART, "chart-units")
                # Every unit of the report, with its number, small samples marked by " *".
                assert units["data"] == [[pct(r["overall_index"]) for r in expected["units"]]]
                assert units["labels"] == [
                    r["unit"]["name"] + (" *" if r["overall_index"]["small_n"] else "")
                    for r in expected["units"]
                ]
                assert any(label.endswith(" *") for label in units["labels"])
                assert units["targets"] == [95]
                ratios = page.evaluate(CHART, "chart-766")
                assert ratios["targets"] == [95, 98]
                assert ratios["data"][1] == [pct(r["on_time"]) for r in expected["ratio_766"]]

                # Drill-down: another unit chosen, its procedures, then a procedure's criteria
                # with their statements.
                code = next(
                    r["unit"]["code"]
                    for r in expected["units"]
                    if r["unit"]["code"] and not r["no_data"] and r["unit"]["code"] != "SXD"
                )
                page.select_option("#unit-select", code)
                procedures = page.evaluate(CHART, "chart-procedures")
                mine = [
                    r
                    for r in expected["breakdowns"][1]["rows"]
                    if r["unit"]["code"] == code and not r["no_data"]
                ]
                assert procedures["data"] == [[pct(r["overall_index"]) for r in mine]]
                chosen = page.input_value("#procedure-select")
                row = next(r for r in mine if r["procedure"]["code"] == chosen)
                criteria = page.evaluate(CHART, "chart-criteria")
                assert criteria["labels"] == [
                    k + (" *" if f["small_n"] else "") for k, f in row["criteria"].items()
                ]
                first = next(iter(row["criteria"]))
                statement = page.locator("#criteria-text dd").first.inner_text()
                assert statement == expected["criteria_text"][first] and statement
                unit_row = next(r for r in expected["units"] if r["unit"]["code"] == code)
                elements = page.evaluate(CHART, "chart-elements")
                assert elements["data"] == [[pct(f) for f in unit_row["elements"].values()]]
                assert "Tiếp cận dịch vụ (TCDV)" in elements["labels"][0]
                trend = page.evaluate(CHART, "chart-trend")
                assert len(trend["labels"]) == 12 and trend["targets"] == [95]
                assert page.evaluate(PAINTED, "chart-criteria") > 2000
            finally:
                browser.close()
    finally:
        next(server, None)


def test_a_leads_dashboard_shows_their_unit_only(seeded: Engine, settings: Settings) -> None:
    server = serve(seeded, settings, LEAD)
    base = next(server)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page, _ = open_dashboard(browser, base, 390, 844)
                assert page.evaluate(CHART, "chart-units")["labels"] in (
                    ["Sở Xây dựng"],
                    ["Sở Xây dựng *"],
                )
                assert page.evaluate(PAINTED, "chart-trend") > 2000
                assert page.locator("#dl-export-csv").count() == 0
            finally:
                browser.close()
    finally:
        next(server, None)
