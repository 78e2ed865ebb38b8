"""Fixtures for the reports tests: migrated databases and one hand-computed scenario.

The scenario (every expected figure in the tests is worked out from this by hand):

SIPAS answers (likert5; "NO" = không ý kiến, "SK" = skipped):
  R1 SXD  2026-03-05 telegram  TCDV1=5 TCDV2=4 CC1=3 CC2=NO KQ1=SK
  R2 SXD  2026-03-06 zalo      TCDV1=2 TCDV2=5 CC1=4 CC2=5
  R3 SXD  2026-03-07 web       TCDV1=4 TCDV2=NO CC1=5 CC2=1
  R4 XTD  2026-04-10 telegram  TCDV1=5 CC1=5
  R5 —    2026-03-31 23:30 UTC (already April in Vietnam) web  CC1=4
  (R1 also answers HINHTHUC, a single choice without element: never in an index.)

Dossiers (unit, completed, due, rating DG):
  D1 SXD 03-10 due 03-15 rat_hai_long      D5 SXD 03-22 no due, not rated
  D2 SXD 03-12 due 03-11 hai_long (late)   D6 SXD 04-02 due 04-30 hai_long
  D3 SXD 03-20 due 03-25 khong_hai_long    D7 SXD not completed, rated khong_hai_long
  D4 SXD 03-21 due 03-20 khong (late too)  D8 XTD 04-05 due 04-06 rat_hai_long
Each rating response starts one hour after its dossier completes (D7: 2026-03-25).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import (
    Answer,
    Dossier,
    Procedure,
    QuestionnaireVersion,
    SurveyResponse,
    Unit,
)

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1/hailong_reports_test"

NO = "NO"
SK = "SK"


def ts(text: str) -> datetime:
    """'2026-03-05' or '2026-03-05 10:00' as a UTC datetime."""
    fmt = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


class Seeder:
    """Writes rows exactly as the survey engine stores them (see the shared contract)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._keys = 0
        self.questionnaires: dict[str, int] = {}

    def _add(self, obj: Any) -> Any:
        self.session.add(obj)
        self.session.flush()
        return obj

    def unit(self, code: str, name: str) -> int:
        return int(self._add(Unit(code=code, name=name)).id)

    def procedure(self, code: str, name: str) -> int:
        return int(self._add(Procedure(code=code, name=name)).id)

    def questionnaire(self, code: str, version: str = "2025.1") -> int:
        if code not in self.questionnaires:
            row = QuestionnaireVersion(
                code=code, version=version, title=code, definition={"code": code}
            )
            self.questionnaires[code] = int(self._add(row).id)
        return self.questionnaires[code]

    def dossier(
        self,
        code: str,
        unit_id: int,
        completed: str | None,
        due: str | None,
        procedure_id: int | None = None,
    ) -> int:
        row = Dossier(
            code=code,
            unit_id=unit_id,
            procedure_id=procedure_id,
            completed_at=ts(completed) if completed else None,
            due_at=ts(due) if due else None,
        )
        return int(self._add(row).id)

    def response(
        self,
        questionnaire: str,
        started: datetime,
        *,
        unit_id: int | None,
        channel: str = "telegram",
        dossier_id: int | None = None,
        procedure_id: int | None = None,
    ) -> int:
        self._keys += 1
        row = SurveyResponse(
            key=f"test-{self._keys}",
            questionnaire_id=self.questionnaire(questionnaire),
            questionnaire_code=questionnaire,
            unit_id=unit_id,
            procedure_id=procedure_id,
            dossier_id=dossier_id,
            channel=channel,
            status="completed",
            started_at=started,
            completed_at=started + timedelta(minutes=5),
        )
        return int(self._add(row).id)

    def likert(self, response_id: int, question: str, value: int | str) -> None:
        element = question.rstrip("0123456789")
        if value == NO:
            fields: dict[str, Any] = dict(status="no_opinion", choice="0")
        elif value == SK:
            fields = dict(status="skipped")
        else:
            score = int(value)
            fields = dict(status="answered", score=score, choice=str(score), satisfied=score >= 4)
        self._add(
            Answer(
                response_id=response_id,
                question_code=question,
                element_code=element,
                kind="likert5",
                **fields,
            )
        )

    def rating3(self, response_id: int, level: str, reason: str | None = None) -> None:
        score = {"rat_hai_long": 3, "hai_long": 2, "khong_hai_long": 1}[level]
        self._add(
            Answer(
                response_id=response_id,
                question_code="DG",
                kind="rating3",
                status="answered",
                choice=level,
                score=score,
                satisfied=score >= 2,
            )
        )
        if reason:
            self._add(
                Answer(
                    response_id=response_id,
                    question_code="LYDO",
                    kind="text",
                    status="answered",
                    text=reason,
                )
            )


