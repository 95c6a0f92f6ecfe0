"""The case view's actions beyond a plain reply and Resolve: canned replies in the customer's language, internal
notes, a change of category, priority or queue with a reason, reopen, and (supervisors and admins) reassign — each a
thin call of desk/, the same calls the agents' API makes (web/api/cases.py), with the same refusals.

The case page includes them with one line each: its handler adds `actions=action_context(ctx, agent, case_id)` to
its context and its template `{% include "case_actions.html" %}` (the partial's header lists what it reads).

| route | what |
|---|---|
| `POST /cases/{handle}/canned` (`name`, `seen`) | send canned reply `name`, rendered in the customer's language |
| `GET /cases/{handle}/canned/{name}/preview` | that reply's text for the case (an htmx fragment) |
| `POST /cases/{handle}/notes` (`text`) | add an internal note (never sent to the customer) |
| `POST /cases/{handle}/recategorize` (`category`, `priority`, `queue`, `reason`) | change any of them, saying why |
| `POST /cases/{handle}/reopen` | put a pending or resolved case back in its queue |
| `POST /cases/{handle}/reassign` (`agent`: an id or email) | give an open case to an agent (supervisors, admins) |

Who may act: an agent on the cases of their queues and those given to them (desk/listing.py `may_act`, on the agent
as the agents' store has them now), supervisors and admins on any case; only they reassign. Recategorizing moves a
case only into one of the agent's queues. Every POST is CSRF-checked by guard.py `form`.

Each action ends in a 303 back to `/console/cases/{reference}?done=<what>` (`DONE`; a canned reply is an answer:
`answered`, or `answered_newer` when the customer wrote again meanwhile). A refusal is a page with the reason and a
link back to the case: 400 bad input (desk/'s words: an unknown category, no reason...), 403 not the agent's case or
role, 404 no such case, 409 the case's state refuses the action (or the handle names several cases); 503 while a
store is away (desk_access.py `available`) — never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.agent_settings import Role
from core.envelope import Priority
from core.ids import conversation_reference
from core.inbox import Inbox, Status
from core.language import reply_language
from desk.agents import AgentStore, AgentView
from desk.canned import CannedNotFound, answer_canned, canned_replies, render_canned
from desk.cases import CaseError, latest_message, reassign, reopen
from desk.context import HasDesk
from desk.listing import may_act
from desk.lookup import Ambiguous, Match, one_case
from desk.notes import NoteError, add_note, case_notes
from desk.recategorize import Change, known_queues, queues_of, recategorize
from record.models import Conversation
from web.console.desk_access import DeskAccess, available
from web.console.guard import PREFIX, Console, Visit, form, page

# The `?done=` values these forms send the case page back with (each has the UI string `done_<value>`).
DONE = ("noted", "recategorized", "reopened", "reassigned")


class _Refused(Exception):
    """An action not done: its status, the UI string saying why, and desk/'s own words when it gave any."""

    def __init__(self, status: int, key: str, detail: str = "") -> None:
        super().__init__(key)
        self.status, self.key, self.detail = status, key, detail


def action_context(ctx: HasDesk, agent: AgentView, case_id: str) -> dict[str, Any]:
    """What `case_actions.html` shows for `agent` on the case (its `actions` variable)."""
    state = Inbox(ctx.store).case(case_id)
    status = state.status.value if state is not None else None
    if status is None:  # its live state is gone: the record's row says where it stands
        with ctx.record.connect() as connection:
            status = connection.scalar(select(Conversation.status).where(Conversation.id == case_id))
    try:
        envelope = latest_message(ctx, case_id).envelope
        language: str | None = reply_language(envelope.language, ctx.settings.replies.default_language)
    except LookupError:  # nothing routed yet: nothing to answer
        language = None
    people = AgentStore(ctx.record).all()
    names = {a.id: a.name for a in people}
    supervises = agent.role.at_least(Role.SUPERVISOR)
    answerable = language is not None and status != Status.RESOLVED.value
    canned = [{"name": c.name, "title": c.titles[language]} for c in canned_replies() if language in c.titles]
    notes = [
        {"id": n.id, "agent": names.get(n.agent or "", n.agent or ""), "text": n.text,
         "at": f"{n.created_at:%Y-%m-%d %H:%M} UTC"}
        for n in case_notes(ctx, case_id)
    ]  # fmt: skip
    return {
        "case": case_id,
        "reference": conversation_reference(case_id),
        "base": f"{PREFIX}/cases/{quote(case_id, safe='')}",
        "status": status,
        "category": state.category if state else None,
        "priority": state.priority.value if state else None,
        "queue": state.queue if state else None,
        "holder": (names.get(state.agent) or state.agent) if state and state.agent else None,
        "seen": state.seq if state else 0,
        "language": language,  # the customer's: canned replies go out in it
        "canned": canned if answerable else [],
        "notes": notes,
        "categories": list(ctx.settings.router.categories),
        "priorities": [p.value for p in Priority],
        "queues": sorted(q for q in known_queues(ctx.settings) if agent.works(q)),  # an agent moves a case to theirs
        "may_recategorize": state is not None,
        "may_reopen": status in (Status.PENDING.value, Status.RESOLVED.value),
        "may_reassign": supervises and status == Status.OPEN.value,
        "agents": [{"id": a.id, "name": a.name, "email": a.email, "away": a.away} for a in people if a.active]
        if supervises
        else [],
    }


