"""The agents' store, in the record's `agents` table: who works the desk, in which queues and languages, with what
capacity and role, whether they are away, and their sign-in secrets (desk/auth.py says how those are kept).

Every change of a secret bumps `session_version` in the same UPDATE, so a session signed in before cannot outlive
it. The store refuses a change that would leave the desk without an active admin: nobody could manage agents then.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.agent_settings import AgentSeed, Role, check_email
from core.ids import new_id
from desk.auth import hash_password, new_api_token, token_digest, verify_password
from record.models import Agent


class AgentExists(ValueError):
    """An agent with that email is in the store already."""


class LastAdmin(ValueError):
    """The change would leave no active admin."""


@dataclass(frozen=True)
class AgentView:
    """An agent as the rest of Helpline sees one: never the hashes, only whether a password or token is set."""

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
    session_version: int
    created_at: datetime

    @classmethod
    def of(cls, row: Agent) -> AgentView:
        return cls(
            row.id, row.name, row.email or "", list(row.languages), list(row.queues), row.capacity, Role(row.role),
            row.away, row.active, row.password_hash is not None, row.token_hash is not None, row.session_version,
            row.created_at,
        )  # fmt: skip

    def works(self, queue: str) -> bool:
        """May act on `queue`'s work: supervisors and admins every queue, an agent their own."""
        return self.role.at_least(Role.SUPERVISOR) or queue in self.queues


@dataclass(frozen=True)
class AgentChanges:
    """What an admin may change; None leaves a field as it is."""

    name: str | None = None
    languages: list[str] | None = None
    queues: list[str] | None = None
    capacity: int | None = None
    role: Role | None = None
    active: bool | None = None

    def values(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, Role) else v) for k, v in self.__dict__.items() if v is not None}


@dataclass
class AgentStore:
    engine: Engine
    # Queues an agent may be given; empty: any name (the settings' router knows the real list).
    known_queues: Collection[str] = ()
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def _check_queues(self, queues: Sequence[str]) -> None:
        unknown = sorted(set(queues) - set(self.known_queues)) if self.known_queues else []
        if unknown:
            raise ValueError(f"unknown queue {', '.join(unknown)} (queues: {', '.join(sorted(self.known_queues))})")

    # ---- reading -----------------------------------------------------------------------------------------------

    def all(self) -> list[AgentView]:
        with Session(self.engine) as session:
            return [AgentView.of(row) for row in session.scalars(select(Agent).order_by(Agent.name, Agent.id))]

    def get(self, agent_id: str) -> AgentView | None:
        with Session(self.engine) as session:
            row = session.get(Agent, agent_id)
            return AgentView.of(row) if row is not None else None

    def find(self, who: str) -> AgentView:
        """An agent by id or by email; `LookupError` naming `who` when there is none."""
        with Session(self.engine) as session:
            row = session.scalar(select(Agent).where(or_(Agent.id == who, Agent.email == who.strip().lower())))
            if row is None:
                raise LookupError(f"no agent {who}")
            return AgentView.of(row)

    def by_token(self, token: str) -> AgentView | None:
        """The active agent whose API token this is."""
        with Session(self.engine) as session:
            row = session.scalar(select(Agent).where(Agent.token_hash == token_digest(token), Agent.active))
            return AgentView.of(row) if row is not None else None

    def check_password(self, email: str, password: str) -> AgentView | None:
        """The active agent signing in with this email and password, else None (in about the same time either way:
        an unknown email is verified against a dummy hash)."""
        with Session(self.engine) as session:
            row = session.scalar(select(Agent).where(Agent.email == email.strip().lower(), Agent.active))
            stored = row.password_hash if row is not None else None
            if not verify_password(stored, password) or row is None:
                return None
            return AgentView.of(row)

    # ---- changing ----------------------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        email: str,
        *,
        languages: Sequence[str] = ("en",),
        queues: Sequence[str] = (),
        capacity: int = 5,
        role: Role = Role.AGENT,
    ) -> AgentView:
        if not name.strip():
            raise ValueError("an agent needs a name")
        if capacity < 0:
            raise ValueError("capacity must be 0 or more")
        self._check_queues(queues)
        now = self.now()
        row = Agent(
            id=new_id("a"), name=name.strip(), email=check_email(email), languages=list(languages),
            queues=list(queues), capacity=capacity, role=role.value, away=False, active=True, session_version=1,
            created_at=now, updated_at=now,
        )  # fmt: skip
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                session.flush()
                view = AgentView.of(row)
        except IntegrityError:
            raise AgentExists(f"an agent with email {check_email(email)} exists already") from None
        return view

    def update(self, agent_id: str, changes: AgentChanges) -> AgentView:
        if changes.queues is not None:
            self._check_queues(changes.queues)
        if changes.capacity is not None and changes.capacity < 0:
            raise ValueError("capacity must be 0 or more")
        if changes.name is not None and not changes.name.strip():
            raise ValueError("an agent needs a name")
        return self._change(agent_id, {**changes.values(), "updated_at": self.now()})

    def set_away(self, agent_id: str, away: bool) -> AgentView:
        return self._change(agent_id, {"away": away, "updated_at": self.now()})

    def set_password(self, agent_id: str, password: str) -> AgentView:
        """Set the password (at least `MIN_PASSWORD_CHARS`); every session signed in before ends."""
        values = {"password_hash": hash_password(password), "updated_at": self.now()}
        return self._change(agent_id, {**values, "session_version": Agent.session_version + 1})

    def rotate_token(self, agent_id: str) -> str:
        """A new API token, returned once (only its digest is kept); the old one and every session end."""
        token = new_api_token()
        values = {"token_hash": token_digest(token), "updated_at": self.now()}
        self._change(agent_id, {**values, "session_version": Agent.session_version + 1})
        return token

    def _change(self, agent_id: str, values: dict[str, Any]) -> AgentView:
        with Session(self.engine) as session, session.begin():
            # Admin rows locked in id order: two admins demoting each other at once cannot both succeed.
            admins = list(
                session.scalars(
                    select(Agent.id).where(Agent.role == Role.ADMIN.value, Agent.active).order_by(Agent.id)
                    .with_for_update()
                )
            )  # fmt: skip
            row = session.scalar(update(Agent).where(Agent.id == agent_id).values(**values).returning(Agent))
            if row is None:
                raise LookupError(f"no agent {agent_id}")
            if agent_id in admins and (row.role != Role.ADMIN.value or not row.active) and len(admins) == 1:
                raise LastAdmin(f"{row.email} is the last active admin: make another admin first")
            return AgentView.of(row)

    def seed(self, seeds: Sequence[AgentSeed]) -> list[str]:
        """Add the settings' agents missing from the store (by email); return the emails added. Agents already
        stored keep what they have: the store is the truth once an agent exists."""
        if not seeds:
            return []
        now = self.now()
        rows = [
            {"id": new_id("a"), "name": s.name, "email": s.email, "languages": s.languages, "queues": s.queues,
             "capacity": s.capacity, "role": s.role.value, "away": False, "active": True, "session_version": 1,
             "created_at": now, "updated_at": now}
            for s in seeds
        ]  # fmt: skip
        statement = pg_insert(Agent).values(rows).on_conflict_do_nothing(index_elements=["email"])
        with self.engine.begin() as connection:
            return sorted(email for email in connection.scalars(statement.returning(Agent.email)) if email)

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(Agent)) or 0)
