"""The dossier rating invitation by Zalo ZNS (issue 14: 18): a dossier registered with the
citizen's phone and consent gets a ZNS template message through the outbox, over real HTTP
to FakeZalo's `message/template`; the phone number is gone once the invitation is settled."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot import zns
from bot.channels.zalo import ZaloTransport, store_tokens
from bot.dossier_api import issue
from bot.sender import OutboxWorker, RateLimits
from hailong.server import create_app
from storage import invitations
from storage.db import make_engine, session_scope
from storage.models import Dossier, OutboxMessage, table
from storage.types import utcnow
from tests.channels.chat import settle
from tests.channels.fakes import FakeZalo, serve
from tests.channels.test_zalo import zalo_settings
from tests.test_cli import count, hailong, one_line_error
from tests.web.conftest import seed_catalogue
from tests.web.test_invite_cli import catalogued

KEY = "api-key-for-the-one-stop-shop-system"
SECRET = "a-link-secret-of-at-least-thirty-two-bytes"
TEMPLATE = "412345"
PHONE_DIGITS = "901234567"  # what must not be left anywhere, in any form
NO_PACING = RateLimits(per_second=1000, per_chat_interval=0.001, per_chat_burst=100, tick=0)


def dossier_body(code: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "unit": "STP", "procedure": "CC_HOP_DONG", **extra}


@dataclass
class Zns:
    engine: Engine
    fake: FakeZalo
    settings: Settings

    def register(self, code: str, phone: str | None = "0901 234 567", consent: bool = True) -> str:
        issued = issue(
            self.engine,
            self.settings,
            code=code,
            unit="STP",
            procedure="CC_HOP_DONG",
            phone=zns.normalise_phone(phone) if phone else None,
            zns_consent=consent,
        )
        return issued.zns

    def deliver(self, now: datetime | None = None) -> None:
        """Send what is due as `hailong serve`'s Zalo worker would, the clock at `now`."""

        def clock() -> datetime:
            return now or utcnow()

        async def run() -> None:
            transport = ZaloTransport(self.settings, self.engine, clock=clock)
            worker = OutboxWorker(
                self.engine,
                transport,
                limits=NO_PACING,
                clock=clock,
                base_delay=0.01,
                max_delay=0.01,
            )
            try:
                for _ in range(20):
                    stats = await worker.deliver_once()
                    if not stats.done:
                        if not pending(self.engine):
                            return
                        await asyncio.sleep(0.02)
            finally:
                await transport.close()

        asyncio.run(run())

    def row(self) -> Any:
        t = table(OutboxMessage)
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.c.recipient, t.c.status, t.c.attempts, t.c.last_error, t.c.payload)
            ).one()

    def purge(self, now: datetime) -> int:
        with session_scope(self.engine) as session:
            return invitations.purge(session, "zalo", zns.RECIPIENT_PREFIX, now)


def pending(engine: Engine) -> int:
    t = table(OutboxMessage)
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).where(t.c.status == "pending")).scalar_one()
        )


def traces_of_the_phone(engine: Engine) -> list[str]:
    """Every table, every column: where the phone number still is."""
    found = []
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                if PHONE_DIGITS in " ".join(str(v) for v in row):
                    found.append(name)
    return found


def zns_settings(db_url: str, zalo_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "link_secret": SECRET,
        "api_keys": [KEY],
        "zalo_zns_template_id": TEMPLATE,
        "zalo_zns_url": f"{zalo_url}/message/template",
        **extra,
    }
    return zalo_settings(db_url, zalo_url, **values)


@pytest.fixture
def oa(engine: Engine, db_url: str) -> Iterator[Zns]:
    seed_catalogue(engine)
    fake = FakeZalo()
    with serve(fake.app()) as url:
        settings = zns_settings(db_url, url)
        store_tokens(engine, settings, fake.access_token, fake.refresh_token, 90000)
        yield Zns(engine, fake, settings)


