"""Ids of deleted rows are never handed out again (issue 14, item 6): on SQLite a table without
AUTOINCREMENT gives the next row max(id) + 1, so a citizen created after `/xoa` took the id of
the one deleted, and the audit log ("citizen:N") named two people with one id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.engine import Inbound
from bot.service import ConversationService
from storage import migrate
from storage.db import make_engine
from storage.models import AuditLog, Citizen, OutboxMessage, table
from survey.loader import load_questionnaires

REBUILT = ("citizen", "consent_record", "outbox")


def _service(engine: Engine) -> ConversationService:
    return ConversationService(
        engine,
        load_questionnaires(),
        dossier_questionnaire="danh-gia-ho-so",
        general_questionnaire="sipas",
    )


def _say(svc: ConversationService, user: str, *texts: str) -> None:
    for text in texts:
        svc.handle("console", user, Inbound(text=text))


def _citizen_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table(Citizen).c.id)).scalars())


def test_a_citizen_after_a_deletion_gets_a_new_id(engine: Engine) -> None:
    svc = _service(engine)
    _say(svc, "u1", "/start", "1", "1")
    (first,) = _citizen_ids(engine)
    _say(svc, "u1", "/xoa", "có")  # the real deletion path: engine, service, storage
    assert _citizen_ids(engine) == []
    _say(svc, "u2", "/start", "1")
    (second,) = _citizen_ids(engine)
    assert second > first
    with engine.connect() as conn:
        actors = list(conn.execute(sa.select(table(AuditLog).c.actor)).scalars())
    # One id, one person: the audit log tells the first citizen from the second.
    assert actors.count(f"citizen:{first}") == 2  # consent given, forgotten
    assert actors.count(f"citizen:{second}") == 1


def test_a_deleted_outbox_message_id_is_not_reused(engine: Engine) -> None:
    svc = _service(engine)
    outcome = svc.handle("console", "u1", Inbound(text="/start"))
    newest = max(outcome.outbox_ids)
    with engine.begin() as conn:
        conn.execute(sa.delete(table(OutboxMessage)))
    again = svc.handle("console", "u2", Inbound(text="/start"))
    assert min(again.outbox_ids) > newest


def _schema(engine: Engine, name: str) -> dict[str, Any]:
    insp = sa.inspect(engine)
    return {
        "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
        "pk": insp.get_pk_constraint(name)["constrained_columns"],
        "fks": sorted(
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in insp.get_foreign_keys(name)
        ),
        "indexes": sorted(
            (
                i["name"],
                tuple(i["column_names"]),
                bool(i["unique"]),
                str(i.get("dialect_options", {}).get("sqlite_where", "")),
            )
            for i in insp.get_indexes(name)
        ),
        "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name)),
    }


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            if name == "alembic_version":
                continue
            out[name] = sorted(
                (tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"'))), key=repr
            )
    return out


def _create_sql(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"),
                {"n": name},
            ).scalar_one()
        )


# Rows as revision 0006 stored them, written in SQL so that later model changes cannot break
# this test: citizens referred to by answers, consent records and complaints, outbox messages.
_OLD_ROWS = """
INSERT INTO unit (id, code, name, kind, description, active)
  VALUES (1, 'STP', 'Sở Tư pháp', 'so', '', 1);
INSERT INTO questionnaire (id, code, version, title, definition, created_at)
  VALUES (1, 'sipas', '1', 'SIPAS', '{}', '2026-01-01 00:00:00');
INSERT INTO citizen (id, channel, external_id, display_name, phone, consent_given_at, consent_text,
  created_at) VALUES
  (1, 'telegram', '11', 'Nguyễn Văn An', '0901234567', '2026-01-01 00:00:00', 'ok',
   '2026-01-01 00:00:00'),
  (2, 'zalo', '22', NULL, NULL, '2026-01-02 00:00:00', 'ok', '2026-01-02 00:00:00'),
  (3, 'web', '33', NULL, NULL, '2026-01-03 00:00:00', 'ok', '2026-01-03 00:00:00');
