"""The seam between the console and the agents' store: who may sign in, and whether a session still stands.

The console asks two questions and keeps nothing of its own about agents:
- `authenticate(email, password)`: the agent whose password this is, or None (unknown email, wrong password, an
  agent who may not sign in);
- `principal(agent_id)`: the agent as they are now, or None (removed, deactivated).

Each answer carries `session_version`: a number the agents' store raises when the agent's password or token is
rotated. A session cookie remembers the version it was signed in with; a request whose version no longer matches
is signed out (web/console/session.py). The role and language are read afresh on every request, so a changed role
takes effect at the next click.

`default_identities` is the one place that picks the implementation the running app uses: `desk.auth`'s, once the
agents' store is merged. Until then it is `NoIdentities`, which lets no one in (the sign-in page says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.settings import Settings
from core.store import Store


class Role(StrEnum):
    AGENT = "agent"  # their own queues
    SUPERVISOR = "supervisor"  # all queues, reassign, notices, reports
    ADMIN = "admin"  # agents and roles, and everything a supervisor does


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

    def principal(self, agent_id: str) -> Principal | None: ...


class NoIdentities:
    """No agents' store is wired in: nobody can sign in."""

    configured = False

    def authenticate(self, email: str, password: str) -> Principal | None:
        return None

    def principal(self, agent_id: str) -> Principal | None:
        return None


def default_identities(settings: Settings, store: Store) -> Identities:
    """The implementation `helpline serve web` uses (the agents' store plugs in here)."""
    return NoIdentities()
