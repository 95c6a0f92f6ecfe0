"""Flags on a case for a supervisor (`low_score`: a low satisfaction score with a comment; `send_failed`: a reply
that could not be sent), as a text array on `conversations`.

Revision ID: 0006_survey
Revises: 0002_attachments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_survey"
down_revision: str | None = "0005_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("flags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("conversations", "flags")
