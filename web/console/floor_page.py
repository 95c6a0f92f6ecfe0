"""`/console/queues`, the console's home for every role: per queue and priority the cases waiting, the oldest wait,
the cases taken and not answered yet, and how many are at risk of missing or have missed their SLA (first response,
resolution) — desk/queue_report.py's figures, the ones `GET /api/queues` and `helpline queues` give; the notices
customers are told right now; and the "Next" button (`POST /console/next`, desk.cases.take_next_for), which opens the
case taken (`/console/cases/{reference}`) or comes back here saying why nothing was.

Who sees which queues is the API's rule: an agent their own queues, supervisors and admins every queue (the
configured ones too, when nothing is in them). The table is its own element (`#queues-live`) so that a new case
reported by web/console/live.py refreshes it in place (htmx, static/console.js).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core.agent_settings import Role
from core.inbox import Inbox
from core.notices import Notice, all_notices
from desk.agents import AgentView
from desk.cases import CaseError, take_next_for
from desk.queue_report import QueueRow, queue_report
from web.console.desk_access import DeskAccess
from web.console.guard import PREFIX, Console, FormHandler, Handler, Visit
from web.console.i18n import translator
from web.console.live import version
from web.console.report_view import Translate, duration

# What `?next=` and `?notice=` may ask the page to say (a fixed list: a link cannot make the page say anything else).
NEXT_MESSAGES = {"nothing": "next_nothing", "capacity": "next_capacity", "refused": "next_refused"}
NOTICE_MESSAGES = {"added": "notice_added", "ended": "notice_ended"}
TIME = "%Y-%m-%d %H:%M"  # times on the floor's pages, in the zone the page names


@dataclass(frozen=True)
class Line:
    """One priority of one queue (or the queue's total: `priority` empty)."""

    priority: str
    waiting: int
    oldest: str
    open: int
    fr_at_risk: int
    fr_breached: int
    res_at_risk: int
    res_breached: int


@dataclass(frozen=True)
class QueueBlock:
    queue: str
    in_hours: bool
    total: Line
    lines: list[Line]  # the priorities with a case waiting or taken


def visible_queues(desk: DeskAccess, agent: AgentView, found: set[str]) -> list[str]:
    """The API's rule (web/api/queues.py): supervisors every queue, configured or with cases; agents their own."""
    if agent.role.at_least(Role.SUPERVISOR):
        return sorted(desk.known_queues | found)
    return sorted(agent.queues)


def blocks(desk: DeskAccess, agent: AgentView, now: datetime, t: Translate) -> list[QueueBlock]:
    rows: dict[str, list[QueueRow]] = defaultdict(list)
    for row in queue_report(desk.settings, desk.store, now):
        rows[row.queue].append(row)
    out = []
    for queue in visible_queues(desk, agent, set(rows)):
        mine = rows.get(queue, [])
        lines = [_line(r.priority.value, [r], t) for r in mine if r.depth or r.open]
        out.append(QueueBlock(queue, desk.calendar.in_business_hours(queue, now), _line("", mine, t), lines))
    return out


def _line(priority: str, rows: list[QueueRow], t: Translate) -> Line:
    ages = [r.oldest_age for r in rows if r.oldest_age is not None]
    return Line(
        priority, sum(r.depth for r in rows), duration(max(ages).total_seconds(), t) if ages else "–",
        sum(r.open for r in rows), sum(r.at_risk for r in rows), sum(r.breached for r in rows),
        sum(r.resolution_at_risk for r in rows), sum(r.resolution_breached for r in rows),
    )  # fmt: skip


class Floor:
    def __init__(self, console: Console, desk: DeskAccess) -> None:
        self.console, self.desk = console, desk

    def _overview(self, visit: Visit, agent: AgentView) -> tuple[list[QueueBlock], list[Notice], int]:
        now = datetime.now(UTC)
        t = translator(visit.language)
        seen = version(Inbox(self.desk.store).changes(), agent.works)  # what the page's live stream starts from
        return blocks(self.desk, agent, now, t), all_notices(self.desk.settings, self.desk.store, now), seen

    async def render(
        self, visit: Visit, agent: AgentView, *, status: int = 200, message: str | None = None, **extra: Any
    ) -> Response:
        """The overview; `message` a UI string key said at the top, `extra` what the notice form shows again."""
        queues, notices, version = await asyncio.to_thread(self._overview, visit, agent)
        now = datetime.now(UTC)
        context = {"form_error": None, "form": {}} | extra
        return self.console.render(
            visit, "queues.html", status=status, queues=queues, notices=notices, now=now, message=message,
            may_manage_notices=agent.role.at_least(Role.SUPERVISOR), version=version,
            notice_zone=self.desk.settings.notices.timezone,
            notice_time=lambda at: at.astimezone(ZoneInfo(self.desk.settings.notices.timezone)).strftime(TIME),
            **context,
        )  # fmt: skip

    async def agent_of(self, visit: Visit) -> AgentView | None:
        assert visit.principal is not None  # page() and form() saw to it
        return await asyncio.to_thread(self.desk.agent, visit.principal.id)

    def page(self) -> Handler:
        async def handler(request: Request, visit: Visit) -> Response:
            agent = await self.agent_of(visit)
            if agent is None:
                return self.console.render(visit, "forbidden.html", status=403)
            said = request.query_params.get("next") or ""
            noticed = request.query_params.get("notice") or ""
            return await self.render(visit, agent, message=NEXT_MESSAGES.get(said) or NOTICE_MESSAGES.get(noticed))

        return handler

    def next(self) -> FormHandler:
        async def handler(request: Request, visit: Visit, data: FormData) -> Response:
            agent = await self.agent_of(visit)
            if agent is None:
                return self.console.render(visit, "forbidden.html", status=403)
            queue = str(data.get("queue") or "").strip()
            try:
                taken = await asyncio.to_thread(take_next_for, self.desk.context, agent, [queue] if queue else None)
            except CaseError:  # a queue outside the agent's
                return self.console.finish(visit, RedirectResponse(f"{PREFIX}/queues?next=refused", 303))
            if taken is None:
                load = await asyncio.to_thread(Inbox(self.desk.store).load, agent.id)
                why = "capacity" if len(load) >= agent.capacity else "nothing"
                return self.console.finish(visit, RedirectResponse(f"{PREFIX}/queues?next={why}", 303))
            reference = await asyncio.to_thread(self.desk.reference, taken.case.id)
            return self.console.finish(visit, RedirectResponse(f"{PREFIX}/cases/{reference}", 303))

        return handler
