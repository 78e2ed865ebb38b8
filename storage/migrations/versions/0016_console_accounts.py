"""console accounts: sessions end with a deactivation, and a lead assigns inside the unit

- staff.sessions_valid_after: a console cookie issued before it is refused. Accounts already
  deactivated get it now, so reactivating one does not revive its old cookies.
- complaint.assignee_id (staff): who of the holding unit a lead gave the complaint to; the
  inbox's «assigned to me» filter reads it by unit and due date.

On SQLite both columns are added in place (ALTER TABLE ADD COLUMN, the foreign key written
into the column): no table is rebuilt, so complaint's partial indexes are left alone.

Revision ID: 0016_console_accounts
Revises: 0015_console_search
Create Date: 2026-12-04 19:45:00

"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.types

# revision identifiers, used by Alembic.
revision: str = '0016_console_accounts'
down_revision: str | Sequence[str] | None = '0015_console_search'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = 'fk_complaint_assignee_id_staff'


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'sessions_valid_after', storage.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    staff = sa.table(
        'staff',
        sa.column('active', sa.Boolean()),
        sa.column('sessions_valid_after', storage.types.UTCDateTime(timezone=True)),
    )
    # Whole seconds, as the cookies' issue times: every cookie of these accounts is older.
    now = datetime.now(UTC).replace(microsecond=0)
    op.execute(
        staff.update()
        .where(staff.c.active == sa.false())
        .values(sessions_valid_after=sa.literal(now, storage.types.UTCDateTime(timezone=True)))
    )
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE complaint ADD COLUMN assignee_id INTEGER REFERENCES staff (id)')
    else:
        op.add_column('complaint', sa.Column('assignee_id', sa.Integer(), nullable=True))
        op.create_foreign_key(FK, 'complaint', 'staff', ['assignee_id'], ['id'])
    op.create_index(
        'ix_complaint_unit_assignee',
        'complaint',
        ['unit_id', 'assignee_id', 'due_at', 'id'],
        unique=False,
    )


def _sqlite_drop_assignee() -> None:
    # SQLite drops a column in place, but not one a foreign key names: the table is rebuilt
    # (its partial indexes re-created from the reflected ones). Complaint events and cards
    # refer to it, so 0010_privacy's procedure: foreign keys off between transactions, the
    # rebuild in one, `foreign_key_check`, on again.
    bind = op.get_bind()
    dbapi = bind.connection.dbapi_connection
    assert dbapi is not None
    enforced = dbapi.execute("PRAGMA foreign_keys").fetchone()[0]
    dbapi.commit()
    dbapi.execute("PRAGMA foreign_keys = OFF")
    try:
        dbapi.execute("BEGIN")
        with op.batch_alter_table('complaint', schema=None) as batch_op:
            batch_op.drop_column('assignee_id')
        broken = dbapi.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"rebuilding complaint broke foreign keys: {broken[:5]}")
        dbapi.commit()
    except BaseException:
        dbapi.rollback()
        raise
    finally:
        dbapi.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_complaint_unit_assignee', table_name='complaint')
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_drop_assignee()
    else:
        op.drop_constraint(FK, 'complaint', type_='foreignkey')
        op.drop_column('complaint', 'assignee_id')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('sessions_valid_after')
