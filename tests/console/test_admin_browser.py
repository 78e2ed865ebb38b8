"""An XLSForm upload in headless Chromium (Debian's package, driven by Playwright) under the
console's CSP, served by the real app under uvicorn: the admin picks a .xlsx file, sees each
question as a citizen would (text and buttons), and publishes it. A screenshot of the preview
goes to /tmp/hailong-console (not committed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import QuestionnaireVersion, table
from tests.console.conftest import PASSWORD, add_login
from tests.console.test_inbox_browser import SCREENSHOTS, base  # noqa: F401 (fixture)
from tests.survey.test_xlsform import xlsform
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def test_an_xlsform_upload_previews_and_publishes_in_the_browser(
    sqlite_db: Engine,
    base: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    add_login(sqlite_db, "root@hailong.vn", unit=None, role="admin")
    form = tmp_path / "sipas-thu.xlsx"
    form.write_bytes(xlsform())
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page.set_default_timeout(15_000)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/console/admin/questionnaires")
        page.fill("input[name=email]", "root@hailong.vn")
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(f"{base}/console/admin/questionnaires")
        page.set_input_files("input[name=file]", str(form))
        page.click("form[enctype] button[type=submit]")
        page.wait_for_selector("li.preview-question")
        questions = page.locator("li.preview-question")
        assert questions.count() == 4
        likert = page.locator("li.preview-question[data-code=TCDV1]")
        assert "Câu 2" in likert.locator(".chat-bubble").inner_text()
        buttons = likert.locator(".chat-button").all_inner_texts()
        assert buttons == [
            "1. Rất không hài lòng", "2. Không hài lòng", "3. Bình thường",
            "4. Hài lòng", "5. Rất hài lòng", "0. Không ý kiến",
        ]  # fmt: skip
        assert page.locator("li.preview-question[data-code=GOPY] .chat-button").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "admin-preview-phone.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        page.click("text=Xuất bản")
        page.wait_for_url(f"{base}/console/admin/questionnaires?published=sipas-thu:2026.1")
        assert "Đã xuất bản sipas-thu phiên bản 2026.1." in page.content()
        browser.close()
    assert problems == []
    assert width <= 390
    versions = table(QuestionnaireVersion)
    with sqlite_db.connect() as conn:
        stored = conn.execute(sa.select(versions.c.code, versions.c.version)).all()
    assert [tuple(r) for r in stored] == [("sipas-thu", "2026.1")]
