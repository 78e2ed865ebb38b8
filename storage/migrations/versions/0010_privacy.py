"""privacy: SQLite never reuses the id of a deleted citizen, consent record or outbox message

Without AUTOINCREMENT, SQLite gives a new row max(id) + 1, so after `/xoa` deletes the newest
citizen the next one gets the same id and the audit log ("citizen:42") names two people; a
deleted outbox message's id, which the sender's log lines carry, comes back the same way.
SQLite cannot add AUTOINCREMENT to a table in place: each table is rebuilt (copied, dropped,
renamed) with every row, index, constraint and foreign key, as Alembic's batch mode reflects
them. PostgreSQL's sequences never hand out an id twice: nothing to do there.

A later migration that rebuilds one of these tables must pass
`table_kwargs={"sqlite_autoincrement": True}` again: reflection does not see the option.

Revision ID: 0010_privacy
Revises: 0009_survey
Create Date: 2026-12-04 17:10:00

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010_privacy'
down_revision: Union[str, Sequence[str], None] = '0009_survey'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The tables whose rows are deleted (on `/xoa`, or once sent) while their ids live on elsewhere.
TABLES = ("citizen", "consent_record", "outbox")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Dropping `citizen` while answers, consent records and complaints refer to it breaks
    # their foreign keys until the copy takes its name, and SQLite checks them even when
    # deferred. Its documented procedure for rebuilding a table: foreign keys off (possible
    # only between transactions), the rebuild in one transaction, `foreign_key_check`, on.
    dbapi = bind.connection.dbapi_connection
    assert dbapi is not None
    enforced = dbapi.execute("PRAGMA foreign_keys").fetchone()[0]
    dbapi.commit()  # the revisions before this one
    dbapi.execute("PRAGMA foreign_keys = OFF")
    try:
        dbapi.execute("BEGIN")
        for name in TABLES:
            with op.batch_alter_table(
                name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
            ):
                pass
        broken = dbapi.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"rebuilding {TABLES} broke foreign keys: {broken[:5]}")
        dbapi.commit()
    except BaseException:
        dbapi.rollback()
        raise
    finally:
        dbapi.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def upgrade() -> None:
    """Upgrade schema."""
    _rebuild(True)


def downgrade() -> None:
    """Downgrade schema."""
    _rebuild(False)
