"""The seam between the console and the agents' store: who may sign in, and whether a session still stands.

The console asks three questions and keeps nothing of its own about agents:
- `authenticate(email, password)`: the agent whose password this is, or None (unknown email, wrong password, an
  agent who may not sign in);
- `authenticate_token(token)`: the active agent whose API token this is (`helpline agent rotate-token`), or None;
- `principal(agent_id)`: the agent as they are now, or None (removed, deactivated).

Each answer carries `session_version`: a number the agents' store raises when the agent's password or token is
rotated. A session cookie remembers the version it was signed in with; a request whose version no longer matches
is signed out (web/console/session.py). The role and language are read afresh on every request, so a changed role
takes effect at the next click.

`default_identities` is the one place that picks the implementation the running app uses: `DeskIdentities`, over the
agents' store in the record (desk/agents.py: argon2 passwords, a session version raised by every rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from core.agent_settings import Role
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore, AgentView


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: Role
    language: str | None  # the agent's UI language ("en", "zh"); None: the browser's Accept-Language decides
    session_version: int

    @property
    def sees_reports(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


class Identities(Protocol):
    def authenticate(self, email: str, password: str) -> Principal | None: ...

    def authenticate_token(self, token: str) -> Principal | None: ...

    def principal(self, agent_id: str) -> Principal | None: ...


_UI_LANGUAGES = ("en", "zh")


def _principal(agent: AgentView) -> Principal:
    # The UI language is the agent's first language the console speaks; none: the browser's Accept-Language decides.
    language = next((lang for lang in agent.languages if lang in _UI_LANGUAGES), None)
    return Principal(agent.id, agent.name, agent.role, language, agent.session_version)


class DeskIdentities:
    """The agents' store in the record: only active agents sign in, and an agent is read afresh on every request."""

    def __init__(self, agents: AgentStore) -> None:
        self.agents = agents

    def authenticate(self, email: str, password: str) -> Principal | None:
        agent = self.agents.check_password(email, password)
        return _principal(agent) if agent is not None else None

    def authenticate_token(self, token: str) -> Principal | None:
        agent = self.agents.by_token(token)
        return _principal(agent) if agent is not None else None

    def principal(self, agent_id: str) -> Principal | None:
        agent = self.agents.get(agent_id)
        return _principal(agent) if agent is not None and agent.active else None


def default_identities(settings: Settings, store: Store, record: Engine) -> Identities:
    """The implementation `helpline serve web` uses: the agents' store in the record."""
    return DeskIdentities(AgentStore(record))
