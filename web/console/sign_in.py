"""Sign in (email and password, checked by the agents' store) and sign out."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.console.guard import PREFIX, Console, Endpoint, FormHandler, Visit, safe_next
from web.console.session import COOKIE


def sign_in_page(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.principal is not None:
            return console.finish(visit, RedirectResponse(safe_next(request.query_params.get("next")), 303))
        return console.render(visit, "sign_in.html", **_form_context(console, request.query_params.get("next")))

    return endpoint


def sign_in(console: Console) -> FormHandler:
    async def handler(request: Request, visit: Visit, data: FormData) -> Response:
        email, password = str(data.get("email") or "").strip(), str(data.get("password") or "")
        target = str(data.get("next") or "")
        principal = await asyncio.to_thread(console.identities.authenticate, email, password) if email else None
        if principal is None:
            context = _form_context(console, target) | {"failed": True, "email": email}
            return console.render(visit, "sign_in.html", status=401, **context)
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
        "configured": getattr(console.identities, "configured", True),
        "failed": False,
        "email": "",
    }