INSERT INTO survey_response (id, "key", questionnaire_id, questionnaire_code, citizen_id, unit_id,
  channel, status, started_at) VALUES
  (1, 'r1', 1, 'sipas', 1, 1, 'telegram', 'completed', '2026-01-01 00:00:00'),
  (2, 'r2', 1, 'sipas', 2, 1, 'zalo', 'in_progress', '2026-01-02 00:00:00');
INSERT INTO consent_record (id, citizen_id, purpose, text_shown, given, at) VALUES
  (1, 1, 'contact', 'ok', 1, '2026-01-01 00:00:00'),
  (2, 2, 'contact', 'ok', 1, '2026-01-02 00:00:00');
INSERT INTO complaint (id, "key", code, year, seq, status, track, anonymous, origin, unit_id,
  units_involved, candidates, routed_automatically, text, masked_text, citizen_id, photos,
  received_at, due_at, reopened, transfers, reminded, escalated, triage_alarmed, version,
  updated_at) VALUES
  (1, 'k1', 'PA-2026-000001', 2026, 1, 'routed', 'pakn', 0, 'chat', 1, '[]', '[]', 1,
   'Đèn hư, gọi 0901234567', 'Đèn hư, gọi [SĐT]', 1, '[]', '2026-01-01 00:00:00',
   '2026-01-16 00:00:00', 0, 0, 0, 0, 0, 0, '2026-01-01 00:00:00');
INSERT INTO outbox (id, channel, recipient, payload, status, attempts, next_attempt_at, created_at)
  VALUES (1, 'telegram', '11', '{"text": "a"}', 'sent', 1, '2026-01-01', '2026-01-01 00:00:00'),
         (2, 'zalo', '22', '{"text": "b"}', 'pending', 0, '2026-01-02', '2026-01-02 00:00:00'),
         (3, 'web', '33', '{"text": "c"}', 'pending', 0, '2026-01-03', '2026-01-03 00:00:00');
INSERT INTO audit_log (id, at, actor, action, subject, detail)
  VALUES (1, '2026-01-03 00:00:00', 'citizen:4', 'citizen.forgotten', NULL, '{}');
"""


def _down_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(make_engine("sqlite://")))
    down = script.get_revision("0010_privacy").down_revision
    assert isinstance(down, str)
    return down


def _ids(engine: Engine, name: str) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.text(f"SELECT id FROM {name}")).scalars())


def test_the_migration_keeps_every_row_index_and_foreign_key_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    down = _down_revision()
    migrate.upgrade(engine, down)
    with engine.begin() as conn:
        for statement in _OLD_ROWS.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    before = _dump(engine)
    schemas = {name: _schema(engine, name) for name in REBUILT}

    migrate.upgrade(engine, "0010_privacy")  # this revision alone: others change these tables

    assert _dump(engine) == before
    for name in REBUILT:
        assert _schema(engine, name) == schemas[name]
        assert "AUTOINCREMENT" in _create_sql(engine, name)
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1

    migrate.downgrade(engine, down)
    assert _dump(engine) == before
    assert "AUTOINCREMENT" not in _create_sql(engine, "citizen")

    # Up to every head: no later revision may rebuild these tables without AUTOINCREMENT.
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    for name in REBUILT:
        assert "AUTOINCREMENT" in _create_sql(engine, name), name
        assert _ids(engine, name) == sorted(r[0] for r in before[name])
    # From now on a deletion no longer frees the newest id.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM citizen WHERE id = 3"))
        conn.execute(sa.text("DELETE FROM outbox WHERE id = 3"))
    _say(_service(engine), "u5", "/start", "1")
    assert max(_citizen_ids(engine)) == 4
    with engine.connect() as conn:
        first_new = conn.execute(sa.text("SELECT min(id) FROM outbox WHERE recipient = 'u5'"))
        assert first_new.scalar_one() > 3
    engine.dispose()


@pytest.mark.postgres
def test_the_migration_changes_nothing_on_postgresql(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    migrate.upgrade(engine, _down_revision())
    schemas = {name: _schema(engine, name) for name in REBUILT}
    migrate.upgrade(engine, "0010_privacy")
    assert {name: _schema(engine, name) for name in REBUILT} == schemas
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    engine.dispose()
