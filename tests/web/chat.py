"""A scripted citizen on the web chat's JSON API, as the page talks to it."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx

from bot import messages as msg

# A dossier rated "Hài lòng", then the SIPAS questionnaire, submitted online (so TCDV5 is
# asked), one "Không ý kiến" (TCDV4), two wishes, a comment.
LIKERT = {
    "TCDV1": "5", "TCDV2": "4", "TCDV3": "3", "TCDV4": "0", "TCDV5": "5",
    "TTHC1": "5", "TTHC2": "5", "TTHC3": "2", "TTHC4": "4",
    "CC1": "4", "CC2": "4", "CC3": "4", "CC4": "4", "CC5": "1",
    "KQ1": "5", "KQ2": "5", "KQ3": "5",
    "PAKN1": "3", "PAKN2": "2", "PAKN3": "5",
}  # fmt: skip
EXPECTED_ELEMENTS = {"TCDV": 0.75, "TTHC": 0.75, "CC": 0.8, "KQ": 1.0, "PAKN": 1 / 3}
COMMENT = "Nên có thêm ghế ngồi chờ ở Bộ phận Một cửa."


class WebChat:
    """One browser session: keeps the last reply id like the page does."""

    def __init__(self, http: httpx.Client, session_id: str | None = None) -> None:
        self.http = http
        self.session_id = session_id or secrets.token_hex(16)
        self.after = 0
        self.shown: list[dict[str, Any]] = []

    def post(self, message_id: str | None = None, **content: str) -> httpx.Response:
        body = {
            "session_id": self.session_id,
            "message_id": message_id or str(uuid.uuid4()),
            "after": self.after,
            **content,
        }
        return self.http.post("/api/v1/chat", json=body)

    def send(self, message_id: str | None = None, **content: str) -> list[dict[str, Any]]:
        """Send typed text (text=...) or a button (choice=...); the new replies."""
        response = self.post(message_id, **content)
        assert response.status_code == 200, response.text
        fresh = [m for m in response.json()["messages"] if m["id"] > self.after]
        if fresh:
            self.after = fresh[-1]["id"]
        self.shown += fresh
        return fresh

    def press(self, payload: str) -> list[dict[str, Any]]:
        """Tap the button with this payload on the latest message that has buttons."""
        latest = next(m for m in reversed(self.shown) if m["buttons"])
        payloads = [b["payload"] for b in latest["buttons"]]
        assert payload in payloads, (payload, latest["text"])
        return self.send(choice=payload)

    def last_text(self) -> str:
        return str(self.shown[-1]["text"])


def take_whole_survey(chat: WebChat, token: str) -> None:
    """Consent, rate the dossier, accept SIPAS and answer every question by button."""
    chat.send(text=f"/start {token}")
    assert chat.last_text().startswith(msg.CONSENT_REQUEST)
    chat.press("y")
    chat.press("a:DG:hai_long")
    assert msg.OFFER_SIPAS in chat.last_text()
    chat.press("y")
    chat.press("a:HINHTHUC:truc_tuyen")
    for code, value in LIKERT.items():
        assert f"a:{code}:{value}" in {b["payload"] for b in chat.shown[-1]["buttons"]}, code
        chat.press(f"a:{code}:{value}")
    chat.press("a:MONGDOI:thu_tuc")
    chat.press("a:MONGDOI:thoi_gian")
    chat.press("d:MONGDOI")
    chat.send(text=COMMENT)
    assert chat.last_text() == msg.THANKS_DONE
