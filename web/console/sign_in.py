"""Sign in (email and password, checked by the agents' store) and sign out.

Failed sign-ins are counted per email address (its SHA-256 in the key, `hl:console:failures:{digest}`): after
`FAILURE_LIMIT` within `FAILURE_WINDOW_SECONDS` that address is refused (429) without asking the agents' store,
until the window has passed; a successful sign-in clears the count. Guessing one agent's password is thereby slow,
and the answer never says whether the address belongs to an agent.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core.store import Store, store_errors
from web.console.guard import PREFIX, Console, Endpoint, FormHandler, Visit, safe_next
from web.console.session import COOKIE

FAILURE_LIMIT = 10
FAILURE_WINDOW_SECONDS = 900


class Failures:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _key(self, email: str) -> str:
        return self.store.key("console", "failures", hashlib.sha256(email.lower().encode()).hexdigest()[:32])

    def blocked(self, email: str) -> bool:
        with store_errors():
            return int(self.store.redis.get(self._key(email)) or 0) >= FAILURE_LIMIT

    def failed(self, email: str) -> None:
        with store_errors(), self.store.redis.pipeline() as pipe:
            pipe.incr(self._key(email))
            pipe.expire(self._key(email), FAILURE_WINDOW_SECONDS, nx=True)
            pipe.execute()

    def cleared(self, email: str) -> None:
        with store_errors():
            self.store.redis.delete(self._key(email))


def sign_in_page(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.principal is not None:
            return console.finish(visit, RedirectResponse(safe_next(request.query_params.get("next")), 303))
        return console.render(visit, "sign_in.html", **_form_context(console, request.query_params.get("next")))

    return endpoint


def sign_in(console: Console, failures: Failures) -> FormHandler:
    async def handler(request: Request, visit: Visit, data: FormData) -> Response:
        email, password = str(data.get("email") or "").strip(), str(data.get("password") or "")
        target = str(data.get("next") or "")
        blocked = await asyncio.to_thread(failures.blocked, email) if email else False
        if blocked:
            context = _form_context(console, target) | {"failed": "too_many_failures", "email": email}
            return console.render(visit, "sign_in.html", status=429, **context)
        principal = await asyncio.to_thread(console.identities.authenticate, email, password) if email else None
        if principal is None:
            if email:
                await asyncio.to_thread(failures.failed, email)
            context = _form_context(console, target) | {"failed": "bad_credentials", "email": email}
            return console.render(visit, "sign_in.html", status=401, **context)
        await asyncio.to_thread(failures.cleared, email)
        response = RedirectResponse(safe_next(target), status_code=303)
        console.set_session(response, visit.session.signed_in(principal.id, principal.session_version))
        return console.finish(visit, response)

    return handler


def sign_out(console: Console) -> FormHandler:
    async def handler(request: Request, visit: Visit, data: FormData) -> Response:
        await asyncio.to_thread(console.sessions.end, visit.session)
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return console.finish(visit, response)

    return handler


def _form_context(console: Console, target: str | None) -> dict[str, Any]:
    return {
        "next": safe_next(target),
        "failed": None,  # or the UI string key of why the last attempt failed
        "email": "",
    }
