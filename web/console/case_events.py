"""Live updates of an open case: a server-sent event stream that says "changed" when something an agent would see
in the case view moved, so the page (static/console.js) fetches the history again with htmx.

What is watched, and why this: a fingerprint of three cheap Redis reads, in two round trips, once a second per open
case view — the case's live state (`hl:case:{id}`: its status, place, agent, priority and `seq`, the count of
customer messages filed, which the pipeline raises in the same script that files a message), the length of its
message list (`conv:{id}:messages`: a merge moves messages in), and the hot copies of its replies that may still
change state (`reply:{id}`: queued → sent → delivered or failed; the page names them). No PostgreSQL, no
pub/sub channel to publish on from every writer: the writers stay as they are, and a poll of a few hundred bytes a
second per open view is nothing next to what the desk does anyway. The stream carries no content, only the word.

The page passes the fingerprint it was rendered at (`since`): a change between the render and the stream's start is
announced at once. A stream lives for `LIFETIME_SECONDS`; the browser's EventSource then reconnects through the
console's guard, so a session signed out or rotated meanwhile stops getting events.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from core.inbox import Inbox
from core.store import Store, store_errors

POLL_SECONDS = 1.0
LIFETIME_SECONDS = 300.0
_KEEPALIVE_SECONDS = 15.0  # a comment line now and then: proxies close a silent connection


# What a page rendered while its case changed is stamped with: never a fingerprint, so the stream announces a change
# at its first poll and the page fetches the history again.
STALE = "stale"


def case_state(store: Store, case_id: str) -> tuple[list[tuple[bytes, bytes]], int]:
    """The case's live hash and the length of its message list: the part of the fingerprint a page's render reads
    before and after, to know that nothing moved in between."""
    with store_errors(), store.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(Inbox(store).case_key(case_id))
        pipe.llen(store.key("conv", case_id, "messages"))
        case, length = pipe.execute()
    return sorted(case.items()), int(length)


def fingerprint(store: Store, case_id: str, reply_ids: list[str]) -> str:
    """The case's live state and the hot copies of `reply_ids`, digested."""
    case, length = case_state(store, case_id)
    with store_errors():
        replies = store.redis.mget([store.key("reply", r) for r in reply_ids]) if reply_ids else []
    digest = hashlib.sha256(repr((case, length, replies)).encode())
    return digest.hexdigest()[:16]


def event_stream(
    request: Request, store: Store, case_id: str, reply_ids: list[str], since: str | None
) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(POLL_SECONDS * 3000)}\n\n"
        last = since
        loop = asyncio.get_running_loop()
        started = quiet = loop.time()
        while loop.time() - started < LIFETIME_SECONDS and not await request.is_disconnected():
            now = await asyncio.to_thread(fingerprint, store, case_id, reply_ids)
            if last is not None and now != last:
                yield f"event: changed\ndata: {now}\n\n"
                quiet = loop.time()
            elif loop.time() - quiet > _KEEPALIVE_SECONDS:
                yield ": still here\n\n"
                quiet = loop.time()
            last = now
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx: pass each event on at once
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
