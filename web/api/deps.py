"""What every route of the agents' API shares: the desk's services, and who is calling.

`caller` turns the bearer token into an agent, or answers 401 (with `WWW-Authenticate: Bearer`): no token, an
unknown or rotated API token, a session that expired, was signed out, or was signed in before the agent's password
or token last changed (its `session_version` is behind), or an agent made inactive. `Role`-gated routes depend on
`at_least(role)`, which answers 403; routes on a queue check `AgentView.works(queue)`, also 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore, AgentView
from desk.auth import Sessions, SignInLimiter
from router.hours import BusinessCalendar


@dataclass(frozen=True)
class Desk:
    """The routes' services; it is also a `desk.context.HasDesk`, so the routes pass it to desk/ as it is."""

    settings: Settings
    store: Store
    agents: AgentStore
    sessions: Sessions
    limiter: SignInLimiter
    record: Engine
    calendar: BusinessCalendar

    @classmethod
    def create(cls, settings: Settings, store: Store, record: Engine) -> Desk:
        auth = settings.auth
        queues = settings.router.known_queues() | {settings.scheduler.escalation_queue}
        return cls(
            settings, store, AgentStore(record, known_queues=queues),
            Sessions(store, int(auth.session_hours * 3600)),
            SignInLimiter(store, auth.signin_attempts, auth.signin_window_minutes * 60),
            record, BusinessCalendar.from_settings(settings),
        )  # fmt: skip


def desk(request: Request) -> Desk:
    found: Desk = request.app.state.desk
    return found


DeskDep = Annotated[Desk, Depends(desk)]
_bearer = HTTPBearer(auto_error=False, description="an API token (`hla_…`) or a session (`hls_…`)")


@dataclass(frozen=True)
class Caller:
    agent: AgentView
    session: str | None  # the session token, when signed in with a password (None: an API token)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def caller(desk: DeskDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    if credentials is None:
        raise unauthorized("sign in: Authorization: Bearer <token>")
    token = credentials.credentials
    session = desk.sessions.find(token)
    if session is not None:
        agent = desk.agents.get(session.agent_id)
        if agent is None or not agent.active or agent.session_version != session.version:
            raise unauthorized("the session has ended: sign in again")
        return Caller(agent, token)
    agent = desk.agents.by_token(token)
    if agent is None:
        raise unauthorized("unknown, expired or rotated token")
    return Caller(agent, None)


CallerDep = Annotated[Caller, Depends(caller)]


def at_least(role: Role) -> Any:
    """A dependency admitting callers of `role` or above; 403 for the others."""

    def check(who: CallerDep) -> Caller:
        if not who.agent.role.at_least(role):
            raise HTTPException(403, f"needs the {role.value} role (you are {who.agent.role.value})")
        return who

    return Depends(check)


def client_address(request: Request, settings: Settings) -> str:
    """The client the sign-in limit counts: the peer, or behind a trusted proxy the address it last appended."""
    forwarded = request.headers.get("x-forwarded-for") if settings.web.trust_forwarded_headers else None
    if forwarded:
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "-"
