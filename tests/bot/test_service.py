"""The service on real databases (SQLite file and PostgreSQL): one turn, one transaction."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from bot import messages as msg
from bot.engine import Inbound
from bot.sender import DeliveryError, Sender
from bot.service import ConversationService, Outcome, TurnRequest
from storage import conversations, migrate, surveys
from storage.db import make_engine, session_scope
from storage.models import (
    Answer,
    AuditLog,
    Citizen,
    ConversationState,
    OutboxMessage,
    SurveyResponse,
    table,
)
from survey.loader import load_questionnaires
from tests.conftest import add_dossier


def service(engine: Engine) -> ConversationService:
    return ConversationService(
        engine,
        load_questionnaires(),
        dossier_questionnaire="danh-gia-ho-so",
        general_questionnaire="sipas",
    )


def rows(engine: Engine, model: Any, *columns: str) -> list[tuple[Any, ...]]:
    t = table(model)
    with engine.connect() as conn:
        cols = [t.c[c] for c in columns]
        return [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*cols))]


def say(svc: ConversationService, user: str, *texts: str) -> list[str]:
    out: list[str] = []
    for text in texts:
        out += [r.text for r in svc.handle("console", user, Inbound(text=text)).replies]
    return out


def test_a_rated_dossier_lands_in_the_database_with_unit_and_procedure(engine: Engine) -> None:
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "đồng ý", "1", "Phải đi lại nhiều lần", "không")
    responses = rows(engine, SurveyResponse, "questionnaire_code", "status", "channel")
    assert responses == [("danh-gia-ho-so", "completed", "console")]
    answers = rows(
        engine, Answer, "question_code", "status", "score", "choice", "satisfied", "text"
    )
    assert answers == [
        ("DG", "answered", 1, "khong_hai_long", False, None),
        ("LYDO", "answered", None, None, None, "Phải đi lại nhiều lần"),
    ]
    with engine.connect() as conn:
        unit = conn.execute(
            sa.text("SELECT u.code FROM survey_response r JOIN unit u ON u.id = r.unit_id")
        ).scalar_one()
    assert unit == "STP"
    assert rows(engine, Citizen, "channel", "external_id") == [("console", "u1")]


def test_every_reply_is_in_the_outbox_of_its_turn(engine: Engine) -> None:
    svc = service(engine)
    outcome = svc.handle("console", "u1", Inbound(text="/start"))
    assert len(outcome.outbox_ids) == len(outcome.replies) == 1
    stored = rows(engine, OutboxMessage, "id", "recipient", "status")
    assert stored == [(outcome.outbox_ids[0], "u1", "pending")]


def test_a_redelivered_message_changes_nothing(engine: Engine) -> None:
    svc = service(engine)
    svc.handle("telegram", "9", Inbound(text="/start"), message_id="1")
    first = svc.handle("telegram", "9", Inbound(text="1"), message_id="2")
    before = rows(engine, ConversationState, "version") + rows(engine, OutboxMessage, "id")
    again = svc.handle("telegram", "9", Inbound(text="1"), message_id="2")
    assert not first.duplicate and again.duplicate and again.replies == []
    assert rows(engine, ConversationState, "version") + rows(engine, OutboxMessage, "id") == before
    assert len(rows(engine, Citizen, "id")) == 1


def test_a_second_citizen_cannot_rate_the_same_dossier(engine: Engine) -> None:
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "1", "1")
    replies = say(svc, "u2", "/start HS1")
    assert replies == [msg.DOSSIER_ALREADY_RATED.format(dossier="HS1")]
    assert len(rows(engine, SurveyResponse, "id")) == 1


def test_declining_consent_leaves_no_trace_of_the_citizen(engine: Engine) -> None:
    svc = service(engine)
    say(svc, "u1", "/start", "2")
    assert rows(engine, Citizen, "id") == [] and rows(engine, ConversationState, "channel") == []


def test_forgetting_deletes_the_person_but_keeps_anonymous_answers(engine: Engine) -> None:
    svc = service(engine)
    say(svc, "u1", "/start", "1", "1", "5", "/xoa", "có")
    assert rows(engine, Citizen, "id") == []
    assert rows(engine, ConversationState, "channel") == []
    assert rows(engine, SurveyResponse, "citizen_id") == [(None,)]
    assert len(rows(engine, Answer, "id")) == 2
    actions = [a for (a,) in rows(engine, AuditLog, "action")]
    assert sorted(actions) == ["citizen.forgotten", "consent.given"]


def test_resuming_in_a_later_session_keeps_the_same_response(engine: Engine) -> None:
    say(service(engine), "u1", "/start", "1", "2", "4", "dừng")
    replies = say(service(engine), "u1", "/start", "5")  # a new process, as after a restart
    assert msg.RESUMED in replies[0]
    assert len(rows(engine, SurveyResponse, "id")) == 1
    assert rows(engine, Answer, "question_code", "score") == [
        ("HINHTHUC", None),
        ("TCDV1", 4),
        ("TCDV2", 5),
    ]


def test_a_stale_state_write_is_refused(engine: Engine) -> None:
    svc = service(engine)
    svc.handle("console", "u1", Inbound(text="/start"))
    with session_scope(engine) as s:
        _, version = conversations.load_state(s, "console", "u1")
    svc.handle("console", "u1", Inbound(text="1"))  # another worker's turn commits first
    with pytest.raises(conversations.StaleState), session_scope(engine) as s:
        conversations.save_state(s, "console", "u1", {"phase": "new"}, version)


class FlakyTransport:
    """A transport that fails as told, recording what it delivered."""

    channel = "console"

    def __init__(self, failures: list[DeliveryError | None]) -> None:
        self.failures = failures
        self.delivered: list[tuple[str, str]] = []

    def send(self, recipient: str, payload: dict[str, Any]) -> str | None:
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.delivered.append((recipient, payload["text"]))
        return str(len(self.delivered))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def test_sender_retries_in_order_then_delivers_each_message_once(engine: Engine) -> None:
    svc = service(engine)
    say(svc, "u1", "/start", "1")  # consent request, then intro + first question
    say(svc, "u2", "/start")
    clock = Clock()
    transport = FlakyTransport([DeliveryError("429", retry_after=30)])
    sender = Sender(engine, transport, clock=clock)
    first = sender.deliver_due()
    assert (first.sent, first.retried) == (1, 1)  # u1 blocked behind its failed message
    assert [r for r, _ in transport.delivered] == ["u2"]
    assert sender.deliver_due().sent == 0  # retry_after not over yet
    clock.now += timedelta(seconds=31)
    assert sender.deliver_due().sent == 3
    assert sender.deliver_due().sent == 0
    u1 = [text for r, text in transport.delivered if r == "u1"]
    assert u1[0].startswith("Xin chào") and u1[2].startswith("Câu 1")


def test_sender_dead_letters_after_repeated_or_permanent_failures(engine: Engine) -> None:
    svc = service(engine)
    say(svc, "u1", "/start")
    say(svc, "u2", "/start")
    clock = Clock()
    transport = FlakyTransport(
        [DeliveryError("bot blocked", permanent=True)] + [DeliveryError("500") for _ in range(3)]
    )
    sender = Sender(engine, transport, clock=clock, max_attempts=3, base_delay=1)
    stats = sender.deliver_due()
    assert stats.dead == 1 and stats.retried == 1
    for _ in range(3):
        clock.now += timedelta(minutes=5)
        sender.deliver_due()
    statuses = rows(engine, OutboxMessage, "recipient", "status", "attempts")
    assert statuses == [("u1", "dead", 1), ("u2", "dead", 3)]
    assert transport.delivered == []


# --- batches: many turns in one transaction (the webhook's group commit) ---

SCRIPT = ("/start", "đồng ý", "1", "4", "5", "quay lại", "3", "/stop", "4")


def conversation(engine: Engine, user: str) -> list[tuple[Any, ...]]:
    """What is stored of one chat: its answers, state and outbox, without generated keys."""
    with engine.connect() as conn:
        answers = conn.execute(
            sa.text(
                "SELECT a.question_code, a.score, a.choice, a.text FROM answer a"
                " JOIN survey_response r ON r.id = a.response_id"
                " JOIN citizen c ON c.id = r.citizen_id WHERE c.external_id = :u"
                " ORDER BY a.question_code"
            ),
            {"u": user},
        ).all()
        # The version counts commits, not turns: a batch writes a chat's state once.
        state = conn.execute(
            sa.text("SELECT count(*) FROM conversation_state WHERE external_id = :u"), {"u": user}
        ).all()
        sent = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE recipient = :u ORDER BY id"), {"u": user}
        ).all()
    return [tuple(a) for a in answers] + [tuple(s) for s in state] + [tuple(p) for p in sent]


def test_a_batch_stores_what_the_same_turns_one_by_one_store(engine: Engine) -> None:
    svc = service(engine)
    for text in SCRIPT:
        svc.handle("console", "alone", Inbound(text=text))
    # The same script for three chats at once: interleaved, and some chats twice in a batch.
    requests = [
        TurnRequest("console", f"b{i}", Inbound(text=text))
        for step in range(0, len(SCRIPT), 2)
        for i in range(3)
        for text in SCRIPT[step : step + 2]
    ]
    outcomes = []
    for start in range(0, len(requests), 7):
        outcomes += svc.handle_many(requests[start : start + 7])
    assert not [o for o in outcomes if isinstance(o, Exception)]
    expected = conversation(engine, "alone")
    assert len(expected) > 5
    for i in range(3):
        assert conversation(engine, f"b{i}") == expected


def test_a_redelivered_message_in_or_before_a_batch_changes_nothing(engine: Engine) -> None:
    svc = service(engine)
    first = svc.handle("telegram", "7", Inbound(text="/start"), message_id="100")
    again = TurnRequest("telegram", "7", Inbound(text="/start"), "100")
    yes = TurnRequest("telegram", "7", Inbound(text="đồng ý"), "101")
    outcomes = svc.handle_many([again, yes, yes, TurnRequest("telegram", "8", Inbound("/start"))])
    assert [isinstance(o, Outcome) and o.duplicate for o in outcomes] == [
        True,
        False,
        True,
        False,
    ]
    assert not first.duplicate
    assert rows(engine, Citizen, "external_id") == [("7",)]
    replies = [len(o.outbox_ids) for o in outcomes if isinstance(o, Outcome)]
    assert count_outbox(engine) == len(first.outbox_ids) + sum(replies)


def test_one_failing_turn_fails_alone_and_the_rest_of_its_batch_commits(engine: Engine) -> None:
    def broken(_session: object, payload: str) -> str | None:
        raise ValueError(f"resolver broke on {payload}")

    svc = service(engine)
    requests = [
        TurnRequest("console", "a", Inbound(text="/start")),
        TurnRequest("console", "b", Inbound(text="/start X"), resolve=broken),
        TurnRequest("console", "c", Inbound(text="/start")),
    ]
    outcomes = svc.handle_many(requests)
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[0], Outcome) and isinstance(outcomes[2], Outcome)
    with engine.connect() as conn:
        chats = conn.execute(sa.text("SELECT external_id FROM conversation_state")).scalars()
        assert sorted(chats) == ["a", "c"]


def count_outbox(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one())


@pytest.mark.postgres
def test_a_turn_survives_database_connections_dropped_under_it(postgres_url: str) -> None:
    """Pooled connections are not pinged: one found dead is replaced and the turn redone."""
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    svc = service(engine)
    assert not svc.handle("telegram", "9", Inbound(text="/start"), message_id="1").duplicate
    killer = make_engine(postgres_url, poolclass=NullPool)
    with killer.connect() as conn:  # as a server restart would: every other backend goes
        dropped = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    killer.dispose()
    assert dropped >= 1
    outcome = svc.handle("telegram", "9", Inbound(text="đồng ý"), message_id="2")
    assert not outcome.duplicate and outcome.outbox_ids
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM inbound_message")).scalar_one() == 2
    engine.dispose()


@pytest.mark.postgres
def test_a_writer_thread_keeps_one_connection_and_replaces_it_when_dead(postgres_url: str) -> None:
    """A thread that keeps its batch connection (a webhook writer) uses one backend for batch
    after batch; one found dead is dropped, the turn redone on a new one; released at the end
    it goes back to the pool."""
    from storage import pg_turns

    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    svc = service(engine)

    def backend() -> int:
        return int(pg_turns.direct(engine).conn.info.backend_pid)

    svc.keep_connections()
    try:
        pids = set()
        for n, text in enumerate(["/start", "đồng ý", "1", "4", "4"]):
            svc.handle("telegram", "9", Inbound(text=text), message_id=str(n))
            pids.add(backend())
        assert len(pids) == 1
        killed = pids.pop()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
        outcome = svc.handle("telegram", "9", Inbound(text="4"), message_id="5")
        assert not outcome.duplicate and outcome.outbox_ids
        assert backend() != killed
    finally:
        svc.release_connections()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM inbound_message")).scalar_one() == 6
    engine.dispose()


def test_the_fast_and_the_portable_statements_store_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`conversations._FAST` (sqlite3 / psycopg, fixed SQL) and the SQLAlchemy statements it
    replaces on the hot path store the same rows, and each reads what the other wrote: one
    chat alternates between them turn by turn."""
    svc = service(engine)
    fast = dict(conversations._FAST)
    for n, text in enumerate(SCRIPT):
        svc.handle("telegram", "fast", Inbound(text=text), message_id=f"f{n}")
        monkeypatch.setattr(conversations, "_FAST", fast if n % 2 else {})
        svc.handle("telegram", "mixed", Inbound(text=text), message_id=f"m{n}")
        monkeypatch.setattr(conversations, "_FAST", fast)
    expected = conversation(engine, "fast")
    assert len(expected) > 5
    assert conversation(engine, "mixed") == expected
    with engine.connect() as conn:  # timestamps read back alike whoever wrote them
        stamps = conn.execute(sa.select(table(Answer).c.answered_at)).scalars().all()
    assert stamps and all(s.tzinfo is not None for s in stamps)
    assert svc.handle("telegram", "mixed", Inbound(text="x"), message_id="m0").duplicate


