"""PostgreSQL: hailong_check_batch(), which fails a turn batch's one-statement write

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:20:00

A batch of turns is written in one autocommit statement (storage/pg_turns.py). When another
worker moved one of its chats or took one of its message ids meanwhile, the statement must
write nothing; this function raises (SQLSTATE HL409), which rolls the whole statement back.
SQLite batches run in a transaction and need no such function.
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION hailong_check_batch(expected integer[], got integer[])
        RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            IF expected IS DISTINCT FROM got THEN
                RAISE EXCEPTION 'turn batch changed under it: expected %, wrote %',
                    expected, got USING ERRCODE = 'HL409';
            END IF;
            RETURN true;
        END
        $$
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP FUNCTION IF EXISTS hailong_check_batch(integer[], integer[])')
