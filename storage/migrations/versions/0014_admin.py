"""staff_invitation: one-time links with which an invited staff member sets a console password

Revision ID: 0014_admin
Revises: 0013_complaint_dossier
Create Date: 2026-12-04 18:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import storage.types


# revision identifiers, used by Alembic.
revision: str = '0014_admin'
down_revision: Union[str, Sequence[str], None] = '0013_complaint_dossier'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'staff_invitation',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_staff_invitation_staff_id', 'staff_invitation', ['staff_id'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_staff_invitation_staff_id', table_name='staff_invitation')
    op.drop_table('staff_invitation')
