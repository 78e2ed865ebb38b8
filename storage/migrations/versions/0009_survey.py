"""A dossier is rated by a response's first answer, not by a survey merely started

Revision ID: 0009_survey
Revises: 0007_sender
Create Date: 2026-12-04 17:30:00

From now on a response opened from a dossier's link is attached to the dossier
(`survey_response.dossier_id`) only when its first answer, the rating, is stored (issue 14:
13). Responses already attached that hold no answer (surveys started and abandoned) blocked
their dossier for good: they are detached here, keeping their unit and procedure. They hold
no answer, so no report changes. No schema change: the unique (dossier_id,
questionnaire_code) now means "rated once".
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009_survey'
down_revision: Union[str, Sequence[str], None] = '0007_sender'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Detach the unanswered responses from their dossiers."""
    op.execute(
        """
        UPDATE survey_response SET dossier_id = NULL
        WHERE dossier_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM answer a WHERE a.response_id = survey_response.id)
        """
    )


def downgrade() -> None:
    """Nothing to undo: a detached response holds no answer, and the old code reads it as
    a response that never rated its dossier."""
