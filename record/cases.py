"""A case's state in the record: the `conversations` row follows the live state Redis decides (core/inbox.py).

Every write sets the columns to the hot state as it is when it runs, so two writes in any order, or one twice, leave
the latest. Agent actions write it at once (desk/); the pipeline's transitions of a case (back from pending,
reopened, a raised priority) write it in the message's job. The audit log of agents' actions is written here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects.postgresql import insert

from core.inbox import CaseState
from core.records import utcnow
from record.models import Agent, AuditEntry, Conversation


def ensure_agent(connection: Connection, agent: str) -> None:
    """An agent named on a case exists in `agents` (the agents' store may not have them yet: a CLI `--as` name)."""
    connection.execute(
        insert(Agent).values(id=agent, name=agent, created_at=utcnow()).on_conflict_do_nothing(index_elements=["id"])
    )


def write_case_state(connection: Connection, state: CaseState) -> bool:
    """Bring the case's row up to its live state; False when the record does not hold the case (yet)."""
    if state.agent:
        ensure_agent(connection, state.agent)
    values: dict[str, Any] = {
        "status": state.status.value,
        "queue": state.queue,
        "priority": state.priority.value,
        "assigned_agent_id": state.agent,
        "first_response_at": state.times.first_response_at,
        "resolved_at": state.times.resolved_at,
    }
    if state.category:
        values["category"] = state.category
    done = connection.execute(update(Conversation).where(Conversation.id == state.id).values(**values))
    return done.rowcount > 0


def audit(
    connection: Connection,
    actor: str,
    action: str,
    case_id: str,
    detail: dict[str, Any],
    at: datetime | None = None,
    *,
    kind: str = "case",  # what `case_id` names: a case, or an incident (desk/incidents.py)
) -> None:
    """One entry of the audit log on a case: who did what, when, with what."""
    connection.execute(
        insert(AuditEntry).values(
            at=at or utcnow(), actor=actor, action=action, subject_kind=kind, subject_id=case_id, detail=detail
        )
    )
