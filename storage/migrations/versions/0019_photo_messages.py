"""Where a complaint's photos landed in the units' Telegram groups

The desk sends a complaint's photos to the unit's group as messages of their own, beside its
card. A deletion request (/xoa, Open311 privacy/delete) takes them back with deleteMessage, so
the sender records each delivered photo message here (as it records the cards).

Revision ID: 0019_photo_messages
Revises: 0018_report_rollup
Create Date: 2026-12-04 23:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

# revision identifiers, used by Alembic.
revision: str = "0019_photo_messages"
down_revision: str | Sequence[str] | None = "0018_report_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "complaint_photo_message",
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.PrimaryKeyConstraint("complaint_id", "chat_id", "message_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("complaint_photo_message")
