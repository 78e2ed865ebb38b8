"""The web chat page in headless Chromium (Debian's package, driven by Playwright): a citizen
opens the QR code's link and takes the whole survey by clicking."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot import messages as msg
from bot.engine.types import CHOSEN_MARK
from storage.models import Answer, OutboxMessage, SurveyResponse
from survey.loader import load_questionnaires
from tests.web.chat import COMMENT, LIKERT
from tests.web.conftest import Live

CHROMIUM = Path(os.environ.get("HAILONG_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/hailong-web-chat.png")

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """SQLite only: the JSON API tests already cover PostgreSQL; this one is about the page."""
    return str(request.getfixturevalue("sqlite_url"))


def test_whole_survey_by_clicks_in_headless_chromium(start_server: Callable[..., Live]) -> None:
    live = start_server()
    response = live.register({"code": "HS-BROWSER-1", "unit": "SXD", "procedure": "XD_GPXD_NHA_O"})
    web_link = response.json()["links"]["web"]

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 414, "height": 820}, locale="vi-VN", reduced_motion="reduce"
            )
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(15_000)
            page.goto(web_link)
            take_survey(page)
            page.screenshot(path=str(SCREENSHOT), full_page=False)
            # The token left the address bar: a reload shows the chat, it does not restart it.
            assert "?d=" not in page.url
            shown = page.locator(".msg").count()
            page.reload()
            page.locator(".msg.bot", has_text=msg.THANKS_DONE).last.wait_for()
            assert page.locator(".msg.bot").count() <= shown
            assert errors == []
        finally:
            browser.close()

    with live.engine.connect() as conn:
        statuses = conn.execute(
            sa.select(SurveyResponse.questionnaire_code, SurveyResponse.status)  # type: ignore[call-overload]
        ).all()
        answers = conn.execute(sa.select(sa.func.count()).select_from(Answer)).scalar_one()
        pending = conn.execute(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "pending")  # type: ignore[arg-type]
        ).scalar_one()
    assert sorted(statuses) == [("danh-gia-ho-so", "completed"), ("sipas", "completed")]
    # DG (LYDO does not apply), HINHTHUC, the likert statements, MONGDOI, GOPY
    assert answers == 1 + 1 + len(LIKERT) + 1 + 1
    assert pending == 0


def take_survey(page: sync_api.Page) -> None:
    send = page.locator("#send")

    def click(label: str) -> None:
        # Options carry their number ("2. Hài lòng"), a chosen one its mark.
        active = page.locator(".buttons button:not([disabled])")
        exact = re.compile(f"^(?:{CHOSEN_MARK})?(?:\\d+\\. )?{re.escape(label)}$")
        active.filter(has_text=exact).click()
        sync_api.expect(send).to_be_enabled()  # the reply has arrived

    def click_payload_answer(code: str, value: str) -> None:
        # The likert buttons are in the scale's order; "Không ý kiến" (0) comes last.
        labels = page.locator(".msg.bot:last-child .buttons button").all_inner_texts()
        index = {"0": len(labels) - 1}.get(value, int(value) - 1)
        page.locator(".msg.bot:last-child .buttons button").nth(index).click()
        sync_api.expect(send).to_be_enabled()

    sipas = load_questionnaires()["sipas"]
    page.locator(".msg.bot", has_text="Ông/Bà có đồng ý không?").wait_for()
    click(msg.CONSENT_YES)
    # The options are on the numbered buttons, not listed again in the question's text.
    said = page.locator(".msg.bot:last-child").evaluate("e => e.childNodes[1].textContent")
    assert said.startswith("Câu 1") and "Hài lòng" not in said, said
    click("Hài lòng")  # DG: "2. Hài lòng", between "1. Không hài lòng" and "3. Rất hài lòng"
    click(msg.YES)
    click("Trực tuyến")
    for code, value in LIKERT.items():
        question = sipas.question(code).text[:40]
        sync_api.expect(page.locator(".msg.bot:last-child")).to_contain_text(question)
        click_payload_answer(code, value)
    click("Đơn giản hóa thủ tục")
    click("Rút ngắn thời gian giải quyết")
    # Each tap marks its option in the same message: one question shown, two marks.
    wishes = page.locator(".msg.bot", has_text=sipas.question("MONGDOI").text)
    sync_api.expect(wishes).to_have_count(1)
    marked = wishes.locator("button", has_text=re.compile(f"^{CHOSEN_MARK}"))
    sync_api.expect(marked).to_have_count(2)
    click(msg.MULTI_DONE)
    page.get_by_label(msg.WEB_INPUT_LABEL).fill(COMMENT)
    page.get_by_label(msg.WEB_INPUT_LABEL).press("Enter")
    page.locator(".msg.bot", has_text=msg.THANKS_DONE).last.wait_for()
    page.locator(".msg.me", has_text=COMMENT).wait_for()


PAGE_HEIGHT = """() => ({
  page: document.documentElement.scrollHeight,
  viewport: window.innerHeight,
  logScrolls: getComputedStyle(document.getElementById("log")).overflowY,
  logContent: document.getElementById("log").scrollHeight,
  logBox: document.getElementById("log").clientHeight,
})"""


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}], ids=str
)
def test_the_page_fits_the_window_and_only_the_log_scrolls(
    start_server: Callable[..., Live], viewport: dict[str, int]
) -> None:
    """Issue 14, item 20: the page grew to 9,000+ px of blank space (screen-reader labels
    positioned outside the log), so the wheel scrolled the window to an empty screen."""
    live = start_server()
    mobile = viewport["width"] < 500
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(
                viewport=viewport, is_mobile=mobile, has_touch=mobile, locale="vi-VN",
                reduced_motion="reduce",
            )  # fmt: skip
            page.set_default_timeout(15_000)
            page.goto(live.url)
            send = page.locator("#send")
            page.locator(".msg.bot", has_text="Ông/Bà có đồng ý không?").wait_for()
            for _ in range(9):  # consent (the first button), then a few answers
                page.locator(".msg.bot:last-child .buttons button:not([disabled])").first.click()
                sync_api.expect(send).to_be_enabled()
            page.get_by_label(msg.WEB_INPUT_LABEL).fill("trợ giúp")
            page.get_by_label(msg.WEB_INPUT_LABEL).press("Enter")
            sync_api.expect(send).to_be_enabled()

            sizes = page.evaluate(PAGE_HEIGHT)
            assert sizes["page"] <= sizes["viewport"] + 2, sizes
            assert sizes["logScrolls"] == "auto" and sizes["logContent"] > sizes["logBox"], sizes
            # The wheel over the conversation scrolls the log, never the window.
            page.evaluate("document.getElementById('log').scrollTop = 0")
            box = page.locator("#log").bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.wheel(0, 600)
            for _ in range(50):  # the wheel is asynchronous; the page's CSP forbids eval
                if page.evaluate("document.getElementById('log').scrollTop") > 0:
                    break
                page.wait_for_timeout(50)
            assert page.evaluate("document.getElementById('log').scrollTop") > 0
            assert page.evaluate("window.scrollY") == 0
            page.keyboard.press("End")
            assert page.evaluate("window.scrollY") == 0
        finally:
            browser.close()


ICON_WIDTH = """() => new Promise((done) => {
  const icon = new Image();
  icon.onload = () => done(icon.naturalWidth);
  icon.onerror = () => done(-1);
  icon.src = document.querySelector("link[rel=icon]").href;
})"""


def test_the_api_docs_render_with_no_internet(start_server: Callable[..., Live]) -> None:
    """Issue 14, item 25: /docs was blank offline (Swagger UI from a CDN). Every request that
    leaves this server is refused here, as on a city network without Internet."""
    live = start_server()
    outside: list[str] = []
    failed: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(15_000)

            def only_this_server(route: sync_api.Route) -> None:
                if route.request.url.startswith(live.url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            def note_failure(response: sync_api.Response) -> None:
                if response.status >= 400:
                    failed.append(f"{response.status} {response.url}")

            page.route("**/*", only_this_server)
            page.on("response", note_failure)
            page.goto(f"{live.url}/docs")
            sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("hailong")
            sync_api.expect(page.locator(".opblock-summary-path").first).to_be_visible()
            assert "/api/v1/dossiers" in page.locator(".opblock-summary-path").all_inner_texts()
            # The chat page names the icon, and it is an image. (Not through page.route: an
            # intercepted request for an image the page already has in cache fails there.)
            page.unroute("**/*")
            page.goto(live.url)
            page.locator(".msg.bot").first.wait_for()
            width = page.evaluate(ICON_WIDTH)
            assert width in (16, 32, 48), width
        finally:
            browser.close()
    assert outside == [] and failed == []