def test_a_dossier_with_phone_and_consent_gets_its_invitation_by_zns_once(
    engine: Engine, db_url: str, nlp_model_dir: Path
) -> None:
    seed_catalogue(engine)
    fake = FakeZalo()
    with serve(fake.app()) as zalo:
        settings = zns_settings(db_url, zalo, nlp_model_dir=nlp_model_dir)
        # A stale access token: ZNS answers -124, hailong refreshes it and sends.
        store_tokens(engine, settings, "access-stale", fake.refresh_token, 90000)
        with serve(create_app(settings)) as app:
            api = f"{app}/api/v1/dossiers"
            body = dossier_body("HS-ZNS-1", phone="0901 234 567", zns_consent=True)
            first = httpx.post(api, json=body, headers={"X-API-Key": KEY}, timeout=10)
            assert first.status_code == 201, first.text
            assert first.json()["zns"] == "queued"
            settle(engine)
            again = httpx.post(api, json=body, headers={"X-API-Key": KEY}, timeout=10)
            assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
            settle(engine)

    [sent] = fake.zns_sent()
    out = first.json()
    with engine.connect() as conn:
        dossier_id = conn.execute(sa.select(table(Dossier).c.id)).scalar_one()
    assert sent["phone"] == "84901234567"
    assert sent["template_id"] == TEMPLATE
    assert sent["tracking_id"] == f"hailong-dossier-{dossier_id}"
    data = sent["template_data"]
    assert data["dossier_code"] == "HS-ZNS-1"
    assert data["rating_link"] == out["links"]["web"] and data["rating_token"] == out["token"]
    assert data["unit_name"] and data["unit_name"] != "STP"  # the catalogue's name
    assert data["procedure_name"] and data["procedure_name"] != "CC_HOP_DONG"
    assert len(data["expiry_date"]) == 10  # dd/mm/yyyy
    assert [c[0] for c in fake.calls if c[0].startswith("zns")] == ["zns!token", "zns"]
    assert fake.refreshes == 1
    t = table(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.status, t.c.platform_message_id, t.c.payload)).all()
    assert [(r.status, r.platform_message_id) for r in rows] == [("sent", "zns1")]
    assert rows[0].payload["outcome"] == "sent" and "phone" not in rows[0].payload
    assert traces_of_the_phone(engine) == []


def test_without_consent_or_phone_or_zns_nothing_is_queued_and_the_phone_not_kept(
    oa: Zns,
) -> None:
    assert oa.register("HS-NO-CONSENT", consent=False) == "not_requested"
    assert oa.register("HS-NO-PHONE", phone=None) == "not_requested"
    oa.settings = oa.settings.model_copy(update={"zalo_zns_template_id": ""})
    assert oa.register("HS-ZNS-OFF") == "not_configured"
    assert count_rows(oa.engine, OutboxMessage) == 0
    assert count_rows(oa.engine, Dossier) == 3
    assert traces_of_the_phone(oa.engine) == []


def test_a_phone_that_is_no_mobile_number_is_refused_and_nothing_stored(
    engine: Engine, db_url: str, nlp_model_dir: Path
) -> None:
    seed_catalogue(engine)
    settings = zns_settings(db_url, "http://127.0.0.1:9", nlp_model_dir=nlp_model_dir)
    with serve(create_app(settings)) as app:
        for phone in ("12345", "0201234567x", "+1 415 555 0100"):
            body = dossier_body("HS-BAD-PHONE", phone=phone, zns_consent=True)
            answer = httpx.post(
                f"{app}/api/v1/dossiers", json=body, headers={"X-API-Key": KEY}, timeout=10
            )
            assert answer.status_code == 422 and "phone" in answer.text, answer.text
    assert count_rows(engine, Dossier) == 0 and count_rows(engine, OutboxMessage) == 0


def test_an_invalid_phone_at_zalo_is_permanent_and_the_number_is_deleted(oa: Zns) -> None:
    oa.fake.zns_errors = [-108]  # Zalo: the phone number is invalid (its message echoes it)
    assert oa.register("HS-108") == "queued"
    oa.deliver()
    _, status, attempts, error, payload = oa.row()
    assert (status, attempts) == ("dead", 1)
    assert "zns error -108" in error and PHONE_DIGITS not in error
    assert "phone" not in payload and payload["outcome"].startswith("refused: zns error -108")
    assert traces_of_the_phone(oa.engine) == []
    oa.deliver()  # a dead letter re-queued by hand would still not be sent without a number
    assert len(oa.fake.zns_sent()) == 0


