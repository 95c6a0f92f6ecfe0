"""Attachments on disk: the `attachments` table (metadata and the stored content's name) and each contact's salt
for those names; and for retention of resolved cases, when a case was anonymised (indexed by resolution time).

Revision ID: 0002_attachments
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_attachments"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("attachment_salt", sa.LargeBinary(), nullable=True))
    op.add_column("conversations", sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_conversations_resolved_at"), "conversations", ["resolved_at"], unique=False)
    op.create_table(
        "attachments",
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_attachments_message_id_messages")),
        sa.PrimaryKeyConstraint("message_id", "position", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_ref"), "attachments", ["ref"], unique=False)
    op.create_index(op.f("ix_attachments_stored_at"), "attachments", ["stored_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_attachments_stored_at"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_ref"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_index(op.f("ix_conversations_resolved_at"), table_name="conversations")
    op.drop_column("conversations", "anonymised_at")
    op.drop_column("contacts", "attachment_salt")
