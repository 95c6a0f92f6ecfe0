"""The incident pages, `/console/incidents` and `/console/incidents/{id}`: each a thin call of desk/incidents.py,
the functions the agents' API and `helpline incident` call too.

Every signed-in agent reads incidents; supervisors and admins open them (with an optional customer notice), link
cases by handles or by a search, unlink, and answer-and-resolve. An agent sees no forms and a POST of theirs is 403.
A write desk/ refuses comes back as the incident's page with desk/'s reason and a 4xx: the incident's state (already
resolved, another supervisor answering: 409), a handle naming several cases (409, the cases listed), no such case
(404), bad input (400). The record or Redis away: 503 with a sentence. A write that worked answers 303 to the
incident's page (reloading it posts nothing again), with what it did in the query string.

| route | what |
|---|---|
| `GET /incidents` | the list (`?status=open|answering|resolved`), and the form to open one |
| `POST /incidents` | open one: title, optional notice text (en, zh) and its end |
| `GET /incidents/{id}` | the incident, its cases (state, channel, the answer's language, outcome) and the forms |
| `POST /incidents/{id}/link`, `…/link-search`, `…/unlink`, `…/answer` | the supervisor's forms |
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.agent_settings import Role
from core.errors import StoreUnavailable
from core.notices import Notice, NoticeBoard, localize
from desk.context import DeskContext
from desk.incidents import (
    IncidentError,
    IncidentView,
    answer_incident,
    answer_languages,
    link_cases,
    link_matching,
    list_incidents,
    open_incident,
    show_incident,
    unlink_case,
)
from desk.lookup import Ambiguous, Match
from web.console.desk_access import DeskAccess
from web.console.guard import PREFIX, Console, Visit, form, page

log = logging.getLogger("helpline.web.console")

STATUSES = ("open", "answering", "resolved")
# Handles are written one a line or separated by commas: a phone number may hold spaces.
_HANDLE_SPLIT = re.compile(r"[\n,;]+")
# What a write did, carried to the page it redirects to (numbers only).
_DONE_KEYS = ("added", "already", "elsewhere", "more", "answered", "unlinked", "opened")


@dataclass(frozen=True)
class Refusal:
    """A write desk/ refused, as the page shows it: a translated lead (`key`) and desk/'s own words."""

    status: int
    key: str
    detail: str = ""
    matches: list[Match] = field(default_factory=list)


def refusal(exc: Exception) -> Refusal:
    """desk/'s refusals as a page's status; `Ambiguous` before `LookupError`, which it is."""
    if isinstance(exc, Ambiguous):
        return Refusal(409, "incident_ambiguous", str(exc), exc.matches)
    if isinstance(exc, LookupError):
        return Refusal(404, "incident_not_found_case", str(exc))
    if isinstance(exc, IncidentError):
        return Refusal(409, "incident_refused", str(exc))
    return Refusal(400, "incident_bad_input", str(exc))


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    reference: str
    href: str
    status: str
    channel: str
    language: str | None
    queue: str | None
    linked_by: str
    linked_at: str
    outcome_key: str | None  # incident_outcome_…; None: not answered
    outcome_detail: str


def outcome(text: str | None, answered: bool) -> tuple[str | None, str]:
    """desk/'s outcome (`resolved`, `answered, left open: …`, `skipped: …`, `failed: …`) as a translated word and
    desk/'s detail. Stamped answered without an outcome: the answering process stopped before this case's send."""
    if text is None:
        return ("incident_outcome_unsent", "") if answered else (None, "")
    head, _, detail = text.partition(": ")
    keys = {"resolved": "incident_outcome_resolved", "answered, left open": "incident_outcome_left_open",
            "skipped": "incident_outcome_skipped", "failed": "incident_outcome_failed"}  # fmt: skip
    return (keys[head], detail) if head in keys else ("incident_outcome_other", text)


def supervises(visit: Visit) -> bool:
    return visit.principal is not None and visit.principal.role.at_least(Role.SUPERVISOR)


def done_from(params: Any) -> dict[str, int]:
    """What the last write did, from the query string; anything not a small count is ignored."""
    done = {}
    for key in _DONE_KEYS:
        value = params.get(key)
        if value is not None and value.isdigit() and len(value) <= 7:
            done[key] = int(value)
    return done


def handles_of(text: str) -> list[str]:
    return [handle.strip() for handle in _HANDLE_SPLIT.split(text) if handle.strip()]