def test_a_dossier_survey_looks_its_dossier_up_only_when_the_engine_needs_it(
    engine: Engine,
) -> None:
    """Answers in the middle of a dossier's survey do not query the dossier; the start, the
    first answer (has another chat rated it meanwhile?) and the survey's end (whether to
    offer the SIPAS survey) do."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    looked_up: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM dossier" in statement:
            looked_up.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        per_turn = []
        # Rated "Hài lòng": the SIPAS survey of the same dossier is offered and taken.
        for text in ("/start HS1", "đồng ý", "2", "có", "1", "4", "5"):
            looked_up.clear()
            say(svc, "u1", text)
            per_turn.append(len(looked_up))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert per_turn[0] > 0 and per_turn[2] > 0 and per_turn[4] > 0, per_turn
    assert per_turn[5] == per_turn[6] == 0, per_turn
    assert rows(engine, SurveyResponse, "questionnaire_code", "status") == [
        ("danh-gia-ho-so", "completed"),
        ("sipas", "in_progress"),
    ]


def test_two_chats_rating_one_dossier_in_one_batch_rate_it_once(engine: Engine) -> None:
    """Both chats opened the link and consented: each has its response open, neither
    attached to the dossier. Both rate it in one batch: the batch fails on the dossier's
    unique response (PostgreSQL: inside its one write statement) and is redone turn by turn:
    the second chat is told the dossier was rated meanwhile, and nothing of its is stored."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    for user in ("u1", "u2"):
        say(svc, user, "/start HS1")
    outcomes = svc.handle_many([TurnRequest("console", u, Inbound(text="1")) for u in ("u1", "u2")])
    assert all(isinstance(o, Outcome) for o in outcomes), outcomes
    assert rows(engine, SurveyResponse, "dossier_id") == [(None,), (None,)]
    outcomes = svc.handle_many([TurnRequest("console", u, Inbound(text="2")) for u in ("u1", "u2")])
    assert all(isinstance(o, Outcome) for o in outcomes), outcomes
    attached = [r for r in rows(engine, SurveyResponse, "dossier_id") if r[0] is not None]
    assert len(attached) == 1
    assert rows(engine, Answer, "question_code", "choice") == [("DG", "hai_long")]
    second = [r.text for r in outcomes[1].replies]  # type: ignore[union-attr]
    assert second == [msg.DOSSIER_ALREADY_RATED.format(dossier="HS1")]


