"""Agents as the desk's store of people: languages, queues (skills), capacity, role, away, the password's argon2
hash, the API token's SHA-256 and the session version that rotating either bumps.

Revision ID: 0005_agents
Revises: 0002_attachments
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_agents"
down_revision: str | None = "0003_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text_array = postgresql.ARRAY(sa.Text())
    op.add_column("agents", sa.Column("languages", text_array, server_default="{}", nullable=False))
    op.add_column("agents", sa.Column("queues", text_array, server_default="{}", nullable=False))
    op.add_column("agents", sa.Column("capacity", sa.Integer(), server_default="5", nullable=False))
    op.add_column("agents", sa.Column("role", sa.Text(), server_default="agent", nullable=False))
    op.add_column("agents", sa.Column("away", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("agents", sa.Column("password_hash", sa.Text(), nullable=True))
    op.add_column("agents", sa.Column("token_hash", sa.Text(), nullable=True))
    op.add_column("agents", sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("agents", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(op.f("uq_agents_token_hash"), "agents", ["token_hash"])
    op.create_check_constraint(op.f("ck_agents_role"), "agents", "role IN ('agent', 'supervisor', 'admin')")
    op.create_check_constraint(op.f("ck_agents_capacity"), "agents", "capacity >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_agents_capacity"), "agents", type_="check")
    op.drop_constraint(op.f("ck_agents_role"), "agents", type_="check")
    op.drop_constraint(op.f("uq_agents_token_hash"), "agents", type_="unique")
    for column in ("updated_at", "session_version", "token_hash", "password_hash", "away", "role", "capacity",
                   "queues", "languages"):  # fmt: skip
        op.drop_column("agents", column)
