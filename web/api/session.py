"""Signing in with email and password (a session token back) and signing out.

Failed sign-ins are limited per account and per client address (desk/auth.py `SignInLimiter`): past
`[auth] signin_attempts` in `signin_window_minutes` the answer is 429 with `Retry-After`, before the password is
even checked, so a guesser learns nothing more in the window. An attempt is counted before its check (a success
takes it back), so attempts sent at once cannot pass the limit together.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from web.api.deps import CallerDep, DeskDep, client_address, unauthorized
from web.api.schemas import AgentOut, SessionOut, SignIn

router = APIRouter(tags=["session"])


@router.post("/session", responses={401: {}, 429: {}})
def sign_in(body: SignIn, request: Request, desk: DeskDep) -> SessionOut:
    client = client_address(request, desk.settings)
    wait = desk.limiter.attempt(body.email, client)
    if wait:
        raise HTTPException(429, "too many failed sign-ins: try again later", headers={"Retry-After": str(wait)})
    agent = desk.agents.check_password(body.email, body.password)
    if agent is None:
        raise unauthorized("wrong email or password")
    desk.limiter.succeeded(body.email, client)
    token = desk.sessions.open(agent.id, agent.session_version)
    return SessionOut(token=token, expires_in=desk.sessions.lifetime_seconds, agent=AgentOut.of(agent))


@router.delete("/session", status_code=204, responses={401: {}})
def sign_out(who: CallerDep, desk: DeskDep) -> Response:
    """End this session (an API token is not a session: rotate it to end it)."""
    if who.session is not None:
        desk.sessions.close(who.session)
    return Response(status_code=204)
