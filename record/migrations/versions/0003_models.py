"""Learned triage models in the record: every version `helpline train` published, with its bytes and how it was
made (when, by whom, held-out accuracy, how many examples); the latest `activated_at` is the active one.

Revision ID: 0003_models
Revises: 0002_attachments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_models"
down_revision: str | None = "0002_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_models",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.Text(), nullable=False),
        sa.Column("training_examples", sa.Integer(), nullable=False),
        sa.Column("held_out_examples", sa.Integer(), nullable=False),
        sa.Column("accuracy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_triage_models")),
    )
    op.create_index(op.f("ix_triage_models_activated_at"), "triage_models", ["activated_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_triage_models_activated_at"), table_name="triage_models")
    op.drop_table("triage_models")
