"""The agents' sections of settings.toml: `[[agents]]` (agents the desk is seeded with) and `[auth]` (sign-in,
sessions, the sign-in rate limit).

This module only describes and validates them; desk/agents.py stores the agents and desk/auth.py checks who is who.
Passwords and tokens never come from settings: `helpline agent set-password` and `rotate-token` set them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from core.settings_base import Section


class Role(StrEnum):
    """What an agent may do: `agent` works their own queues, `supervisor` every queue (reassign, notices, reports),
    `admin` also manages agents and roles."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


def check_email(address: str) -> str:
    address = address.strip().lower()
    local, _, domain = address.partition("@")
    if not local or "." not in domain or " " in address:
        raise ValueError(f"{address!r} is not an email address")
    return address


class AgentSeed(Section):
    """One agent the desk starts with. Seeding adds agents missing from the store (matched by email) and leaves the
    ones already there as they are: the store, not the file, is the truth once an agent exists."""

    name: str = Field(min_length=1, description="shown to colleagues and in the audit log")
    email: str = Field(description="the sign-in name; unique")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="languages the agent answers in")
    queues: list[str] = Field(default_factory=list, description="queues the agent works (skills)")
    capacity: int = Field(5, ge=0, description="open cases at once")
    role: Role = Field(Role.AGENT, description="agent | supervisor | admin")

    @field_validator("email")
    @classmethod
    def _email(cls, address: str) -> str:
        return check_email(address)


class AuthSettings(Section):
    session_hours: float = Field(12, gt=0, description="a sign-in session lasts this long (a new sign-in for more)")
    signin_attempts: int = Field(5, ge=1, description="failed sign-ins per account, and per client address, allowed")
    signin_window_minutes: int = Field(
        15, ge=1, description="the window of the sign-in limit; past it the client gets 429 with Retry-After"
    )
