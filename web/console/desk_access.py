"""The console's way into desk/, the service layer the agents' API uses too: the desk's context (settings, the hot
store, the business calendar, the record) and the signed-in agent as the agents' store has them.

The session's `Principal` (web/console/identity.py) says who signed in and with what role; what desk/ decides with
(an agent's queues, capacity, whether they are active) is the agents' store's `AgentView`, read afresh per request
like the principal. An agent the store does not hold may read nothing of the desk: the pages answer 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine, select

from core.ids import conversation_reference
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore, AgentView
from desk.context import DeskContext
from record.models import Conversation
from router.hours import BusinessCalendar


@dataclass
class DeskAccess:
    settings: Settings
    store: Store
    _record: Callable[[], Engine]  # the app's engine, made lazily (web/app.py): nothing connects until asked

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_settings(self.settings)

    @property
    def context(self) -> DeskContext:
        """What desk/'s functions take (`desk.context.HasDesk`)."""
        return DeskContext(self.settings, self.store, self.calendar, self._record())

    @property
    def known_queues(self) -> set[str]:
        """The configured queues, as the API lists them (web/api/queues.py): the router's and the escalation queue."""
        return self.settings.router.known_queues() | {self.settings.scheduler.escalation_queue}

    def agent(self, agent_id: str) -> AgentView | None:
        """The agent as the agents' store has them now; None when it holds no active agent of that id."""
        found = AgentStore(self._record()).get(agent_id)
        return found if found is not None and found.active else None

    def agent_names(self) -> dict[str, str]:
        """Every agent's name by id (lists show who holds a case by name)."""
        return {agent.id: agent.name for agent in AgentStore(self._record()).all()}

    def reference(self, case_id: str) -> str:
        """The reference the record gave the case (it differs from the derived one after a collision)."""
        with self._record().connect() as connection:
            found = connection.scalar(select(Conversation.reference).where(Conversation.id == case_id))
        return str(found) if found else conversation_reference(case_id)
