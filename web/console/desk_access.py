"""The console's way into desk/, the service layer the agents' API uses too: the desk's context (settings, the hot
store, the business calendar, the record) and the signed-in agent as the agents' store has them.

The session's `Principal` (web/console/identity.py) says who signed in and with what role; what desk/ decides with
(an agent's queues, capacity, whether they are active) is the agents' store's `AgentView`, read afresh per request
like the principal. An agent the store does not hold may read nothing of the desk: the pages answer 403.

`available` wraps the desk's pages: when Redis or PostgreSQL cannot be reached they answer 503 with a sentence, not a
500 with a trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ParamSpec

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from core.errors import StoreUnavailable
from core.ids import conversation_reference
from core.settings import Settings
from core.store import Store
from desk.agents import AgentStore, AgentView
from desk.context import DeskContext
from record.models import Conversation
from router.hours import BusinessCalendar
from web.console.guard import Console, Visit

log = logging.getLogger("helpline.web.console")
P = ParamSpec("P")


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


def available(console: Console, handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """`handler` (a page's or a form's: its second argument is the `Visit`), answering 503 while the desk's stores
    are away."""

    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.warning("console: the desk cannot be reached: %s", type(exc).__name__)
            visit: Any = args[1]
            assert isinstance(visit, Visit)
            return console.render(visit, "desk_unavailable.html", status=503)

    return wrapped