def seed_scenario(engine: Engine) -> None:
    """Insert the scenario described in this module's docstring."""
    with Session(engine) as session:
        s = Seeder(session)
        sxd = s.unit("SXD", "Sở Xây dựng")
        xtd = s.unit("XTD", "UBND phường Tân Định")
        gpxd = s.procedure("GPXD", "Cấp giấy phép xây dựng")

        r1 = s.response("sipas", ts("2026-03-05 09:00"), unit_id=sxd, procedure_id=gpxd)
        for q, v in [("TCDV1", 5), ("TCDV2", 4), ("CC1", 3), ("CC2", NO), ("KQ1", SK)]:
            s.likert(r1, q, v)
        s._add(
            Answer(
                response_id=r1,
                question_code="HINHTHUC",
                kind="single",
                status="answered",
                choice="truc_tiep",
            )
        )
        r2 = s.response("sipas", ts("2026-03-06 09:00"), unit_id=sxd, channel="zalo")
        for q, v in [("TCDV1", 2), ("TCDV2", 5), ("CC1", 4), ("CC2", 5)]:
            s.likert(r2, q, v)
        r3 = s.response("sipas", ts("2026-03-07 09:00"), unit_id=sxd, channel="web")
        for q, v in [("TCDV1", 4), ("TCDV2", NO), ("CC1", 5), ("CC2", 1)]:
            s.likert(r3, q, v)
        r4 = s.response("sipas", ts("2026-04-10 09:00"), unit_id=xtd)
        for q, v in [("TCDV1", 5), ("CC1", 5)]:
            s.likert(r4, q, v)
        r5 = s.response("sipas", ts("2026-03-31 23:30"), unit_id=None, channel="web")
        s.likert(r5, "CC1", 4)

        dossiers = [
            ("D1", sxd, "2026-03-10", "2026-03-15", "rat_hai_long"),
            ("D2", sxd, "2026-03-12", "2026-03-11", "hai_long"),
            ("D3", sxd, "2026-03-20", "2026-03-25", "khong_hai_long"),
            ("D4", sxd, "2026-03-21", "2026-03-20", "khong_hai_long"),
            ("D5", sxd, "2026-03-22", None, None),
            ("D6", sxd, "2026-04-02", "2026-04-30", "hai_long"),
            ("D7", sxd, None, "2026-03-30", "khong_hai_long"),
            ("D8", xtd, "2026-04-05", "2026-04-06", "rat_hai_long"),
        ]
        for code, unit_id, completed, due, level in dossiers:
            dossier_id = s.dossier(code, unit_id, completed, due, procedure_id=gpxd)
            if level is None:
                continue
            started = ts(completed or "2026-03-25") + timedelta(hours=1)
            rid = s.response(
                "danh-gia-ho-so",
                started,
                unit_id=unit_id,
                dossier_id=dossier_id,
                procedure_id=gpxd,
            )
            reason = "Gọi tôi số 0903123456, chờ quá lâu" if level == "khong_hai_long" else None
            s.rating3(rid, level, reason)
        session.commit()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a migrated, empty SQLite database file."""
    url = f"sqlite:///{tmp_path / 'hailong.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def empty_engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite database with no rows."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def scenario_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite file holding the scenario (built once; tests only read it)."""
    path = tmp_path_factory.mktemp("scenario") / "scenario.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    seed_scenario(engine)
    engine.dispose()
    return url


@pytest.fixture
def scenario_engine(scenario_url: str) -> Iterator[Engine]:
    """An engine on the scenario database."""
    engine = make_engine(scenario_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_scenario_engine() -> Iterator[Engine]:
    """The scenario in a scratch PostgreSQL database (created if missing, wiped first).

    The session time zone is set to Ho Chi Minh City on purpose: period buckets must still
    be computed in UTC.
    """
    url = os.environ.get("HAILONG_TEST_POSTGRES_URL", PG_DEFAULT_URL)
    parsed = make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {parsed.render_as_string()}: {exc.orig}")
    finally:
        admin.dispose()
    engine = make_engine(url, connect_args={"options": "-c timezone=Asia/Ho_Chi_Minh"})
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade(engine)
    seed_scenario(engine)
    yield engine
    engine.dispose()