def test_a_response_opened_and_completed_in_one_batch_is_stored_completed(engine: Engine) -> None:
    questionnaire = load_questionnaires()["sipas"]
    at = datetime.now(UTC)
    opened = surveys.NewResponse("k1", questionnaire, None, "console", "u1", at)
    with session_scope(engine) as s:
        conversations.read_batch(s, [], [])
        conversations.write_batch(s, [], [], [opened], [("k1", at)], [], [])
    assert rows(engine, SurveyResponse, "key", "status") == [("k1", "completed")]


@pytest.mark.postgres
def test_a_batch_whose_chat_moved_under_it_writes_nothing(postgres_url: str) -> None:
    """PostgreSQL batches read outside a transaction: the write checks what the read saw and,
    when another worker moved the chat meanwhile, stores nothing of the batch (no message id
    taken, no outbox row), so the turn can be redone."""
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    svc = service(engine)
    svc.handle("telegram", "9", Inbound(text="/start"), message_id="1")
    chat = ("telegram", "9")
    with pytest.raises(conversations.StaleState), session_scope(engine) as s:
        claimed, stored = conversations.read_batch(s, [("telegram", "2")], [chat])
        assert claimed == {("telegram", "2")}
        svc.handle("telegram", "9", Inbound(text="đồng ý"), message_id="3")  # commits first
        outbox = count_outbox(engine)
        conversations.write_batch(
            s,
            sorted(claimed),
            [],
            [],
            [],
            [(*chat, stored[chat][0], stored[chat][1])],
            [(*chat, {"text": "x", "buttons": []})],
        )
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT message_id FROM inbound_message")).scalars()
        assert sorted(ids) == ["1", "3"]
    assert count_outbox(engine) == outbox
    assert not svc.handle("telegram", "9", Inbound(text="1"), message_id="2").duplicate
    engine.dispose()


