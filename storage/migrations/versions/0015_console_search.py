"""The console's inbox on indexes (issue 15 benchmark, 100,000 complaints at one unit):
the overdue filter on a partial index of open complaints by due date (it walked the unit's
closed ones first: 66 ms a page), and on PostgreSQL the text search on a pg_trgm GIN index
of the lowered masked text (a LIKE '%…%' read every text: 190 ms a count). SQLite gets
the partial index too (the models are one schema) but does not match its IN list to bound
parameters, and has no trigrams: it keeps ix_complaint_unit_due and its scan.

Revision ID: 0015_console_search
Revises: 0013_complaint_dossier
Create Date: 2026-12-04 18:40:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015_console_search'
down_revision: str | Sequence[str] | None = '0013_complaint_dossier'
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
    op.drop_index('ix_complaint_unit_open_due', table_name='complaint')
