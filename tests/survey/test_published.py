"""A questionnaire version published in the console is what citizens get (issue 15, item 4):
the next survey begun asks it (`hailong chat`, the service as `hailong serve` wires it), a
chat already in a survey finishes the version it began and its response keeps that version's
id, the reports count both versions under their rules and check the settings against the
version asked, and a stored definition that no longer loads is logged and skipped. On SQLite
and PostgreSQL."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot.engine import Inbound
from bot.service import ConversationService
from hailong.app import check_wording, conversation_service, questionnaires
from reports.build import build_report
from reports.cli import satisfaction_options
from storage.catalogue import (
    AskedQuestionnaires,
    asked_questionnaires,
    ensure_questionnaire,
    load_catalogue,
    upsert_catalogue,
)
from storage.db import session_scope
from storage.models import Answer, QuestionnaireVersion, SurveyResponse, table
from survey.loader import SHIPPED_DIR, load_questionnaire, load_questionnaires
from survey.model import Questionnaire
from survey.xlsform import questionnaire_from_yaml
from tests.conftest import add_dossier
from tests.console.conftest import SECRET, add_login, csrf_for, signed_in
from tests.test_cli import hailong

THU_1 = """\
code: thu
version: '1'
title: Khảo sát thử 2025
kind: sipas
elements: [{code: CC, name: Công chức}]
questions:
  - {code: A, type: likert5, element: CC, text: 'Cán bộ lịch sự.'}
  - {code: B, type: likert5, element: CC, text: 'Cán bộ giải quyết nhanh.'}
"""
# Version 2: a new title, B reworded (a new criterion), A the same statement (pooled).
THU_2 = """\
code: thu
version: '2'
title: Khảo sát thử 2026
kind: sipas
previous: {version: '1', comparable: [A]}
elements: [{code: CC, name: Công chức}, {code: KQ, name: Kết quả}]
questions:
  - {code: A, type: likert5, element: CC, text: 'Cán bộ lịch sự.'}
  - {code: B, type: likert5, element: KQ, text: 'Kết quả đúng hẹn, đầy đủ.'}
"""
B_1, B_2 = "Cán bộ giải quyết nhanh.", "Kết quả đúng hẹn, đầy đủ."


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """QUESTIONNAIRE_DIR holding version 1 of `thu`."""
    path = tmp_path / "questionnaires"
    path.mkdir()
    (path / "thu.yaml").write_text(THU_1, encoding="utf-8")
    return path


def settings_of(engine: Engine, folder: Path, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        questionnaire_dir=folder,
        general_questionnaire="thu",
        questionnaire_refresh_seconds=0,
        console_secret=SECRET,
        **extra,
    )


def publish_in_console(engine: Engine, folder: Path, text: str) -> None:
    """Upload, preview and publish as an admin does, through the real app."""
    with session_scope(engine) as session:
        upsert_catalogue(session, load_catalogue())
    add_login(engine, "root@hailong.vn", unit=None, role="admin")
    client = signed_in(engine, "root@hailong.vn", questionnaire_dir=folder)
    token = csrf_for(client, "/console/admin/questionnaires")
    preview = client.post(
        "/console/admin/questionnaires/upload",
        data={"csrf": token},
        files={"file": ("thu.yaml", text.encode(), "text/yaml")},
    )
    assert preview.status_code == 200, preview.text
    page = preview.text
    definition = html.unescape(page.split('name="definition" value="', 1)[1].split('"', 1)[0])
    published = client.post(
        "/console/admin/questionnaires/publish",
        data={"csrf": csrf_for(client, "/console/admin/questionnaires"), "definition": definition},
    )
    assert published.status_code == 303, published.text


def say(svc: ConversationService, user: str, *texts: str) -> str:
    out: list[str] = []
    for text in texts:
        out += [r.text for r in svc.handle("web", user, Inbound(text=text)).replies]
    return "\n".join(out)


def version_ids(engine: Engine) -> dict[str, int]:
    t = table(QuestionnaireVersion)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.version, t.c.id).where(t.c.code == "thu"))
        return {v: i for v, i in rows}


def responses(engine: Engine) -> list[tuple[str, int, str]]:
    """(chat, questionnaire id, status) of every response of `thu`, by chat."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.external_id, r.questionnaire_id, r.status FROM survey_response r "
                "JOIN citizen c ON c.id = r.citizen_id WHERE r.questionnaire_code = 'thu' "
                "ORDER BY c.external_id"
            )
        )
        return [(a, int(b), c) for a, b, c in rows]


