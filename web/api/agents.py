"""Agents: every signed-in agent may list and read them (to know whom to hand a case to); admins add and change
them and rotate their tokens; an agent marks themself away or back, a supervisor or admin anyone."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from core.agent_settings import Role
from desk.agents import AgentExists, AgentView, LastAdmin
from web.api.deps import CallerDep, DeskDep, at_least
from web.api.schemas import AgentIn, AgentOut, AgentPatch, NewToken

router = APIRouter(prefix="/agents", tags=["agents"])


def _agent(desk: DeskDep, agent_id: str) -> AgentView:
    agent = desk.agents.get(agent_id)
    if agent is None:
        raise HTTPException(404, f"no agent {agent_id}")
    return agent


@router.get("", responses={401: {}})
def list_agents(who: CallerDep, desk: DeskDep) -> list[AgentOut]:
    return [AgentOut.of(agent) for agent in desk.agents.all()]


@router.get("/{agent_id}", responses={401: {}, 404: {}})
def read_agent(agent_id: str, who: CallerDep, desk: DeskDep) -> AgentOut:
    return AgentOut.of(_agent(desk, agent_id))


@router.post("", status_code=201, dependencies=[at_least(Role.ADMIN)], responses={401: {}, 403: {}, 409: {}})
def add_agent(body: AgentIn, desk: DeskDep) -> AgentOut:
    try:
        added = desk.agents.add(
            body.name, body.email, languages=body.languages, queues=body.queues, capacity=body.capacity,
            role=body.role,
        )  # fmt: skip
    except AgentExists as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return AgentOut.of(added)


@router.patch("/{agent_id}", dependencies=[at_least(Role.ADMIN)], responses={401: {}, 403: {}, 404: {}, 409: {}})
def update_agent(agent_id: str, body: AgentPatch, desk: DeskDep) -> AgentOut:
    _agent(desk, agent_id)
    try:
        return AgentOut.of(desk.agents.update(agent_id, body.changes()))
    except LastAdmin as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/{agent_id}/token", dependencies=[at_least(Role.ADMIN)], responses={401: {}, 403: {}, 404: {}})
def rotate_token(agent_id: str, desk: DeskDep) -> NewToken:
    """A new API token for the agent, shown once; their old token and every session of theirs end."""
    _agent(desk, agent_id)
    return NewToken(token=desk.agents.rotate_token(agent_id))


def _set_away(agent_id: str, who: CallerDep, desk: DeskDep, away: bool) -> AgentOut:
    if agent_id != who.agent.id and not who.agent.role.at_least(Role.SUPERVISOR):
        raise HTTPException(403, "an agent marks only themself away or back; supervisors mark anyone")
    _agent(desk, agent_id)
    return AgentOut.of(desk.agents.set_away(agent_id, away))


@router.post("/{agent_id}/away", responses={401: {}, 403: {}, 404: {}})
def away(agent_id: str, who: CallerDep, desk: DeskDep) -> AgentOut:
    """Away: automatic assignment skips the agent until they are back."""
    return _set_away(agent_id, who, desk, True)


@router.post("/{agent_id}/back", responses={401: {}, 403: {}, 404: {}})
def back(agent_id: str, who: CallerDep, desk: DeskDep) -> AgentOut:
    return _set_away(agent_id, who, desk, False)
