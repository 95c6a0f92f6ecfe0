"""The case view, `/console/cases/{handle}`: the whole history of a case, the reply box and Resolve, and its live
updates — each a thin call of desk/ (`lookup.find`, `listing.may_act`, `view.case_view`, `cases.answer`,
`cases.resolve`), the same calls the agents' API makes.

`{handle}` is whatever a person has at hand (desk/lookup.py: the reference, a case or message id, a Message-ID, an
email address, a phone number); the page's own links use the case id. An agent reads and acts on the cases of their
queues and those given to them (desk/listing.py `may_act`, on the agent as the agents' store has them now); anything
else is 403, the files of such a case too. A state that refuses an action (answering a resolved case) is 409 with
desk/'s reason on the page; an empty reply 400.

| route | what |
|---|---|
| `GET /cases/{handle}` | the page (`?images=<message id>` shows that message's remote images) |
| `GET /cases/{case}/history` | the live part alone (htmx swaps it in when the events say so) |
| `GET /cases/{case}/events` | server-sent events: `changed` (web/console/case_events.py) |
| `GET /cases/{case}/files/{message}/{n}` | the n-th file of a message of the case, as a download |
| `POST /cases/{case}/reply`, `POST /cases/{case}/resolve` | the reply box and Resolve (CSRF-checked by guard.py) |

The case's other actions (canned replies, notes, recategorize, reopen, reassign) are web/console/case_actions.py's:
the page adds their `actions` context and includes their partial.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import StoreUnavailable
from core.inbox import Inbox
from desk.agents import AgentStore, AgentView
from desk.cases import CaseError, answer, resolve
from desk.context import DeskContext, desk_message
from desk.files import FileUnavailable, attachment_content
from desk.listing import may_act
from desk.lookup import Match, find
from desk.view import case_messages, case_view
from record.attachment_store import AttachmentGone, AttachmentStoreError
from web.console.case_actions import DONE, action_context
from web.console.case_events import STALE, case_state, event_stream, fingerprint
from web.console.case_history import build_history
from web.console.desk_access import DeskAccess
from web.console.guard import PREFIX, Console, Visit, form, page
from web.console.i18n import STRINGS, translator

log = logging.getLogger("helpline.web.console")

# The page shows one message's remote images on request; its frame inherits the page's policy, so that response
# alone lets images come from anywhere (scripts stay as locked as ever).
_IMAGES_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class _Refused(Exception):
    def __init__(self, status: int, key: str) -> None:
        self.status, self.key = status, key


class CasePages:
    def __init__(self, console: Console, desk: DeskAccess) -> None:
        self.console, self.desk = console, desk

    @property
    def ctx(self) -> DeskContext:
        return self.desk.context

    def routes(self) -> list[BaseRoute]:
        c = self.console
        return [
            Route("/cases/{handle}", page(c, self.page), methods=["GET"]),
            Route("/cases/{handle}/history", page(c, self.history), methods=["GET"]),
            Route("/cases/{handle}/events", page(c, self.events), methods=["GET"]),
            Route("/cases/{handle}/files/{message}/{index}", page(c, self.file), methods=["GET"]),
            Route("/cases/{handle}/reply", form(c, self.reply), methods=["POST"]),
            Route("/cases/{handle}/resolve", form(c, self.resolve), methods=["POST"]),
        ]

    # ---- who may see which case ---------------------------------------------------------------------------------

    def _agent(self, visit: Visit) -> AgentView | None:
        assert visit.principal is not None
        return self.desk.agent(visit.principal.id)

    def _cases(self, visit: Visit, handle: str) -> tuple[AgentView, list[Match]]:
        """The cases `handle` names that the agent may act on; `_Refused` 404 for none, 403 for only others'."""
        agent = self._agent(visit)
        if agent is None:
            raise _Refused(403, "case_forbidden")
        matches = find(self.ctx, handle)
        if not matches:
            raise _Refused(404, "case_not_found")
        mine = [m for m in matches if may_act(self.ctx, agent, m.case_id)]
        if not mine:
            raise _Refused(403, "case_forbidden")
        return agent, mine

    def _one(self, visit: Visit, handle: str) -> tuple[AgentView, str]:
        agent, mine = self._cases(visit, handle)
        if len(mine) > 1:
            raise _Refused(409, "case_ambiguous")
        return agent, mine[0].case_id

    async def _guarded(self, visit: Visit, work: Callable[[], Any]) -> Any:
        """Run desk/ work in a thread; the stores being away is a 503 page, never a 500."""
        try:
            return await asyncio.to_thread(work)
        except (StoreUnavailable, SQLAlchemyError) as exc:
            log.warning("case view: a store cannot be reached: %s", type(exc).__name__)
            raise _Refused(503, "case_unavailable") from exc

    def _refusal(self, visit: Visit, refused: _Refused) -> Response:
        return self.console.render(visit, "case_refused.html", status=refused.status, reason=refused.key)

    def _render(self, visit: Visit, template: str, status: int, remote_images: bool, **context: Any) -> Response:
        # `known_keys`: a purpose, status or state the UI has no word for shows as it is recorded.
        response = self.console.render(visit, template, status=status, known_keys=STRINGS[visit.language].keys(),
                                       **context)  # fmt: skip
        if remote_images:
            response.headers["Content-Security-Policy"] = _IMAGES_CSP
        return response

    # ---- reading -----------------------------------------------------------------------------------------------

    def _context(self, visit: Visit, case_id: str, images: str | None) -> dict[str, Any]:
        before = case_state(self.ctx.store, case_id)
        stored = case_messages(self.ctx, case_id)
        view = case_view(self.ctx, case_id, stored)
        base = f"{PREFIX}/cases/{quote(case_id)}"
        history = build_history(self.ctx, view, stored, file_href=f"{base}/files", images_for=images)
        state = Inbox(self.ctx.store).case(case_id)
        version = fingerprint(self.ctx.store, case_id, history.open_replies)
        if case_state(self.ctx.store, case_id) != before:
            # The case moved while it was read: what the page shows may predate `version`, and a stream started
            # from it would never announce that change. Stamped stale, the page fetches the history once more.
            version = STALE
        holder = AgentStore(self.ctx.record).get(view["agent"]) if view["agent"] else None
        return {"history": history, "view": view, "base": base, "seen": state.seq if state else 0,
                "version": version, "images": images or "",
                "holder": holder.name if holder else view["agent"]}  # fmt: skip

    async def page(self, request: Request, visit: Visit) -> Response:
        return await self._page(request, visit, request.path_params["handle"])

    async def _page(self, request: Request, visit: Visit, handle: str, *, status: int = 200, **extra: Any) -> Response:
        images = request.query_params.get("images") or None
        try:
            agent, mine = await self._guarded(visit, lambda: self._cases(visit, handle))
            if len(mine) > 1:
                return self.console.render(visit, "case_choose.html", matches=mine, handle=handle)
            context = await self._guarded(visit, lambda: self._context(visit, mine[0].case_id, images))
            context["actions"] = await self._guarded(visit, lambda: action_context(self.ctx, agent, mine[0].case_id))
        except _Refused as refused:
            return self._refusal(visit, refused)
        done = request.query_params.get("done")
        context |= {"done": done if done in ("answered", "answered_newer", "resolved", *DONE) else None,
                    "error": None, "draft": ""} | extra  # fmt: skip
        return self._render(visit, "case.html", status, bool(images), **context)

    async def history(self, request: Request, visit: Visit) -> Response:
        images = request.query_params.get("images") or None
        try:
            _, case_id = await self._guarded(visit, lambda: self._one(visit, request.path_params["handle"]))
            context = await self._guarded(visit, lambda: self._context(visit, case_id, images))
        except _Refused as refused:
            return self._refusal(visit, refused)
        return self._render(visit, "partials/case_live.html", 200, bool(images), **context)

    async def events(self, request: Request, visit: Visit) -> Response:
        try:
            _, case_id = await self._guarded(visit, lambda: self._one(visit, request.path_params["handle"]))
            messages = await self._guarded(visit, lambda: self.ctx.store.conversation(case_id).get("messages", []))
        except _Refused as refused:
            return self.console.finish(visit, Response(f"{refused.key}\n", status_code=refused.status))
        # Only replies to this case's messages are watched, whatever the page asked for.
        asked = [r for r in request.query_params.get("replies", "").split(",") if r][:50]
        watched = await asyncio.to_thread(self._replies_of, asked, set(messages))
        since = request.query_params.get("since") or None
        return self.console.finish(visit, event_stream(request, self.ctx.store, case_id, watched, since))

    def _replies_of(self, reply_ids: list[str], messages: set[str]) -> list[str]:
        replies = [self.ctx.store.get_reply(r) for r in reply_ids]
        return [r.id for r in replies if r is not None and r.message_id in messages]

    async def file(self, request: Request, visit: Visit) -> Response:
        t = translator(visit.language)
        message_id, index = request.path_params["message"], request.path_params["index"]

        def load() -> tuple[str, str, bytes | None]:
            _, case_id = self._one(visit, request.path_params["handle"])
            message = desk_message(self.ctx, message_id, warm=False)
            if message is None or message.conversation_id != case_id or not index.isdigit():
                raise _Refused(404, "file_not_found")
            attachments = message.envelope.attachments
            if not 1 <= int(index) <= len(attachments):
                raise _Refused(404, "file_not_found")
            attachment = attachments[int(index) - 1]
            try:
                content = attachment_content(self.ctx.settings, attachment)
            except AttachmentGone:
                raise _Refused(410, "file_gone") from None
            except AttachmentStoreError as exc:
                log.warning("case view: the attachment store refused: %s", exc)
                raise _Refused(503, "case_unavailable") from None
            except FileUnavailable as exc:  # Telegram: too large to fetch, no bot token here, refused or away
                log.warning("case view: %s", exc)
                raise _Refused(502, "file_unavailable") from None
            return attachment.filename or f"file-{index}", attachment.content_type, content

        try:
            name, content_type, content = await self._guarded(visit, load)
        except _Refused as refused:
            return self.console.finish(visit, Response(t(refused.key) + "\n", status_code=refused.status))
        if content is None:
            return self.console.finish(visit, Response(t("file_not_kept") + "\n", status_code=404))
        # Always a download, never shown by the browser in the console's origin (a customer's .html or .svg would
        # run there otherwise); the sandbox policy covers a browser that opens it anyway.
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        headers = {
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        }
        return self.console.finish(visit, Response(content, media_type=content_type, headers=headers))

    # ---- acting ------------------------------------------------------------------------------------------------

    async def reply(self, request: Request, visit: Visit, data: FormData) -> Response:
        handle = request.path_params["handle"]
        text = str(data.get("text") or "")
        seen = str(data.get("seen") or "")
        try:
            agent, case_id = await self._guarded(visit, lambda: self._one(visit, handle))
        except _Refused as refused:
            return self._refusal(visit, refused)
        if not text.strip():
            return await self._page(
                request, visit, case_id, status=400, error=translator(visit.language)("reply_empty"), draft=text
            )
        try:
            done = await self._guarded(
                visit, lambda: answer(self.ctx, case_id, text, agent.id, seen=int(seen) if seen.isdigit() else None)
            )
        except CaseError as exc:
            return await self._page(request, visit, case_id, status=409, error=str(exc), draft=text)
        except _Refused as refused:
            return self._refusal(visit, refused)
        outcome = "answered_newer" if done.newer else "answered"
        return self.console.finish(visit, RedirectResponse(f"{PREFIX}/cases/{quote(case_id)}?done={outcome}", 303))

    async def resolve(self, request: Request, visit: Visit, data: FormData) -> Response:
        handle = request.path_params["handle"]
        try:
            agent, case_id = await self._guarded(visit, lambda: self._one(visit, handle))
            await self._guarded(visit, lambda: resolve(self.ctx, case_id, agent.id))
        except CaseError as exc:
            return await self._page(request, visit, handle, status=409, error=str(exc))
        except _Refused as refused:
            return self._refusal(visit, refused)
        return self.console.finish(visit, RedirectResponse(f"{PREFIX}/cases/{quote(case_id)}?done=resolved", 303))
