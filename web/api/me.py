"""The caller: who they are, and changing their own password (which ends their other sessions)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from web.api.deps import CallerDep, DeskDep
from web.api.schemas import AgentOut, PasswordChange, SessionOut

router = APIRouter(tags=["me"])


@router.get("/me", responses={401: {}})
def me(who: CallerDep) -> AgentOut:
    return AgentOut.of(who.agent)


@router.post("/me/password", responses={400: {}, 401: {}, 403: {}})
def change_password(body: PasswordChange, who: CallerDep, desk: DeskDep) -> SessionOut:
    """Change one's own password, giving the current one; every session ends, and a new one is returned."""
    if desk.agents.check_password(who.agent.email, body.current) is None:
        raise HTTPException(403, "the current password is wrong")
    try:
        agent = desk.agents.set_password(who.agent.id, body.new)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    token = desk.sessions.open(agent.id, agent.session_version)
    return SessionOut(token=token, expires_in=desk.sessions.lifetime_seconds, agent=AgentOut.of(agent))
