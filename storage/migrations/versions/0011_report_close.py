"""report_close: a closed month's figures, kept as they were when closed

Revision ID: 0011_report_close
Revises: 0010_privacy
Create Date: 2026-12-04 17:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (AutoString in generated columns)
import storage.types  # noqa: F401  (UTCDateTime)


# revision identifiers, used by Alembic.
revision: str = '0011_report_close'
down_revision: Union[str, Sequence[str], None] = '0010_privacy'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('report_close',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('questionnaire', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('closed_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('reopened_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reopened_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ux_report_close_in_force', 'report_close', ['questionnaire', 'month'], unique=True,
                    sqlite_where=sa.text('reopened_at IS NULL'),
                    postgresql_where=sa.text('reopened_at IS NULL'))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ux_report_close_in_force', table_name='report_close',
                  sqlite_where=sa.text('reopened_at IS NULL'),
                  postgresql_where=sa.text('reopened_at IS NULL'))
    op.drop_table('report_close')