def test_a_version_published_in_the_console_is_what_the_next_chat_asks(
    engine: Engine, folder: Path
) -> None:
    settings = settings_of(engine, folder)
    check_wording(settings, engine)  # what `hailong serve` does at start: v1 stored
    served = conversation_service(settings, engine)  # a running server's service
    assert "Khảo sát thử 2025" in say(served, "before", "/start", "đồng ý")
    publish_in_console(engine, folder, THU_2)
    assert questionnaires(settings, engine)["thu"].version == "2"
    # The running service, without a restart: the next survey begun asks version 2.
    replies = say(served, "after", "/start", "đồng ý", "5")
    assert "Khảo sát thử 2026" in replies and B_2 in replies and B_1 not in replies
    # `hailong chat`, a new process over the same database and the same file (version 1).
    env = {"QUESTIONNAIRE_DIR": str(folder), "GENERAL_QUESTIONNAIRE": "thu"}
    url = engine.url.render_as_string(hide_password=False)
    chat = hailong("chat", "--user", "cli", db=url, stdin="đồng ý\n5\n4\n", env=env)
    assert chat.returncode == 0, chat.stderr
    assert "Khảo sát thử 2026" in chat.stdout and B_2 in chat.stdout
    assert "Khảo sát thử 2025" not in chat.stdout and B_1 not in chat.stdout
    ids = version_ids(engine)
    assert [(u, q) for u, q, _ in responses(engine)] == [
        ("after", ids["2"]),
        ("before", ids["1"]),
        ("cli", ids["2"]),
    ]


def test_a_chat_begun_before_publication_finishes_its_version(engine: Engine, folder: Path) -> None:
    settings = settings_of(engine, folder, report_min_n=1)
    served = conversation_service(settings, engine)
    say(served, "old", "/start", "đồng ý", "5")  # A answered under version 1, B waiting
    with session_scope(engine) as session:  # published (the console's storage call)
        ensure_questionnaire(session, questionnaire_from_yaml(THU_2.encode()))
    new = say(served, "new", "/start", "đồng ý", "2", "2")
    assert B_2 in new
    # A restart whose file is version 2 now: version 1 is only in the database. The old chat
    # pauses, resumes and answers B in version 1's wording, then ends.
    (folder / "thu.yaml").write_text(THU_2, encoding="utf-8")
    restarted = conversation_service(settings, engine)
    old = say(restarted, "old", "dừng", "/start", "4")
    assert B_1 in old and B_2 not in old
    ids = version_ids(engine)
    assert responses(engine) == [
        ("new", ids["2"], "completed"),
        ("old", ids["1"], "completed"),
    ]
    a = table(Answer)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(a)).scalar_one()
    assert n == 4
    # The reports: A pooled over both versions (declared comparable), B two criteria; the
    # settings are checked against the version asked (KQ is an element of version 2 only).
    options = satisfaction_options(
        engine, settings.model_copy(update={"element_weights": {"KQ": 2.0}}), "thu"
    )
    report = build_report(engine, [["unit"]], **options)
    assert report.versions == ["1", "2"]
    criteria = report.overall.criteria
    assert criteria["A"].n == 2 and criteria["A"].value == 0.5
    assert criteria["B@1"].value == 1.0 and criteria["B@2"].value == 0.0
    assert report.criteria_text["B@2"] == B_2


def test_a_new_dossier_link_during_an_old_version_begins_the_new_version(engine: Engine) -> None:
    add_dossier(engine, "HS1")
    add_dossier(engine, "HS2")
    shipped = load_questionnaire(SHIPPED_DIR / "danh-gia-ho-so.yaml")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        questionnaire_refresh_seconds=0,
    )
    served = conversation_service(settings, engine)
    say(served, "u", "/start HS1", "đồng ý")  # at DG of the shipped version
    newer = Questionnaire.model_validate(
        {**shipped.model_dump(), "version": "2026.1", "title": "Đánh giá hồ sơ (2026)"}
    )
    with session_scope(engine) as session:
        new_id = ensure_questionnaire(session, newer)
    assert "Đánh giá hồ sơ (2026)" in say(served, "u", "/start HS2")
    r = table(SurveyResponse)
    with engine.connect() as conn:
        started = conn.execute(sa.select(r.c.questionnaire_id).order_by(r.c.id)).scalars().all()
    assert started[-1] == new_id and started[0] != new_id