def _field(data: FormData, name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


class IncidentPages:
    def __init__(self, console: Console, desk: DeskAccess) -> None:
        self.console, self.desk = console, desk
        self.settings, self.store = desk.settings, desk.store
        self.zone = ZoneInfo(desk.settings.desk.timezone)

    @property
    def ctx(self) -> DeskContext:
        return self.desk.context

    def routes(self) -> list[BaseRoute]:
        c = self.console
        return [
            Route("/incidents", page(c, self.list_page), methods=["GET"]),
            Route("/incidents", form(c, self.writes(self.open)), methods=["POST"]),
            Route("/incidents/{incident_id}", page(c, self.incident_page), methods=["GET"]),
            Route("/incidents/{incident_id}/link", form(c, self.writes(self.link)), methods=["POST"]),
            Route("/incidents/{incident_id}/link-search", form(c, self.writes(self.link_search)), methods=["POST"]),
            Route("/incidents/{incident_id}/unlink", form(c, self.writes(self.unlink)), methods=["POST"]),
            Route("/incidents/{incident_id}/answer", form(c, self.writes(self.answer)), methods=["POST"]),
        ]

    # ---- shared ------------------------------------------------------------------------------------------------

    def _time(self, at: datetime | None) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if at is not None else "–"

    def _unavailable(self, visit: Visit, exc: Exception) -> Response:
        log.warning("console incidents: the desk cannot be reached: %s", type(exc).__name__)
        return self.console.render(visit, "incident_unavailable.html", status=503)

    def _names(self, ids: set[str | None]) -> dict[str, str]:
        """Agents' names by id, as the console's identities know them (an id they do not know shows as it is)."""
        names = {}
        for agent_id in ids:
            if agent_id:
                found = self.console.identities.principal(agent_id)
                names[agent_id] = found.name if found is not None else agent_id
        return names

    def writes(
        self, handler: Callable[[Request, Visit, FormData], Awaitable[Response]]
    ) -> Callable[[Request, Visit, FormData], Awaitable[Response]]:
        """A supervisor's form: 403 for an agent; the desk away is 503, not a 500."""

        async def wrapped(request: Request, visit: Visit, data: FormData) -> Response:
            if not supervises(visit):
                return self.console.render(visit, "forbidden.html", status=403)
            try:
                return await handler(request, visit, data)
            except (SQLAlchemyError, StoreUnavailable) as exc:
                return self._unavailable(visit, exc)

        return wrapped

    # ---- the list ----------------------------------------------------------------------------------------------

    async def list_page(self, request: Request, visit: Visit) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            return await self._list(visit, None, Refusal(400, "incident_bad_status", status))
        return await self._list(visit, status)

    async def _list(
        self, visit: Visit, status: str | None, error: Refusal | None = None, form_: dict[str, str] | None = None
    ) -> Response:
        try:
            incidents = await asyncio.to_thread(list_incidents, self.ctx, status=status, limit=200)
            names = await asyncio.to_thread(self._names, {i.opened_by for i in incidents})
        except (SQLAlchemyError, StoreUnavailable) as exc:
            return self._unavailable(visit, exc)
        return self.console.render(
            visit, "incidents.html", status=error.status if error else 200, incidents=incidents, names=names,
            status_filter=status, statuses=STATUSES, error=error, when=self._time, writes=supervises(visit),
            form=form_ or {}, notice_zone=self.settings.notices.timezone,
        )  # fmt: skip

    async def open(self, request: Request, visit: Visit, data: FormData) -> Response:
        assert visit.principal is not None
        title, en, zh, until_text = (_field(data, n) for n in ("title", "notice_en", "notice_zh", "notice_until"))
        entered = {"title": title, "notice_en": en, "notice_zh": zh, "notice_until": until_text}
        until = None
        if until_text:
            try:
                until = localize(datetime.fromisoformat(until_text), self.settings.notices.timezone)
            except ValueError:
                return await self._list(visit, None, Refusal(400, "incident_bad_until", until_text), form_=entered)
            if not (en or zh):
                return await self._list(visit, None, Refusal(400, "incident_until_without_text"), form_=entered)
        try:
            opened = await asyncio.to_thread(
                open_incident, self.ctx, title, visit.principal.id, notice_en=en or None, notice_zh=zh or None,
                notice_until=until,
            )  # fmt: skip
        except ValueError as exc:
            return await self._list(visit, None, refusal(exc), form_=entered)
        return self._to(opened.id, opened=1)

    # ---- one incident ------------------------------------------------------------------------------------------

    def _to(self, incident_id: str, **done: int) -> Response:
        query = f"?{urlencode(done)}" if done else ""
        return RedirectResponse(f"{PREFIX}/incidents/{quote(incident_id, safe='')}{query}", status_code=303)

    def _view(self, incident_id: str) -> tuple[IncidentView, list[CaseRow], dict[str, str], Notice | None]:
        incident = show_incident(self.ctx, incident_id)
        languages = answer_languages(self.ctx, [c.case_id for c in incident.cases])
        rows = [
            CaseRow(
                c.case_id, c.reference, f"{PREFIX}/cases/{quote(c.reference, safe='')}", c.status, c.channel,
                languages.get(c.case_id), c.queue, c.linked_by, self._time(c.linked_at),
                *outcome(c.outcome, c.answered_at is not None),
            )
            for c in incident.cases
        ]  # fmt: skip
        names = self._names({incident.opened_by, incident.answered_by, *(c.linked_by for c in incident.cases)})
        # The notice it carries while it is on the board (resolving the incident withdraws it).
        notice = None
        if incident.notice_id is not None:
            notice = next((n for n in NoticeBoard(self.store).list() if n.id == incident.notice_id), None)
        return incident, rows, names, notice

    async def incident_page(self, request: Request, visit: Visit) -> Response:
        return await self._incident(visit, request.path_params["incident_id"], done=done_from(request.query_params))

    async def _incident(
        self,
        visit: Visit,
        incident_id: str,
        *,
        error: Refusal | None = None,
        done: dict[str, int] | None = None,
        entered: dict[str, str] | None = None,
    ) -> Response:
        try:
            incident, rows, names, notice = await asyncio.to_thread(self._view, incident_id)
        except LookupError:
            return self.console.render(visit, "incident_missing.html", status=404, incident_id=incident_id)
        except (SQLAlchemyError, StoreUnavailable) as exc:
            return self._unavailable(visit, exc)
        return self.console.render(
            visit, "incident.html", status=error.status if error else 200, incident=incident, cases=rows,
            names=names, notice=notice, error=error, done=done or {}, when=self._time, writes=supervises(visit),
            queues=sorted(self.settings.router.known_queues()), form=entered or {},
        )  # fmt: skip

    async def _write(
        self, visit: Visit, incident_id: str, call: Callable[[], dict[str, int]], entered: dict[str, str]
    ) -> Response:
        """Run a desk/ write; its refusal is the incident's page with the reason and what was entered."""
        try:
            done = await asyncio.to_thread(call)
        except (LookupError, ValueError) as exc:
            return await self._incident(visit, incident_id, error=refusal(exc), entered=entered)
        return self._to(incident_id, **done)

    async def link(self, request: Request, visit: Visit, data: FormData) -> Response:
        assert visit.principal is not None
        incident_id, actor, text = request.path_params["incident_id"], visit.principal.id, _field(data, "handles")

        def call() -> dict[str, int]:
            linked = link_cases(self.ctx, incident_id, handles_of(text), actor)
            return {"added": len(linked.added), "already": len(linked.already)}

        return await self._write(visit, incident_id, call, {"handles": text})

    async def link_search(self, request: Request, visit: Visit, data: FormData) -> Response:
        assert visit.principal is not None
        incident_id, actor = request.path_params["incident_id"], visit.principal.id
        query, queue = _field(data, "query"), _field(data, "queue")

        def call() -> dict[str, int]:
            linked = link_matching(self.ctx, incident_id, query, actor, queue=queue or None)
            return {"added": len(linked.added), "already": len(linked.already),
                    "elsewhere": len(linked.elsewhere), "more": int(linked.more)}  # fmt: skip

        return await self._write(visit, incident_id, call, {"query": query, "queue": queue})

    async def unlink(self, request: Request, visit: Visit, data: FormData) -> Response:
        assert visit.principal is not None
        incident_id, actor, handle = request.path_params["incident_id"], visit.principal.id, _field(data, "handle")

        def call() -> dict[str, int]:
            if not handle:
                raise ValueError("name the case to unlink")
            unlink_case(self.ctx, incident_id, handle, actor)
            return {"unlinked": 1}

        return await self._write(visit, incident_id, call, {})

    async def answer(self, request: Request, visit: Visit, data: FormData) -> Response:
        assert visit.principal is not None
        incident_id, actor = request.path_params["incident_id"], visit.principal.id
        en, zh = _field(data, "text_en"), _field(data, "text_zh")

        def call() -> dict[str, int]:
            done = answer_incident(self.ctx, incident_id, actor, text_en=en or None, text_zh=zh or None)
            return {"answered": len(done.cases)}

        return await self._write(visit, incident_id, call, {"text_en": en, "text_zh": zh})
