"""Lists of cases for agents (by queue, state, agent, or among what a search found), and who may act on a case.

Lists read the record (PostgreSQL): every case has its `conversations` row, which follows the live state at each
agent action and each pipeline transition (record/cases.py). Who may act on one case reads the live state in Redis
first, since that is what the action itself will change.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from core.agent_settings import Role
from core.inbox import Inbox
from desk.agents import AgentView
from desk.context import HasDesk
from record.models import Conversation, IncidentCase, Message


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    reference: str
    status: str  # open (waiting, or with `agent`), pending, resolved
    queue: str | None
    priority: str | None
    category: str | None
    agent: str | None
    channel: str
    subject: str
    created_at: datetime
    last_message_at: datetime | None


@dataclass(frozen=True)
class Scope:
    """Which cases a caller sees: every case (`queues` None), or those of `queues` and those given to `agent`."""

    queues: frozenset[str] | None
    agent: str | None = None

    @classmethod
    def of(cls, agent: AgentView) -> Scope:
        if agent.role.at_least(Role.SUPERVISOR):
            return cls(None)
        return cls(frozenset(agent.queues), agent.id)


def list_cases(
    ctx: HasDesk,
    scope: Scope,
    *,
    queue: str | None = None,
    status: str | None = None,
    agent: str | None = None,
    among: Collection[str] | None = None,
    channel: str | None = None,
    language: str | None = None,
    incident: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[CaseRow]:
    """The cases in `scope` matching every filter given (`among`: only these case ids; `channel`: the channel the case
    began on; `language`: a customer message of the case was in it; `incident`: linked to it), newest first."""
    query = select(
        Conversation.id, Conversation.reference, Conversation.status, Conversation.queue, Conversation.priority,
        Conversation.category, Conversation.assigned_agent_id, Conversation.channel, Conversation.subject,
        Conversation.created_at, Conversation.last_message_at,
    )  # fmt: skip
    if scope.queues is not None:
        query = query.where(
            or_(Conversation.queue.in_(sorted(scope.queues)), Conversation.assigned_agent_id == scope.agent)
        )
    if queue is not None:
        query = query.where(Conversation.queue == queue)
    if status is not None:
        query = query.where(Conversation.status == status)
    if agent is not None:
        query = query.where(Conversation.assigned_agent_id == agent)
    if among is not None:
        query = query.where(Conversation.id.in_(sorted(among)))
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if language is not None:
        query = query.where(Conversation.id.in_(select(Message.conversation_id).where(Message.language == language)))
    if incident is not None:
        linked = select(IncidentCase.conversation_id).where(IncidentCase.incident_id == incident)
        query = query.where(Conversation.id.in_(linked))
    query = query.order_by(Conversation.created_at.desc(), Conversation.id.desc()).limit(limit).offset(offset)
    with ctx.record.connect() as connection:
        rows = connection.execute(query).all()
    return [
        CaseRow(
            r.id, r.reference, r.status, r.queue, r.priority, r.category, r.assigned_agent_id, r.channel, r.subject,
            r.created_at, r.last_message_at,
        )
        for r in rows
    ]  # fmt: skip


def case_place(ctx: HasDesk, case_id: str) -> tuple[str | None, str | None]:
    """(queue, agent) of a case: its live state, or the record's row once Redis no longer holds it."""
    state = Inbox(ctx.store).case(case_id)
    if state is not None:
        return state.queue or None, state.agent
    with ctx.record.connect() as connection:
        row = connection.execute(
            select(Conversation.queue, Conversation.assigned_agent_id).where(Conversation.id == case_id)
        ).first()
    return (row.queue, row.assigned_agent_id) if row is not None else (None, None)


def may_act(ctx: HasDesk, agent: AgentView, case_id: str) -> bool:
    """An agent acts on the cases of their queues and on those given to them; supervisors and admins on any."""
    queue, holder = case_place(ctx, case_id)
    return agent.role.at_least(Role.SUPERVISOR) or holder == agent.id or (queue is not None and agent.works(queue))
