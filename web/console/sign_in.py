"""Sign in (email and password, checked by the agents' store) and sign out.

Failed sign-ins are limited as the API's are, by the one limiter (desk/auth.py `SignInLimiter`: `[auth]
signin_attempts` per account and per client address in `signin_window_minutes`): past it the sign-in is refused (429)
without asking the agents' store, until the window has passed. Guessing one agent's password is thereby slow, and the
answer never says whether the address belongs to an agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from desk.auth import SignInLimiter
from web.console.guard import PREFIX, Console, Endpoint, FormHandler, Visit, safe_next
from web.console.session import COOKIE

TOKEN_ACCOUNT = "api-token-from:"  # the limiter's account key of token sign-ins, per client address


def sign_in_page(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.principal is not None:
            return console.finish(visit, RedirectResponse(safe_next(request.query_params.get("next")), 303))
        return console.render(visit, "sign_in.html", **_form_context(console, request.query_params.get("next")))

    return endpoint


def sign_in(console: Console, limiter: SignInLimiter) -> FormHandler:
    async def handler(request: Request, visit: Visit, data: FormData) -> Response:
        email, password = str(data.get("email") or "").strip(), str(data.get("password") or "")
        token = str(data.get("token") or "").strip()
        target = str(data.get("next") or "")
        client = request.client.host if request.client else "-"
        # A token names no account: its attempts count against the client address alone (a 256-bit token cannot be
        # guessed anyway; the limit keeps a guesser from trying).
        account = email or (f"{TOKEN_ACCOUNT}{client}" if token else "")
        blocked = await asyncio.to_thread(limiter.attempt, account, client) if account else 0
        if blocked:
            context = _form_context(console, target) | {"failed": "too_many_failures", "email": email}
            return console.render(visit, "sign_in.html", status=429, **context)
        if email:
            principal = await asyncio.to_thread(console.identities.authenticate, email, password)
        else:
            principal = await asyncio.to_thread(console.identities.authenticate_token, token) if token else None
        if principal is None:  # the attempt is already counted
            failed = "bad_credentials" if email or not token else "bad_token"
            context = _form_context(console, target) | {"failed": failed, "email": email}
            return console.render(visit, "sign_in.html", status=401, **context)
        await asyncio.to_thread(limiter.succeeded, account, client)
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