def test_a_stored_definition_that_does_not_load_is_logged_and_skipped(
    engine: Engine, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_of(engine, folder)
    check_wording(settings, engine)  # a first start: the files' versions stored
    with session_scope(engine) as session:
        ensure_questionnaire(session, questionnaire_from_yaml(THU_2.encode()))
        # A newer row that no longer loads (written by hand, or by an older schema).
        session.add(
            QuestionnaireVersion(
                code="thu", version="3", title="x", definition={"code": "thu", "version": "3"}
            )
        )
        session.add(
            QuestionnaireVersion(code="sipas", version="9", title="x", definition={"bad": 1})
        )
    with caplog.at_level(logging.ERROR, logger="storage.catalogue"):
        check_wording(settings, engine)  # the next start goes on
        asked = questionnaires(settings, engine)
    assert asked["thu"].version == "2"  # the version before it
    assert asked["sipas"].version == load_questionnaires()["sipas"].version  # the file's
    logged = [r.getMessage() for r in caplog.records]
    assert any("thu version 3" in m and "does not load" in m for m in logged)
    assert any("sipas version 9" in m for m in logged)
    assert "Khảo sát thử 2026" in say(conversation_service(settings, engine), "c", "/start", "ok")


def test_the_files_are_stored_at_start_and_a_new_file_version_overtakes(
    engine: Engine, folder: Path
) -> None:
    settings = settings_of(engine, folder)
    check_wording(settings, engine)
    assert set(version_ids(engine)) == {"1"}
    with session_scope(engine) as session:
        ensure_questionnaire(session, questionnaire_from_yaml(THU_2.encode()))
    check_wording(settings, engine)  # a restart with the same file: version 2 stays asked
    assert questionnaires(settings, engine)["thu"].version == "2"
    (folder / "thu.yaml").write_text(THU_2.replace("'2'", "'3'", 1), encoding="utf-8")
    check_wording(settings, engine)  # the operator's new file is published at start
    assert questionnaires(settings, engine)["thu"].version == "3"
    assert questionnaires(settings)["thu"].version == "3"  # (no engine: the files alone)


def test_a_running_service_reads_the_versions_again_only_when_one_is_stored(
    engine: Engine, folder: Path
) -> None:
    files = load_questionnaires([folder])
    now = [0.0]
    asked = AskedQuestionnaires(files, engine, refresh_seconds=30, clock=lambda: now[0])
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert asked.current()["thu"].version == "1"  # nothing stored: the file
        with session_scope(engine) as session:
            ensure_questionnaire(session, questionnaire_from_yaml(THU_2.encode()))
        statements.clear()
        now[0] = 29.0
        assert asked.current()["thu"].version == "1" and statements == []  # not yet looked
        now[0] = 30.0
        assert asked.current()["thu"].version == "2"
        now[0] = 60.0
        statements.clear()
        assert asked.current()["thu"].version == "2"
        assert len(statements) == 1 and "count" in statements[0].lower()  # the marker only
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert asked.version("thu", "1") is files["thu"]  # a chat in version 1 finishes it
    assert asked_questionnaires(engine, files)["thu"] == asked.current()["thu"]


def test_a_database_unreachable_for_a_check_keeps_the_versions_asked(
    engine: Engine, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with session_scope(engine) as session:
        ensure_questionnaire(session, questionnaire_from_yaml(THU_2.encode()))
    now = [0.0]
    asked = AskedQuestionnaires(
        load_questionnaires([folder]), engine, refresh_seconds=30, clock=lambda: now[0]
    )
    assert asked.current()["thu"].version == "2"

    def refuse(*_args: Any) -> None:
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    sa.event.listen(engine, "before_cursor_execute", refuse)
    now[0] = 31.0
    try:
        with caplog.at_level(logging.WARNING, logger="storage.catalogue"):
            assert asked.current()["thu"].version == "2"
    finally:
        sa.event.remove(engine, "before_cursor_execute", refuse)
    assert "not re-read" in caplog.text
