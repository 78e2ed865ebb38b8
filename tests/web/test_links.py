"""Signed dossier tokens: short, URL-safe, and refused when tampered, expired or unknown."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot.links import TOKEN_LENGTH, check, expiry_of, links_for, make_resolver, parse, sign
from storage.db import session_scope
from storage.dossiers import DossierConflict, DossierRef, UnknownProcedure, UnknownUnit, register
from tests.web.conftest import seed_catalogue

SECRET = "unit-test-secret-0123456789abcdef"
NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
REF = DossierRef(2**40 + 7, "000.00.20.H29-250301-0042", "UBND_XA", "HT_KHAI_SINH", NOW)


def test_token_fits_a_telegram_start_payload_and_hides_the_details() -> None:
    token = sign(SECRET, REF, expiry_of(REF, 30))
    assert len(token) == TOKEN_LENGTH <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert "H29" not in token and "UBND" not in token
    parsed = parse(token)
    assert parsed is not None and parsed.dossier_id == REF.id
    assert parsed.expires_at == NOW + timedelta(days=30)
    assert check(SECRET, parsed, REF, NOW) is None


def test_every_single_character_change_is_refused() -> None:
    token = sign(SECRET, REF, expiry_of(REF, 30))
    alphabet = "AZaz09_-"
    for i in range(len(token)):
        for c in alphabet:
            if c == token[i]:
                continue
            tampered = token[:i] + c + token[i + 1 :]
            parsed = parse(tampered)
            if parsed is None or parsed.dossier_id != REF.id:
                continue  # not a token, or names another dossier (whose MAC will not match)
            assert check(SECRET, parsed, REF, NOW) == "bad signature", tampered


@pytest.mark.parametrize(
    "changed",
    [
        DossierRef(REF.id, "OTHER-CODE", REF.unit_code, REF.procedure_code, NOW),
        DossierRef(REF.id, REF.code, "STP", REF.procedure_code, NOW),
        DossierRef(REF.id, REF.code, REF.unit_code, "HT_KET_HON", NOW),
    ],
)
def test_the_mac_covers_code_unit_and_procedure(changed: DossierRef) -> None:
    parsed = parse(sign(SECRET, REF, expiry_of(REF, 30)))
    assert parsed is not None and check(SECRET, parsed, changed, NOW) == "bad signature"


def test_expired_or_foreign_tokens_are_refused() -> None:
    parsed = parse(sign(SECRET, REF, NOW + timedelta(days=1)))
    assert parsed is not None
    assert check(SECRET, parsed, REF, NOW + timedelta(days=1)) == "expired"
    assert check("another secret", parsed, REF, NOW) == "bad signature"
    for junk in ["", "abc", "A" * TOKEN_LENGTH, "!" * TOKEN_LENGTH, "A" * 64, "a b"]:
        assert parse(junk) is None or check(SECRET, parse(junk), REF, NOW) is not None  # type: ignore[arg-type]


def test_links_follow_the_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        link_secret=SECRET,
        public_base_url="https://hailong.example.vn/",
        telegram_bot_username="@hailong_bot",
    )
    links = links_for(settings, REF)
    assert links.web == f"https://hailong.example.vn/?d={links.token}"
    assert links.telegram == f"https://t.me/hailong_bot?start={links.token}"
    assert links.zalo is None  # ZALO_OA_ID not set


def test_resolver_refuses_and_logs_without_the_secret(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    seed_catalogue(engine)
    with session_scope(engine) as session:
        ref = register(
            session, code="HS-R1", unit_code="UBND_XA", procedure_code="HT_KHAI_SINH", now=NOW
        ).dossier
    settings = Settings(_env_file=None, link_secret=SECRET, link_ttl_days=10)  # type: ignore[call-arg]
    resolve = make_resolver(settings, clock=lambda: NOW + timedelta(days=1))
    late = make_resolver(settings, clock=lambda: NOW + timedelta(days=11))
    unset = make_resolver(Settings(_env_file=None, link_secret=""))  # type: ignore[call-arg]
    token = links_for(settings, ref).token
    caplog.set_level(logging.WARNING, logger="bot.links")
    with session_scope(engine) as session:
        assert resolve(session, token) == "HS-R1"
        assert late(session, token) is None
        assert unset(session, token) is None
        assert resolve(session, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert resolve(session, "HS-R1") is None
        assert resolve(session, "Nguyen Van An 0901234567") is None  # typed after /start
        other = DossierRef(ref.id + 99, "X", "UBND_XA", "HT_KHAI_SINH", NOW)
        assert resolve(session, sign(SECRET, other, NOW + timedelta(days=5))) is None
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.links"]
    assert len(logged) == 6
    assert all(SECRET not in line for line in logged)
    assert not any("0901234567" in line or "Nguyen" in line for line in logged)


def test_registration_is_idempotent_and_checks_the_catalogue(engine: Engine) -> None:
    seed_catalogue(engine)
    with session_scope(engine) as session:
        first = register(
            session, code="HS-I1", unit_code="STP", procedure_code="CC_HOP_DONG", now=NOW
        )
        again = register(
            session, code="HS-I1", unit_code="STP", procedure_code="CC_HOP_DONG", now=NOW
        )
        assert first.created and not again.created and first.dossier == again.dossier
        with pytest.raises(DossierConflict):
            register(session, code="HS-I1", unit_code="SXD", procedure_code="CC_HOP_DONG", now=NOW)
        with pytest.raises(UnknownUnit):
            register(session, code="HS-I2", unit_code="NOPE", procedure_code="CC_HOP_DONG", now=NOW)
        with pytest.raises(UnknownProcedure):
            register(session, code="HS-I2", unit_code="STP", procedure_code="NOPE", now=NOW)