def test_token_expiry_refreshes_and_busy_is_retried_then_sent_once(oa: Zns) -> None:
    oa.fake.zns_errors = [-220, -32]  # token removed: refresh; then rate limited: retry
    assert oa.register("HS-220") == "queued"
    oa.deliver()
    _, status, attempts, _, payload = oa.row()
    assert (status, attempts, oa.fake.refreshes) == ("sent", 1, 1)
    assert len(oa.fake.zns_sent()) == 1 and "phone" not in payload


def test_an_invitation_whose_link_expired_is_not_sent_and_its_number_deleted(oa: Zns) -> None:
    assert oa.register("HS-LATE") == "queued"
    oa.deliver(now=utcnow() + timedelta(days=oa.settings.link_ttl_days, hours=1))
    _, status, _, error, payload = oa.row()
    assert status == "dead" and "expired" in error
    assert oa.fake.zns_sent() == [] and "phone" not in payload
    assert traces_of_the_phone(oa.engine) == []


def test_a_dead_invitation_keeps_its_number_until_the_link_expires(oa: Zns) -> None:
    assert oa.register("HS-DEAD") == "queued"
    t = table(OutboxMessage)
    with oa.engine.begin() as conn:  # retries of a transient failure ran out: a dead letter,
        conn.execute(sa.update(t).values(status="dead"))  # which may be re-queued by hand
    assert "phone" in oa.row()[4]
    assert oa.purge(utcnow()) == 0  # the link is still valid
    expired = utcnow() + timedelta(days=oa.settings.link_ttl_days, hours=1)
    assert oa.purge(expired) == 1
    assert traces_of_the_phone(oa.engine) == []


def test_a_sent_invitation_whose_number_was_not_deleted_is_swept(oa: Zns) -> None:
    assert oa.register("HS-SWEEP") == "queued"
    t = table(OutboxMessage)
    with oa.engine.begin() as conn:  # as if the settle had not committed after the send
        conn.execute(sa.update(t).values(status="sent"))
    assert oa.purge(utcnow()) == 1
    assert traces_of_the_phone(oa.engine) == []


def test_an_invitation_settled_before_a_crash_is_not_sent_again(oa: Zns) -> None:
    assert oa.register("HS-CRASH") == "queued"
    recipient = oa.row()[0]
    with session_scope(oa.engine) as session:  # sent and settled; the "sent" mark was lost
        invitations.settle(session, "zalo", recipient, "sent", msg_id="zns-earlier")
    oa.deliver()
    _, status, _, _, _ = oa.row()
    assert status == "sent" and oa.fake.zns_sent() == []


def test_hailong_invite_queues_the_invitation_with_phone_and_consent(sqlite_url: str) -> None:
    db = catalogued(sqlite_url)
    env = {
        "LINK_SECRET": SECRET,
        "ZALO_APP_ID": "1234567890",
        "ZALO_OA_ID": "",
        "ZALO_ZNS_TEMPLATE_ID": TEMPLATE,
    }
    args = ("invite", "--unit", "STP", "--procedure", "CC_HOP_DONG")
    bad = hailong(*args, "--dossier", "HS-CLI-Z0", "--phone", "12345", "--zns-consent",
                  db=db, env=env)  # fmt: skip
    one_line_error(bad, "--phone", "not a Vietnamese mobile number")
    assert count(db, "dossier") == 0
    done = hailong(*args, "--dossier", "HS-CLI-Z1", "--phone", "0901234567", "--zns-consent",
                   db=db, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "zns:      rating invitation queued" in done.stdout
    assert PHONE_DIGITS not in done.stdout + done.stderr
    no_consent = hailong(*args, "--dossier", "HS-CLI-Z2", "--phone", "0901234567",
                         db=db, env=env)  # fmt: skip
    assert "needs --phone and --zns-consent" in no_consent.stdout
    engine = make_engine(db)
    t = table(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.recipient, t.c.payload)).all()
    engine.dispose()
    assert len(rows) == 1 and rows[0].payload["phone"] == "84901234567"


def count_rows(engine: Engine, model: object) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table(model))).scalar_one()  # type: ignore[arg-type]
        )
