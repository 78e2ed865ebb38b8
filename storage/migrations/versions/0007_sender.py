"""sender: when an outgoing message first failed (transient failures are retried for a time,
not a number of attempts)

Revision ID: 0007_sender
Revises: 0006
Create Date: 2026-12-04 17:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import storage.types  # noqa: F401  (UTCDateTime)


# revision identifiers, used by Alembic.
revision: str = '0007_sender'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('first_failed_at', storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('first_failed_at')
