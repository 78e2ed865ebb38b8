"""The console's inbox on indexes (issue 15 benchmark, 100,000 complaints at one unit).

- Its pages: the complaints with a code (anonymous feedback has none) by unit and due date,
  so a page's offset is skipped on the index alone (the last page: 270 -> 16 ms).
- The overdue filter: a partial index of open complaints by due date (it walked the unit's
  closed ones first: 66 ms a page).
- PostgreSQL only: the text search on a pg_trgm GIN index of the lowered masked text (a
  LIKE '%…%' read every text: 190 ms a count). SQLite has no trigrams, and does not match
  the open index's IN list to bound parameters: it keeps ix_complaint_unit_due there.

Revision ID: 0015_console_search
Revises: 0014_admin
Create Date: 2026-12-04 18:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015_console_search'
down_revision: str | Sequence[str] | None = '0014_admin'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('triage', 'routed', 'accepted', 'info_requested', 'reopened')"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        'ix_complaint_unit_open_due',
        'complaint',
        ['unit_id', 'due_at', 'id'],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        'ix_complaint_unit_due_coded',
        'complaint',
        ['unit_id', 'due_at', 'id'],
        unique=False,
        sqlite_where=sa.text('code IS NOT NULL'),
        postgresql_where=sa.text('code IS NOT NULL'),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute(
            'CREATE INDEX ix_complaint_text_trgm ON complaint '
            'USING gin (lower(masked_text) gin_trgm_ops)'
        )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_complaint_text_trgm')
    op.drop_index('ix_complaint_unit_due_coded', table_name='complaint')
    op.drop_index('ix_complaint_unit_open_due', table_name='complaint')
