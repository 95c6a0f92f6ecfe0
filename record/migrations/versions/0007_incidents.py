"""Incidents: who opened one, the notice it carries, its answer (one text per language) and who sent it, and the
cases linked to it (`incident_cases`), each with when it was answered and how that went.

Revision ID: 0007_incidents
Revises: 0006_survey
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_incidents"
down_revision: str | None = "0006_survey"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW_COLUMNS = ("opened_by", "notice_id", "answered_by", "answer_en", "answer_zh")


def upgrade() -> None:
    for column in _NEW_COLUMNS:
        op.add_column("incidents", sa.Column(column, sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("answering_since", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_incidents_status"), "incidents", "status IN ('open', 'answering', 'resolved')")
    op.create_index(op.f("ix_incidents_started_at"), "incidents", ["started_at"], unique=False)
    op.create_table(
        "incident_cases",
        sa.Column("incident_id", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_id", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_incident_cases_conversation_id_conversations")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_cases_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("incident_id", "conversation_id", name=op.f("pk_incident_cases")),
    )
    op.create_index(op.f("ix_incident_cases_conversation_id"), "incident_cases", ["conversation_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_cases_conversation_id"), table_name="incident_cases")
    op.drop_table("incident_cases")
    op.drop_index(op.f("ix_incidents_started_at"), table_name="incidents")
    op.drop_constraint(op.f("ck_incidents_status"), "incidents", type_="check")
    for column in ("answering_since", *_NEW_COLUMNS):
        op.drop_column("incidents", column)
