"""A dossier is rated by the first answer of a response, not by a survey merely started
(issue 14: 13), on SQLite and PostgreSQL, through the turn batches' fast paths."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from bot import messages as msg
from bot.engine import Inbound
from bot.service import Outcome, TurnRequest
from storage import conversations, migrate, surveys
from storage.db import make_engine, session_scope
from storage.models import Answer, SurveyResponse, table
from tests.bot.test_service import rows, say, service
from tests.conftest import add_dossier

RATED = msg.DOSSIER_ALREADY_RATED


def attached(engine: Engine, code: str) -> list[tuple[Any, ...]]:
    """The responses attached to this dossier: (questionnaire, status, channel user)."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT r.questionnaire_code, r.status, r.key FROM survey_response r"
                    " JOIN dossier d ON d.id = r.dossier_id WHERE d.code = :code ORDER BY r.id"
                ),
                {"code": code},
            )
        ]


def rated(engine: Engine, code: str) -> frozenset[str]:
    with session_scope(engine) as s:
        info = surveys.dossier_info(s, code)
    assert info is not None
    return info.rated


def test_a_survey_started_and_abandoned_does_not_block_the_dossier(engine: Engine) -> None:
    """u1 opened the link and consented, then left at the question: the dossier is not
    rated. u2 opens the same link and rates it; u1, coming back to answer, is told it was
    rated, and nothing of u1's is stored (no answer counted twice)."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    first = say(svc, "u1", "/start HS1", "đồng ý")
    assert first[-1].startswith("Câu 1")
    assert rated(engine, "HS1") == frozenset()
    say(svc, "u2", "/start HS1", "đồng ý", "3")  # 3 = Rất hài lòng
    assert rated(engine, "HS1") == {"danh-gia-ho-so"}
    assert say(svc, "u1", "1") == [RATED.format(dossier="HS1")]
    assert rows(engine, Answer, "question_code", "choice") == [("DG", "rat_hai_long")]
    # u1's response stays detached (no dossier) and holds nothing: reports never see it.
    assert len(rows(engine, SurveyResponse, "id")) == 2
    assert len(attached(engine, "HS1")) == 1
    assert say(svc, "u2", "/start HS1") == [RATED.format(dossier="HS1")]


def test_a_citizen_who_deleted_their_data_mid_survey_can_rate_later(engine: Engine) -> None:
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "đồng ý", "/xoa", "có")
    replies = say(svc, "u1", "/start HS1", "đồng ý", "2")
    assert RATED.format(dossier="HS1") not in replies
    assert rows(engine, Answer, "question_code", "choice") == [("DG", "hai_long")]
    assert [a[:2] for a in attached(engine, "HS1")] == [("danh-gia-ho-so", "completed")]


def test_the_same_chat_opening_the_link_again_starts_afresh(engine: Engine) -> None:
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "đồng ý")
    replies = say(svc, "u1", "/start HS1")
    assert RATED.format(dossier="HS1") not in replies and replies[-1].startswith("Câu 1")
    say(svc, "u1", "1", "Chờ quá lâu")
    assert [a[:2] for a in attached(engine, "HS1")] == [("danh-gia-ho-so", "completed")]


def test_two_chats_rating_at_the_same_moment_store_one_rating(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chats each at the dossier's rating, answering at once from two threads.

    PostgreSQL, two workers (two engines, as two processes have): both turns read the
    dossier as not rated (held at a barrier before their writes), then both write. One
    rating is stored; the other turn fails on the unique constraint, is redone, and its chat
    is told the dossier was rated. SQLite serves one process, whose turns take the database
    in turn (`storage.db.session_scope`): the second reads the first's rating."""
    postgres = make_url(db_url).get_backend_name() == "postgresql"
    engines = [make_engine(db_url), make_engine(db_url)] if postgres else [make_engine(db_url)]
    migrate.upgrade(engines[0])
    engine = engines[0]
    codes = [f"HS{i}" for i in range(4)]
    for code in codes:
        add_dossier(engine, code)
    workers = [service(e) for e in engines] * (2 // len(engines))
    for code in codes:
        for user in ("a", "b"):
            say(workers[0], f"{user}{code}", f"/start {code}", "đồng ý")
    barrier = threading.Barrier(2, timeout=20)
    held: set[int] = set()
    write = conversations.write_batch

    def wait_then_write(*args: Any) -> Any:
        # Each thread's first write waits for the other's: both turns read the dossier as
        # not rated before either commits (waiting in the lookup itself would hold
        # cached_property's lock, which Python 3.11 shares between instances).
        if threading.get_ident() not in held:
            held.add(threading.get_ident())
            barrier.wait()
        return write(*args)

    if postgres:  # (on SQLite the other thread waits for the database: no barrier to meet)
        monkeypatch.setattr(conversations, "write_batch", wait_then_write)
    results: dict[str, list[str] | Exception] = {}

    def rate(worker: int, user: str, text: str) -> None:
        try:
            outcome = workers[worker].handle("console", user, Inbound(text=text))
            results[user] = [r.text for r in outcome.replies]
        except Exception as exc:  # reported below, not lost in the thread
            results[user] = exc

    for code in codes:
        barrier.reset()
        held.clear()
        threads = [
            threading.Thread(target=rate, args=(0, f"a{code}", "2")),
            threading.Thread(target=rate, args=(1, f"b{code}", "3")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        told = [u for u in (f"a{code}", f"b{code}") if results[u] == [RATED.format(dossier=code)]]
        assert len(told) == 1, results
        assert len(attached(engine, code)) == 1
    assert rows(engine, Answer, "question_code") == [("DG",)] * len(codes)
    for e in engines:
        e.dispose()


def test_every_fast_path_attaches_the_response_with_its_first_answer(engine: Engine) -> None:
    """The response is attached by the statement that writes it anyway: opened and rated in
    one batch (INSERT), rated and completed in one turn (the completion's UPDATE), rated
    with a reason to follow (alone); a rating changed with «quay lại» in the same batch."""
    for code in ("HS1", "HS2", "HS3", "HS4"):
        add_dossier(engine, code)
    svc = service(engine)

    def batch(user: str, *texts: str) -> list[Outcome]:
        out = svc.handle_many([TurnRequest("console", user, Inbound(text=t)) for t in texts])
        assert all(isinstance(o, Outcome) for o in out), out
        return out  # type: ignore[return-value]

    say(svc, "u1", "/start HS1")
    batch("u1", "đồng ý", "2")  # opened, rated and completed in one batch
    say(svc, "u2", "/start HS2", "đồng ý")
    say(svc, "u2", "2")  # rated and completed in one turn
    say(svc, "u3", "/start HS3", "đồng ý")
    say(svc, "u3", "1")  # rated; the reason is asked next
    assert [a[:2] for a in attached(engine, "HS3")] == [("danh-gia-ho-so", "in_progress")]
    say(svc, "u3", "Chờ quá lâu")
    say(svc, "u4", "/start HS4")
    batch("u4", "đồng ý", "1", "quay lại", "3")
    for code in ("HS1", "HS2", "HS3", "HS4"):
        assert [a[:2] for a in attached(engine, code)] == [("danh-gia-ho-so", "completed")]
    choices = rows(engine, Answer, "question_code", "choice")
    assert choices.count(("DG", "rat_hai_long")) == 1 and ("LYDO", None) in choices


def test_the_migration_detaches_unanswered_responses_only(db_url: str) -> None:
    """Before 0009_survey a started survey attached its response at once: those holding no
    answer (abandoned) are detached, so their dossiers can be rated; answered ones stay."""
    engine = make_engine(db_url)
    migrate.upgrade(engine, "0006")
    now = "2026-11-01 08:00:00+00:00"
    with engine.begin() as conn:
        run = conn.execute
        run(
            sa.text(
                "INSERT INTO unit (id, code, name, kind, description, active)"
                " VALUES (1, 'STP', 'Sở Tư pháp', 'so', '', true)"
            )
        )
        for i in (1, 2):
            run(
                sa.text(
                    "INSERT INTO dossier (id, code, unit_id, created_at)"
                    " VALUES (:i, :code, 1, :now)"
                ),
                {"i": i, "code": f"HS{i}", "now": now},
            )
        run(
            sa.text(
                "INSERT INTO questionnaire (id, code, version, title, definition, created_at)"
                " VALUES (1, 'danh-gia-ho-so', '2025.1', 't', '{}', :now)"
            ),
            {"now": now},
        )
        for i in (1, 2):
            run(
                sa.text(
                    "INSERT INTO survey_response (id, key, questionnaire_id,"
                    " questionnaire_code, dossier_id, unit_id, channel, status, started_at)"
                    " VALUES (:i, :key, 1, 'danh-gia-ho-so', :i, 1, 'console',"
                    " 'in_progress', :now)"
                ),
                {"i": i, "key": f"k{i}", "now": now},
            )
        run(
            sa.text(
                "INSERT INTO answer (response_id, question_code, kind, status, score,"
                " choice, satisfied, answered_at) VALUES (2, 'DG', 'rating3', 'answered',"
                " 2, 'hai_long', true, :now)"
            ),
            {"now": now},
        )
    migrate.upgrade(engine)
    t = table(SurveyResponse)
    with engine.connect() as conn:
        got = conn.execute(sa.select(t.c.key, t.c.dossier_id, t.c.unit_id).order_by(t.c.id))
        assert [tuple(r) for r in got] == [("k1", None, 1), ("k2", 2, 1)]
    assert rated(engine, "HS1") == frozenset() and rated(engine, "HS2") == {"danh-gia-ho-so"}
    engine.dispose()
