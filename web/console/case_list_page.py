"""`/console/cases`: the cases an agent sees (desk/listing.py's `Scope`: an agent the cases of their queues and those
given to them, supervisors and admins every case), newest first, 50 a page, filtered by queue, state, mine, the
channel the case began on, the customer's language and the incident it is linked to, and searched.

A search (`q`) asks desk/lookup.py first, as `GET /api/cases?q=` does: a reference (`HL-…`), a case or message id, a
Message-ID, a provider id, an email address or a phone number. When that names no case, the text of messages,
answers and notes is searched (record/search.py, as `helpline search` does; 3 characters or more, 1 for Chinese).

Cases link to `/console/cases/{reference}`, the case view. The incident filter offers the latest incidents
(desk/incidents.py), open ones first.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from core.envelope import Channel
from core.inbox import Status
from desk.agents import AgentView
from desk.incidents import list_incidents
from desk.listing import CaseRow, Scope, list_cases
from desk.lookup import find
from record.search import QueryTooShort, search_text
from router.normalize import normalize
from web.console.desk_access import DeskAccess
from web.console.floor_page import TIME, Floor, visible_queues
from web.console.guard import Console, Handler, Visit

PAGE_SIZE = 50
STATES = [s.value for s in Status]
CHANNELS = [c.value for c in Channel]
LANGUAGES = ["en", "zh"]  # the form's choices; the query takes any language code
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_INCIDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # desk/incidents.py's ids (core/ids.py new_id)


class Refused(ValueError):
    """A filter the page cannot use: its UI string key says why (400), or `forbidden` (403)."""


@dataclass(frozen=True)
class Filters:
    queue: str | None
    state: str | None
    mine: bool
    channel: str | None
    language: str | None
    q: str
    page: int
    incident: str | None = None

    @classmethod
    def of(cls, params: QueryParams) -> Filters:
        def one(name: str) -> str | None:
            return (params.get(name) or "").strip() or None

        state, channel, language = one("state"), one("channel"), one("language")
        if state is not None and state not in STATES:
            raise Refused("bad_state")
        if channel is not None and channel not in CHANNELS:
            raise Refused("bad_channel")
        if language is not None and not _LANGUAGE.match(language):
            raise Refused("bad_language")
        incident = one("incident")
        if incident is not None and not _INCIDENT.match(incident):
            raise Refused("bad_incident")
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            raise Refused("bad_page") from None
        mine = params.get("mine") in ("1", "on")
        return cls(one("queue"), state, mine, channel, language, one("q") or "", page, incident)

    def query(self, **change: Any) -> str:
        """The query string of these filters with `change` made (the pages' links)."""
        values = {
            "queue": self.queue,
            "state": self.state,
            "mine": "1" if self.mine else None,
            "channel": self.channel,
            "language": self.language,
            "incident": self.incident,
            "q": self.q,
            "page": self.page,
        } | change
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})


def found_cases(desk: DeskAccess, q: str) -> set[str]:
    """The cases `q` names as a handle (desk/lookup.py), else those whose messages, agents' answers or notes hold it."""
    ctx = desk.context
    matches = {m.case_id for m in find(ctx, q)}
    if matches:
        return matches
    with ctx.record.connect() as connection:
        hits = search_text(connection, normalize(q), limit=PAGE_SIZE * 4)
    return {hit.conversation_id for hit in hits if hit.conversation_id}


def cases(desk: DeskAccess, agent: AgentView, chosen: Filters) -> tuple[list[CaseRow], dict[str, str]]:
    """The page's cases (one more than a page: is there another?), and the agents' names."""
    among = found_cases(desk, chosen.q) if chosen.q else None
    rows = list_cases(
        desk.context, Scope.of(agent), queue=chosen.queue, status=chosen.state,
        agent=agent.id if chosen.mine else None, among=among, channel=chosen.channel,
        language=chosen.language, incident=chosen.incident, limit=PAGE_SIZE + 1, offset=(chosen.page - 1) * PAGE_SIZE,
    )  # fmt: skip
    return rows, desk.agent_names()


def incident_choices(desk: DeskAccess) -> list[tuple[str, str]]:
    """(id, title) of the incidents the filter offers: the latest 50, open ones first."""
    latest = list_incidents(desk.context, limit=50)
    return [(i.id, i.title) for i in sorted(latest, key=lambda i: i.status == "resolved")]


class CaseList:
    def __init__(self, console: Console, floor: Floor) -> None:
        self.console, self.floor, self.desk = console, floor, floor.desk

    def page(self) -> Handler:
        async def handler(request: Request, visit: Visit) -> Response:
            agent = await self.floor.agent_of(visit)
            if agent is None:
                return self.console.render(visit, "forbidden.html", status=403)
            zone = self.desk.settings.desk.timezone
            choices: dict[str, Any] = {
                "params": request.query_params, "queues": visible_queues(self.desk, agent, set()),
                "states": STATES, "channels": CHANNELS, "languages": LANGUAGES, "zone": zone,
                "incidents": await asyncio.to_thread(incident_choices, self.desk),
                "local_time": lambda at: at.astimezone(ZoneInfo(zone)).strftime(TIME),
            }  # fmt: skip
            try:
                chosen = Filters.of(request.query_params)
                if chosen.queue is not None and not agent.works(chosen.queue):
                    return self.console.render(visit, "forbidden.html", status=403)
                rows, names = await asyncio.to_thread(cases, self.desk, agent, chosen)
            except (Refused, QueryTooShort) as exc:
                error = str(exc) if isinstance(exc, Refused) else "search_too_short"
                return self.console.render(
                    visit, "cases.html", status=400, error=error, rows=[], names={}, more=False, chosen=None, **choices
                )
            return self.console.render(
                visit, "cases.html", error=None, rows=rows[:PAGE_SIZE], names=names, more=len(rows) > PAGE_SIZE,
                chosen=chosen, **choices,
            )  # fmt: skip

        return handler
