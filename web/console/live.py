"""`GET /console/live`: server-sent events telling an open page that the queues it shows changed, so it refreshes
its table (static/console.js listens with an `EventSource` and has htmx fetch the table again).

What is watched: `hl:inbox-changes`, the per-queue counters every inbox script raises when a case enters, leaves or
moves in a queue (core/inbox.py). The stream reads that one hash once a second (`POLL_SECONDS`) — one HGETALL per
open page, whatever the number of cases — rather than subscribing to pub/sub: a poll needs no connection held per
client, loses nothing while a page reconnects, and adds nothing to the scripts that file and take cases but one
HINCRBY. A page's version is the sum of the counters of the queues its agent sees (counters only grow, so the sum
moves exactly when one of them did); the page carries the version it was rendered at (`?since=`), the stream sends
it as each event's `id`, and a browser reconnecting sends it back (`Last-Event-ID`): a change made while no stream
was open is told at once.

Events: `inbox`, its data `{"queues": [...]}` (the agent's queues that changed); a comment every `KEEP_ALIVE_SECONDS`
so proxies keep the connection. The stream is the session's: no session, 401 (an `EventSource` does not retry
that); it ends when the client goes away (Starlette cancels it on the disconnect), when the session does (checked
every `RECHECK_SECONDS`: signed out, rotated password, removed agent), and after `LIFETIME_SECONDS` in any case —
the browser reconnects by itself (`retry`), which checks the session and the agent's queues afresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from core.errors import StoreUnavailable
from core.inbox import Inbox
from desk.agents import AgentView
from web.console.desk_access import DeskAccess
from web.console.guard import Console, Endpoint

log = logging.getLogger("helpline.web.console")
POLL_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 15.0
RECHECK_SECONDS = 30.0
LIFETIME_SECONDS = 300.0
RETRY_MILLISECONDS = 2000
LATER_MILLISECONDS = 15000  # the desk's stores are away: the browser asks again this much later


def version(changes: dict[str, int], sees: Callable[[str], bool]) -> int:
    return sum(n for queue, n in changes.items() if sees(queue))


class Live:
    open_streams = 0  # streams being served by this process (the tests watch one end)

    def __init__(self, console: Console, desk: DeskAccess, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.console, self.desk, self.poll_seconds = console, desk, poll_seconds

    def endpoint(self) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            visit = await self.console.visit(request)
            try:
                agent = await asyncio.to_thread(self.desk.agent, visit.principal.id) if visit.principal else None
            except SQLAlchemyError:  # the agents' store is away: a stream that only says when to try again
                return self.console.finish(visit, StreamingResponse(_later(), media_type="text/event-stream"))
            if agent is None:
                return self.console.finish(visit, Response("sign in\n", status_code=401, media_type="text/plain"))
            since = _number(request.headers.get("last-event-id")) or _number(request.query_params.get("since"))
            response = StreamingResponse(
                self.events(request, agent, since), media_type="text/event-stream",
                headers={"X-Accel-Buffering": "no"},  # a buffering proxy (nginx) would hold the events back
            )  # fmt: skip
            return self.console.finish(visit, response)

        return endpoint

    async def events(self, request: Request, agent: AgentView, since: int | None) -> AsyncIterator[str]:
        inbox = Inbox(self.desk.store)
        Live.open_streams += 1
        try:
            async with aclosing(self._events(request, inbox, agent, since)) as lines:
                async for line in lines:
                    yield line
        except (StoreUnavailable, SQLAlchemyError) as exc:  # ended cleanly: the browser comes back after `retry`
            log.warning("console: live stream ended, the desk cannot be reached: %s", type(exc).__name__)
        finally:
            Live.open_streams -= 1

    async def _events(self, request: Request, inbox: Inbox, agent: AgentView, since: int | None) -> AsyncGenerator[str]:
        """The stream itself: the reconnection delay, then an event whenever the agent's queues change."""
        changes = await asyncio.to_thread(inbox.changes)
        seen = version(changes, agent.works)
        yield f"retry: {RETRY_MILLISECONDS}\n\n"  # also sends the headers at once: the page knows it listens
        if since is not None and since != seen:
            yield _event(seen, changes, {}, agent)
        started = checked = spoke = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_seconds)
            now = time.monotonic()
            if now - started > LIFETIME_SECONDS:
                return
            if now - checked > RECHECK_SECONDS:
                checked = now
                if not await self._still_signed_in(request, agent):
                    return
            before = changes
            changes = await asyncio.to_thread(inbox.changes)
            current = version(changes, agent.works)
            if current != seen:
                seen, spoke = current, now
                yield _event(current, changes, before, agent)
            elif now - spoke > KEEP_ALIVE_SECONDS:
                spoke = now
                yield ": keep-alive\n\n"

    async def _still_signed_in(self, request: Request, agent: AgentView) -> bool:
        visit = await self.console.visit(request)
        if visit.principal is None or visit.principal.id != agent.id:
            return False
        now = await asyncio.to_thread(self.desk.agent, agent.id)
        return now is not None and now.queues == agent.queues and now.role == agent.role


def _event(current: int, changes: dict[str, int], before: dict[str, int], agent: AgentView) -> str:
    moved = sorted(q for q, n in changes.items() if agent.works(q) and before.get(q) != n)
    return f"event: inbox\nid: {current}\ndata: {json.dumps({'queues': moved})}\n\n"


async def _later() -> AsyncIterator[str]:
    yield f"retry: {LATER_MILLISECONDS}\n\n"


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
