"""The console end to end in headless Chromium (Debian's package, driven by Playwright): the
real app under uvicorn with its Telegram channel on the fake Bot API over real HTTP. A citizen
files a complaint through the webhook; a staff member of the unit it was routed to signs in
through the form, accepts it, asks for information (the citizen's chat gets the question),
reads the citizen's reply, answers and closes (the citizen gets the answer with the rating
buttons), all by clicking. Another unit's staff gets 404 on its URL; each role lands on its
own page; the inbox works with the keyboard alone. Every request the browser makes stays on
127.0.0.1. Screenshots at 1280x800 and 390x844 go to /tmp/hailong-console (not committed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import messages as msg
from bot.desk import ComplaintDesk
from console import labels as t
from hailong.server import create_app
from nlp.router import load_router
from storage import migrate
from storage.catalogue import load_catalogue, upsert_catalogue
from storage.db import make_engine, session_scope
from storage.models import Complaint
from tests.channels import test_telegram_complaints as tgc
from tests.channels.chat import TelegramUser, settle
from tests.channels.fakes import FakeTelegram, serve
from tests.channels.test_telegram import channel_settings
from tests.console.conftest import PASSWORD, SECRET, add_login, seed
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)

SCREENSHOTS = Path("/tmp/hailong-console")
CITIZEN = 7301
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
QUESTION = "Xin cho biết số nhà gần nhất với cột đèn?"
REPLY = "Trước số nhà 45, gần ngã tư"
ANSWER = "Đã thay bóng đèn ngày 05/12. Cảm ơn ông."


@dataclass
class Console:
    engine: Engine
    fake: FakeTelegram
    url: str
    unit: str  # where the citizen's text is routed
    other: str  # another unit


@pytest.fixture
def console(sqlite_url: str, nlp_model_dir: Path) -> Iterator[Console]:
    model_dir = nlp_model_dir
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
        desk = ComplaintDesk(lambda: load_router(model_dir))
        routing, _, _ = desk._route(session, tgc.TEXT, None, None)
    unit = routing.unit
    other = "SYT" if unit != "SYT" else "SGDDT"
    fake = FakeTelegram()
    with serve(fake.app()) as tg:
        settings = channel_settings(sqlite_url, tg, nlp_model_dir=model_dir, console_secret=SECRET)
        with serve(create_app(settings)) as url:
            yield Console(engine, fake, url, unit, other)
    engine.dispose()


def sign_in(page: Any, base: str, email: str) -> str:
    """Through the form, as a person would; returns the path landed on."""
    page.goto(f"{base}/console/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda u: "/console/login" not in u)
    return urlsplit(page.url).path


def act(page: Any, action: str, text: str = "") -> None:
    form = page.locator(f"form.action-{action}")
    if text:
        form.locator("textarea[name=text]").fill(text)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/console/c/*?ok={action}")


def status_of(engine: Engine, cid: int) -> str:
    with session_scope(engine) as session:
        row = session.get(Complaint, cid)
        assert row is not None
        return row.status


def test_a_complaint_from_telegram_handled_in_the_console(console: Console) -> None:
    base, engine, fake = console.url, console.engine, console.fake
    add_login(engine, "an@unit.gov.vn", unit=console.unit, name="Cán bộ An")
    add_login(engine, "lead@unit.gov.vn", unit=console.unit, role="lead")
    add_login(engine, "y@other.gov.vn", unit=console.other)
    add_login(engine, "analyst@snv.gov.vn", unit=None, role="analyst")
    add_login(engine, "admin@snv.gov.vn", unit=None, role="admin")

    citizen = TelegramUser(base, fake, CITIZEN)
    tgc.submit(tgc.World(engine, fake, base, console.unit), citizen)
    with session_scope(engine) as session:
        row = session.exec(select(Complaint)).one()
        cid, code = row.id, row.code
        assert cid is not None and code is not None
    assert status_of(engine, cid) == "routed"
    SCREENSHOTS.mkdir(exist_ok=True)

    outside: list[str] = []
    problems: list[str] = []

    def local_only(route: Any) -> None:
        # Nothing may leave the machine: no CDN, no map tiles, no fonts.
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def new_page(viewport: dict[str, int] = DESKTOP) -> Any:
            context = browser.new_context(viewport=viewport, locale="vi-VN")
            context.route("**/*", local_only)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            return page

        # The unit's staff member: the inbox, the complaint, accept.
        page = new_page()
        assert sign_in(page, base, "an@unit.gov.vn") == "/console"
        assert page.locator("#inbox-table").get_by_text(code).count() == 1
        page.screenshot(path=str(SCREENSHOTS / "e2e-inbox-1280.png"), full_page=True)
        page.click(f"#inbox-table a:text-is('{code}')")
        page.wait_for_url(f"{base}/console/c/{cid}")
        assert tgc.TEXT[:30] in page.inner_text(".complaint-text")
        page.screenshot(path=str(SCREENSHOTS / "e2e-complaint-1280.png"), full_page=True)
        told = len(citizen.texts())
        act(page, "accept")
        assert t.DONE.format(action=t.ACTION_BUTTONS["accept"]) in page.inner_text("main")
        settle(engine)
        assert status_of(engine, cid) == "accepted"
        assert len(citizen.texts()) > told and code in citizen.texts()[-1]

        # Ask for information: the question reaches the citizen's chat through the Bot API.
        act(page, "request_info", QUESTION)
        settle(engine)
        assert status_of(engine, cid) == "info_requested"
        asked = fake.sent(CITIZEN)[-1]
        assert int(asked["chat_id"]) == CITIZEN and QUESTION in asked["text"]

        # The citizen answers in the chat; the page shows it in the history.
        citizen.say(REPLY)
        settle(engine)
        assert status_of(engine, cid) != "info_requested"
        page.reload()
        history = page.inner_text("ol.history")
        assert "Trước số nhà" in history or "[SỐ NHÀ]" in history

        # Answer and close: the citizen gets the answer with the rating buttons.
        act(page, "answer", ANSWER)
        settle(engine)
        assert status_of(engine, cid) == "answered"
        last = fake.sent(CITIZEN)[-1]
        assert ANSWER in last["text"]
        labels = [b["text"] for r in last["reply_markup"]["inline_keyboard"] for b in r]
        assert any(msg.RATE_SATISFIED in label for label in labels)
        assert page.locator("form.action-answer").count() == 0  # nothing left to do
        phone = new_page(PHONE)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{base}/console")
        phone.screenshot(path=str(SCREENSHOTS / "e2e-inbox-390.png"), full_page=True)
        phone.goto(f"{base}/console/c/{cid}")
        phone.screenshot(path=str(SCREENSHOTS / "e2e-complaint-390.png"), full_page=True)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # Another unit's staff: 404 on the same URL, and the inbox does not list it.
        intruder = new_page()
        assert sign_in(intruder, base, "y@other.gov.vn") == "/console"
        assert code not in intruder.inner_text("main")
        response = intruder.goto(f"{base}/console/c/{cid}")
        assert response is not None and response.status == 404
        assert t.NOT_FOUND in intruder.inner_text("main")

        # Each role lands on its own page.
        analyst = new_page()
        assert sign_in(analyst, base, "analyst@snv.gov.vn") == "/console/dashboard"
        response = analyst.goto(f"{base}/console/c/{cid}")
        assert response is not None and response.status == 403  # never a complaint
        admin = new_page()
        landed = sign_in(admin, base, "admin@snv.gov.vn")
        assert landed.startswith("/console") and landed != "/console/login"
        response = admin.goto(f"{base}/console")  # every unit's inbox
        assert response is not None and response.status == 200
        assert t.INBOX_ALL_UNITS in admin.inner_text("h1") and code in admin.inner_text("main")

        # The lead, with the keyboard only: Tab to a new complaint's link, Enter, Tab to
        # «Tiếp nhận», Enter.
        fresh = seed(engine, console.unit, text="Cống thoát nước nghẹt, nước tràn ra đường")
        lead = new_page()
        assert sign_in(lead, base, "lead@unit.gov.vn") == "/console"
        assert fresh.code in lead.inner_text("#inbox-table")
        for _ in range(40):
            lead.keyboard.press("Tab")
            if lead.evaluate("document.activeElement.textContent") == fresh.code:
                break
        else:
            raise AssertionError("the complaint's link is not reachable with Tab")
        lead.keyboard.press("Enter")
        lead.wait_for_url(f"{base}/console/c/{fresh.id}")
        for _ in range(40):
            lead.keyboard.press("Tab")
            if lead.evaluate("document.activeElement.textContent.trim()") == "Tiếp nhận":
                break
        else:
            raise AssertionError("«Tiếp nhận» is not reachable with Tab")
        lead.keyboard.press("Enter")
        lead.wait_for_url(f"{base}/console/c/{fresh.id}?ok=accept")
        assert status_of(engine, fresh.id) == "accepted"
        browser.close()
    assert outside == []
    # The 404 and the 403 asked for above are the only errors: no CSP refusal, no script error.
    assert len(problems) == 2 and all("status of 40" in e for e in problems), problems
