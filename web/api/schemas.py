"""The agents' API's request and response bodies (they make the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from core.agent_settings import Role, check_email
from desk.agents import AgentChanges, AgentView


class AgentOut(BaseModel):
    id: str
    name: str
    email: str
    languages: list[str]
    queues: list[str]
    capacity: int
    role: Role
    away: bool
    active: bool
    has_password: bool
    has_token: bool
    created_at: datetime

    @classmethod
    def of(cls, agent: AgentView) -> AgentOut:
        return cls(
            id=agent.id, name=agent.name, email=agent.email, languages=agent.languages, queues=agent.queues,
            capacity=agent.capacity, role=agent.role, away=agent.away, active=agent.active,
            has_password=agent.has_password, has_token=agent.has_token, created_at=agent.created_at,
        )  # fmt: skip


class AgentIn(BaseModel):
    name: str = Field(min_length=1)
    email: str
    languages: list[str] = Field(default_factory=lambda: ["en"])
    queues: list[str] = Field(default_factory=list)
    capacity: int = Field(5, ge=0)
    role: Role = Role.AGENT

    @field_validator("email")
    @classmethod
    def _email(cls, address: str) -> str:
        return check_email(address)


class AgentPatch(BaseModel):
    """Fields left out stay as they are."""

    name: str | None = Field(None, min_length=1)
    languages: list[str] | None = None
    queues: list[str] | None = None
    capacity: int | None = Field(None, ge=0)
    role: Role | None = None
    active: bool | None = None

    def changes(self) -> AgentChanges:
        return AgentChanges(self.name, self.languages, self.queues, self.capacity, self.role, self.active)


class SignIn(BaseModel):
    email: str
    password: str


class SessionOut(BaseModel):
    token: str = Field(description="send it as `Authorization: Bearer <token>`")
    expires_in: int = Field(description="seconds")
    agent: AgentOut


class NewToken(BaseModel):
    token: str = Field(description="shown once: only its digest is kept")


class PasswordChange(BaseModel):
    current: str
    new: str


class PriorityCounts(BaseModel):
    priority: str
    waiting: int
    open: int
    oldest_age_seconds: int | None
    first_response_at_risk: int
    first_response_breached: int
    resolution_at_risk: int
    resolution_breached: int


class QueueOut(BaseModel):
    queue: str
    waiting: int
    open: int
    first_response_at_risk: int
    first_response_breached: int
    resolution_at_risk: int
    resolution_breached: int
    in_business_hours: bool
    priorities: list[PriorityCounts]
