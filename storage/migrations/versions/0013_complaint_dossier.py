"""complaint.dossier_id indexed: the 766 ratio's complaint condition looks it up per dossier

Revision ID: 0013_complaint_dossier
Revises: 0012_console
Create Date: 2026-12-04 18:30:00

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0013_complaint_dossier'
down_revision: Union[str, Sequence[str], None] = '0012_console'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_complaint_dossier', 'complaint', ['dossier_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_complaint_dossier', table_name='complaint')
