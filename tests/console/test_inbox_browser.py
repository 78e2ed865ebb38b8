"""The inbox in headless Chromium (Debian's package, driven by Playwright) under the console's
CSP, served by the real app under uvicorn: sign in, filter (htmx swaps the table, the page
stays), reach a complaint with the keyboard only, accept it. Screenshots at desktop and
phone widths go to /tmp/hailong-console (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from hailong.server import create_app
from tests.channels.fakes import serve as serve_app
from tests.console.conftest import PASSWORD, add_login, days_ago, seed, settings_for
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)

SCREENSHOTS = Path("/tmp/hailong-console")


@pytest.fixture
def base(sqlite_db: Engine) -> Iterator[str]:
    url = sqlite_db.url.render_as_string(hide_password=False)
    app = create_app(settings_for(url))
    with serve_app(app, lifespan="off") as url:
        yield url


def test_sign_in_filter_with_htmx_and_accept_with_the_keyboard(
    sqlite_db: Engine, base: str
) -> None:
    add_login(sqlite_db, "an@sxd.gov.vn")
    late = seed(sqlite_db, received_at=days_ago(12), text="Đèn đường hỏng nhiều ngày")
    fresh = seed(sqlite_db, received_at=days_ago(1), text="Cống thoát nước nghẹt")
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="vi-VN")
        page.set_default_timeout(15_000)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/console")  # no session: the sign-in form, then back here
        assert "/console/login" in page.url
        page.fill("input[name=email]", "an@sxd.gov.vn")
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(f"{base}/console")
        assert page.locator("tr.due-late").count() == 1
        assert page.locator("tr.due-ok").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "inbox-desktop.png"), full_page=True)
        # htmx: ticking "overdue" swaps the table in place (the page is not reloaded).
        page.evaluate("window.stayed = true")
        page.check("input[name=overdue]")
        page.wait_for_function(
            "() => document.querySelectorAll('#inbox-table tbody tr').length === 1"
        )
        assert page.evaluate("window.stayed") is True and "overdue=1" in page.url
        assert page.locator("#inbox-table").inner_text().count("PA-") == 1
        assert late.code in page.locator("#inbox-table").inner_text()
        # Keyboard only: Tab to the complaint's link, Enter, Tab to «Tiếp nhận», Enter.
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == late.code:
                break
        else:
            raise AssertionError("the complaint's link is not reachable with Tab")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/console/c/{late.id}")
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == "Tiếp nhận":
                break
        else:
            raise AssertionError("«Tiếp nhận» is not reachable with Tab")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/console/c/{late.id}?ok=accept")
        assert "Đã thực hiện: Tiếp nhận." in page.inner_text("main")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/console")
        width = phone.evaluate("document.documentElement.scrollWidth")
        phone.screenshot(path=str(SCREENSHOTS / "inbox-phone.png"), full_page=True)
        assert fresh.code in phone.inner_text("main")
        browser.close()
    assert width <= 390  # no sideways scrolling on a phone
    assert problems == []  # nothing refused by the CSP, no script error