@pytest.mark.postgres
def test_every_shape_of_the_postgresql_batch_write_is_valid_sql(postgres_url: str) -> None:
    """A batch's write has only the parts (CTEs) it uses: all 511 combinations prepare."""
    from storage import pg_turns

    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    names = list(pg_turns._PARTS)
    conn = engine.raw_connection()
    try:
        pgconn = conn.driver_connection.pgconn  # type: ignore[union-attr]
        for n in range(1, len(names) + 1):
            for parts in itertools.combinations(names, n):
                name, text, order = pg_turns._native(pg_turns._write_sql(frozenset(parts)))
                result = pgconn.prepare(name, text)
                assert result.status == pq.ExecStatus.COMMAND_OK, (
                    parts,
                    result.error_message.decode(),
                )
                assert "expected" in order
    finally:
        conn.close()
        engine.dispose()


@pytest.mark.parametrize(
    "text",
    ['Chờ "rất" lâu \\ {quá}, 2 lần', "NULL", "null", '"', "\\", "{}", "a,b", " dấu cách "],
)
def test_free_text_is_stored_exactly_whatever_its_quotes_and_braces(
    engine: Engine, text: str
) -> None:
    """Batches send their rows to PostgreSQL as array literals quoted by hailong."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "đồng ý", "1", text)
    assert rows(engine, Answer, "question_code", "text")[-1] == ("LYDO", text.strip() or None)
    with session_scope(engine) as s:  # the state (JSON text in an array literal) reads back
        state, version = conversations.load_state(s, "console", "u1")
    assert state is not None and version > 1
    assert say(svc, "u1", "không")  # and the chat goes on from it


@pytest.mark.postgres
def test_batch_statements_prepare_again_when_the_server_forgot_them(postgres_url: str) -> None:
    """The batch's statements are prepared once per connection; a connection whose prepared
    statements were dropped (DISCARD ALL, as poolers do) prepares them again."""
    from storage import pg_turns

    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    svc = service(engine)
    svc.handle("telegram", "9", Inbound(text="/start"), message_id="1")
    db = pg_turns.Direct(engine)
    try:
        chat = ("telegram", "9")
        assert chat in pg_turns.read(db, [], [chat])[1]
        db.conn.pgconn.exec_(b"DISCARD ALL")
        claimed, stored = pg_turns.read(db, [("telegram", "2")], [chat])
        assert claimed == {("telegram", "2")} and chat in stored
    finally:
        db.close()
        engine.dispose()


def test_a_nul_character_in_a_message_is_dropped_not_fatal(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL; a message carrying one (JSON \\u0000) is stored
    without it on both databases instead of failing its turn."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    say(svc, "u1", "/start HS1", "đồng ý", "1", "Chờ\x00 lâu")
    assert rows(engine, Answer, "question_code", "text")[-1] == ("LYDO", "Chờ lâu")


def test_a_lone_surrogate_in_a_message_is_replaced_not_fatal(engine: Engine) -> None:
    """JSON may escape half a surrogate pair ("\\ud83d" alone): valid JSON, no character, and
    not encodable for either database. It is stored as U+FFFD instead of failing its turn."""
    add_dossier(engine, "HS1")
    svc = service(engine)
    text = json.loads('"Ch\\u1edd l\\u00e2u \\ud83d"')
    say(svc, "u1", "/start HS1", "đồng ý", "1", text)
    assert rows(engine, Answer, "question_code", "text")[-1] == ("LYDO", "Chờ lâu \ufffd")