class CaseActions:
    def __init__(self, console: Console, desk: DeskAccess) -> None:
        self.console, self.desk = console, desk

    @property
    def ctx(self) -> HasDesk:
        return self.desk.context

    def routes(self) -> list[BaseRoute]:
        c = self.console
        # `available`: a store that is away is a 503 page, never a 500.
        return [
            Route("/cases/{handle}/canned", form(c, available(c, self.canned)), methods=["POST"]),
            Route("/cases/{handle}/canned/{name}/preview", page(c, available(c, self.preview)), methods=["GET"]),
            Route("/cases/{handle}/notes", form(c, available(c, self.note)), methods=["POST"]),
            Route("/cases/{handle}/recategorize", form(c, available(c, self.recategorize)), methods=["POST"]),
            Route("/cases/{handle}/reopen", form(c, available(c, self.reopen)), methods=["POST"]),
            Route("/cases/{handle}/reassign", form(c, available(c, self.reassign)), methods=["POST"]),
        ]

    # ---- the one case a form names, for an agent who may act on it ---------------------------------------------

    def _case(self, visit: Visit, handle: str, *, supervisor: bool = False) -> tuple[AgentView, Match]:
        assert visit.principal is not None
        agent = self.desk.agent(visit.principal.id)
        if agent is None:  # not (or no longer) an active agent of the store: nothing of the desk
            raise _Refused(403, "act_forbidden")
        if supervisor and not agent.role.at_least(Role.SUPERVISOR):
            raise _Refused(403, "act_supervisors_only")
        try:
            match = one_case(self.ctx, handle)
        except Ambiguous as exc:
            raise _Refused(409, "act_ambiguous", str(exc)) from None
        except LookupError:
            raise _Refused(404, "act_not_found") from None
        if not may_act(self.ctx, agent, match.case_id):
            raise _Refused(403, "act_forbidden")
        return agent, match

    async def _act(
        self, request: Request, visit: Visit, work: Callable[[AgentView, Match], str], *, supervisor: bool = False
    ) -> Response:
        """Find the case, run `work` (which answers the `done` value or raises `_Refused`) in a thread (desk/ and the
        stores are synchronous), and go back to the case; a refusal is a page saying why."""
        handle = request.path_params["handle"]
        known: list[str] = []

        def run() -> tuple[str, str]:
            agent, match = self._case(visit, handle, supervisor=supervisor)
            known.append(match.reference)
            return match.reference, work(agent, match)

        try:
            reference, done = await asyncio.to_thread(run)
        except _Refused as refused:
            return self._refusal(visit, refused, known[0] if known else None)
        target = f"{PREFIX}/cases/{quote(reference, safe='')}?done={done}"
        return self.console.finish(visit, RedirectResponse(target, status_code=303))

    def _refusal(self, visit: Visit, refused: _Refused, reference: str | None) -> Response:
        back = f"{PREFIX}/cases/{quote(reference, safe='')}" if reference else None
        return self.console.render(visit, "case_action_refused.html", status=refused.status, reason=refused.key,
                                   detail=refused.detail, back=back)  # fmt: skip

    # ---- the actions -------------------------------------------------------------------------------------------

    async def canned(self, request: Request, visit: Visit, data: FormData) -> Response:
        name = _field(data, "name")
        seen = _field(data, "seen")

        def work(agent: AgentView, match: Match) -> str:
            if not name:
                raise _Refused(400, "act_canned_missing")
            try:
                done = answer_canned(self.ctx, match.case_id, name, agent.id, agent_name=agent.name,
                                     seen=int(seen) if seen.isdigit() else None)  # fmt: skip
            except CannedNotFound as exc:
                raise _Refused(400, "act_canned_unknown", str(exc)) from None
            except CaseError as exc:
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            except LookupError as exc:  # no routed message to answer (yet)
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            return "answered_newer" if done.newer else "answered"

        return await self._act(request, visit, work)

    async def preview(self, request: Request, visit: Visit) -> Response:
        """Canned reply `name` as the customer would get it: a fragment htmx puts under the canned replies."""
        name = request.path_params["name"]

        def load() -> tuple[str, str]:
            agent, match = self._case(visit, request.path_params["handle"])
            try:
                rendered = render_canned(self.ctx, match.case_id, name, agent_name=agent.name)
            except CannedNotFound as exc:
                raise _Refused(404, "act_canned_unknown", str(exc)) from None
            except LookupError as exc:
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            return rendered.language, rendered.text

        try:
            language, text = await asyncio.to_thread(load)
        except _Refused as refused:
            return self.console.render(visit, "case_canned_preview.html", status=refused.status, error=refused.key,
                                       detail=refused.detail, name=name, language="", text="")  # fmt: skip
        return self.console.render(visit, "case_canned_preview.html", error=None, detail="", name=name,
                                   language=language, text=text)  # fmt: skip

    async def note(self, request: Request, visit: Visit, data: FormData) -> Response:
        text = _field(data, "text", strip=False)

        def work(agent: AgentView, match: Match) -> str:
            try:
                add_note(self.ctx, match.case_id, text, agent.id)
            except NoteError as exc:
                raise _Refused(400, "act_note_refused", str(exc)) from None
            return "noted"

        return await self._act(request, visit, work)

    async def recategorize(self, request: Request, visit: Visit, data: FormData) -> Response:
        category, chosen, queue = _field(data, "category"), _field(data, "priority"), _field(data, "queue")
        reason = _field(data, "reason")

        def work(agent: AgentView, match: Match) -> str:
            try:
                priority = Priority(chosen) if chosen else None
            except ValueError:
                known = ", ".join(p.value for p in Priority)
                detail = f"unknown priority {chosen!r}; the priorities are {known}"
                raise _Refused(400, "act_change_refused", detail) from None
            try:
                change = Change(reason, category or None, priority, queue or None).checked(self.ctx.settings)
                current, target = queues_of(self.ctx, match.case_id, change)
                if target != current and not agent.works(target):
                    raise _Refused(403, "act_queue_forbidden", target)
                recategorize(self.ctx, match.case_id, change, agent.id, message_id=match.message_id)
            except ValueError as exc:  # nothing to change, no reason, an unknown category or queue
                raise _Refused(400, "act_change_refused", str(exc)) from None
            except LookupError as exc:  # the case has no live state or no routed message
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            return "recategorized"

        return await self._act(request, visit, work)

    async def reopen(self, request: Request, visit: Visit, data: FormData) -> Response:
        def work(agent: AgentView, match: Match) -> str:
            try:
                reopen(self.ctx, match.case_id, agent.id)
            except CaseError as exc:
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            except LookupError as exc:
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            return "reopened"

        return await self._act(request, visit, work)

    async def reassign(self, request: Request, visit: Visit, data: FormData) -> Response:
        who = _field(data, "agent")

        def work(agent: AgentView, match: Match) -> str:
            if not who:
                raise _Refused(400, "act_agent_missing")
            try:
                to = AgentStore(self.ctx.record).find(who)
            except LookupError as exc:
                raise _Refused(400, "act_agent_unknown", str(exc)) from None
            if not to.active:
                raise _Refused(400, "act_agent_unknown", f"agent {to.email or to.id} is deactivated")
            try:
                reassign(self.ctx, match.case_id, to.id, agent.id)
            except CaseError as exc:
                raise _Refused(409, "act_state_refuses", str(exc)) from None
            return "reassigned"

        return await self._act(request, visit, work, supervisor=True)


def _field(data: FormData, name: str, *, strip: bool = True) -> str:
    """A form field as text ('' when missing or a file)."""
    value = data.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value
