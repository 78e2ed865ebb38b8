"""The inbox's overdue filter and text search read indexes (revision 0015), not every one of
a unit's complaints: a plan check on the queries exactly as `storage.console.inbox` sends
them (a 100,000-complaint unit: bench/results/console.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import console as queries
from storage.types import utcnow
from tests.console.conftest import seed


def plans(engine: Engine, f: queries.InboxFilter, *, seqscan: bool = False) -> list[str]:
    """EXPLAIN of each statement the inbox runs; sequential scans priced out unless `seqscan`
    (on a tiny table the question is whether an index can serve the query at all)."""
    sent: list[Any] = []
    with Session(engine) as db:
        if engine.dialect.name == "postgresql" and not seqscan:
            db.connection().exec_driver_sql("SET enable_seqscan = off")
        real_exec, real_execute = db.exec, db.execute

        def spy_exec(statement: Any, *a: Any, **k: Any) -> Any:
            sent.append(statement)
            return real_exec(statement, *a, **k)

        def spy_execute(statement: Any, *a: Any, **k: Any) -> Any:
            sent.append(statement)
            return real_execute(statement, *a, **k)

        db.exec = spy_exec  # type: ignore[method-assign]
        db.execute = spy_execute  # type: ignore[method-assign]
        queries.inbox(db, f, utcnow())
        db.exec, db.execute = real_exec, real_execute  # type: ignore[method-assign]
        prefix = "EXPLAIN" if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        out = []
        for statement in sent:
            compiled = statement.compile(
                dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            params: Any = compiled.params
            if compiled.positiontup is not None:  # SQLite's qmark style
                params = tuple(_plain(compiled.params[k]) for k in compiled.positiontup)
            rows = db.connection().exec_driver_sql(f"{prefix} {compiled}", params)
            out.append("\n".join(str(r[-1]) for r in rows))
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def test_the_overdue_filter_reads_the_open_complaints_index_on_postgresql(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        return  # SQLite keeps ix_complaint_unit_due (see revision 0015)
    seed(db)
    with Session(db) as s:
        from storage import complaints as store

        unit = store.unit_by_code(s, "SXD")
        assert unit is not None
    found = plans(db, queries.InboxFilter(unit_id=unit.id, overdue=True))
    assert found and all("ix_complaint_unit_open_due" in p for p in found), found


def many(engine: Engine, n: int) -> None:
    """`n` copies of the seeded complaint (other keys, codes and texts), then ANALYZE: enough
    rows for PostgreSQL's planner to prefer an index over reading the table."""
    import sqlalchemy as sa

    from storage.models import Complaint, table

    changed = {"key": "'k' || g", "code": "'PA-1999-' || g", "seq": "g", "year": "1999"}
    changed["masked_text"] = "'Phản ánh số ' || g || ' về vỉa hè'"
    columns = [c.name for c in table(Complaint).columns if c.name != "id"]
    values = ", ".join(changed.get(c, c) for c in columns)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO complaint ({', '.join(columns)}) SELECT {values} "
                f"FROM complaint, generate_series(1, {n}) AS g"
            )
        )
        conn.execute(sa.text("ANALYZE complaint"))


def test_the_text_search_reads_the_trigram_index_on_postgresql(db: Engine) -> None:
    if db.dialect.name != "postgresql":
        return  # SQLite has no trigram index: its search scans (small deployments)
    seed(db)
    many(db, 50_000)
    found = plans(db, queries.InboxFilter(unit_id=None, text="cột điện đổ"), seqscan=True)
    assert found and all("ix_complaint_text_trgm" in p for p in found), found


def test_a_deep_page_skips_its_offset_on_the_index_alone(db: Engine) -> None:
    """The page's ids come from `ix_complaint_unit_due_coded` (an index-only scan on
    PostgreSQL: the skipped rows are never read), then only those rows are fetched."""
    seed(db)
    with Session(db) as s:
        from storage import complaints as store

        unit = store.unit_by_code(s, "SXD")
        assert unit is not None
    found = plans(db, queries.InboxFilter(unit_id=unit.id, page=3))
    assert len(found) == 3, found  # the count, the page's ids, their rows
    if db.dialect.name == "postgresql":
        assert "Index Only Scan using ix_complaint_unit_due_coded" in found[1], found[1]
    else:
        assert "INDEX ix_complaint_unit_due_coded" in found[1], found[1]
    assert "ix_complaint_unit_due_coded" not in found[2]  # by primary key
